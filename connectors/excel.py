"""Excel connector: .xlsx/.xlsm (OOXML zip) and .xls (BIFF in an OLE2 container).

Why it is built this way (measurements: docs/ARCHITECTURE.md § Reading files, § Hostile files):
- fastexcel is the only fast reader (~15x openpyxl) but every `load_sheet` re-parses the
  whole sheet, so the body is read ONCE, from the first data row (so header text does not
  turn numeric columns into text), and only columns that mix numbers and text pay a second,
  narrow read. fastexcel's float→text conversion truncates (0.13436424411240122 →
  "0.134364244", 1e-10 → "0"): those cells are recovered from a float read, never shown
  changed.
- the header block is found from the first rows as Python values; openpyxl read-only gives
  them in milliseconds, sheet-aligned from row 0 / column A.
- merged ranges and the real extent of a sheet come from one streamed pass over the sheet
  XML, shared with `ExcelConnector.check` (which needs the same pass to refuse sheets whose
  cell references would make calamine allocate hundreds of GiB and abort the process).
- the hostile-file checks live here, not in citybi.ingest.guard: a 5 kB .xlsx with cells at
  A1 and XFD1048576 makes calamine/fastexcel allocate 512 GiB and abort the whole process
  (Python cannot catch that); zip bombs and encrypted workbooks must be refused with a clear
  Chinese message too. They read only zip directories, the first KB of each sheet XML and
  one bounded streamed pass over it; the reader's memory cap is the second line of defence.
- .xls files are small by format (65,536 rows) and calamine's BIFF reader has produced
  mojibake (calamine #229/#468), so .xls is read to Python values with python-calamine and
  falls back to xlrd when the strings look like mojibake.
"""
from __future__ import annotations

import datetime as dt
import math
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from citybi.config import Limits
from citybi.errors import ImportRejected
from connectors.base import SNIFF_BYTES, TOP_ROWS, MergedRange, RawSheet, SheetInfo, size_text

if TYPE_CHECKING:  # polars loads where a frame is made: see connectors/__init__.py
    import polars as pl

ZIP_MAGIC = b"PK\x03\x04"
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

ENCRYPTED_MSG = (
    "文件设置了打开密码，系统无法读取。请在 Excel 中取消密码后再上传"
    "（文件 → 信息 → 保护工作簿 → 用密码进行加密，清空密码并保存）。"
)
NOT_EXCEL_MSG = (
    "不是 Excel 或 CSV 文件：文件内容与扩展名不符，可能是被改了扩展名的其他文件。"
    "请上传 .xlsx、.xls 或 .csv 文件。"
)
CORRUPT_MSG = "Excel 文件已损坏，无法打开（压缩包结构不完整）。请在 Excel 中重新打开并“另存为”.xlsx 后再上传。"
HTML_MSG = "这是网页（HTML）格式的文件，只是扩展名为 .xls。请用 Excel 打开后“另存为”.xlsx 再上传。"

_MB = 1024 * 1024
_SCAN_CHUNK = 4 * 1024 * 1024
_FULL_SCAN_BYTES = 32 * 1024 * 1024  # sheet XML up to this size is scanned cell by cell

# OLE2 directory names are UTF-16LE; these streams mark an encrypted OOXML package
_ENC_NAMES = ("EncryptedPackage", "EncryptionInfo")


# ---------------------------------------------------------------------------------------
# small helpers: cell references and OLE2 directories


def col_index(letters: str) -> int:
    """0-based column index of Excel column letters ("A" → 0, "XFD" → 16383)."""
    n = 0
    for ch in letters:
        n = n * 26 + (ord(ch) - 64)
    return n - 1


def col_letters(index: int) -> str:
    """Excel column letters of a 0-based column index."""
    s = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        s = chr(65 + rem) + s
    return s


_REF = re.compile(r"^\$?([A-Z]{1,3})\$?(\d{1,7})$")


def parse_ref(ref: str) -> tuple[int, int] | None:
    """A1-style reference → (row, col), 0-based; None when it is not a cell reference."""
    m = _REF.match(ref.strip().upper())
    if not m:
        return None
    return int(m.group(2)) - 1, col_index(m.group(1))


def parse_range(ref: str) -> MergedRange | None:
    """"A1:B2" (or "A1") → MergedRange, 0-based inclusive."""
    a, _, b = ref.partition(":")
    p = parse_ref(a)
    q = parse_ref(b) if b else p
    if p is None or q is None:
        return None
    return MergedRange(min(p[0], q[0]), min(p[1], q[1]), max(p[0], q[0]), max(p[1], q[1]))


def ole2_stream_names(path: Path, max_bytes: int) -> list[str] | None:
    """Names in an OLE2 (compound file) directory; None when it cannot be parsed."""
    try:
        from xlrd.compdoc import CompDoc

        with open(path, "rb") as fh:
            mem = fh.read(max_bytes + 1)
        if len(mem) > max_bytes:
            return None
        import io

        doc = CompDoc(mem, logfile=io.StringIO())
        return [d.name for d in doc.dirlist]
    except Exception:
        return None


def ole2_kind(path: Path, max_bytes: int) -> str:
    """"encrypted" (password-protected OOXML), "xls" (a BIFF workbook) or "other"."""
    names = ole2_stream_names(path, max_bytes)
    if names is None:
        # a directory we cannot parse: fall back to looking for the UTF-16LE names
        with open(path, "rb") as fh:
            raw = fh.read(max_bytes)
        names = [n for n in (*_ENC_NAMES, "Workbook", "Book") if n.encode("utf-16-le") in raw]
    if any(n in names for n in _ENC_NAMES):
        return "encrypted"
    if "Workbook" in names or "Book" in names:
        return "xls"
    return "other"


def looks_like_html(head: bytes) -> bool:
    """A web page: what some systems export as "report.xls" (Excel opens it, we do not)."""
    return head.lstrip()[:1] == b"<" and b"<html" in head[:4096].lower()


# ---------------------------------------------------------------------------------------
# xlsx structure: sheet list and one streamed pass over each sheet's XML


@dataclass(frozen=True)
class XlsxSheetPart:
    name: str
    part: str  # zip entry name, e.g. xl/worksheets/sheet1.xml ("" when missing)
    visible: bool
    chart: bool


