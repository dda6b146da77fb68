"""`stepline.settings`: every STEPLINE_* variable read in one place, into one frozen value."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from stepline import settings
from stepline.errors import UsageError
from stepline.settings import Settings

SRC = Path(settings.__file__).resolve().parent
README = SRC.parents[1] / "README.md"


def test_no_variables_give_the_defaults() -> None:
    assert Settings.from_env({}) == Settings()
    assert Settings().heartbeat_timeout == 300.0 and Settings().fsync is True
    assert Settings().artifact_dir == Path("artifacts")


def test_each_variable_sets_its_field(tmp_path: Path) -> None:
    env = {
        "STEPLINE_DIR": str(tmp_path / "store"),
        "STEPLINE_DATABASE_URL": "postgresql+psycopg://u@h/db",
        "STEPLINE_CACHE_DIR": str(tmp_path / "cache"),
        "STEPLINE_ARTIFACT_DIR": "out",
        "STEPLINE_LINK_TYPE": "hardlink,copy",
        "STEPLINE_FSYNC": "0",
        "STEPLINE_HEARTBEAT_TIMEOUT": "2.5",
        "STEPLINE_PROJECT": "p",
        "STEPLINE_RUN_GROUP": "g",
        "STEPLINE_JOB_TYPE": "j",
        "STEPLINE_RUN_ID": "abc123",
        "STEPLINE_MODE": "disabled",
        "STEPLINE_SCOPE": "e1",
        "STEPLINE_NO_CACHE": "1",
        "STEPLINE_DEBUG": "1",
        "STEPLINE_CONSTRAINTS": "numpy<2.4",
        "STEPLINE_URL_REWRITE": "https://x/y=/srv/y",
        "STEPLINE_ONLY_BINARY": ":none:",
        "STEPLINE_TRACKING_URI": "http://127.0.0.1:8080",
        "STEPLINE_TOKEN": "stl_x",
        "STEPLINE_CONFIG_DIR": str(tmp_path / "config"),
        "STEPLINE_UPLOAD_VIA_SERVER": "1",
        "STEPLINE_MULTIPART_THRESHOLD": "8MiB",
        "STEPLINE_MULTIPART_PART_SIZE": "5242880",
        "STEPLINE_MULTIPART_EXPIRY": "60",
        "STEPLINE_S3_PRESIGN_ENDPOINT": "http://s3.example:9000",
        "STEPLINE_OFFLINE_AFTER": "2.5",
    }
    s = Settings.from_env(env)
    assert s.store_dir == tmp_path / "store" and s.cache_dir == tmp_path / "cache"
    assert s.database_url == "postgresql+psycopg://u@h/db"
    assert s.artifact_dir == Path("out") and s.link_types() == ("hardlink", "copy")
    assert s.fsync is False and s.heartbeat_timeout == 2.5 and s.heartbeat_interval == 0.5
    assert (s.project, s.group, s.job_type, s.run_id, s.mode) == (
        "p",
        "g",
        "j",
        "abc123",
        "disabled",
    )
    assert (s.scope, s.no_cache, s.debug) == ("e1", True, True)
    assert (s.tracking_uri, s.token, s.config_dir, s.upload_via_server) == (
        "http://127.0.0.1:8080",
        "stl_x",
        tmp_path / "config",
        True,
    )
    assert s.offline_after == 2.5 and Settings.from_env({}).offline_after == 30.0
    with pytest.raises(UsageError, match="STEPLINE_OFFLINE_AFTER='soon'"):
        Settings.from_env({"STEPLINE_OFFLINE_AFTER": "soon"})
    assert (s.constraints, s.url_rewrite, s.only_binary) == (
        "numpy<2.4",
        "https://x/y=/srv/y",
        ":none:",
    )
    assert (s.multipart_threshold, s.multipart_part_size, s.multipart_expiry) == (
        8 << 20,
        5 << 20,
        60,
    )
    assert s.presign_endpoint == "http://s3.example:9000"
    named = {var for var, field in settings.VARIABLES if field is not None}
    assert named == set(env)  # the table names every variable read, and only those
    fields = {field for _, field in settings.VARIABLES if field is not None}
    assert fields == {f.name for f in dataclasses.fields(Settings)}
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.project = "other"  # type: ignore[misc]


def test_the_wandb_twin_wins_when_user_code_changed_it() -> None:
    both = {"STEPLINE_PROJECT": "launcher", "WANDB_PROJECT": "from_main_py"}
    assert Settings.from_env(both).project == "from_main_py"
    assert Settings.from_env({"WANDB_RUN_GROUP": "g"}).group == "g"


@pytest.mark.parametrize("text", ["soon", "0", "-3", "inf"])
def test_a_bad_heartbeat_timeout_names_the_variable(text: str) -> None:
    with pytest.raises(UsageError, match=rf"STEPLINE_HEARTBEAT_TIMEOUT='{text}'.*seconds > 0"):
        Settings.from_env({"STEPLINE_HEARTBEAT_TIMEOUT": text})


@pytest.mark.parametrize("text", ["big", "4MiB", "1.5GiB", "-8"])
def test_a_bad_part_size_names_the_variable(text: str) -> None:
    with pytest.raises(UsageError, match=rf"STEPLINE_MULTIPART_PART_SIZE='{text}'.*at least"):
        Settings.from_env({"STEPLINE_MULTIPART_PART_SIZE": text})


def test_only_the_settings_module_reads_stepline_variables() -> None:
    """Everywhere else receives a Settings, or names a protocol variable through a constant."""
    read = re.compile(r"""environ(?:\.get\(|\[)\s*f?["']STEPLINE_""")
    offenders = [
        f"{path.relative_to(SRC)}:{n}"
        for path in SRC.rglob("*.py")
        if path.name != "settings.py" or path.parent != SRC
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if read.search(line)
    ]
    # the mlflow hook runs inside a course root's own Python, where stepline may not import
    assert [o for o in offenders if not o.startswith("pipeline/mlflow_hook/")] == []


def test_the_readme_lists_every_variable() -> None:
    text = README.read_text()
    missing = [var for var, field in settings.VARIABLES if field and f"`{var}" not in text]
    assert missing == []
