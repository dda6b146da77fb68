"""`python -m stepline.cli.mlflow_step REQUEST`: run one intercepted `mlflow.run` call.

The `mlflow.run` hook of a course-style root (`stepline/pipeline/mlflow_hook/sitecustomize.py`)
starts one of these per call, so it imports only what running a step needs: no command-line
framework, no tables. REQUEST is the JSON file the hook wrote; the outcome goes to
`REQUEST.result` and the exit code (0 when the step finished or hit the cache). With
`--serve SOCKET PARENT_PID` it is the step server of one launch (`stepline.pipeline.stepserver`).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from stepline.states import SUCCEEDED


def handle_request(request: dict[str, Any]) -> dict[str, Any]:
    """Run one intercepted call, its output on this process's stdout/stderr; its outcome."""
    from stepline.errors import SteplineError
    from stepline.pipeline.course import run_mlflow_step

    def echo(stream: str, line: str) -> None:
        print(line, file=sys.stdout if stream == "stdout" else sys.stderr, flush=True)

    try:
        return run_mlflow_step(request, on_output=echo)
    except SteplineError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return {"status": "failed", "run_id": "", "error": str(exc)}


def run_request(request_file: str) -> int:
    """Run the request in `request_file`, write `<request_file>.result`, return the exit code."""
    result = handle_request(json.loads(Path(request_file).read_text()))
    Path(request_file + ".result").write_text(json.dumps(result))
    return 0 if result["status"] in SUCCEEDED else 1


def main() -> None:  # pragma: no cover - a process entry point
    """`python -m stepline.cli.mlflow_step REQUEST` | `--serve SOCKET PARENT_PID`."""
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        from stepline.pipeline.stepserver import serve

        try:
            serve(sys.argv[2], int(sys.argv[3]))
        except KeyboardInterrupt:
            pass
        # the launcher waits for this exit; the forks share its signal, so nothing is left to
        # tear down but a warm interpreter, whose shutdown would cost it ~0.1 s
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    if len(sys.argv) != 2:
        print("usage: python -m stepline.cli.mlflow_step REQUEST.json", file=sys.stderr)
        raise SystemExit(2)
    raise SystemExit(run_request(sys.argv[1]))


if __name__ == "__main__":  # pragma: no cover
    main()