@dataclass
class SheetScan:
    """What one streamed pass over a worksheet XML found."""

    dimension: str | None = None
    max_row: int = 0  # 1-based, 0 = none seen
    max_col: int = 0  # 1-based count of columns, 0 = none seen
    has_values: bool = False
    merged: list[MergedRange] = field(default_factory=list)
    # first reference beyond the limits: ("A1048576", reason) — the scan stops there
    oversize: str | None = None


def _xml_root(data: bytes) -> Any:
    # defusedxml refuses entity-expansion bombs in workbook.xml
    from defusedxml.ElementTree import fromstring

    return fromstring(data)


def xlsx_sheet_parts(zf: zipfile.ZipFile) -> list[XlsxSheetPart]:
    """Sheets in workbook order, resolved to their zip entries through the relationships."""
    names = set(zf.namelist())
    wb_name = "xl/workbook.xml"
    root = _xml_root(zf.read(wb_name))
    rels: dict[str, str] = {}
    rels_name = "xl/_rels/workbook.xml.rels"
    if rels_name in names:
        for rel in _xml_root(zf.read(rels_name)):
            target = rel.get("Target", "")
            if target.startswith("/"):
                full = target.lstrip("/")
            else:
                full = str(PurePosixPath("xl") / target)
            # normalise "xl/worksheets/../worksheets/sheet1.xml"
            parts: list[str] = []
            for p in full.split("/"):
                if p == "..":
                    if parts:
                        parts.pop()
                elif p and p != ".":
                    parts.append(p)
            rels[rel.get("Id", "")] = "/".join(parts)
    out: list[XlsxSheetPart] = []
    for el in root.iter():
        if not el.tag.endswith("}sheet") and el.tag != "sheet":
            continue
        rid = next((v for k, v in el.attrib.items() if k.endswith("}id")), "")
        part = rels.get(rid, "")
        if part not in names:
            part = ""
        out.append(
            XlsxSheetPart(
                name=el.get("name", f"Sheet{len(out) + 1}"),
                part=part,
                visible=el.get("state", "visible") == "visible",
                chart="chartsheets/" in part,
            )
        )
    return out


_SCAN_CACHE: dict[tuple[str, int, int, str, int, int], SheetScan] = {}

# Patterns start with a literal so Python's regex engine can skip ahead fast (a lazy
# "[^>]*?" before r= made the pass ~10x slower on a 113 MB sheet). Writers put r= right
# after the element name (Excel, WPS, openpyxl, xlsxwriter); ' r="<letters>' only ever
# occurs on <c> elements (row r= has digits only).
_DIM_RE = re.compile(rb"dimension ref=\"([^\"]+)\"")
_ROW_RE = re.compile(rb"row r=\"(\d+)\"")
_CELL_COL_RE = re.compile(rb" r=\"([A-Z]{1,3})\d")
_FAR_ROW_RE = re.compile(rb" r=\"[A-Z]{0,3}(\d{7,})\"")
_CELL_ROW_RE = re.compile(rb"<c r=\"[A-Z]{1,3}(\d+)\"")
_MERGE_RE = re.compile(rb"mergeCell ref=\"([^\"]+)\"")
_VALUE_RE = re.compile(rb"<v>|<is>|<v |:v>|:is>")


_COL3_RE = re.compile(rb" r=\"([A-Z]{3})\d")
_COL2_RE = re.compile(rb" r=\"([A-Z]{2})\d")
_COL1_RE = re.compile(rb" r=\"([A-Z])\d")
# one pass finds both rare, dangerous shapes: 3-letter columns and 7+ digit rows
_WIDE_OR_FAR_RE = re.compile(rb"r=\"(?:[A-Z]{3}\d|[A-Z]{0,3}\d{7})")
_TAIL = 256 * 1024


def _chunk_max_row(chunk: bytes, wide_or_far: bool) -> int:
    """The largest row number in a chunk of sheet XML (rows are ascending by the spec)."""
    best = 0
    at = chunk.rfind(b'row r="')
    if at >= 0:
        digits = re.match(rb'row r="(\d+)"', chunk[at:at + 24])
        if digits:
            best = int(digits.group(1)[:10])
    if wide_or_far:
        for r in _FAR_ROW_RE.findall(chunk):
            best = max(best, int(r) if len(r) <= 9 else 10**9)
    if at < 0 and b"<row" in chunk:
        # rows without r= (legal, rare): fall back to the cell references
        best = max([best, *(int(r[:10]) for r in _CELL_ROW_RE.findall(chunk))])
    return best


def _chunk_max_col(chunk: bytes, wide_or_far: bool) -> bytes:
    """The largest column letters among the chunk's cell refs (A < Z < AA < ZZ < AAA).

    A findall over every cell of a 100 MB sheet costs seconds, so the full search runs only
    for the rare wide shapes; for A..Z sheets the last rows of the chunk decide (cells are in
    column order within a row, and a sparse sheet's wider column is still read by load_body).
    """
    if wide_or_far:
        wide = _COL3_RE.findall(chunk)
        if wide:
            return max(set(wide))
    if _COL2_RE.search(chunk):
        return max(set(_COL2_RE.findall(chunk)))
    return max(set(_COL1_RE.findall(chunk[-_TAIL:])) or {b""})


