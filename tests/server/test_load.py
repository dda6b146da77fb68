"""Load on a team server (PostgreSQL + SeaweedFS S3) over loopback: CLIENTS processes at once, each
`stepline.init`, POINTS metric points, one artifact of SIZE bytes, `finish`.

Bounded in count and in time (every client is killed after DEADLINE seconds, which fails the test).
Then nothing may be lost: every run is finished, with all its points in order, and its version.
The throughput is printed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.server.conftest import Server

from stepline.backends.base import RunQuery
from stepline.backends.http import HttpBackend

CLIENTS = 16
POINTS = 1_000
SIZE = 10 * 1024 * 1024
DEADLINE = 240.0

CLIENT = """
import os, sys, time, stepline
i, points, size = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
path = f"blob{i}.bin"
with open(path, "wb") as f:
    f.write(os.urandom(size))
t = time.perf_counter()
run = stepline.init(project="load", name=f"client-{i}", config={"i": i})
for step in range(points):
    run.log({"loss": 1.0 / (step + 1), "client": i})
art = stepline.Artifact(f"blob{i}", type="dataset")
art.add_file(path, name="blob.bin")
run.log_artifact(art)
run.finish()
print(run.id, time.perf_counter() - t)
"""


def test_sixteen_clients_lose_nothing(tmp_path: Path, pg_s3_server: Server) -> None:
    srv = pg_s3_server
    (tmp_path / "client.py").write_text(CLIENT)
    procs = []
    start = time.monotonic()
    for i in range(CLIENTS):
        work = tmp_path / f"c{i}"
        work.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith("STEPLINE_")}
        env.update(srv.env)
        env.update(STEPLINE_TRACKING_URI=srv.url, STEPLINE_CACHE_DIR=str(work / "cache"),
                   STEPLINE_DIR=str(work / ".stepline"))  # fmt: skip
        cmd = [sys.executable, str(tmp_path / "client.py"), str(i), str(POINTS), str(SIZE)]
        procs.append(
            subprocess.Popen(cmd, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        )
    outs = []
    for proc in procs:
        left = max(1.0, DEADLINE - (time.monotonic() - start))
        try:
            out, err = proc.communicate(timeout=left)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise AssertionError(f"the clients did not finish in {DEADLINE} s") from None
        assert proc.returncode == 0, err.decode()[-2000:]
        outs.append(out.decode().split())
    wall = time.monotonic() - start

    client = HttpBackend(srv.url, cache=tmp_path / "check-cache")
    runs = client.find_runs(RunQuery(project="load"))
    assert len(runs) == CLIENTS
    assert {r.id for r in runs} == {o[0] for o in outs}
    for r in runs:
        assert r.state == "finished", r
        i = r.config["i"]
        rows = client.history(r.id)
        assert [row["_step"] for row in rows] == list(range(POINTS)), r.id
        assert all(row["client"] == i for row in rows)
        versions = client.outputs(r.id)
        assert [v.name for v in versions] == [f"blob{i}"], versions
        entry = versions[0].manifest.entries["blob.bin"]
        assert entry.size == SIZE
        assert client.objects.server_missing([entry.digest]) == set()
    client.close()
    points = CLIENTS * POINTS
    mb = CLIENTS * SIZE / 1e6
    print(f"\nload: {CLIENTS} clients x ({POINTS} points + {SIZE / 1e6:.0f} MB) in {wall:.1f} s:"
          f" {points / wall:,.0f} points/s, {mb / wall:.1f} MB/s, {CLIENTS / wall:.2f} runs/s"
          f" (per client median {sorted(float(o[1]) for o in outs)[CLIENTS // 2]:.1f} s)")  # fmt: skip
