"""Benchmark: the 问数 score on live PostgreSQL datasets beside the score on DuckDB, in one run.

Why: issue 11's bar is that moving the city's tables to an engine changes no answer —
`score.py --db` on a warehouse whose datasets are linked live from PostgreSQL gives the same
score and the same refusals as on the imported DuckDB copy. This makes that warehouse the way a
city would (copy the tables, `citybi datasets link`, carry the units/synonyms/rules/metrics over)
and prints both scores. It asserts nothing.

    .venv/bin/python bench/nlq_live.py --score ../shared/nlq/score.py [--questions FILE]
                                       [--pg postgresql://postgres@127.0.0.1:5432/test]

1. score.py --cli .venv/bin/citybi --work W: the DuckDB score (W/answer.duckdb is its warehouse);
2. every dataset of W/answer.duckdb copied into a new PostgreSQL schema (COPY), then linked into
   W/live_pg.duckdb with its notes and the metrics;
3. score.py --db W/live_pg.duckdb: the live score; the schema is dropped at the end.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
from psycopg import sql
from sqlglot import exp

from citybi.catalog import Catalog, open_warehouse
from citybi.datasets_link import copy_notes, link

ROOT = Path(__file__).resolve().parent.parent
CLI = str(ROOT / ".venv" / "bin" / "citybi")
PG_TYPES = {"VARCHAR": "text", "DOUBLE": "double precision", "BIGINT": "bigint", "INTEGER": "integer",
            "DATE": "date", "TIMESTAMP": "timestamp", "BOOLEAN": "boolean"}


def score(script: str, questions: str | None, *extra: str) -> str:
    cmd = [sys.executable, script, "--cli", CLI, *(["--questions", questions] if questions else []), *extra]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False).stdout.strip().splitlines()
    return out[-1] if out else "(no output)"


def copy_to_postgres(src: Catalog, conn: psycopg.Connection, schema: str) -> list[str]:
    names = [d.name for d in src.datasets()]
    for name in names:
        info = src.get(name)
        table = sql.Identifier(schema, name)
        cols = sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(PG_TYPES[c.duckdb_type]))
                                  for c in info.columns)
        conn.execute(sql.SQL("CREATE TABLE {} ({})").format(table, cols))
        frame = src.wh.run(exp.select(exp.Star()).from_(exp.to_table(name, quoted=True)), max_rows=10_000_000).frame
        with conn.cursor().copy(sql.SQL("COPY {} FROM STDIN").format(table)) as copy:
            for row in frame.iter_rows():
                copy.write_row(row)
    return names


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--score", required=True, help="the scorer, e.g. ../shared/nlq/score.py")
    p.add_argument("--questions")
    p.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="citybi-nlq-live-"))
    print("DuckDB (imported):       ", score(args.score, args.questions, "--work", str(work)), flush=True)
    schema = f"citybi_nlq_{uuid.uuid4().hex[:8]}"
    conn = psycopg.connect(args.pg, autocommit=True)
    conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        src_wh = open_warehouse(path=work / "answer.duckdb")
        live_wh = open_warehouse(path=work / "live_pg.duckdb")
        try:
            src, dst = Catalog(src_wh), Catalog(live_wh)
            for name in copy_to_postgres(src, conn, schema):
                link(dst, name, args.pg, f"{schema}.{name}")
                copy_notes(src, dst, name)
            dst.save_metrics(src.metrics())
        finally:
            src_wh.close()
            live_wh.close()
        print("PostgreSQL (live links): ", score(args.score, args.questions, "--work", str(work),
                                                 "--db", str(work / "live_pg.duckdb")), flush=True)
    finally:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
        conn.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
