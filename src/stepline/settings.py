"""stepline's settings as one value, read from the environment once, where a process starts.

    from stepline import settings
    s = settings.current()              # this process's STEPLINE_* variables, now
    s.store_dir, s.heartbeat_timeout    # None (found from the working folder), 300.0
    s = settings.Settings.from_env({"STEPLINE_DIR": "/srv/stores/team-a"})   # a server's store

An entry point (the CLI, `stepline.init`, a pipeline step) reads `current()` once and hands the
`Settings` down; the library below it reads no `STEPLINE_*` variable itself. A server serving
many stores builds one `Settings` per store. Each field's comment names its variable, default
and meaning; `VARIABLES` lists them for the docs. The names at the bottom (`RUN_ID`,
`STEP_SOCKET`, …) are the protocol between a stepline process and the child processes it starts:
they stay environment variables, named here once.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from stepline.errors import UsageError

#: seconds: a `running` run whose heartbeat is older than this is called `crashed`
HEARTBEAT_TIMEOUT = 300.0
#: seconds a run that reached its team server retries a lost server before it goes local
OFFLINE_AFTER = 30.0
#: where `download()` puts artifacts when no folder is given
ARTIFACT_DIR = "artifacts"
#: bytes: a team server on S3 has objects at least this big uploaded in parts
MULTIPART_THRESHOLD = 64 << 20
#: bytes per part of a multipart upload (S3 wants at least 5 MiB, at most 10,000 parts)
MULTIPART_PART_SIZE = 16 << 20
#: seconds after which a team server aborts a multipart upload nobody finished
MULTIPART_EXPIRY = 24 * 3600.0


@dataclass(frozen=True)
class Settings:
    """Every setting stepline reads from the environment (see the module docstring)."""

    #: STEPLINE_DIR, default None: the store folder; None finds `.stepline/` as git finds `.git`
    store_dir: Path | None = None
    #: STEPLINE_DATABASE_URL, default None: the metadata database; None is SQLite in the store
    database_url: str | None = None
    #: STEPLINE_CACHE_DIR, default None: envs, git checkouts, the stat cache; None is the
    #: user's cache folder (platformdirs) + `stepline`
    cache_dir: Path | None = None
    #: STEPLINE_ARTIFACT_DIR, default `artifacts`: where `download()` puts artifacts by default
    artifact_dir: Path = Path(ARTIFACT_DIR)
    #: STEPLINE_LINK_TYPE, default None (reflink,copy): how downloads are made, in order
    link_type: str | None = None
    #: STEPLINE_FSYNC, default True (`0` turns it off): new objects are flushed to disk durably
    fsync: bool = True
    #: STEPLINE_HEARTBEAT_TIMEOUT, default 300: seconds after which a silent run is `crashed`
    heartbeat_timeout: float = HEARTBEAT_TIMEOUT
    #: STEPLINE_PROJECT (or WANDB_PROJECT), default None (`uncategorized`): a new run's project
    project: str | None = None
    #: STEPLINE_RUN_GROUP (or WANDB_RUN_GROUP), default None: a new run's group
    group: str | None = None
    #: STEPLINE_JOB_TYPE (or WANDB_JOB_TYPE), default None: a new run's job type
    job_type: str | None = None
    #: STEPLINE_RUN_ID (or WANDB_RUN_ID), default None: the run `init()` attaches to (set by
    #: the component runner for its child process)
    run_id: str | None = None
    #: STEPLINE_MODE (or WANDB_MODE), default None: `disabled` makes `init()` record nothing
    mode: str | None = None
    #: STEPLINE_SCOPE, default None: the execution whose outputs `name:latest` prefers (set by
    #: the pipeline for its steps)
    scope: str | None = None
    #: STEPLINE_NO_CACHE, default False (`1` sets it): a course-style root re-runs every step
    no_cache: bool = False
    #: STEPLINE_DEBUG, default False (any value sets it): errors show their traceback
    debug: bool = False
    #: STEPLINE_CONSTRAINTS, default empty: constraint lines for every env (`;` or newlines)
    constraints: str = ""
    #: STEPLINE_URL_REWRITE, default empty: `URL=TARGET` rules for git sources (`;` between)
    url_rewrite: str = ""
    #: STEPLINE_ONLY_BINARY, default None (heavy packages): packages installed from wheels only
    only_binary: str | None = None
    #: STEPLINE_TRACKING_URI, default empty: an http(s):// team server to record to instead of
    #: the local store
    tracking_uri: str = ""
    #: STEPLINE_TOKEN, default None: the team server's API token (else the one `stepline login`
    #: stored)
    token: str | None = None
    #: STEPLINE_CONFIG_DIR, default None: where `stepline login` keeps tokens; None is the
    #: user's config folder (platformdirs) + `stepline`
    config_dir: Path | None = None
    #: STEPLINE_UPLOAD_VIA_SERVER, default False (`1` sets it): objects go through the team
    #: server even when it has S3
    upload_via_server: bool = False
    #: STEPLINE_MULTIPART_THRESHOLD, default 64MiB (a team server's): objects this big or
    #: bigger go to S3 as resumable multipart uploads
    multipart_threshold: int = MULTIPART_THRESHOLD
    #: STEPLINE_MULTIPART_PART_SIZE, default 16MiB (a team server's): the size of each part
    multipart_part_size: int = MULTIPART_PART_SIZE
    #: STEPLINE_MULTIPART_EXPIRY, default 86400 (a team server's): seconds after which an
    #: unfinished multipart upload is aborted (its parts deleted)
    multipart_expiry: float = MULTIPART_EXPIRY
    #: STEPLINE_S3_PRESIGN_ENDPOINT, default None (AWS_ENDPOINT_URL): the S3 endpoint a team
    #: server's presigned URLs name, when clients reach the bucket by another address than it
    presign_endpoint: str | None = None
    #: STEPLINE_OFFLINE_AFTER, default 30: seconds a run that reached the team server retries
    #: when it loses it, before it records into the local store (`stepline push` sends it later)
    offline_after: float = OFFLINE_AFTER

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings `environ` (default: this process's environment) gives.

        Raises UsageError for a value that cannot be read (a heartbeat timeout that is not a
        number of seconds > 0), naming the variable.
        """
        env = os.environ if environ is None else environ

        def path(name: str) -> Path | None:
            value = env.get(name)
            return Path(value).expanduser().resolve() if value else None

        return cls(
            store_dir=path(DIR),
            database_url=env.get(DATABASE_URL) or None,
            cache_dir=path(CACHE_DIR),
            artifact_dir=Path(env.get(ARTIFACT_DIR_VAR) or ARTIFACT_DIR),
            link_type=env.get(LINK_TYPE) or None,
            fsync=env.get(FSYNC, "1") != "0",
            heartbeat_timeout=_heartbeat(env.get(HEARTBEAT)),
            project=twin(env, "PROJECT"),
            group=twin(env, "RUN_GROUP"),
            job_type=twin(env, "JOB_TYPE"),
            run_id=twin(env, "RUN_ID"),
            mode=twin(env, "MODE"),
            scope=env.get(SCOPE) or None,
            no_cache=env.get(NO_CACHE) == "1",
            debug=bool(env.get(DEBUG)),
            constraints=env.get(CONSTRAINTS, ""),
            url_rewrite=env.get(URL_REWRITE, ""),
            only_binary=env.get(ONLY_BINARY),
            tracking_uri=env.get(TRACKING_URI, ""),
            token=env.get(TOKEN) or None,
            config_dir=path(CONFIG_DIR),
            upload_via_server=env.get(UPLOAD_VIA_SERVER, "") not in ("", "0"),
            multipart_threshold=_size(env, MULTIPART_THRESHOLD_VAR, MULTIPART_THRESHOLD, 1),
            multipart_part_size=_size(env, PART_SIZE, MULTIPART_PART_SIZE, 5 << 20),
            multipart_expiry=_seconds(env, MULTIPART_EXPIRY_VAR, MULTIPART_EXPIRY),
            presign_endpoint=env.get(PRESIGN_ENDPOINT) or None,
            offline_after=_seconds(env, OFFLINE_AFTER_VAR, OFFLINE_AFTER, zero=True),
        )

    @property
    def heartbeat_interval(self) -> float:
        """How often a live run refreshes its heartbeat: a fifth of the timeout, at most 30 s."""
        return max(0.5, min(30.0, self.heartbeat_timeout / 5))

    def link_types(self) -> tuple[str, ...]:
        """`link_type` as the ordered list of ways to make a download (default reflink, copy)."""
        from stepline.store.links import parse_link_types

        return parse_link_types(self.link_type)


