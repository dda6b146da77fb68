"""`stepline ui`: the web UI over the local store."""

from __future__ import annotations

import ipaddress

import click


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.command("ui")
@click.option(
    "--port", "-p", type=int, default=8765, show_default=True, help="Port (0 picks a free one)."
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option(
    "--allow-remote",
    is_flag=True,
    help="Allow a non-loopback --host. The UI has no login: anyone who reaches it can read the store.",
)
def ui(port: int, host: str, allow_remote: bool) -> None:
    """Open the web UI on the local store (runs, charts, artifacts, lineage, pipelines, registry).

    Every page has a JSON twin: append .json to its URL.

    Example: stepline ui --port 8765   (then open http://127.0.0.1:8765/)
    """
    from stepline.errors import UsageError

    if not _loopback(host) and not allow_remote:
        raise UsageError(
            f"--host {host} is not a loopback address and the UI has no login;"
            " pass --allow-remote to bind it anyway, or use --host 127.0.0.1"
        )
    import socket

    from stepline.errors import require

    require("uvicorn", "server")
    import uvicorn

    from stepline.ui import create_app

    app = create_app()
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # accepted connections inherit this: without it a keep-alive client waits ~40 ms per response
    # (the body's write sits behind Nagle until the client's delayed ACK for the headers)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(128)  # connections made as soon as the URL shows wait for the server
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"stepline UI on http://{shown}:{bound}/  (Ctrl+C stops it)")
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    server.run(sockets=[sock])
