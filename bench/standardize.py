"""How long proposing and applying value-dictionary mappings takes on a big import (prints figures only).

The sample city's dictionaries against a 200,000-row frame with the columns a department report
has: 区 and 街道 spelled several ways, 垃圾类型 with aliases, and a free-text column with tens of
thousands of distinct values (which must be skipped quickly, not matched value by value).

    .venv/bin/python bench/standardize.py [--rows 200000] [--repeat 3]
"""
from __future__ import annotations

import argparse
import random
import statistics
import time

import polars as pl

from citybi.dictionaries import apply, propose, settle
from citybi.samples import sample_dictionaries


def frame(rows: int) -> pl.DataFrame:
    rng = random.Random(7)
    places, waste, _ = sample_dictionaries()
    districts = places.values("区")
    streets = places.values("街道")
    spell = [lambda d: d, lambda d: d[:-1], lambda d: "清源市" + d, lambda d: d + " "]
    return pl.DataFrame({
        "区": [rng.choice(spell)(rng.choice(districts)) for _ in range(rows)],
        "街道": [rng.choice([lambda s: s, lambda s: s[:-2]])(rng.choice(streets)) for _ in range(rows)],
        "垃圾类型": [rng.choice([*waste.values(), "湿垃圾", "干垃圾"]) for _ in range(rows)],
        "诉求内容": [f"第{rng.randrange(60_000)}号 小区北门夜间施工噪音" for _ in range(rows)],
        "清运量": [rng.random() * 10 for _ in range(rows)],
    })


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    f = frame(args.rows)
    dicts = sample_dictionaries()
    times: dict[str, list[float]] = {"propose": [], "settle+apply": []}
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        proposals = propose(f, dicts)
        t1 = time.perf_counter()
        settled, _ = settle(f, proposals, {}, auto=True)
        apply(f, settled)
        t2 = time.perf_counter()
        times["propose"].append(t1 - t0)
        times["settle+apply"].append(t2 - t1)
    print(f"{args.rows:,} 行 × {f.width} 列，{len(proposals)} 列有建议："
          + "，".join(f"{p.column} {len(p.mappings)} 种写法" for p in proposals))
    for what, ts in times.items():
        print(f"{what}: 中位数 {statistics.median(ts):.3f} 秒（{args.repeat} 次）")


if __name__ == "__main__":
    main()
