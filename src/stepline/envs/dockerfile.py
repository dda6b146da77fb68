"""A Dockerfile that reproduces an env from its lock (`stepline env dockerfile PATH`)."""

from __future__ import annotations

from stepline.envs.lock import Lock


def _portable(layer: str) -> tuple[str, list[str]]:
    """Split local-path requirements (not reproducible inside an image) out of a layer."""
    kept: list[str] = []
    local: list[str] = []
    for line in layer.splitlines():
        bare = line.strip()
        if bare.startswith(("-e /", "-e file:", "/", "file:")):
            local.append(bare)
        else:
            kept.append(line)
    return "\n".join(kept) + "\n", local


def dockerfile(lock: Lock, base_image: str | None = None) -> dict[str, str]:
    """Files to write side by side: `Dockerfile` plus one `stepline-lock-N.txt` per layer."""
    major_minor = ".".join(lock.interpreter.version.split(".")[:2])
    image = base_image or f"python:{major_minor}-slim"
    files: dict[str, str] = {}
    lines = [
        f"# Reproduces stepline env {lock.digest[:12]} (Python {lock.interpreter.version}).",
        f"FROM {image}",
        "RUN pip install --no-cache-dir uv",
        "ENV VIRTUAL_ENV=/opt/env PATH=/opt/env/bin:$PATH UV_COMPILE_BYTECODE=1",
        "RUN uv venv /opt/env",
    ]
    for i, layer in enumerate(lock.layers):
        text, local = _portable(layer)
        name = f"stepline-lock-{i}.txt"
        files[name] = text
        for req in local:
            lines.append(f"# local requirement not copied into the image: {req}")
        lines.append(f"COPY {name} /opt/{name}")
        lines.append(f"RUN uv pip install --python /opt/env/bin/python -r /opt/{name}")
    lines.append('CMD ["python"]')
    files["Dockerfile"] = "\n".join(lines) + "\n"
    return files
