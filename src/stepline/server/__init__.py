"""The team server: one store shared over HTTP, with users, tokens and per-project roles.

    stepline server --database postgresql://postgres@127.0.0.1:5432/stepline \\
                    --objects s3://stepline/objects --host 127.0.0.1 --port 8080
    STEPLINE_TRACKING_URI=http://127.0.0.1:8080 python train.py

`app.create_app` builds the FastAPI app over a `LocalBackend` (`store.open_store`); clients use
`stepline.backends.http.HttpBackend`. Accounts (users, roles, tokens) are in `accounts`.
"""
