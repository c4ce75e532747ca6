"""Import benchmark: is a whole CityBI import close to a whole raw read, in one run?

Why this exists: issue 13 item 8 promises, for a 200,000 × 12 department file, an .xlsx import
within 1.5× of a raw fastexcel read, UTF-8 and GBK CSV imports within 3× of a raw polars read
(decode included), and peak RSS under 1 GB. Those are ratios, and on a shared, noisy machine
only ratios measured in the SAME run mean anything — so this script measures the import and
the baselines side by side (round-robin) and prints the figures. It asserts nothing about time
(CI machines vary); people read the table.

Whole-process timings: every measurement is one fresh process, timed from its start to its
exit, as a user running `citybi ingest` waits for it — Python's start-up and imports included,
for the baselines too (`python -c "import polars; polars.read_csv(...)"`). The import is the
real `citybi ingest FILE --db NEW.duckdb` (its reader child included). Peak RSS: the process's
own (wait4) and the sampled sum over its process tree (the CLI and its reader are alive at once).

Python bytecode: a deployed install has its .pyc files; when PYTHONDONTWRITEBYTECODE is set
(as on the build machines) every process would compile CityBI, polars and duckdb from source
for seconds, so the script compiles them once first (compileall) and says so.

The test files (200k × 12 city rows as .xlsx — written by openpyxl, text inline in the cells,
and the same workbook as Excel and WPS save it, text in the shared-string table — UTF-8 .csv and
GBK .csv) are built once and cached under bench/out/ (git-ignored).

Run: .venv/bin/python bench/ingest.py [--rows N] [--repeat 3] [--files xlsx,excel,csv,gbk]
                                      [--via cli|api|both] [--openpyxl]
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
FORMAT_VERSION = 1  # bump when the generated table changes, so the cache is rebuilt

COLUMNS = [
    "日期", "区", "街道", "事件类型", "工单编号", "受理时间",
    "数量", "金额（元）", "处理时长（小时）", "满意度", "办理状态", "备注",
]
_DISTRICTS = {
    "临江区": ("滨江街道", "望江街道", "码头街道", "柳堤街道"),
    "云湖区": ("湖心街道", "荷塘街道", "云台街道"),
    "松岭区": ("松涛街道", "岭南街道", "石桥街道"),
    "北港区": ("港湾街道", "渔村街道", "盐田街道", "新港街道"),
    "望山区": ("山前街道", "竹园街道", "茶坪街道"),
    "青禾新区": ("禾丰街道", "稻香街道"),
}
_TYPES = ("噪音扰民", "占道经营", "垃圾清运", "路灯故障", "供水问题", "违章停车", "环境卫生", "物业纠纷")
_STATUS = ("已办结", "办理中", "已退单")
_NOTES = ("市民来电反映夜间施工噪音大", "垃圾桶满溢未及时清运，请尽快处理", "路灯不亮", "已电话回访，市民表示满意",
          "转区城管局办理", "现场核实情况属实", "诉求人要求匿名")


# ---------------------------------------------------------------------------------------------
# Test files


def _rows(n: int) -> Any:
    rng = random.Random(200_000)
    start = dt.date(2024, 1, 1)
    districts = list(_DISTRICTS)
    for i in range(n):
        day = start + dt.timedelta(days=i * 547 // n)
        district = rng.choice(districts)
        status = rng.choices(_STATUS, weights=(90, 7, 3))[0]
        done = status == "已办结"
        yield (
            day,
            district,
            rng.choice(_DISTRICTS[district]),
            rng.choice(_TYPES),
            f"GD{day:%Y%m%d}{i:07d}",
            dt.datetime.combine(day, dt.time(rng.randint(7, 22), rng.randint(0, 59), rng.randint(0, 59))),
            rng.randint(1, 40),
            round(rng.uniform(10, 50_000), 2),
            round(rng.uniform(0.5, 240), 1) if done else None,
            rng.randint(1, 5) if done and rng.random() < 0.9 else None,
            status,
            rng.choice(_NOTES) if rng.random() < 0.6 else None,  # a text column with blanks
        )


def _csv_cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, dt.datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S")
    return str(v)


def build_files(rows: int) -> dict[str, Path]:
    """The three test files, built once per row count; written to a temp name, then renamed."""
    OUT.mkdir(parents=True, exist_ok=True)
    stem = f"city_{rows}_v{FORMAT_VERSION}"
    paths = {"xlsx": OUT / f"{stem}.xlsx", "excel": OUT / f"{stem}_shared_strings.xlsx",
             "csv": OUT / f"{stem}_utf8.csv", "gbk": OUT / f"{stem}_gbk.csv"}
    if not paths["csv"].exists() or not paths["gbk"].exists():
        t0 = time.perf_counter()
        for kind, encoding in (("csv", "utf-8"), ("gbk", "gbk")):
            tmp = paths[kind].with_suffix(".tmp")
            with tmp.open("w", encoding=encoding, newline="") as fh:
                out = csv.writer(fh)
                out.writerow(COLUMNS)
                for r in _rows(rows):
                    out.writerow([_csv_cell(v) for v in r])
            tmp.replace(paths[kind])
        print(f"生成 CSV 测试文件：{time.perf_counter() - t0:.1f} 秒", flush=True)
    if not paths["xlsx"].exists():
        from openpyxl import Workbook

        t0 = time.perf_counter()
        print(f"生成 {rows:,} 行 .xlsx 测试文件（openpyxl write_only，约需一分钟，仅首次）…", flush=True)
        wb = Workbook(write_only=True)
        ws = wb.create_sheet("工单明细")
        ws.append(COLUMNS)
        for r in _rows(rows):
            ws.append(list(r))
        tmp = paths["xlsx"].with_suffix(".tmp")
        wb.save(tmp)
        tmp.replace(paths["xlsx"])
        print(f"生成 .xlsx：{time.perf_counter() - t0:.1f} 秒", flush=True)
    if not paths["excel"].exists():
        tmp = paths["excel"].with_suffix(".tmp")
        _with_shared_strings(paths["xlsx"], tmp)
        tmp.replace(paths["excel"])
    return paths


_INLINE = re.compile(rb'<c r="([A-Z]+[0-9]+)"( s="[0-9]+")? t="inlineStr">'
                     rb'<is><t(?: xml:space="preserve")?>(.*?)</t></is></c>', re.S)


def _with_shared_strings(src: Path, dst: Path) -> None:
    """The openpyxl workbook as Excel and WPS save it: every text cell in the shared-string table.

    openpyxl writes text inline (t="inlineStr"); a department's file saved by Excel or WPS keeps it in
    xl/sharedStrings.xml, which every reader must parse first (200,000 rows with a unique 工单编号: 6 MB
    of strings). Same cells, same values: only where the text is kept differs.
    """
    import zipfile

    index: dict[bytes, int] = {}

    def shared(m: re.Match[bytes]) -> bytes:
        k = index.setdefault(m.group(3), len(index))
        return b'<c r="' + m.group(1) + b'"' + (m.group(2) or b"") + b' t="s"><v>' + str(k).encode() + b"</v></c>"

    sheet = "xl/worksheets/sheet1.xml"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            if info.filename == sheet:
                # streamed, whole rows at a time: this process's peak memory is every measured child's
                # starting point (ru_maxrss counts what a forked child inherits)
                with zin.open(info) as fin, zout.open(sheet, "w", force_zip64=True) as fout:
                    carry = b""
                    while block := fin.read(1 << 22):
                        carry += block
                        cut = carry.rfind(b"</row>") + len(b"</row>")
                        if cut >= len(b"</row>"):
                            fout.write(_INLINE.sub(shared, carry[:cut]))
                            carry = carry[cut:]
                    fout.write(_INLINE.sub(shared, carry))
                continue
            data = zin.read(info.filename)
            if info.filename == "[Content_Types].xml":
                data = data.replace(b"</Types>", b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
                                    b'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml" /></Types>')
            elif info.filename == "xl/_rels/workbook.xml.rels":
                data = data.replace(b"</Relationships>", b'<Relationship Type="http://schemas.openxmlformats.org/'
                                    b'officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml" '
                                    b'Id="rIdSst" /></Relationships>')
            zout.writestr(info, data)
        items = b"".join(b'<si><t xml:space="preserve">' + t + b"</t></si>" for t in index)
        zout.writestr("xl/sharedStrings.xml", b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
                      b'count="' + str(len(index)).encode() + b'" uniqueCount="' + str(len(index)).encode() + b'">'
                      + items + b"</sst>")


# ---------------------------------------------------------------------------------------------
# Child side: one measurement, then a JSON line on stdout


def _citybi_cli() -> Path | None:
    exe = Path(sys.executable).with_name("citybi")
    if exe.exists():
        return exe
    found = shutil.which("citybi")
    return Path(found) if found else None


def _importer_api_available() -> bool:
    try:
        import citybi.importer
        import citybi.warehouse
    except ImportError:
        return False
    return bool(citybi.importer.ingest_file and citybi.warehouse.Warehouse)


# Each baseline is a whole `python -c` process: start-up and imports are on its clock too.
RAW_CODE = {
    "fastexcel": "import sys, fastexcel\n"
                 "print(fastexcel.read_excel(sys.argv[1]).load_sheet(0).to_polars().height)",
    "polars_csv": "import sys, polars as pl\nprint(pl.read_csv(sys.argv[1]).height)",
    # GB18030 is a superset of GBK; polars reads UTF-8 only, so the decode is part of the read
    "gbk_polars": "import io, sys, polars as pl\n"
                  "text = open(sys.argv[1], 'rb').read().decode('gb18030')\n"
                  "print(pl.read_csv(io.BytesIO(text.encode('utf-8'))).height)",
    "openpyxl": "import sys\nfrom openpyxl import load_workbook\n"
                "wb = load_workbook(sys.argv[1], read_only=True)\n"
                "print(sum(1 for _ in wb.worksheets[0].iter_rows(values_only=True)) - 1)",
}

# The Python API in a fresh process (opens the warehouse, imports, exits) — for comparison only.
API_CODE = """import json, sys
from pathlib import Path
from citybi.catalog import open_warehouse
from citybi.config import load_settings
from citybi.importer import ingest_file
with open_warehouse(load_settings(Path(sys.argv[2]))) as wh:
    result = ingest_file(wh, sys.argv[1], table="t", mode="create")
