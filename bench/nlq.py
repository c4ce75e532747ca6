"""Dev harness for the question layer: answers a question file offline and measures it.

Builds DatasetInfo straight from a DuckDB file (or, for files that carry their own tables
such as retqa, from those tables, typed the way the importer types them), runs
citybi.nlq.answer on every question, prints the median/p95 parse+plan time (no SQL
execution), and — when the file has gold answers and --scorer names the folder of the
benchmark's score.py — grades them with its match(). The question files and the scorer belong
to the benchmark, not to this repository: pass their paths.

  .venv/bin/python bench/nlq.py --db gold.duckdb --questions questions_dev.jsonl --scorer DIR
  .venv/bin/python bench/nlq.py --questions retqa_dev.jsonl [--no-hint] [-v]
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import duckdb
from sqlglot import exp

from citybi.nlq import answer, plan
from citybi.schema import ColumnInfo, DatasetInfo

TYPES = {"VARCHAR": "text", "BIGINT": "integer", "INTEGER": "integer", "HUGEINT": "integer", "DOUBLE": "number",
         "FLOAT": "number", "DATE": "date", "TIMESTAMP": "timestamp", "BOOLEAN": "boolean"}


def datasets_from(con: duckdb.DuckDBPyConnection) -> list[DatasetInfo]:
    out = []
    tables = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables ORDER BY 1").fetchall()]
    for t in tables:
        cols = []
        for name, dtype in con.execute("SELECT column_name, data_type FROM information_schema.columns "
                                       "WHERE table_name = ? ORDER BY ordinal_position", [t]).fetchall():
            logical = TYPES.get(dtype.split("(")[0], "number" if dtype.startswith("DECIMAL") else "text")
            m = re.search(r"[（(]([^）)]*)[）)]", name)
            cols.append(ColumnInfo(name, logical, dtype, unit=m.group(1) if m else None))
        n = con.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0]
        out.append(DatasetInfo(t, t, "", tuple(cols), n, 1))
    return out


def executor(con: duckdb.DuckDBPyConnection):
    def run(tree: exp.Expression) -> Any:
        cur = con.execute(tree.sql(dialect="duckdb"))
        return SimpleNamespace(columns=[d[0] for d in cur.description], rows=cur.fetchall())
    return run


CN_DAY = re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日$")
CN_MONTH = re.compile(r"^(\d{4})年(\d{1,2})月$")


def load_external(con: duckdb.DuckDBPyConnection, questions: list[dict]) -> None:
    """Tables carried in the question file, typed like the importer: text dates → DATE."""
    for q in questions:
        t = q.get("table")
        if not isinstance(t, dict) or con.execute("SELECT 1 FROM information_schema.tables WHERE table_name=?",
                                                  [t["name"]]).fetchone():
            continue
        names = [c["name"] for c in t["columns"]]
        types = [c["type"] for c in t["columns"]]
        rows = [list(r) for r in t["rows"]]
        for i, ty in enumerate(types):
            vals = [r[i] for r in rows if r[i] not in (None, "")]
            if ty == "VARCHAR" and vals and all(isinstance(v, str) and CN_DAY.match(v) for v in vals):
                types[i] = "DATE"
                for r in rows:
                    m = CN_DAY.match(r[i] or "")
                    r[i] = dt.date(int(m[1]), int(m[2]), int(m[3])) if m else None
            elif ty == "VARCHAR" and vals and all(isinstance(v, str) and CN_MONTH.match(v) for v in vals):
                types[i] = "DATE"
                for r in rows:
                    m = CN_MONTH.match(r[i] or "")
                    r[i] = dt.date(int(m[1]), int(m[2]), 1) if m else None
        cols = ", ".join(f'"{n}" {ty}' for n, ty in zip(names, types, strict=True))
        con.execute(f'CREATE TABLE "{t["name"]}" ({cols})')
        if rows:
            con.executemany(f'INSERT INTO "{t["name"]}" VALUES ({", ".join("?" * len(names))})', rows)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--db", help="DuckDB file with the tables (city benchmark: gold.duckdb)")
    p.add_argument("--questions", required=True)
    p.add_argument("--today", default="2024-06-15")
    p.add_argument("--no-hint", action="store_true")
    p.add_argument("-v", "--verbose", action="store_true")
    p.add_argument("--only", help="question id substring")
    p.add_argument("--scorer", help="folder holding the benchmark's score.py; without it nothing is graded")
    args = p.parse_args()
    match = None
    if args.scorer:
        sys.path.insert(0, args.scorer)
        from score import match  # the benchmark's own matcher, not a copy
    questions = [json.loads(x) for x in Path(args.questions).read_text(encoding="utf-8").splitlines() if x.strip()]
    if args.only:
        questions = [q for q in questions if args.only in q["id"]]
    con = duckdb.connect(args.db, read_only=True) if args.db else duckdb.connect()
    if not args.db:
        load_external(con, questions)
    datasets = datasets_from(con)
    run = executor(con)
    today = dt.date.fromisoformat(args.today)
    timings: list[float] = []
    cold: list[float] = []
    right = wrong = declined = refuse_ok = refuse_n = 0
    for q in questions:
        table = q["table"]["name"] if isinstance(q.get("table"), dict) else q.get("table")
        pool = datasets if (args.no_hint or not table) else [d for d in datasets if d.name == table]
        t0 = time.perf_counter()
        for d in pool:
            plan(q["question"], d, run, today)
        cold.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()  # again, with learned values cached: the steady-state cost
        for d in pool:
            plan(q["question"], d, run, today)
        timings.append((time.perf_counter() - t0) * 1000)
        a = answer(q["question"], datasets, run, today=today, table=None if args.no_hint else table)
        j = a.to_json(q["id"])
        if q.get("expect") == "refuse":
            refuse_n += 1
            ok = j["status"] != "ok" and not j["rows"]
            refuse_ok += ok
        elif match is not None and ("gold_sql" in q or "gold_result" in q):
            if "gold_result" in q:
                grows = q["gold_result"]
            else:
                gold = duckdb.connect(args.db, read_only=True) if args.db else con
                grows = gold.execute(q["gold_sql"]).fetchall()
            idx = q.get("compare") or list(range(len(grows[0]) if grows else 1))
            ok = j["status"] == "ok" and match(grows, idx, j["rows"], q.get("ordered", False))
            right += ok
            wrong += (not ok) and j["status"] == "ok"
            declined += j["status"] != "ok"
        else:
            ok = True
        if args.verbose or not ok:
            mark = "ok  " if ok else ("WRONG" if j["status"] == "ok" else "decl")
            print(f"{mark} {q['id']} {q['question']} -> {j['status']} {j['message'][:80]}\n      {a.reading}\n"
                  f"      {' '.join(j['sql'].split())[:220]}\n      rows={str(j['rows'][:3])[:160]}")
    answerable = sum(1 for q in questions if q.get("expect") != "refuse")
    timings.sort()
    print(f"parse+plan ms: median {statistics.median(timings):.1f}, p95 {timings[int(0.95 * (len(timings) - 1))]:.1f}"
          f" over {len(timings)} questions (warm); first pass incl. value learning: median "
          f"{statistics.median(cold):.1f}, max {max(cold):.1f}")
    print(f"nlq-dev: {right}/{answerable} right ({100 * right / max(1, answerable):.1f}%), {wrong} wrong, "
          f"{declined} declined, refusals {refuse_ok}/{refuse_n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
