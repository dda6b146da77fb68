"""Installing the drop-in `wandb` into a venv, opt-in: `stepline wandb install [--venv PATH]`.

After it, every `python`, script and notebook kernel of that venv that does `import wandb` gets
stepline's stand-in, without `stepline exec`. It is one `.pth` file in the venv's site-packages
(`stepline_wandb.pth`) that puts the stand-in's folder first on `sys.path`; `uninstall` removes
that file and nothing else.

A venv that has a real `wandb` installed is left alone unless `force=True`: the stand-in would
then hide it until uninstalled.

    pth = install_dropin(Path(".venv"))
    uninstall_dropin(Path(".venv"))
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from stepline.errors import Conflict, UsageError

PTH_NAME = "stepline_wandb.pth"

#: run by the venv's own Python: where its site-packages and stepline's stand-in are, and
#: whether a real wandb distribution is installed
_PROBE = """
import json, sysconfig
from importlib import metadata
out = {"site": sysconfig.get_paths()["purelib"], "dropin": None, "wandb": None}
try:
    from stepline.compat import WANDB_DROPIN_DIR
    out["dropin"] = str(WANDB_DROPIN_DIR)
except ImportError:
    pass
try:
    out["wandb"] = metadata.version("wandb")
except metadata.PackageNotFoundError:
    pass
print(json.dumps(out))
"""


@dataclass(frozen=True)
class VenvFacts:
    """What `install_dropin` needs to know about a venv."""

    python: Path
    site_packages: Path
    dropin_dir: Path | None
    real_wandb: str | None  # the installed wandb's version, if any

    @property
    def pth(self) -> Path:
        """The `.pth` file that installs the stand-in."""
        return self.site_packages / PTH_NAME


def probe(venv: Path) -> VenvFacts:
    """Ask the venv's own Python where things are (see `_PROBE`)."""
    python = venv / "bin" / "python"
    if not python.exists():
        raise UsageError(f"{venv}: not a virtual environment (no bin/python); pass --venv PATH")
    proc = subprocess.run(
        [str(python), "-I", "-c", _PROBE], capture_output=True, text=True, timeout=60
    )
    if proc.returncode != 0:
        raise UsageError(f"{python} failed to start: {proc.stderr.strip()[-300:]}")
    data = json.loads(proc.stdout)
    return VenvFacts(
        python=python,
        site_packages=Path(data["site"]),
        dropin_dir=Path(data["dropin"]) if data["dropin"] else None,
        real_wandb=data["wandb"],
    )


def install_dropin(venv: Path, force: bool = False) -> Path:
    """Make `import wandb` in `venv` load stepline's stand-in; return the `.pth` written.

    Raises `UsageError` when stepline is not installed in the venv and `Conflict` when a real
    wandb is, unless `force`.
    """
    facts = probe(venv)
    if facts.dropin_dir is None:
        raise UsageError(
            f"{venv}: stepline is not installed in this venv, so its wandb stand-in could not "
            f"import it; install it there first: {facts.python} -m pip install stepline"
        )
    if facts.real_wandb and not force:
        raise Conflict(
            f"{venv}: wandb {facts.real_wandb} is installed there, and the stand-in would hide "
            "it; pass --force to install the stand-in anyway (uninstall restores wandb), or "
            "use 'stepline exec -- CMD' for one command"
        )
    line = f"import sys; sys.path.insert(0, {str(facts.dropin_dir)!r})\n"
    facts.pth.write_text(
        f"# stepline's wandb stand-in ('stepline wandb uninstall' removes it)\n{line}"
    )
    return facts.pth


def uninstall_dropin(venv: Path) -> Path | None:
    """Remove the stand-in's `.pth` from `venv`; return its path, or None if none was there."""
    pth = probe(venv).pth
    if not pth.exists():
        return None
    pth.unlink()
    return pth
