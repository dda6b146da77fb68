#!/usr/bin/env python
"""Write a CSV artifact into a database table, idempotently.

Every stored row carries ``_row_digest``, a SHA-256 of its values, as the table's primary key;
a row already present is not inserted again, so re-running the step (or storing an artifact that
overlaps a previous one) never duplicates rows. With ``--key id``, a stored row whose key comes
again is replaced by the new one. Everything happens in one transaction.

``--db`` is any SQLAlchemy URL: ``sqlite:///etl.sqlite`` (a relative path is taken from the
project root, next to the ``.stepline`` store) or ``postgresql://user@host:5432/db``.
"""

import argparse
import hashlib
import json
import logging
import math
import os
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

import stepline

logging.basicConfig(level=logging.INFO, format="%(asctime)-15s %(message)s")
logger = logging.getLogger()

DIGEST = "_row_digest"
CHUNK = 500


def engine_url(db: str) -> str:
    """Normalise the URL: relative SQLite paths and the PostgreSQL driver."""
    url = sa.engine.make_url(db)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        path = Path(url.database)
        if not path.is_absolute():
            store = os.environ.get("STEPLINE_DIR")
            root = Path(store).resolve().parent if store else Path.cwd()
            url = url.set(database=str(root / path))
    if url.drivername == "postgresql":  # no driver named: use psycopg 3, the one installed
        url = url.set(drivername="postgresql+psycopg")
    return url.render_as_string(hide_password=False)


def row_digests(df: pd.DataFrame) -> list[str]:
    """A stable digest of each row's values (column names included)."""
    columns = list(df.columns)
    digests = []
    for values in df.itertuples(index=False, name=None):
        canonical = json.dumps(dict(zip(columns, values, strict=True)), sort_keys=True, default=str)
        digests.append(hashlib.sha256(canonical.encode()).hexdigest())
    return digests


def sql_type(series: pd.Series) -> sa.types.TypeEngine:
    """The SQL column type for a pandas column."""
    if pd.api.types.is_bool_dtype(series):
        return sa.Boolean()
    if pd.api.types.is_integer_dtype(series):
        return sa.BigInteger()
    if pd.api.types.is_float_dtype(series):
        return sa.Float()
    return sa.Text()


def records(df: pd.DataFrame, digests: list[str]) -> list[dict]:
    """Rows as dicts with Python scalars, NaN as NULL."""
    out = []
    for values, digest in zip(df.itertuples(index=False, name=None), digests, strict=True):
        row = {
            col: (
                None
                if isinstance(v, float) and math.isnan(v)
                else (v.item() if hasattr(v, "item") else v)
            )
            for col, v in zip(df.columns, values, strict=True)
        }
        row[DIGEST] = digest
        out.append(row)
    return out


def store(df: pd.DataFrame, engine: sa.Engine, table_name: str, key: list[str]) -> dict:
    """Insert the frame's new rows into ``table_name``; return what was done."""
    df = df.drop_duplicates()
    digests = row_digests(df)
    metadata = sa.MetaData()
    table = sa.Table(
        table_name,
        metadata,
        sa.Column(DIGEST, sa.String(64), primary_key=True),
        *(sa.Column(str(c), sql_type(df[c])) for c in df.columns),
    )
    stats = {"rows": len(df), "inserted": 0, "already_present": 0, "replaced": 0}
    with engine.begin() as conn:
        inspector = sa.inspect(conn)
        if inspector.has_table(table_name):
            existing = {c["name"] for c in inspector.get_columns(table_name)}
            wanted = {DIGEST, *map(str, df.columns)}
            if existing != wanted:
                raise ValueError(
                    f"table {table_name!r} has columns {sorted(existing)}, the data has "
                    f"{sorted(wanted)}: store into another --table or drop it"
                )
        else:
            metadata.create_all(conn)
        rows = records(df, digests)
        present: set[str] = set()
        for start in range(0, len(digests), CHUNK):
            chunk = digests[start : start + CHUNK]
            present.update(
                conn.scalars(sa.select(table.c[DIGEST]).where(table.c[DIGEST].in_(chunk)))
            )
        new = [r for r in rows if r[DIGEST] not in present]
        stats["already_present"] = len(rows) - len(new)
        if key and new:
            key_cols = [table.c[k] for k in key]
            for start in range(0, len(new), CHUNK):
                part = new[start : start + CHUNK]
                keys = [tuple(r[k] for k in key) for r in part]
                result = conn.execute(sa.delete(table).where(sa.tuple_(*key_cols).in_(keys)))
                stats["replaced"] += result.rowcount or 0
        if new:
            conn.execute(table.insert(), new)
        stats["inserted"] = len(new)
        stats["table_rows"] = conn.scalar(sa.select(sa.func.count()).select_from(table))
    return stats


def go(args: argparse.Namespace) -> None:
    run = stepline.init(job_type="store")
    run.config.update(args)

    path = run.use_artifact(args.input_artifact).file()
    df = pd.read_csv(path)
    key = [c.strip() for c in args.key.split(",") if c.strip()]
    missing = [c for c in key if c not in df.columns]
    if missing:
        raise ValueError(f"key columns {missing} not in the data; columns: {list(df.columns)}")

    url = engine_url(args.db)
    engine = sa.create_engine(url)
    logger.info(
        "Storing %d rows into %s table %s", len(df), engine.url.render_as_string(), args.table
    )
    stats = store(df, engine, args.table, key)
    engine.dispose()
    logger.info(
        "Inserted %d rows (%d already present, %d replaced); the table holds %d rows",
        stats["inserted"], stats["already_present"], stats["replaced"], stats["table_rows"],
    )  # fmt: skip
    for name, value in stats.items():
        run.summary[name] = value


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Write a CSV artifact into a database table")
    parser.add_argument(
        "--input_artifact", type=str, required=True, help="CSV artifact (e.g. clean_data:latest)"
    )
    parser.add_argument(
        "--db",
        type=str,
        default="sqlite:///etl.sqlite",
        help="SQLAlchemy URL: sqlite:///file.db (relative = project root) or postgresql://...",
    )
    parser.add_argument("--table", type=str, default="clean_data", help="Table to write into")
    parser.add_argument(
        "--key",
        type=str,
        default="",
        help="Comma-separated key columns; a stored row with the same key is replaced",
    )
    go(parser.parse_args())
