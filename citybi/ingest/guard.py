"""Hostile-file checks that run BEFORE any parser touches an uploaded file.

Why: a 5 kB .xlsx with cells at A1 and XFD1048576 makes calamine/fastexcel allocate
512 GiB and abort the whole process — Python cannot catch that. Zip bombs, renamed
executables, encrypted workbooks and empty uploads must likewise be refused with a clear
Chinese message instead of a stack trace. Everything here reads only zip directories,
the first KB of each sheet XML and one bounded streamed pass over it; parsing still runs
in a memory-capped child process (citybi.ingest.worker) as the second line of defence.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

from citybi.config import Limits
from citybi.errors import ImportRejected

_MB = 1024 * 1024


def _mb(n: int) -> str:
    return f"{n / _MB:.1f} MB" if n < 10 * _MB else f"{n / _MB:.0f} MB"


def detect_kind(path: Path) -> str:
    """"xlsx", "xls", "csv", "encrypted", "corrupt_zip" or "unknown", from content only."""
    from connectors.csv import CsvConnector
    from connectors.excel import ExcelConnector

    with open(path, "rb") as fh:
        head = fh.read(8192)
    k = ExcelConnector().kind(head, path)
    if k == "corrupt":
        return "corrupt_zip"
    if k is not None:
        return k
    if head.startswith(b"PK\x03\x04") or head.startswith(b"\xd0\xcf\x11\xe0"):
        return "unknown"
    if CsvConnector().sniff(head, path):
        return "csv"
    return "unknown"


def check_file(path: Path, limits: Limits) -> str:
    """Raise ImportRejected for any file that must not reach a parser; return its kind."""
    from connectors.excel import CORRUPT_MSG, ENCRYPTED_MSG, NOT_EXCEL_MSG

    if not path.is_file():
        raise ImportRejected("找不到上传的文件，请重新上传。", detail=str(path))
    size = path.stat().st_size
    if size == 0:
        raise ImportRejected("文件是空的（0 字节）。请检查是否上传了正确的文件，或重新导出后再上传。")
    # the largest limit first, so a huge file is refused before its bytes are sniffed
    if size > max(limits.max_excel_bytes, limits.max_csv_bytes):
        raise ImportRejected(
            f"文件太大（{_mb(size)}），超过上限。Excel 文件上限 {_mb(limits.max_excel_bytes)}，"
            f"CSV 文件上限 {_mb(limits.max_csv_bytes)}。请删除无关的工作表或拆分后分批上传。"
        )
    with open(path, "rb") as fh:
        head = fh.read(8192)
    if head.lstrip()[:1] == b"<" and b"<html" in head[:4096].lower():
        raise ImportRejected(
            "这是网页（HTML）格式的文件，只是扩展名为 .xls。请用 Excel 打开后“另存为”.xlsx 再上传。"
        )
    kind = detect_kind(path)
    if kind == "encrypted":
        raise ImportRejected(ENCRYPTED_MSG)
    if kind == "corrupt_zip":
        raise ImportRejected(CORRUPT_MSG)
    if kind == "unknown":
        raise ImportRejected(NOT_EXCEL_MSG)
    if kind in ("xlsx", "xls") and size > limits.max_excel_bytes:
        raise ImportRejected(
            f"Excel 文件太大（{_mb(size)}），上限为 {_mb(limits.max_excel_bytes)}。"
            "请删除无关的工作表、图片，或另存为 CSV 后再上传。"
        )
    if kind == "csv" and size > limits.max_csv_bytes:
        raise ImportRejected(
            f"CSV 文件太大（{_mb(size)}），上限为 {_mb(limits.max_csv_bytes)}。请拆分后分批上传。"
        )
    if kind == "xlsx":
        check_xlsx(path, limits)
    return kind


def check_xlsx(path: Path, limits: Limits) -> None:
    """Zip-level limits, then every sheet's declared and real extent."""
    from connectors.excel import CORRUPT_MSG, parse_range, scan_sheet_xml, xlsx_sheet_parts

    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ImportRejected(CORRUPT_MSG, detail=str(exc)) from exc
    with zf:
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
                f"Excel 文件解压后太大（{_mb(total)}，上限 {_mb(limits.max_unzipped_bytes)}），"
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