def scan_sheet_xml(path: Path, zf: zipfile.ZipFile, part: str, limits: Limits) -> SheetScan:
    """One bounded, streamed pass over a worksheet XML (never the whole file in memory).

    Finds the declared <dimension>, the real extent (max row from <row r>, max column
    from <c r>), whether any cell has a value, and the merged ranges. Stops at the first
    row/column beyond the limits, because such a sheet is refused anyway.
    """
    st = path.stat()
    key = (str(path), st.st_mtime_ns, st.st_size, part, limits.max_rows, limits.max_cols)
    if key in _SCAN_CACHE:
        return _SCAN_CACHE[key]
    scan = SheetScan()
    max_letters = b""
    tail = b""
    first = True
    # Big sheets: the middle is read for rows only (an rfind per chunk); columns, values and
    # merged ranges come from the first and last chunks. Regex passes over every cell cost
    # ~0.8 s on a 120 MB sheet; a file hiding one far cell mid-sheet is still stopped — by the
    # reader process's memory cap (docs/ARCHITECTURE.md § Hostile files), with the same Chinese message.
    big = zf.getinfo(part).file_size > _FULL_SCAN_BYTES
    held = b""
    with zf.open(part) as fh:
        while True:
            block = fh.read(_SCAN_CHUNK)
            if not block and not tail and not held:
                break
            buf = tail + block
            if block:
                # cut at the last tag start so no tag straddles two chunks
                cut = buf.rfind(b"<")
                if cut <= 0:
                    cut = len(buf)
                chunk, tail = buf[:cut], buf[cut:]
            else:
                chunk, tail = buf, b""
            if first:
                m = _DIM_RE.search(chunk[:65536])
                if m:
                    scan.dimension = m.group(1).decode("ascii", "replace")
            elif big and block:
                scan.max_row = max(scan.max_row, _chunk_max_row(chunk, False))
                if not scan.has_values and _VALUE_RE.search(chunk):
                    scan.has_values = True
                held = chunk
                if scan.max_row > limits.max_rows:
                    scan.oversize = f"第 {scan.max_row} 行"
                    break
                continue
            elif big:
                chunk, held = held + chunk, b""  # the sheet's tail: the last full chunk and the rest
            first = False
            if not scan.has_values and _VALUE_RE.search(chunk):
                scan.has_values = True
            # Only the extent matters here, and findall over every cell ref of a 100 MB sheet costs
            # seconds, so look for the answer directly: the spec orders rows ascending (the last
            # <row r> is the largest) and any 7+ digit row anywhere is checked on its own.
            wide_or_far = _WIDE_OR_FAR_RE.search(chunk) is not None
            max_row = _chunk_max_row(chunk, wide_or_far)
            if max_row > scan.max_row:
                scan.max_row = max_row
            best = _chunk_max_col(chunk, wide_or_far)
            if best and (len(best), best) > (len(max_letters), max_letters):
                max_letters = best
            for ref in _MERGE_RE.findall(chunk) if b"mergeCell" in chunk else ():
                mr = parse_range(ref.decode("ascii", "replace"))
                if mr is not None:
                    scan.merged.append(mr)
            scan.max_col = col_index(max_letters.decode()) + 1 if max_letters else 0
            if scan.max_row > limits.max_rows:
                scan.oversize = f"第 {scan.max_row} 行"
                break
            if scan.max_col > limits.max_cols:
                scan.oversize = f"第 {max_letters.decode()} 列"
                break
            if not block:
                break
    if len(_SCAN_CACHE) > 64:
        _SCAN_CACHE.clear()  # the cache only spares check()'s pass within one import
    _SCAN_CACHE[key] = scan
    return scan


# ---------------------------------------------------------------------------------------
# hostile-file checks (ExcelConnector.check): zip level, then every sheet's extent


# zip-level checks passed, by (path, mtime, size, limits): early_top, the reader's hint and the guard each
# ask for one file within one request, and the CRC pass reads up to 64 MB every time
_ZIP_CHECK_CACHE: dict[tuple[Any, ...], bool] = {}


def _check_zip(zf: zipfile.ZipFile, limits: Limits) -> None:
    """The zip-level limits: part count, unpacked size, compression ratio, CRCs of a small package."""
    key: tuple[Any, ...] | None = None
    if zf.filename:
        st = Path(zf.filename).stat()
        key = (zf.filename, st.st_mtime_ns, st.st_size, limits.max_zip_entries, limits.max_unzipped_bytes,
               limits.max_zip_ratio)
        if key in _ZIP_CHECK_CACHE:
            return
    infos = zf.infolist()
    if len(infos) > limits.max_zip_entries:
        raise ImportRejected(
            f"Excel 文件内部结构异常（包含 {len(infos)} 个部件），疑似恶意构造的文件，已拒绝。"
            "请在 Excel 中打开后另存为新文件再上传。"
        )
    total = sum(i.file_size for i in infos)
    packed = sum(i.compress_size for i in infos)
    if total > limits.max_unzipped_bytes:
        raise ImportRejected(
            f"Excel 文件解压后太大（{size_text(total)}，上限 {size_text(limits.max_unzipped_bytes)}），"
            "疑似“压缩炸弹”或数据量过大。请拆分后分批上传，或另存为 CSV。"
        )
    for i in infos:
        ratio = i.file_size / max(i.compress_size, 1)
        # tiny parts compress very well legitimately; only big parts count
        if i.file_size > 1 * _MB and ratio > limits.max_zip_ratio:
            raise ImportRejected(
                f"Excel 文件的压缩比异常（{ratio:.0f} 倍，上限 {limits.max_zip_ratio:.0f} 倍），"
                "疑似“压缩炸弹”，已拒绝。若文件正常，请另存为 CSV 后再上传。",
                detail=f"{i.filename}: {i.file_size} / {i.compress_size}; total packed {packed}",
            )
    bad = zf.testzip() if total < 64 * _MB else None
    if bad is not None:
        raise ImportRejected(CORRUPT_MSG, detail=f"CRC error in {bad}")
    if key is not None:
        if len(_ZIP_CHECK_CACHE) > 64:
            _ZIP_CHECK_CACHE.clear()
        _ZIP_CHECK_CACHE[key] = True


def check_xlsx(path: Path, limits: Limits) -> None:
    """Zip-level limits, then every sheet's declared and real extent."""
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ImportRejected(CORRUPT_MSG, detail=str(exc)) from exc
    with zf:
        _check_zip(zf, limits)
        try:
            parts = xlsx_sheet_parts(zf)
        except Exception as exc:
            raise ImportRejected(CORRUPT_MSG, detail=f"workbook.xml: {exc}") from exc
        for sp in parts:
            if not sp.part or sp.chart:
                continue
            try:
                scan = scan_sheet_xml(path, zf, sp.part, limits)
            except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
                raise ImportRejected(CORRUPT_MSG, detail=f"{sp.part}: {exc}") from exc
            if scan.dimension:
                mr = parse_range(scan.dimension)
                if mr is not None:
                    _check_extent(sp.name, mr.last_row + 1, mr.last_col + 1, limits, declared=True)
            if scan.oversize:
                raise ImportRejected(
                    f"工作表「{sp.name}」在{scan.oversize}有单元格，超出可导入范围"
                    f"（最多 {limits.max_rows} 行、{limits.max_cols} 列）。"
                    "请删除表格以外远处的零散单元格（Ctrl+End 可定位）后再上传。"
                )
            _check_extent(sp.name, scan.max_row, scan.max_col, limits, declared=False)