print(json.dumps({"rows": result.write.rows_written}))
"""


# --baseline-cli: another `citybi` command (e.g. the code before a change) measured in the same run
BASELINE_CLI: list[str] = []


def _argv(kind: str, path: Path, work: Path) -> list[str]:
    if kind in ("import_cli", "import_base"):
        exe = _citybi_cli()
        assert exe is not None
        cmd = BASELINE_CLI if kind == "import_base" else [str(exe)]
        return [*cmd, "ingest", str(path), "--db", str(work / "bench.duckdb"), "--table", "t", "--json"]
    if kind == "import_api":
        return [sys.executable, "-c", API_CODE, str(path), str(work / "bench.duckdb")]
    return [sys.executable, "-c", RAW_CODE[kind], str(path)]


def _rows_printed(kind: str, out: str) -> int | None:
    last = out.strip().splitlines()[-1] if out.strip() else ""
    if kind.startswith("import"):
        data = json.loads(last)
        return data.get("rows")
    return int(last) if last.isdigit() else None


def ensure_bytecode() -> None:
    """Compile CityBI and its libraries once when this environment does not write .pyc files."""
    if not (sys.flags.dont_write_bytecode or os.environ.get("PYTHONDONTWRITEBYTECODE")):
        return
    import sysconfig

    t0 = time.perf_counter()
    env = os.environ.copy()
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    roots = [sysconfig.get_paths()["purelib"], str(ROOT / "citybi"), str(ROOT / "connectors")]
    # a separate process: compileall honours no flag, but keep this process's imports as they are
    subprocess.run([sys.executable, "-m", "compileall", "-q", "-j", "0", *roots], env=env, check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    print(f"PYTHONDONTWRITEBYTECODE 已设置：先把 CityBI 和依赖库编译成 .pyc（部署环境本来就有），"
          f"{time.perf_counter() - t0:.1f} 秒", flush=True)


def _tree_rss_kb(root: int) -> int:
    """Summed VmRSS of a process and all its descendants (Linux /proc)."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
            ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
            with open(f"/proc/{entry}/status", "rb") as fh:
                for line in fh:
                    if line.startswith(b"VmRSS:"):
                        rss[int(entry)] = int(line.split()[1])
                        break
        except (OSError, ValueError, IndexError):
            continue  # the process ended while we looked
        parents[int(entry)] = ppid
    total, todo = 0, [root]
    seen: set[int] = set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += rss.get(pid, 0)
        todo.extend(p for p, pp in parents.items() if pp == pid)
    return total


