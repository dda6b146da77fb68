"""Tables. Times are UNIX seconds (float); JSON columns hold config, summary, info and metadata."""

from __future__ import annotations

import sqlalchemy as sa

meta = sa.MetaData()

schema_info = sa.Table(
    "schema_info",
    meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
)

projects = sa.Table(
    "projects",
    meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(128), nullable=False, unique=True),
    sa.Column("run_counter", sa.Integer, nullable=False, default=0),
    sa.Column("created_at", sa.Float, nullable=False),
)

runs = sa.Table(
    "runs",
    meta,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id"), nullable=False),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("grp", sa.String(256)),
    sa.Column("job_type", sa.String(256)),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("config", sa.JSON, nullable=False),
    sa.Column("summary", sa.JSON, nullable=False),
    sa.Column("info", sa.JSON, nullable=False),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("notes", sa.Text),
    sa.Column("host", sa.String(256)),
    sa.Column("pid", sa.Integer),
    sa.Column("command", sa.Text),
    sa.Column("git_commit", sa.String(64)),
    sa.Column("git_dirty", sa.Boolean),
    sa.Column("python_version", sa.String(32)),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("ended_at", sa.Float),
    sa.Column("heartbeat_at", sa.Float),
    sa.Column("exit_code", sa.Integer),
    #: the pipeline execution the run belongs to (a step, a cache hit, the execution's own run)
    sa.Column("execution_id", sa.String(64)),
    #: the step-cache key of the run's work; a finished run with it is a cache hit for it
    sa.Column("cache_key", sa.String(64)),
    sa.Index("ix_runs_project_created", "project_id", "created_at"),
    sa.Index("ix_runs_group", "grp"),
    sa.Index("ix_runs_execution", "execution_id"),
    sa.Index("ix_runs_cache_key", "cache_key"),
)

#: pipeline executions: one `stepline run` of a pipeline.yaml, or one course root's (Hydra job's)
#: `mlflow.run` calls; its runs carry `runs.execution_id`
executions = sa.Table(
    "executions",
    meta,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("pipeline", sa.String(256), nullable=False),
    sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id"), nullable=False),
    sa.Column("grp", sa.String(256)),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("ended_at", sa.Float),
    sa.Column("parameters", sa.JSON, nullable=False),
    sa.Index("ix_executions_project_started", "project_id", "started_at"),
)

#: metric history in chunks: each row holds the steps one flush wrote, as a JSON list of
#: [step, timestamp, {key: value}] — one insert and one JSON encoding per flush, not per step
history = sa.Table(
    "history",
    meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.id"), nullable=False),
    sa.Column("first_step", sa.Integer, nullable=False),
    sa.Column("last_step", sa.Integer, nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    sa.Index("ix_history_run", "run_id", "first_step"),
)

#: chart previews (metadata/previews.py): a long metric's min/max buckets per run and key, as
#: JSON, holding the run's history up to chunk `history_id` (`chunks` chunks, `points` points)
history_previews = sa.Table(
    "history_previews",
    meta,
    sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.id"), primary_key=True),
    sa.Column("key", sa.String(512), primary_key=True),
    sa.Column("history_id", sa.Integer, nullable=False),
    sa.Column("chunks", sa.Integer, nullable=False),
    sa.Column("points", sa.BigInteger, nullable=False),
    sa.Column("data", sa.Text, nullable=False),
)

run_logs = sa.Table(
    "run_logs",
    meta,
    sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.id"), primary_key=True),
    sa.Column("stream", sa.String(32), primary_key=True),
    sa.Column("oid", sa.String(64), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
)

artifacts = sa.Table(
    "artifacts",
    meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id"), nullable=False),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("type", sa.String(128), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.UniqueConstraint("project_id", "name", name="uq_artifacts_project_name"),
)

versions = sa.Table(
    "versions",
    meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("artifact_id", sa.Integer, sa.ForeignKey("artifacts.id"), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("manifest", sa.Text, nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("file_count", sa.Integer, nullable=False),
    sa.Column("description", sa.Text),
    sa.Column("metadata", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.id")),
    sa.UniqueConstraint("artifact_id", "version", name="uq_versions_artifact_version"),
    sa.Index("ix_versions_run", "run_id"),
)

aliases = sa.Table(
    "aliases",
    meta,
    sa.Column("artifact_id", sa.Integer, sa.ForeignKey("artifacts.id"), primary_key=True),
    sa.Column("alias", sa.String(128), primary_key=True),
    sa.Column("version_id", sa.Integer, sa.ForeignKey("versions.id"), nullable=False),
)

#: run → version output edges: the run that created a version, and every run that logged the
#: same content again (or reused it from the step cache)
outputs = sa.Table(
    "outputs",
    meta,
    sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.id"), primary_key=True),
    sa.Column("version_id", sa.Integer, sa.ForeignKey("versions.id"), primary_key=True),
    sa.Column("logged_at", sa.Float, nullable=False),
    sa.Index("ix_outputs_version", "version_id"),
)

usages = sa.Table(
    "usages",
    meta,
    sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.id"), primary_key=True),
    sa.Column("version_id", sa.Integer, sa.ForeignKey("versions.id"), primary_key=True),
    sa.Column("used_at", sa.Float, nullable=False),
    sa.Index("ix_usages_version", "version_id"),
)

registered_models = sa.Table(
    "registered_models",
    meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(256), nullable=False, unique=True),
    sa.Column("description", sa.Text),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

model_versions = sa.Table(
    "model_versions",
    meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model_id", sa.Integer, sa.ForeignKey("registered_models.id"), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("version_id", sa.Integer, sa.ForeignKey("versions.id"), nullable=False),
    sa.Column("description", sa.Text),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.UniqueConstraint("model_id", "version", name="uq_model_versions"),
)

model_aliases = sa.Table(
    "model_aliases",
    meta,
    sa.Column("model_id", sa.Integer, sa.ForeignKey("registered_models.id"), primary_key=True),
    sa.Column("alias", sa.String(128), primary_key=True),
    sa.Column("model_version_id", sa.Integer, sa.ForeignKey("model_versions.id"), nullable=False),
)