def _check_extent(sheet: str, rows: int, cols: int, limits: Limits, *, declared: bool) -> None:
    what = "声明的数据范围" if declared else "实际数据范围"
    fix = "请删除表格以外远处的零散单元格或格式（Ctrl+End 可定位），另存后再上传。"
    if rows > limits.max_rows:
        raise ImportRejected(f"工作表「{sheet}」{what}有 {rows} 行，超过上限 {limits.max_rows} 行。{fix}")
    if cols > limits.max_cols:
        raise ImportRejected(f"工作表「{sheet}」{what}有 {cols} 列，超过上限 {limits.max_cols} 列。{fix}")
    if rows * cols > limits.max_cells:
        raise ImportRejected(
            f"工作表「{sheet}」{what}为 {rows} 行 × {cols} 列，单元格数超过上限 {limits.max_cells}。{fix}"
        )


# ---------------------------------------------------------------------------------------
# Python values → polars column (used for .xls and for tests of exactness)


def exact_text(v: Any) -> str:
    """A cell value as exact text: floats by shortest round-trip repr, never truncated."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if math.isfinite(v) and v == int(v) and abs(v) < 1e16:
            return str(int(v))
        return repr(v)
    if isinstance(v, dt.datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(v, dt.date):
        return v.strftime("%Y-%m-%d 00:00:00")
    return str(v)


def column_from_values(name: str, values: list[Any]) -> pl.Series:
    """One body column: native dtype when every non-empty cell has it, else exact text."""
    import polars as pl

    present = [v for v in values if v is not None]
    if not present:
        return pl.Series(name, [None] * len(values), dtype=pl.String)
    if all(isinstance(v, bool) for v in present):
        return pl.Series(name, values, dtype=pl.Boolean)
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        if all(isinstance(v, int) for v in present):
            return pl.Series(name, values, dtype=pl.Int64)
        return pl.Series(name, [None if v is None else float(v) for v in values], dtype=pl.Float64)
    if all(isinstance(v, dt.datetime) for v in present):
        return pl.Series(name, values, dtype=pl.Datetime("us"))
    if all(isinstance(v, dt.date) for v in present):
        return pl.Series(
            name, [v if v is None or isinstance(v, dt.datetime) else dt.datetime(v.year, v.month, v.day)
                   for v in values], dtype=pl.Datetime("us"),
        )
    return pl.Series(name, [None if v is None else exact_text(v) for v in values], dtype=pl.String)


def frame_from_rows(rows: list[list[Any]], n_cols: int) -> pl.DataFrame:
    import polars as pl

    cols = []
    for j in range(n_cols):
        cols.append(column_from_values(f"c{j}", [r[j] if j < len(r) else None for r in rows]))
    return pl.DataFrame(cols) if cols else pl.DataFrame()


def empty_body(n_cols: int) -> pl.DataFrame:
    import polars as pl

    return pl.DataFrame({f"c{j}": pl.Series([], dtype=pl.String) for j in range(n_cols)})


# ---------------------------------------------------------------------------------------
# mojibake detection for calamine's BIFF strings


_LATIN1_RUN = re.compile(r"[\u0080-\u00ff]{3,}")


def looks_mojibake(s: str) -> bool:
    """True for text that is GBK/UTF-16 bytes decoded with the wrong codepage.

    Signatures: NUL characters, C1 control characters (U+0080–U+009F never occur in real
    text), or runs of Latin-1 letters where a Chinese sheet would have CJK.
    """
    if "\x00" in s:
        return True
    if any("\x80" <= ch <= "\x9f" for ch in s):
        return True
    return bool(_LATIN1_RUN.search(s))


def _clean_xls_value(v: Any) -> Any:
    if isinstance(v, str) and v == "":
        return None
    return v


# ---------------------------------------------------------------------------------------


class ExcelConnector:
    """Reads .xlsx/.xlsm and .xls workbooks into RawSheets."""

    name = "excel"
    label = "Excel"
    extensions = (".xlsx", ".xlsm", ".xls")

    # -- sniffing -----------------------------------------------------------------------

    def kind(self, head: bytes, path: Path) -> str | None:
        """"xlsx", "xls", "encrypted", "corrupt" (a zip that cannot be opened) or None."""
        if head.startswith(ZIP_MAGIC):
            try:
                with zipfile.ZipFile(path) as zf:
                    names = set(zf.namelist())
            except (zipfile.BadZipFile, OSError, ValueError):
                return "corrupt"
            return "xlsx" if "xl/workbook.xml" in names else None
        if head.startswith(OLE2_MAGIC):
            k = ole2_kind(path, 512 * 1024 * 1024)
            return k if k in ("xls", "encrypted") else None
        return None

    def sniff(self, head: bytes, path: Path) -> bool:
        # broken, encrypted and disguised workbooks are claimed so check() names the problem
        return looks_like_html(head) or self.kind(head, path) in ("xlsx", "xls", "encrypted", "corrupt")

    def max_bytes(self, limits: Limits) -> int:
        return limits.max_excel_bytes

    def check(self, path: Path, limits: Limits) -> str:
        """Disguise, encryption and corruption first (they say more than a size), then size, then structure."""
        with open(path, "rb") as fh:
            head = fh.read(SNIFF_BYTES)
        if looks_like_html(head):
            raise ImportRejected(HTML_MSG)
        kind = self.kind(head, path)
        if kind == "encrypted":
            raise ImportRejected(ENCRYPTED_MSG)
        if kind == "corrupt":
            raise ImportRejected(CORRUPT_MSG)
        if kind not in ("xlsx", "xls"):
            raise ImportRejected(NOT_EXCEL_MSG)
        size = path.stat().st_size
        if size > limits.max_excel_bytes:
            raise ImportRejected(
                f"Excel 文件太大（{size_text(size)}），上限为 {size_text(limits.max_excel_bytes)}。"
                "请删除无关的工作表、图片，或另存为 CSV 后再上传。"
            )
        if kind == "xlsx":
            check_xlsx(path, limits)
        return kind

    # -- listing ------------------------------------------------------------------------

    def _kind_of(self, path: Path) -> str:
        with open(path, "rb") as fh:
            head = fh.read(8)
        k = self.kind(head, path)
        if k == "encrypted":
            raise ImportRejected(ENCRYPTED_MSG)
        if k == "corrupt":
            raise ImportRejected(CORRUPT_MSG)
        if k not in ("xlsx", "xls"):
            raise ImportRejected(NOT_EXCEL_MSG)
        return k

    def sheets(self, path: Path, limits: Limits) -> list[SheetInfo]:
        if self._kind_of(path) == "xls":
            return [
                SheetInfo(name=n, index=i, n_rows=len(rows), n_cols=w, empty=(w == 0), visible=vis)
                for i, (n, rows, w, vis) in enumerate(self._xls_sheet_summaries(path))
            ]
        out: list[SheetInfo] = []
        with zipfile.ZipFile(path) as zf:
            for i, sp in enumerate(xlsx_sheet_parts(zf)):
                if not sp.part or sp.chart:
                    out.append(SheetInfo(sp.name, i, 0, 0, True, sp.visible))
                    continue
                sc = scan_sheet_xml(path, zf, sp.part, limits)
                empty = not sc.has_values
                out.append(
                    SheetInfo(sp.name, i, 0 if empty else sc.max_row, 0 if empty else sc.max_col, empty,
                              sp.visible)
                )
        return out

    # -- reading ------------------------------------------------------------------------

    def read(self, path: Path, sheet: str | None, limits: Limits) -> RawSheet:
        kind = self._kind_of(path)
        infos = self.sheets(path, limits)
        if sheet is None:
            pick = next((s for s in infos if not s.empty), None)
            if pick is None:
                raise ImportRejected("工作簿中所有工作表都是空的，没有可导入的数据。请检查是否上传了正确的文件。")
        else:
            pick = next((s for s in infos if s.name == sheet), None)
            if pick is None:
                names = "、".join(f"「{s.name}」" for s in infos)
                raise ImportRejected(f"文件中没有名为「{sheet}」的工作表。现有工作表：{names}。")
        if kind == "xls":
            return self._read_xls(path, pick)
        return self._read_xlsx(path, pick, limits)

    # xlsx ------------------------------------------------------------------------------

    def _read_xlsx(self, path: Path, info: SheetInfo, limits: Limits) -> RawSheet:
        import polars as pl

        with zipfile.ZipFile(path) as zf:
            sp = xlsx_sheet_parts(zf)[info.index]
            scan = scan_sheet_xml(path, zf, sp.part, limits) if sp.part and not sp.chart else SheetScan()
        top = _top_rows(self, path, sp.part) if sp.part and not sp.chart else []
        n_cols = max([scan.max_col, *(len(r) for r in top)] or [0])
        n_rows = max(scan.max_row, len(top))
        top = [list(r) + [None] * (n_cols - len(r)) for r in top]
        raw = RawSheet(
            name=info.name,
            top=top,
            n_rows=n_rows,
            n_cols=n_cols,
            merged=list(scan.merged),
            load_body=lambda start: pl.DataFrame(),
            meta={"file_kind": "xlsx", "reader": "fastexcel"},
        )
        raw.load_body = lambda start: _xlsx_body(path, info.name, start, raw)
        return raw

    def _xlsx_top(self, path: Path, part: str) -> list[list[Any]]:
        """The first TOP_ROWS rows as Python values, via openpyxl's streaming sheet parser.

        Not load_workbook(read_only=True): when a sheet has no <dimension> (openpyxl's own
        write-only mode omits it) that parses the WHOLE sheet up front (~20 s for 200k×12).
        Here only the shared strings, styles (for date formats) and the first rows are read.
        """
        from openpyxl.reader.excel import ExcelReader
        from openpyxl.styles.stylesheet import apply_stylesheet
        from openpyxl.worksheet._reader import WorkSheetParser

        reader = ExcelReader(str(path), read_only=True, data_only=True, keep_links=False)
        rows: list[list[Any]] = []
        strings: _LazyStrings | None = None
        try:
            reader.read_manifest()
            # not reader.read_strings(): that parses every shared string, and a workbook saved by Excel
            # or WPS keeps all its text there (200,000 rows with a unique 工单编号: 6.6 MB, 1.8 s) when
            # the first rows need the first few
            strings = reader.shared_strings = _LazyStrings(reader.archive, _shared_strings_part(reader))
            reader.read_workbook()
            apply_stylesheet(reader.archive, reader.wb)
            wb = reader.wb
            with reader.archive.open(part) as src:
                # data_only: formulas come as their cached values, as fastexcel reads them
                parser = WorkSheetParser(
                    src, reader.shared_strings, data_only=True, epoch=wb.epoch,
                    date_formats=wb._date_formats, timedelta_formats=wb._timedelta_formats,
                )
                for idx, cells in parser.parse():
                    if idx > TOP_ROWS:
                        break
                    while len(rows) < idx - 1:
                        rows.append([])  # rows missing from the XML are empty
                    row: list[Any] = []
                    for c in cells:
                        col = c["column"] - 1
                        if c["value"] is None:
                            continue
                        row.extend([None] * (col + 1 - len(row)))
                        row[col] = _norm_openpyxl(c["value"])
                    rows.append(row)
        finally:
            if strings is not None:
                strings.close()
            reader.archive.close()
        while rows and not any(v is not None for v in rows[-1]):
            rows.pop()
        return rows[:TOP_ROWS]

    # early body read (big .xlsx sheets) ----------------------------------------------------

    def early_top(self, path: Path, sheet: str | None, limits: Limits) -> tuple[str, list[list[Any]]] | None:
        """A big .xlsx sheet's name and first rows, read before the full guard scan; else None.

        Why: fastexcel's body read (1.4 s for 200,000 × 12) waits for the guard's streamed pass
        over the whole sheet XML (0.3 s) and for the header, found from these rows. With the rows
        read first, the caller finds the header and starts the body read (`prefetch_body`) on
        another core while the guard scans. Only sheets whose XML exceeds _PREFETCH_MIN_BYTES: a
        small sheet is read fast anyway, and a tiny hostile one (cells at A1 and XFD1048576) would
        make calamine abort the process before the guard's clear refusal. A big sheet's middle is
        already left to the memory cap (scan_sheet_xml); its tail — where a far cell or a merge
        sits — is scanned long before calamine has parsed the sheet. The zip-level limits and the
        declared extent are checked first; anything odd returns None and the normal path reports it.
        """
        try:
            if self._kind_of(path) != "xlsx" or path.stat().st_size > limits.max_excel_bytes:
                return None
            with zipfile.ZipFile(path) as zf:
                _check_zip(zf, limits)
                parts = xlsx_sheet_parts(zf)
                sp = next((p for p in parts if p.name == sheet), None) if sheet else \
                    next((p for p in parts if p.part and not p.chart), None)
                if sp is None or not sp.part or sp.chart or zf.getinfo(sp.part).file_size < _PREFETCH_MIN_BYTES:
                    return None
                with zf.open(sp.part) as fh:
                    m = _DIM_RE.search(fh.read(65536))
                mr = parse_range(m.group(1).decode("ascii", "replace")) if m else None
                if mr is not None and (mr.last_row + 1 > limits.max_rows or mr.last_col + 1 > limits.max_cols):
                    return None  # declared too big: the guard refuses it, clearly
                return sp.name, _quick_top(zf, sp.part)
        except Exception:  # the guard and the normal read say what is wrong, in Chinese
            return None

    def prefetch_body(self, path: Path, sheet: str, start: int) -> None:
        """Start fastexcel's body read of `sheet` from row `start` on a thread (see early_top)."""
        import threading
        from concurrent.futures import Future

        if _BODY_PREFETCH:  # one started already (from the reader's hint): never two body reads at once
            return
        key = _body_key(path, sheet, start)
        fut: Future[tuple[Any, Any, pl.DataFrame]] = Future()

        def run() -> None:
            try:
                fut.set_result(_fastexcel_body(path, sheet, start))
            except BaseException as exc:  # handed to whoever claims it
                fut.set_exception(exc)

        _BODY_PREFETCH[key] = fut
        threading.Thread(target=run, name="citybi-xlsx-body", daemon=True).start()

    # xls -------------------------------------------------------------------------------

    def _xls_sheet_summaries(self, path: Path) -> list[tuple[str, list[list[Any]], int, bool]]:
        """(name, rows as Python values, width, visible) for every sheet."""
        cache_key = (str(path), path.stat().st_mtime_ns)
        hit = _XLS_CACHE.get(cache_key)
        if hit is not None:
            return hit[0]
        sheets, merged, reader = _read_xls_values(path)
        _XLS_CACHE.clear()
        _XLS_CACHE[cache_key] = (sheets, merged, reader)
        return sheets

    def _read_xls(self, path: Path, info: SheetInfo) -> RawSheet:
        sheets = self._xls_sheet_summaries(path)
        _, merged_all, reader = _XLS_CACHE[(str(path), path.stat().st_mtime_ns)]
        name, rows, width, _ = sheets[info.index]
        top = [list(r) + [None] * (width - len(r)) for r in rows[:TOP_ROWS]]
        return RawSheet(
            name=name,
            top=top,
            n_rows=len(rows),
            n_cols=width,
            merged=list(merged_all[info.index]),
            load_body=lambda start: frame_from_rows(rows[start:], width) if start < len(rows)
            else empty_body(width),
            meta={"file_kind": "xls", "reader": reader},
        )