@dataclass
class Sample:
    seconds: float  # the whole process, start to exit
    peak_mb: float  # the process's own peak (wait4; includes waited-for children such as the reader)
    tree_mb: float  # the whole process tree at its sampled peak
    rows: int | None
    cpu: float = 0.0  # user + system CPU seconds of the process and its waited-for children (the reader)


def measure(kind: str, path: Path) -> Sample:
    work = Path(tempfile.mkdtemp(prefix="citybi_bench_"))
    try:
        out_path, err_path = work / "out.txt", work / "err.txt"
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            t0 = time.perf_counter()
            proc = subprocess.Popen(_argv(kind, path, work), stdout=out, stderr=err, cwd=ROOT)
            peak_tree = 0
            stop = threading.Event()

            def sample() -> None:
                nonlocal peak_tree
                while not stop.is_set():
                    peak_tree = max(peak_tree, _tree_rss_kb(proc.pid))
                    stop.wait(0.05)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            _pid, status, usage = os.wait4(proc.pid, 0)
            seconds = time.perf_counter() - t0
            proc.returncode = os.waitstatus_to_exitcode(status)
            stop.set()
            sampler.join()
        text = out_path.read_text(encoding="utf-8", errors="replace")
        if proc.returncode != 0:
            detail = err_path.read_text(encoding="utf-8", errors="replace")[-1500:] + text[-500:]
            raise RuntimeError(f"{kind} 测量失败（返回码 {proc.returncode}）：{detail.strip()}")
        peak_kb = usage.ru_maxrss
        return Sample(seconds, peak_kb / 1024, max(peak_tree, peak_kb) / 1024, _rows_printed(kind, text),
                      usage.ru_utime + usage.ru_stime)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _median(samples: list[Sample]) -> Sample:
    return Sample(
        statistics.median(s.seconds for s in samples),
        statistics.median(s.peak_mb for s in samples),
        statistics.median(s.tree_mb for s in samples),
        samples[0].rows,
        statistics.median(s.cpu for s in samples),
    )


