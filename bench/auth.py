"""Benchmark: what signing in and the per-run login check cost.

Why: every page run (and every fragment rerun) calls the gate, which resumes the session from its
token — a signature check and one query, plus a write at most once a minute. A login costs one
argon2id verification (memory-hard on purpose). This prints median/p95 milliseconds for: argon2
hash, a login (verify + session row + audit entry), a resume (the per-run cost), and an audit
append; and a failed login of a real name against one of a name that is no account (first failure,
and when locked) — these must be alike, or the time tells which names exist (accounts.py);
it asserts nothing (shared, noisy machines: read the orders of magnitude).

    .venv/bin/python bench/auth.py [--repeat 50]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from argon2 import PasswordHasher

from citybi import audit
from citybi.accounts import Accounts, LoginFailed
from citybi.catalog import open_warehouse


def measure(label: str, fn: Callable[[], object], repeat: int) -> None:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
    print(f"{label:<28} median {statistics.median(times):8.2f} ms   p95 {p95:8.2f} ms   (n={repeat})")


def failed_logins(acc: Accounts, repeat: int) -> None:
    """Wrong password for a real name vs any password for a made-up one; then both when locked."""
    real = [f"real{i}" for i in range(repeat)]
    for name in real:
        acc.add(name, "clerk", "Harbor#2026x")
    names = {"real": iter(real), "ghost": iter(f"ghost{i}" for i in range(repeat))}

    def fail(kind: str, name: str | None = None) -> None:
        try:
            acc.login(name or next(names[kind]), "Wrong#pass2026")
        except LoginFailed:
            pass

    measure("failed login: real name", lambda: fail("real"), repeat)
    measure("failed login: no such name", lambda: fail("ghost"), repeat)
    for name in ("real0", "ghost0"):
        for _ in range(5):
            fail("", name)
    measure("failed login: real, locked", lambda: fail("", "real0"), repeat)
    measure("failed login: no such, locked", lambda: fail("", "ghost0"), repeat)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=50)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, open_warehouse(path=Path(tmp) / "auth.duckdb") as wh:
        acc = Accounts(wh)
        acc.add("bench", "clerk", "Harbor#2026x", districts="临江区")
        measure("argon2id hash", lambda: PasswordHasher().hash("Harbor#2026x"), args.repeat)
        measure("login (verify+session+audit)", lambda: acc.login("bench", "Harbor#2026x"), args.repeat)
        token = acc.login("bench", "Harbor#2026x").token
        measure("resume token (per page run)", lambda: acc.resume(token), args.repeat * 4)
        measure("audit.record", lambda: audit.record(wh, "ask", "问题"), args.repeat * 4)
        failed_logins(acc, args.repeat)
        entries = len(audit.entries(wh, limit=100000))
        measure(f"audit.verify ({entries} entries)", lambda: audit.verify(wh), 5)


if __name__ == "__main__":
    main()