_XLS_CACHE: dict[tuple[str, int], tuple[list[tuple[str, list[list[Any]], int, bool]],
                                        list[list[MergedRange]], str]] = {}


def _norm_openpyxl(v: Any) -> Any:
    if isinstance(v, dt.time | dt.timedelta):
        return str(v)
    return v


def _trim(rows: list[list[Any]]) -> tuple[list[list[Any]], int]:
    rows = [[_clean_xls_value(v) for v in r] for r in rows]
    for r in rows:
        while r and r[-1] is None:
            r.pop()
    while rows and not rows[-1]:
        rows.pop()
    width = max((len(r) for r in rows), default=0)
    return rows, width


def _read_xls_values(
    path: Path,
) -> tuple[list[tuple[str, list[list[Any]], int, bool]], list[list[MergedRange]], str]:
    """Every sheet of an .xls as Python values: calamine first, xlrd if it looks like mojibake."""
    try:
        res = _xls_with_calamine(path)
    except Exception:
        res = None
    if res is not None and not _any_mojibake(res[0]):
        return res[0], res[1], "calamine"
    try:
        sheets, merged = _xls_with_xlrd(path)
    except Exception as exc:
        if "encrypt" in str(exc).lower():
            raise ImportRejected(ENCRYPTED_MSG, detail=str(exc)) from exc
        if res is not None:
            # xlrd failed too: calamine's text is suspicious but it is all we have
            return res[0], res[1], "calamine"
        raise ImportRejected(
            "无法读取这个 .xls 文件，文件可能已损坏或是加密文件。请在 Excel 中打开并另存为 .xlsx 后再上传。",
            detail=str(exc),
        ) from exc
    return sheets, merged, "xlrd"