def _pad(text: str, width: int) -> str:
    """Left-align in a terminal where CJK characters take two columns."""
    used = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
    return text + " " * max(1, width - used)


def _rpad(text: str, width: int) -> str:
    used = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
    return " " * max(0, width - used) + text


RAW_KIND = {"xlsx": "fastexcel", "excel": "fastexcel", "csv": "polars_csv", "gbk": "gbk_polars"}
RAW_LABEL = {
    "fastexcel": "fastexcel → polars",
    "polars_csv": "polars.read_csv",
    "gbk_polars": "gb18030 解码 + polars.read_csv",
    "openpyxl": "openpyxl 只读遍历",
    "import_api": "CityBI 导入（API）",
    "import_cli": "CityBI 导入（CLI）",
    "import_base": "对照：--baseline-cli",
}


GOALS = {"xlsx": 1.5, "excel": 1.5, "csv": 3.0, "gbk": 3.0}  # issue 13 item 8: import ≤ goal × the raw read


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="CityBI 导入性能基准（只打印数字，不做断言）")
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--files", default="xlsx,excel,csv,gbk",
                    help="逗号分隔：xlsx（openpyxl 写的，文字在单元格里）、excel（同一文件按 Excel/WPS 的存法："
                         "文字在共享字符串表里）、csv、gbk")
    ap.add_argument("--via", choices=("cli", "api", "both"), default="cli",
                    help="导入走 citybi ingest 命令行（默认，整个进程计时）还是 Python API（新进程里调用）")
    ap.add_argument("--openpyxl", action="store_true", help="另测最慢的 openpyxl 基线（.xlsx）")
    ap.add_argument("--baseline-cli", metavar="CMD",
                    help="同一次运行里另测一个 citybi 命令作对照，例如改动前的代码："
                         "\"env PYTHONPATH=/tmp/old .venv/bin/python -m citybi\"")
    args = ap.parse_args(argv)
    if args.baseline_cli:
        import shlex

        BASELINE_CLI[:] = shlex.split(args.baseline_cli)

    api, cli = _importer_api_available(), _citybi_cli() is not None
    wanted = {"api": ["import_api"], "cli": ["import_cli"], "both": ["import_cli", "import_api"]}[args.via]
    import_kinds = [k for k in wanted if (api if k == "import_api" else cli)]
    if BASELINE_CLI:
        import_kinds.append("import_base")
    if not import_kinds:
        print("importer not available — 导入器尚不可用（citybi.importer 与 citybi ingest 都找不到），只测基线。")

    ensure_bytecode()
    files = build_files(args.rows)
    chosen = [f.strip() for f in args.files.split(",") if f.strip()]
    results: dict[tuple[str, str], Sample] = {}
    fastest: dict[tuple[str, str], float] = {}
    for fkind in chosen:
        path = files[fkind]
        kinds = [*import_kinds, RAW_KIND[fkind]]
        if fkind in ("xlsx", "excel") and args.openpyxl:
            kinds.append("openpyxl")
        # round-robin, not one kind after the other: a burst of load from a neighbour on a
        # shared machine then hits every kind alike instead of skewing one ratio
        samples: dict[str, list[Sample]] = {k: [] for k in kinds}
        failed: set[str] = set()
        for i in range(args.repeat):
            for kind in kinds:
                if kind in failed:
                    continue
                try:
                    s = measure(kind, path)
                except RuntimeError as err:
                    failed.add(kind)
                    print(f"  {_pad(path.name, 28)} {_pad(RAW_LABEL[kind], 30)} 失败：{err}", flush=True)
                    continue
                samples[kind].append(s)
                print(f"  {_pad(path.name, 28)} {_pad(RAW_LABEL[kind], 30)} 第 {i + 1} 次 {s.seconds:7.2f} 秒 "
                      f"CPU {s.cpu:6.2f} 秒 {s.peak_mb:7.0f} MB（进程树 {s.tree_mb:.0f} MB）", flush=True)
        for kind, got in samples.items():
            if got:
                results[(fkind, kind)] = _median(got)
                fastest[(fkind, kind)] = min(x.seconds for x in got)

    print()
    print(f"中位数（{args.repeat} 次，每次一个新进程，从启动到退出计时；峰值内存 = 进程自身最大 RSS（含读取子进程），"
          "括号内为进程树合计的采样峰值）")
    print(f"{_pad('文件', 30)}{_pad('方式', 32)}{_rpad('秒', 8)}{_rpad('最快秒', 8)}{_rpad('CPU秒', 8)}"
          f"{_rpad('峰值MB', 9)}{_rpad('进程树MB', 10)}{_rpad('行数', 9)}")
    for (fkind, kind), s in results.items():
        rows = s.rows if s.rows is not None else "—"
        print(f"{_pad(files[fkind].name, 30)}{_pad(RAW_LABEL[kind], 32)}"
              f"{s.seconds:8.2f}{fastest[(fkind, kind)]:8.2f}{s.cpu:8.2f}{s.peak_mb:9.0f}{s.tree_mb:10.0f}{rows:>9}")
    print()
    try:
        load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        load = "?"
    print(f"目标（issue 13 第 8 条，只报告，不断言；本机负载均值 {load}，{os.cpu_count()} 核）：")
    for fkind in chosen:
        raw = results.get((fkind, RAW_KIND[fkind]))
        for kind in import_kinds:
            imp = results.get((fkind, kind))
            if not (imp and raw):
                continue
            ratio = imp.seconds / raw.seconds
            best = fastest[(fkind, kind)] / fastest[(fkind, RAW_KIND[fkind])]
            goal = GOALS[fkind]
            peak = max(imp.peak_mb, imp.tree_mb)
            line = (f"  {files[fkind].name}: {RAW_LABEL[kind]} / {RAW_LABEL[RAW_KIND[fkind]]} = {ratio:.2f}×"
                    f"（最快对最快 {best:.2f}×；CPU 秒之比 {imp.cpu / max(raw.cpu, 1e-9):.2f}×）"
                    f"→ ≤ {goal:g}× {'达到' if ratio <= goal else '未达到'}；"
                    f"峰值内存 {peak:.0f} MB → < 1 GB {'达到' if peak < 1024 else '未达到'}")
            opx = results.get((fkind, "openpyxl"))
            if opx:
                line += f"；openpyxl / 导入 = {opx.seconds / imp.seconds:.1f}×"
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