def current() -> Settings:
    """The settings of this process's environment now; read once at an entry point."""
    return Settings.from_env()


def twin(environ: Mapping[str, str], suffix: str) -> str | None:
    """STEPLINE_<suffix>, else WANDB_<suffix>; when both are set and differ, WANDB_ wins.

    stepline exports the twins with equal values, so a difference means user code changed the
    WANDB one afterwards (as the course's `main.py` does with `os.environ["WANDB_PROJECT"]`).
    """
    ours, theirs = environ.get(f"STEPLINE_{suffix}"), environ.get(f"WANDB_{suffix}")
    if ours and theirs and ours != theirs:
        return theirs
    return ours or theirs or None


def _heartbeat(text: str | None) -> float:
    if not text:
        return HEARTBEAT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        raise UsageError(
            f"{HEARTBEAT}={text!r} is not valid; give a number of seconds > 0"
            f" (default {HEARTBEAT_TIMEOUT:g})"
        )
    return value


_UNITS = {"": 1, "b": 1, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30}


def _size(env: Mapping[str, str], name: str, default: int, least: int) -> int:
    """A size in bytes: `67108864`, `64MiB`, `512KiB`, `1GiB` (at least `least`)."""
    text = env.get(name, "").strip()
    if not text:
        return default
    digits = text.rstrip("BbIiKkMmGg ")
    unit = _UNITS.get(text[len(digits) :].strip().lower())
    if unit is None or not digits.isdigit() or int(digits) * unit < least:
        raise UsageError(
            f"{name}={text!r} is not valid; give a size of at least {least:,} bytes, such as"
            f" {default >> 20}MiB (default) or {default} (bytes)"
        )
    return int(digits) * unit