def _any_mojibake(sheets: list[tuple[str, list[list[Any]], int, bool]]) -> bool:
    for name, rows, _, _ in sheets:
        if looks_mojibake(name):
            return True
        for r in rows:
            for v in r:
                if isinstance(v, str) and looks_mojibake(v):
                    return True
    return False


def _xls_with_calamine(
    path: Path,
) -> tuple[list[tuple[str, list[list[Any]], int, bool]], list[list[MergedRange]]]:
    import python_calamine as pc

    wb = pc.CalamineWorkbook.from_path(str(path))
    meta = wb.sheets_metadata
    out: list[tuple[str, list[list[Any]], int, bool]] = []
    merged: list[list[MergedRange]] = []
    for i, md in enumerate(meta):
        sh = wb.get_sheet_by_index(i)
        rows = sh.to_python(skip_empty_area=False) if sh.height else []
        rows, width = _trim(rows)
        out.append((md.name, rows, width, str(md.visible).endswith("Visible")))
        mr = [MergedRange(a[0], a[1], b[0], b[1]) for a, b in (sh.merged_cell_ranges or [])]
        merged.append(mr)
    return out, merged


def _xls_with_xlrd(path: Path) -> tuple[list[tuple[str, list[list[Any]], int, bool]], list[list[MergedRange]]]:
    import xlrd

    book = xlrd.open_workbook(str(path), formatting_info=True, on_demand=True)
    out: list[tuple[str, list[list[Any]], int, bool]] = []
    merged: list[list[MergedRange]] = []
    try:
        for i in range(book.nsheets):
            sh = book.sheet_by_index(i)
            rows: list[list[Any]] = []
            for r in range(sh.nrows):
                row: list[Any] = []
                for c in sh.row(r):
                    if c.ctype == xlrd.XL_CELL_DATE:
                        try:
                            row.append(xlrd.xldate_as_datetime(c.value, book.datemode))
                        except Exception:
                            row.append(c.value)
                    elif c.ctype == xlrd.XL_CELL_BOOLEAN:
                        row.append(bool(c.value))
                    elif c.ctype in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK):
                        row.append(None)
                    elif c.ctype == xlrd.XL_CELL_ERROR:
                        row.append(xlrd.error_text_from_code.get(c.value, "#ERR"))
                    else:
                        row.append(c.value)
                rows.append(row)
            rows, width = _trim(rows)
            out.append((sh.name, rows, width, getattr(sh, "visibility", 0) == 0))
            # xlrd: (rlo, rhi, clo, chi), hi exclusive
            merged.append([MergedRange(a, c, b - 1, d - 1) for a, b, c, d in sh.merged_cells])
            book.unload_sheet(i)
    finally:
        book.release_resources()
    return out, merged


