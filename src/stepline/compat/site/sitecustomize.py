"""Put on a component's PYTHONPATH by stepline: opt-in hooks for code written for other tools."""

import os

if os.environ.get("STEPLINE_MLFLOW_RUN") == "stepline":
    try:
        from stepline.compat.mlflow_run import install

        install()
    except Exception as exc:  # never break the component's start-up
        import sys

        print(f"stepline: mlflow.run interception not installed: {exc}", file=sys.stderr)