def _seconds(env: Mapping[str, str], name: str, default: float, *, zero: bool = False) -> float:
    """A number of seconds > 0 (with `zero`, >= 0: 0 means at once)."""
    text = env.get(name)
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (value >= 0 if zero else value > 0) or value == float("inf"):
        raise UsageError(
            f"{name}={text!r} is not valid; give a number of seconds {'>=' if zero else '>'} 0"
            f" (default {default:g})"
        )
    return value


# -- the variables, named once ----------------------------------------------------------------
DIR = "STEPLINE_DIR"
DATABASE_URL = "STEPLINE_DATABASE_URL"
CACHE_DIR = "STEPLINE_CACHE_DIR"
ARTIFACT_DIR_VAR = "STEPLINE_ARTIFACT_DIR"
LINK_TYPE = "STEPLINE_LINK_TYPE"
FSYNC = "STEPLINE_FSYNC"
HEARTBEAT = "STEPLINE_HEARTBEAT_TIMEOUT"
SCOPE = "STEPLINE_SCOPE"
NO_CACHE = "STEPLINE_NO_CACHE"
DEBUG = "STEPLINE_DEBUG"
CONSTRAINTS = "STEPLINE_CONSTRAINTS"
URL_REWRITE = "STEPLINE_URL_REWRITE"
ONLY_BINARY = "STEPLINE_ONLY_BINARY"
TRACKING_URI = "STEPLINE_TRACKING_URI"
TOKEN = "STEPLINE_TOKEN"
CONFIG_DIR = "STEPLINE_CONFIG_DIR"
UPLOAD_VIA_SERVER = "STEPLINE_UPLOAD_VIA_SERVER"
MULTIPART_THRESHOLD_VAR = "STEPLINE_MULTIPART_THRESHOLD"
PART_SIZE = "STEPLINE_MULTIPART_PART_SIZE"
MULTIPART_EXPIRY_VAR = "STEPLINE_MULTIPART_EXPIRY"
PRESIGN_ENDPOINT = "STEPLINE_S3_PRESIGN_ENDPOINT"
OFFLINE_AFTER_VAR = "STEPLINE_OFFLINE_AFTER"
#: run defaults, each with its W&B twin (`WANDB_PROJECT`, …): (field, suffix)
RUN_DEFAULTS = (
    ("project", "PROJECT"),
    ("group", "RUN_GROUP"),
    ("job_type", "JOB_TYPE"),
    ("run_id", "RUN_ID"),
    ("mode", "MODE"),
)

# -- the protocol between a stepline process and the children it starts -----------------------
#: the run a component's process attaches to (with WANDB_RUN_ID), set by the runner
RUN_ID = "STEPLINE_RUN_ID"
#: the socket of the step server a course-style root's `mlflow.run` calls go to
STEP_SOCKET = "STEPLINE_STEP_SOCKET"
#: the step server's pid, so a hook can tell a live server from a stale socket
STEP_SERVER_PID = "STEPLINE_STEP_SERVER_PID"
#: the interpreter a course-style root's hook runs `stepline.cli.mlflow_step` with
PYTHON = "STEPLINE_PYTHON"
#: the execution id a course-style root's steps share
EXECUTION = "STEPLINE_EXECUTION"
#: the launcher's PATH, restored for a step so it runs in its own env, not the root's
LAUNCH_PATH = "STEPLINE_LAUNCH_PATH"

#: (variable, Settings field or None for a protocol variable) for the docs and `stepline info`
VARIABLES = (
    (DIR, "store_dir"),
    (DATABASE_URL, "database_url"),
    (CACHE_DIR, "cache_dir"),
    (ARTIFACT_DIR_VAR, "artifact_dir"),
    (LINK_TYPE, "link_type"),
    (FSYNC, "fsync"),
    (HEARTBEAT, "heartbeat_timeout"),
    *((f"STEPLINE_{suffix}", field) for field, suffix in RUN_DEFAULTS),
    (SCOPE, "scope"),
    (NO_CACHE, "no_cache"),
    (DEBUG, "debug"),
    (CONSTRAINTS, "constraints"),
    (URL_REWRITE, "url_rewrite"),
    (ONLY_BINARY, "only_binary"),
    (TRACKING_URI, "tracking_uri"),
    (TOKEN, "token"),
    (CONFIG_DIR, "config_dir"),
    (UPLOAD_VIA_SERVER, "upload_via_server"),
    (MULTIPART_THRESHOLD_VAR, "multipart_threshold"),
    (PART_SIZE, "multipart_part_size"),
    (MULTIPART_EXPIRY_VAR, "multipart_expiry"),
    (PRESIGN_ENDPOINT, "presign_endpoint"),
    (OFFLINE_AFTER_VAR, "offline_after"),
    (STEP_SOCKET, None),
    (STEP_SERVER_PID, None),
    (PYTHON, None),
    (EXECUTION, None),
    (LAUNCH_PATH, None),
)