# ---------------------------------------------------------------------------------------
# the xlsx body: one fastexcel read, exact recovery of numbers in mixed columns


_PREFETCH_MIN_BYTES = _FULL_SCAN_BYTES  # sheet XML from this size is read early (ExcelConnector.early_top)
# body reads started early, by (path, mtime, size, sheet, first row); claimed by _xlsx_body
_BODY_PREFETCH: dict[tuple[str, int, int, str, int], Any] = {}
_TOP_CACHE: dict[tuple[str, int, int, str], list[list[Any]]] = {}  # early_top's rows, for the read after


def _body_key(path: Path, sheet: str, start: int) -> tuple[str, int, int, str, int]:
    st = path.stat()
    return (str(path), st.st_mtime_ns, st.st_size, sheet, start)


def _shared_strings_part(reader: Any) -> str | None:
    """Where openpyxl's ExcelReader.read_strings would read the shared strings from (None: there are none)."""
    from openpyxl.xml.constants import SHARED_STRINGS

    ct = reader.package.find(SHARED_STRINGS)
    return ct.PartName[1:] if ct is not None else None


class _LazyStrings:
    """A shared-string table, parsed only as far as it is indexed.

    `exact` (the request's first rows, _xlsx_top): each string is made exactly as
    openpyxl.reader.strings.read_string_table makes it (the same iterparse, Text.from_tree(...).content,
    the x005F_ escape dropped), so the first rows come out the same. Not exact (_quick_top, before
    openpyxl is loaded): the standard library's parser and _text_of, which give the same text for
    every kind of string in tests/test_xlsx_early_read.py. Either way the strings after the last one
    used are never parsed."""

    def __init__(self, archive: zipfile.ZipFile, part: str | None, *, exact: bool = True) -> None:
        if exact:
            from openpyxl.cell.text import Text
            from openpyxl.xml.constants import SHEET_MAIN_NS
            from openpyxl.xml.functions import iterparse

            tag = f"{{{SHEET_MAIN_NS}}}si"
            self._is_item: Callable[[str], bool] = lambda t: t == tag
            self._text: Callable[[Any], str] = lambda node: Text.from_tree(node).content
        else:
            from defusedxml.ElementTree import iterparse

            self._is_item = lambda t: _local(t) == "si"
            self._text = _text_of
        self._src = archive.open(part) if part else None
        self._events: Any = iter(iterparse(self._src)) if self._src is not None else None
        self._items: list[str] = []

    def __getitem__(self, index: int) -> str:
        wanted = index if index >= 0 else 2**62  # a negative index counts from the end: read it all
        while len(self._items) <= wanted and self._events is not None:
            for _, node in self._events:
                if self._is_item(node.tag):
                    self._items.append(self._text(node).replace("x005F_", ""))
                    node.clear()
                    if len(self._items) > wanted:
                        break
            else:
                self._events = None  # the whole table is read
        return self._items[index]

    def close(self) -> None:
        if self._src is not None:
            self._src.close()


_SHARED_STRINGS_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _quick_top(zf: zipfile.ZipFile, part: str) -> list[list[Any]]:
    """A big sheet's first TOP_ROWS rows for the early body read only, parsed with the standard library.

    Why not openpyxl (_xlsx_top): its ~65 ms of imports came before fastexcel's body read could start,
    on the reader's start-up path. These rows only choose where that early read starts: the request
    reads the first rows exactly (openpyxl, _top_rows), finds the header on them, and takes the early
    read only if it starts on the same row — a different row here costs time, never a wrong value.
    Cells come as openpyxl gives them, except that a date-formatted number stays a number (no styles
    are read): the header search treats numbers and dates alike.
    """
    from defusedxml.ElementTree import iterparse

    names = zf.namelist()
    ct = _xml_root(zf.read("[Content_Types].xml")) if "[Content_Types].xml" in names else None
    spart = next((o.get("PartName", "") for o in (ct if ct is not None else [])
                  if o.get("ContentType") == _SHARED_STRINGS_TYPE), "").lstrip("/")
    strings = _LazyStrings(zf, spart if spart in names else None, exact=False)
    rows: list[list[Any]] = []
    try:
        with zf.open(part) as src:
            row_no = 0
            for _, node in iterparse(src):
                if _local(node.tag) != "row":
                    continue
                ref = node.get("r")
                row_no = int(ref) if ref and ref.isdigit() else row_no + 1
                if row_no > TOP_ROWS:
                    break
                while len(rows) < row_no - 1:
                    rows.append([])  # rows missing from the XML are empty
                row: list[Any] = []
                col = -1
                for c in node:
                    if _local(c.tag) != "c":
                        continue
                    cref = c.get("r")
                    col = col_index("".join(ch for ch in cref if ch.isalpha())) if cref else col + 1
                    value = _quick_value(c, strings)
                    if value is None:
                        continue
                    row.extend([None] * (col + 1 - len(row)))
                    row[col] = value
                rows.append(row)
                node.clear()
    finally:
        strings.close()
    while rows and not any(v is not None for v in rows[-1]):
        rows.pop()
    return rows[:TOP_ROWS]


def _text_of(node: Any) -> str:
    """A shared or inline string's text, as openpyxl's Text.content: the plain <t> and the rich runs' <t>."""
    parts: list[str] = []
    for child in node:
        name = _local(child.tag)
        if name == "t":
            parts.append(child.text or "")
        elif name == "r":
            parts.extend(t.text or "" for t in child if _local(t.tag) == "t")
    return "".join(parts)


