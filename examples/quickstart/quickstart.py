#!/usr/bin/env python
"""Upload and version artifacts: stepline's quickstart.

Logs a file as an artifact (v0), changes it and logs it again (v1), logs it unchanged (no new
version), gives a version an alias, uses it from another run and prints the lineage. Everything
is kept in ``.stepline/`` under the current project (or in ``$STEPLINE_DIR``); no server, no
account.

    python examples/quickstart/quickstart.py
"""

import tempfile
from pathlib import Path

import stepline

PROJECT = "quickstart"
ZEN = """Beautiful is better than ugly.
Explicit is better than implicit.
Simple is better than complex.
"""


def upload(path: Path, aliases: list[str] | None = None) -> str:
    """Log ``path`` as the artifact ``zen_of_python`` from a new run; return its version."""
    with stepline.init(project=PROJECT, group="quickstart", job_type="upload_file") as run:
        artifact = stepline.Artifact(
            "zen_of_python",
            type="text_file",
            description="A few lines of the Zen of Python",
            metadata={"source": "import this"},
        )
        artifact.add_file(str(path))
        run.log_artifact(artifact, aliases=aliases)
        artifact.wait()
        return artifact.version


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "zen.txt"

        path.write_text(ZEN)
        print("1. first upload            ->", upload(path))  # v0

        path.write_text(ZEN + "Complex is better than complicated.\n")
        print("2. changed file            ->", upload(path))  # v1

        print("3. same content again      ->", upload(path), "(no new version)")  # v1

        print("4. alias it 'reference'    ->", upload(path, aliases=["reference"]))

    with stepline.init(project=PROJECT, group="quickstart", job_type="use_file") as run:
        artifact = run.use_artifact("zen_of_python:reference")
        print(f"5. used {artifact.name}:{artifact.version}, aliases {sorted(artifact.aliases)}:")
        print(Path(artifact.file()).read_text())
        first = run.use_artifact("zen_of_python:v0")
        print(f"   v0 has {len(Path(first.file()).read_text().splitlines())} lines")

        print("6. lineage")
        for version in (first, artifact):
            producer = version.logged_by()
            consumers = ", ".join(f"{r.name} ({r.job_type})" for r in version.used_by())
            print(
                f"   {producer.name} ({producer.job_type}) -> zen_of_python:{version.version}"
                f" -> {consumers}"
            )


if __name__ == "__main__":
    main()
