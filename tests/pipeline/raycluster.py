"""A fresh two-node Ray cluster on this machine, started with `ray start` as an operator would.

    with two_node_cluster(node_env=[{...}, {...}]) as (ray, temp):   # the driver connected
        ...

A head and one more worker node, one CPU each, on loopback; the test process is connected as
a driver while the block runs, and both nodes are stopped after it. `node_env` adds variables
to each node's environment (a worker inherits its node's), e.g. a cache folder per node, as
two machines would have. Raises `ClusterUnavailable` with the reason when Ray cannot start;
the `ray_cluster` fixture (tests/pipeline/conftest.py) turns that into a printed skip.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class ClusterUnavailable(Exception):
    """Ray is not installed, or the two nodes did not start."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """`ray start --block` stops its node's processes on SIGTERM."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _connect(ray: Any, address: str, head: subprocess.Popen[bytes], log: Path) -> None:
    """`ray.init` once the head answers (it takes seconds to start on a busy machine)."""
    deadline = time.monotonic() + 120
    while True:
        if head.poll() is not None:
            raise RuntimeError(f"the head node exited: {log.read_text()[-2000:]}")
        try:
            ray.init(address=address, log_to_driver=False, logging_level="WARNING")
            return
        except ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1.0)


@contextmanager
def two_node_cluster(
    node_env: Sequence[Mapping[str, str]] = ({}, {}),
) -> Iterator[tuple[Any, Path]]:
    """Start the cluster and connect to it; yields `ray` and the cluster's temp folder."""
    try:
        import ray
    except ImportError as exc:
        raise ClusterUnavailable(
            f"ray is not installed ({exc}); pip install 'stepline[ray]'"
        ) from exc
    temp = Path(tempfile.mkdtemp(prefix="slray-", dir="/tmp"))  # short: Ray's sockets live here
    port = _free_port()
    ray_cli = str(Path(sys.executable).with_name("ray"))
    common = ["--block", "--num-cpus=1", "--node-ip-address=127.0.0.1", "--disable-usage-stats"]
    # `ray start` turns token authentication on unless told otherwise; a driver then needs
    # RAY_AUTH_MODE=token and the token (Ray's own setting, nothing of stepline's). This
    # cluster lives for one test module, so it runs without.
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
    nodes: list[subprocess.Popen[bytes]] = []
    try:
        for i, args in enumerate(
            (
                ["--head", f"--port={port}", "--include-dashboard=false", f"--temp-dir={temp}"],
                [f"--address=127.0.0.1:{port}"],
            )
        ):
            log = open(temp / f"node{i}.log", "wb")  # noqa: SIM115
            nodes.append(
                subprocess.Popen(
                    [ray_cli, "start", *args, *common],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env={**env, **node_env[i]},
                    start_new_session=True,
                )
            )
            if i == 0:
                _connect(ray, f"127.0.0.1:{port}", nodes[0], temp / "node0.log")
        deadline = time.monotonic() + 120
        while sum(n["Alive"] for n in ray.nodes()) < 2:
            if time.monotonic() > deadline or any(p.poll() is not None for p in nodes):
                raise RuntimeError(
                    f"the worker node did not join: {(temp / 'node1.log').read_text()[-2000:]}"
                )
            time.sleep(0.5)
    except Exception as exc:
        if ray.is_initialized():
            ray.shutdown()
        for proc in reversed(nodes):
            _stop(proc)
        shutil.rmtree(temp, ignore_errors=True)
        raise ClusterUnavailable(
            f"a two-node Ray cluster did not start ({type(exc).__name__}: {exc})"
        ) from exc
    try:
        yield ray, temp
    finally:
        ray.shutdown()
        for proc in reversed(nodes):
            _stop(proc)
        shutil.rmtree(temp, ignore_errors=True)