def _quick_value(c: Any, shared: _LazyStrings) -> Any:
    """One <c> cell's value as openpyxl's WorkSheetParser gives it (data_only), dates left as numbers."""
    kind = c.get("t", "n")
    if kind == "inlineStr":
        box = next((x for x in c if _local(x.tag) == "is"), None)
        return _text_of(box) if box is not None else None
    v = next((x.text for x in c if _local(x.tag) == "v"), None)
    if v is None:
        return None
    if kind == "s":
        return shared[int(v)]
    if kind == "b":
        return bool(int(v))
    if kind in ("str", "e", "d"):
        return v
    return float(v) if ("." in v or "E" in v or "e" in v) else int(v)


def _top_rows(conn: ExcelConnector, path: Path, part: str) -> list[list[Any]]:
    st = path.stat()
    key = (str(path), st.st_mtime_ns, st.st_size, part)
    if key not in _TOP_CACHE:
        _TOP_CACHE.clear()
        _TOP_CACHE[key] = conn._xlsx_top(path, part)
    return _TOP_CACHE[key]  # shared: callers build their own padded rows from it


def _fastexcel_body(path: Path, sheet: str, start: int) -> tuple[Any, Any, pl.DataFrame]:
    import fastexcel

    reader = fastexcel.read_excel(str(path))
    # skip_rows with header_row=None counts from absolute sheet row 0 (tested); the whole
    # column decides the dtype so a late text cell cannot be silently nulled
    sh = reader.load_sheet(sheet, header_row=None, skip_rows=start, schema_sample_rows=None)
    return reader, sh, sh.to_polars()


def _number_like_text_columns(by_abs: dict[int, pl.Series]) -> list[int]:
    """The text columns (by sheet index) with a cell that parses as a number once stripped.

    An anchored first-character test first: a column of names or codes is passed over without stripping
    and parsing its 200,000 cells (47 → ~10 ms for a 12-column sheet). Every column in one select, side
    by side on the cores, not one after another (the body read is done: the cores are free)."""
    import polars as pl

    texts = [a for a, s in by_abs.items() if s.dtype == pl.String]
    if not texts:
        return []
    frame = pl.DataFrame([by_abs[a].alias(str(a)) for a in texts])
    lead = frame.select([pl.col(str(a)).str.contains(r"^\s*[+\-]?\.?\d").any() for a in texts]).row(0)
    maybe = [a for a, hit in zip(texts, lead, strict=True) if hit]
    if not maybe:
        return []
    parsed = frame.select([pl.col(str(a)).str.strip_chars().cast(pl.Float64, strict=False).is_not_null().any()
                           for a in maybe]).row(0)
    return [a for a, hit in zip(maybe, parsed, strict=True) if hit]


def _claim_prefetch(path: Path, sheet: str, start: int) -> tuple[Any, Any, pl.DataFrame] | None:
    """The early body read of exactly this sheet and first row, if one was started.

    Any other early read (the header or sheet turned out different, e.g. by a saved recipe) is
    waited for and dropped first: two body reads of a big sheet at once could pass the memory cap.
    """
    key = _body_key(path, sheet, start)
    mine = _BODY_PREFETCH.pop(key, None)
    settle_prefetch()
    return mine.result() if mine is not None else None


def prefetch_running() -> bool:
    """An early body read started and not yet claimed or dropped (its request was refused first)."""
    return any(not fut.done() for fut in _BODY_PREFETCH.values())


def settle_prefetch() -> None:
    """Wait for every early body read still running and drop it (after a request, or a refusal)."""
    while _BODY_PREFETCH:
        _key, fut = _BODY_PREFETCH.popitem()
        fut.exception()  # waits; its result or error is of no use any more


def _xlsx_body(path: Path, sheet: str, start: int, raw: RawSheet) -> pl.DataFrame:
    import polars as pl

    if start >= raw.n_rows:
        settle_prefetch()
        return empty_body(raw.n_cols)
    early = _claim_prefetch(path, sheet, start)
    reader, sh, df = early if early is not None else _fastexcel_body(path, sheet, start)
    infos = list(sh.selected_columns)
    height = df.height
    by_abs: dict[int, pl.Series] = {}
    for info, s in zip(infos, df.get_columns(), strict=True):
        if s.dtype == pl.Null:
            s = s.cast(pl.String)
        by_abs[info.absolute_index] = s
    # a column that is String but holds float-looking text may hold real number cells
    # whose text fastexcel truncated: read those columns again as floats
    cand = _number_like_text_columns(by_abs)
    if cand:
        want = set(cand)
        fsh = reader.load_sheet(
            sheet, header_row=None, skip_rows=start, schema_sample_rows=None,
            use_columns=lambda c: c.absolute_index in want, dtypes="float",
        )
        rb, _errors = fsh.to_arrow_with_errors()
        fdf = pl.from_arrow(rb)
        assert isinstance(fdf, pl.DataFrame)
        if fdf.height != height:
            raise ImportRejected(
                "读取数值列时行数不一致，为避免数值被改动已停止导入。请把文件另存为 .xlsx 后重试。",
                detail=f"string read {height} rows, float read {fdf.height}",
            )
        for info, f in zip(fsh.selected_columns, fdf.get_columns(), strict=True):
            s = by_abs[info.absolute_index]
            parsed = s.str.strip_chars().cast(pl.Float64, strict=False)
            # a text cell "0.10" parses to the same float the float read gives: keep its
            # text. A number cell whose text was truncated differs: use the exact float.
            fix = f.is_not_null() & parsed.is_not_null() & (parsed != f)
            if fix.any():
                exact = pl.Series([exact_text(v) if v is not None else None for v in f.to_list()],
                                  dtype=pl.String)
                by_abs[info.absolute_index] = pl.select(
                    pl.when(fix).then(exact).otherwise(s)
                ).to_series()
    width = max([raw.n_cols, *(a + 1 for a in by_abs)])
    if width > raw.n_cols:
        # the sheet XML had cells without r= references: widen, keeping top aligned
        for r in raw.top:
            r.extend([None] * (width - raw.n_cols))
        raw.n_cols = width
    cols = []
    for j in range(width):
        s = by_abs.get(j)
        cols.append(s.alias(f"c{j}") if s is not None else pl.Series(f"c{j}", [None] * height, dtype=pl.String))
    return pl.DataFrame(cols)
