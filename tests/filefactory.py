"""Builders for the test files of the reading layer, all generated in code.

Why generated, not copied: the real messy files this was built against are other people's data;
these builders reproduce the same traps (title rows, merged headers, GBK with preamble and
footer, mixed number/text columns) and the hostile cases (dimension bomb, zip bomb,
encrypted OLE2 container) in a few bytes each, so every test states exactly what it feeds.
"""
from __future__ import annotations

import datetime as dt
import struct
import zipfile
from pathlib import Path
from typing import Any

import polars as pl

# ---------------------------------------------------------------------------------------
# xlsx via openpyxl


def xlsx_titled_merged(path: Path) -> Path:
    """Title row (merged A1:D1), 2-row merged header, 3 data rows, a total and a note."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "汇总"
    ws["A1"] = "2024年各区垃圾清运情况"
    ws.merge_cells("A1:D1")
    ws["A2"] = "区"
    ws.merge_cells("A2:A3")
    ws["B2"] = "清运量"
    ws.merge_cells("B2:C2")
    ws["B3"] = "吨"
    ws["C3"] = "车次"
    ws["D2"] = "日期"
    ws.merge_cells("D2:D3")
    rows = [
        ("南湖区", 12.5, 3, dt.datetime(2024, 3, 1)),
        ("秀洲区", 8.25, 2, dt.datetime(2024, 3, 2)),
        ("东城区", 20.0, 5, dt.datetime(2024, 3, 3)),
        ("合计", 40.75, 10, None),
    ]
    for i, r in enumerate(rows, start=4):
        for j, v in enumerate(r, start=1):
            ws.cell(row=i, column=j, value=v)
    ws["A9"] = "注：数据来源于各区环卫所。"
    ws2 = wb.create_sheet("空表")
    del ws2
    wb.save(path)
    return path


MIXED_VALUES: list[Any] = [
    # at most 16 significant digits: openpyxl writes floats with "%.16g" (lossy beyond that)
    0.1343642441124012, "—", 1e-10, "0.10", 12345678901.5, -2.5e-7, True,
    dt.datetime(2024, 3, 1), 1.234567890123457e20, 7, None, "备注文字",
]


def xlsx_mixed(path: Path) -> Path:
    """Header in row 1, column A mixes numbers/text/dates, column B is clean floats."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "数据"
    ws.append(["混合", "数值", "文本"])
    for i, v in enumerate(MIXED_VALUES):
        ws.cell(row=i + 2, column=1, value=v)
        ws.cell(row=i + 2, column=2, value=i + 0.5)
        ws.cell(row=i + 2, column=3, value=f"t{i}")
    wb.save(path)
    return path


def xlsx_offset(path: Path) -> Path:
    """Data starting at C3 (columns A:B and rows 1:2 empty), one far cell at A40."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "S"
    ws["C3"] = "名称"
    ws["D3"] = "值"
    ws["C4"] = "甲"
    ws["D4"] = 1.5
    ws["C5"] = "乙"
    ws["D5"] = 2.5
    ws["A40"] = "尾注"
    wb.save(path)
    return path


def xlsx_empty(path: Path, n_sheets: int = 2) -> Path:
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.title = "Sheet1"
    for i in range(1, n_sheets):
        wb.create_sheet(f"Sheet{i + 1}")
    wb.save(path)
    return path


def xlsx_sheets(path: Path, sheets: dict[str, list[list[Any]]]) -> Path:
    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for r in rows:
            ws.append(r)
    wb.save(path)
    return path


# ---------------------------------------------------------------------------------------
# xls via xlwt


def xls_basic(path: Path) -> Path:
    """Title row merged A1:C1, header, dates, numbers, text; a second, empty sheet."""
    import xlwt

    wb = xlwt.Workbook(encoding="utf-8")
    ws = wb.add_sheet("家庭服务")
    ws.write_merge(0, 0, 0, 2, "服务数据统计")
    for j, h in enumerate(["年月", "人数", "备注"]):
        ws.write(1, j, h)
    date_style = xlwt.easyxf(num_format_str="yyyy-mm-dd")
    ws.write(2, 0, dt.datetime(2020, 1, 1), date_style)
    ws.write(2, 1, 33)
    ws.write(2, 2, "正常")
    ws.write(3, 0, dt.datetime(2020, 2, 1), date_style)
    ws.write(3, 1, 0.13436424411240122)
    ws.write(4, 0, "小计")
    ws.write(4, 1, 33.13436424411240122)
    wb.add_sheet("Sheet2")
    wb.save(str(path))
    return path


# ---------------------------------------------------------------------------------------
# raw zips (hand-built xlsx, for hostile cases)

_CT = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    "{overrides}</Types>"
)
_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    'Target="xl/workbook.xml"/></Relationships>'
)
_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
_RNS = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'


def raw_xlsx(path: Path, sheets: dict[str, str], *, compression: int = zipfile.ZIP_DEFLATED,
             shared: list[str] | None = None) -> Path:
    """A minimal xlsx whose sheet XML is given verbatim (between <worksheet> tags).

    `shared`: the shared-string table's <si> elements, verbatim (cells refer to them as t="s")."""
    wb_sheets = "".join(
        f'<sheet name="{n}" sheetId="{i + 1}" r:id="rId{i + 1}"/>' for i, n in enumerate(sheets)
    )
    rels = "".join(
        f'<Relationship Id="rId{i + 1}" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
        f'Target="worksheets/sheet{i + 1}.xml"/>'
        for i in range(len(sheets))
    )
    overrides = "".join(
        f'<Override PartName="/xl/worksheets/sheet{i + 1}.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        for i in range(len(sheets))
    )
    if shared is not None:
        overrides += ('<Override PartName="/xl/sharedStrings.xml" '
                      'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>')
        rels += ('<Relationship Id="rIdSst" '
                 'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" '
                 'Target="sharedStrings.xml"/>')
    with zipfile.ZipFile(path, "w", compression) as zf:
        if shared is not None:
            zf.writestr("xl/sharedStrings.xml", f'<sst {_NS} count="{len(shared)}" uniqueCount="{len(shared)}">'
                                                + "".join(shared) + "</sst>")
        zf.writestr("[Content_Types].xml", _CT.format(overrides=overrides))
        zf.writestr("_rels/.rels", _RELS)
        zf.writestr("xl/workbook.xml", f"<workbook {_NS} {_RNS}><sheets>{wb_sheets}</sheets></workbook>")
        zf.writestr(
            "xl/_rels/workbook.xml.rels",
            f'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{rels}'
            "</Relationships>",
        )
        for i, body in enumerate(sheets.values()):
            zf.writestr(f"xl/worksheets/sheet{i + 1}.xml", f"<worksheet {_NS}>{body}</worksheet>")
    return path


def dimension_bomb(path: Path, *, dimension: str | None = "A1:XFD1048576") -> Path:
    """Cells at A1 and XFD1048576: calamine/fastexcel would try to allocate 512 GiB."""
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    body = (
        f"{dim}<sheetData>"
        '<row r="1"><c r="A1" t="inlineStr"><is><t>x</t></is></c></row>'
        '<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>'
        "</sheetData>"
    )
    return raw_xlsx(path, {"Sheet1": body})


def zip_bomb(path: Path, *, mb: int = 20) -> Path:
    """A sheet XML padded with megabytes of whitespace: tiny on disk, huge unpacked."""
    pad = " " * (mb * 1024 * 1024)
    body = f'<sheetData><row r="1"><c r="A1"><v>1</v></c></row></sheetData>{pad}'
    return raw_xlsx(path, {"Sheet1": body})


def corrupt_zip(path: Path) -> Path:
    """A real xlsx cut in half: the zip directory is gone."""
    tmp = path.with_suffix(".full.xlsx")
    xlsx_titled_merged(tmp)
    data = tmp.read_bytes()
    tmp.unlink()
    path.write_bytes(data[: len(data) // 2])
    return path


def renamed_binary(path: Path) -> Path:
    """An ELF executable header (+ NULs and code-like bytes) saved with an .xlsx name."""
    path.write_bytes(b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + bytes(range(256)) * 8)
    return path


# ---------------------------------------------------------------------------------------
# a minimal OLE2 compound file (what Office uses for encrypted xlsx and for .xls)

_FREE, _END, _FATSECT, _NOSTREAM = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF


def ole2(path: Path, streams: dict[str, bytes]) -> Path:
    """A version-3 compound file with up to 3 streams, each stored in regular sectors.

    Streams are padded to >= 4096 bytes so no mini stream is needed. Office writes an
    encrypted .xlsx as exactly such a container with EncryptionInfo + EncryptedPackage.
    """
    assert 1 <= len(streams) <= 3
    data = {n: (b + b"\x00" * max(0, 4096 - len(b))) for n, b in streams.items()}
    fat = [_FATSECT, _END]
    starts: list[int] = []
    sectors: list[bytes] = []
    for blob in data.values():
        n = -(-len(blob) // 512)
        first = 2 + len(sectors)
        starts.append(first)
        fat += [first + k + 1 for k in range(n - 1)] + [_END]
        blob = blob + b"\x00" * (n * 512 - len(blob))
        sectors += [blob[k * 512:(k + 1) * 512] for k in range(n)]
    assert len(fat) <= 128
    fat += [_FREE] * (128 - len(fat))

    def entry(name: str, typ: int, left: int, right: int, child: int, start: int, size: int) -> bytes:
        raw = name.encode("utf-16-le") + b"\x00\x00"
        e = raw.ljust(64, b"\x00") + struct.pack("<HBB", len(raw) if name else 0, typ, 1)
        e += struct.pack("<III", left, right, child) + b"\x00" * 16 + b"\x00" * 4 + b"\x00" * 16
        e += struct.pack("<IQ", start, size)
        assert len(e) == 128
        return e

    names = list(data)
    # siblings as a simple right-leaning chain, sorted the CFB way (length, then upper-case)
    order = sorted(range(len(names)), key=lambda i: (len(names[i]), names[i].upper()))
    right = {order[k]: order[k + 1] + 1 for k in range(len(order) - 1)}
    dir_sec = entry("Root Entry", 5, _NOSTREAM, _NOSTREAM, order[0] + 1, _END, 0)
    for i, n in enumerate(names):
        dir_sec += entry(n, 2, _NOSTREAM, right.get(i, _NOSTREAM), _NOSTREAM, starts[i], len(data[n]))
    while len(dir_sec) < 512:
        dir_sec += entry("", 0, _NOSTREAM, _NOSTREAM, _NOSTREAM, 0, 0)
    header = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 16
    header += struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6) + b"\x00" * 6
    header += struct.pack("<IIIIIIIII", 0, 1, 1, 0, 4096, _END, 0, _END, 0)
    header += struct.pack("<I", 0) + struct.pack("<I", _FREE) * 108
    assert len(header) == 512
    fat_sec = struct.pack("<128I", *fat)
    path.write_bytes(header + fat_sec + dir_sec + b"".join(sectors))
    return path


def encrypted_xlsx(path: Path) -> Path:
    return ole2(path, {"EncryptionInfo": b"\x04\x00\x04\x00" + b"\x40" * 100,
                       "EncryptedPackage": b"\x99" * 5000})


# ---------------------------------------------------------------------------------------
# CSV bytes

GBK_NBS_ROWS = [
    ["地区", "2024年", "2023年", "2022年"],
    ["北京市", "49670.2", "47353.7", "45222.4"],
    ["天津市", "17931.3", "", "16588.5"],
    ["河北省", "47526.9", "44141.7", "42370.4"],
]


def csv_gbk_nbs(path: Path) -> Path:
    """The data.stats.gov.cn export: GBK, CRLF, 3 preamble lines, 2 footer lines."""
    lines = ["数据库：分省年度数据", "指标：地区生产总值(亿元)", "时间：最近3年"]
    lines += [",".join(r) for r in GBK_NBS_ROWS]
    lines += ["注：2024年数据为初步核算数。", "数据来源：国家统计局"]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("gbk"))
    return path


def csv_text(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def xlsx_monthly_report(path: Path, month: int) -> Path:
    """One month of a department's 清运 report: same layout every month, new numbers.

    Sheet "<N>月", a merged title with the month in it, a 填报单位 line, a one-row header
    (区, 街道, 清运量（吨）, 车次, 备注), district rows, a 合计 row and a footer note.
    """
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = f"{month}月"
    ws["A1"] = f"2024年{month}月各区垃圾清运情况"
    ws.merge_cells("A1:E1")
    ws["A2"] = "填报单位：市环境卫生管理处"
    ws.append(["区", "街道", "清运量（吨）", "车次", "备注"])
    rows = [("南湖区", "建设街道", 120.5 + month, 30 + month, "正常"),
            ("南湖区", "新兴街道", 80.25 + month, 20 + month, ""),
            ("秀洲区", "新城街道", 95.0 + month, 25 + month, "雨天减量")]
    for r in rows:
        ws.append(list(r))
    ws.append(["合计", None, sum(r[2] for r in rows), sum(r[3] for r in rows), None])
    ws.append([])
    ws.append([f"注：{month}月数据为快报数。"])
    wb.save(path)
    return path


# ---------------------------------------------------------------------------------------
# a stand-in for citybi.ingest.shape.build_plan (worker hook CITYBI_WORKER_SHAPER)


def naive_build_plan(raw: Any, options: Any, **kw: Any) -> tuple[Any, pl.DataFrame]:
    """Header = first non-empty row of `top`; everything below is data. Tests only."""
    from citybi.ingest.model import ColumnPlan, ImportPlan

    h = next(i for i, r in enumerate(raw.top) if any(v is not None for v in r))
    names = [str(v) if v is not None else f"列{j + 1}" for j, v in enumerate(raw.top[h])]
    body = raw.load_body(h + 1)
    body = body.rename(dict(zip(body.columns, names, strict=True)))
    kinds = {pl.Float64: "number", pl.Int64: "integer", pl.String: "text", pl.Boolean: "boolean"}
    cols = [
        ColumnPlan(index=j, name=n, header=[n], type=kinds.get(body[n].dtype, "timestamp"))  # type: ignore[arg-type]
        for j, n in enumerate(names)
    ]
    plan = ImportPlan(
        file_name=kw["file_name"], sha256=kw["sha256"], file_kind=kw["file_kind"], sheet=raw.name,
        sheets=kw["sheets"], skipped_sheets=kw["skipped_sheets"], encoding=kw["encoding"],
        header_rows=[h + 1], columns=cols, row_count=body.height, options=options,
        warnings=[f"{raw.name} 读取完成"],
    )
    return plan, body


# ---------------------------------------------------------------------------------------
# sheet shapes of issue 13 item 6 (and the monthly append of item 7)

FORM_ROWS = [  # (街道, 社区, 厨余, 其他, 可回收, 有害, 车次)
    (f"街道{i // 6 + 1}", f"社区{i + 1}", 10.0 + i, 20.5 + i, 3 + i % 4, 0.25, 2 + i % 3) for i in range(36)
]


def xlsx_three_level_form(path: Path, *, empty_rows: int = 400) -> Path:
    """A filled-in form: title, a three-level merged header, 36 data rows, then `empty_rows`
    rows that carry borders and a number format but no value (what a template leaves behind)."""
    from openpyxl import Workbook
    from openpyxl.styles import Border, Side

    wb = Workbook()
    ws = wb.active
    ws.title = "分类收运"
    ws["A1"] = "2024年3月生活垃圾分类收运情况表"
    ws.merge_cells("A1:G1")
    # level 1: 街道 | 社区 | 收运量（吨） over D..F … | 车次
    ws["A2"] = "街道"
    ws.merge_cells("A2:A4")
    ws["B2"] = "社区"
    ws.merge_cells("B2:B4")
    ws["C2"] = "收运量（吨）"
    ws.merge_cells("C2:F2")
    ws["C3"] = "干湿分类"
    ws.merge_cells("C3:D3")
    ws["E3"] = "其他分类"
    ws.merge_cells("E3:F3")
    ws["C4"], ws["D4"], ws["E4"], ws["F4"] = "厨余", "其他", "可回收", "有害"
    ws["G2"] = "车次"
    ws.merge_cells("G2:G4")
    for r, row in enumerate(FORM_ROWS, start=5):
        for c, v in enumerate(row, start=1):
            ws.cell(row=r, column=c, value=v)
    thin = Side(style="thin")
    box = Border(left=thin, right=thin, top=thin, bottom=thin)
    for r in range(5 + len(FORM_ROWS), 5 + len(FORM_ROWS) + empty_rows):
        for c in range(1, 8):
            cell = ws.cell(row=r, column=c)
            cell.border = box
            cell.number_format = "0.00"
    wb.save(path)
    return path


CODE_HEADER_ROWS = [
    (dt.datetime(2024, 3, 1), "南湖区", "建设街道", 12.5, 3),
    (dt.datetime(2024, 3, 2), "南湖区", "新兴街道", 8.0, 2),
    (dt.datetime(2024, 3, 3), "秀洲区", "新城街道", 20.25, 5),
]


def xlsx_code_header(path: Path) -> Path:
    """Two header rows: the names in Chinese, then the same columns as short English codes."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "清运"
    ws.append(["日期", "区", "街道", "清运量（吨）", "车次"])
    ws.append(["date", "district", "street", "tonnage", "trips"])
    for r in CODE_HEADER_ROWS:
        ws.append(list(r))
    wb.save(path)
    return path


def xlsx_two_tables(path: Path) -> Path:
    """One sheet, two tables one under the other, each with its own title and header."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "月报"
    ws.append(["表1 各区垃圾清运量"])
    ws.merge_cells("A1:C1")
    ws.append(["区", "清运量（吨）", "车次"])
    ws.append(["南湖区", 120.5, 30])
    ws.append(["秀洲区", 95.0, 25])
    ws.append(["合计", 215.5, 55])
    ws.append([])
    ws.append([])
    ws.append(["表2 各街道公厕数量"])
    ws.merge_cells("A8:D8")
    ws.append(["区", "街道", "公厕（座）", "保洁人员（人）"])
    ws.append(["南湖区", "建设街道", 12, 30])
    ws.append(["南湖区", "新兴街道", 8, 21])
    ws.append(["秀洲区", "新城街道", 15, 40])
    ws.append([])
    ws.append(["注：数据为快报数。"])
    wb.save(path)
    return path


def xlsx_unit_line(path: Path) -> Path:
    """An air-quality sheet whose unit line names its columns: "浓度单位：微克/立方米" above
    the pollutant columns (merged over them), "CO单位：毫克/立方米" above CO; AQI has no unit."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "空气质量"
    ws.append(["2024年3月各站点空气质量"])
    ws.merge_cells("A1:G1")
    ws.append([None, None, None, "浓度单位：微克/立方米", None, None, "CO单位：毫克/立方米"])
    ws.merge_cells("D2:F2")
    ws.append(["日期", "站点", "AQI", "PM2.5", "PM10", "NO2", "CO"])
    ws.append([dt.datetime(2024, 3, 1), "嘉兴学院", 56, 38.0, 61.0, 22.0, 0.6])
    ws.append([dt.datetime(2024, 3, 1), "南湖区站", 48, 31.0, 50.0, 19.0, 0.5])
    wb.save(path)
    return path


def xlsx_sensor_mdd(path: Path) -> Path:
    """Sensor readings with M.DD float dates (3.01 … 3.1 is March 10th or 1st?) and two rows
    where a station reported nothing and every reading is 0."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "监测"
    ws.append(["日期", "站点", "PM2.5", "PM10", "NO2"])
    ws.append([3.01, "嘉兴学院", 38, 61, 22])
    ws.append([3.02, "嘉兴学院", 0, 0, 0])
    ws.append([3.1, "嘉兴学院", 41, 66, 25])
    ws.append([3.01, "南湖区站", 31, 50, 19])
    ws.append([3.02, "南湖区站", 35, 0, 18])
    ws.append([3.1, "南湖区站", 0, 0, 0])
    wb.save(path)
    return path


DEPT_ROWS = [("南湖区", "建设街道", 120.5, 30), ("南湖区", "新兴街道", 80.25, 20), ("秀洲区", "新城街道", 95.0, 25)]


def xlsx_dept_report(path: Path, month: int) -> Path:
    """A department's monthly 清运 report as the clerk gets it: a title, a 填报单位 line, a
    two-level header (清运作业 merged over 清运量 and 车次, no units), a 合计 row and a signature
    line. Its columns come out as 清运作业/清运量 and 清运作业/车次."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = f"{month}月"
    ws["A1"] = f"2024年{month}月各街道垃圾清运情况"
    ws.merge_cells("A1:E1")
    ws["A2"] = "填报单位：市环境卫生管理处"
    ws["A3"], ws["B3"], ws["C3"], ws["E3"] = "区", "街道", "清运作业", "备注"
    ws.merge_cells("A3:A4")
    ws.merge_cells("B3:B4")
    ws.merge_cells("C3:D3")
    ws.merge_cells("E3:E4")
    ws["C4"], ws["D4"] = "清运量", "车次"
    for i, (d, s, t, n) in enumerate(DEPT_ROWS, start=5):
        ws.cell(row=i, column=1, value=d)
        ws.cell(row=i, column=2, value=s)
        ws.cell(row=i, column=3, value=t + month)
        ws.cell(row=i, column=4, value=n + month)
    last = 5 + len(DEPT_ROWS)
    ws.cell(row=last, column=1, value="合计")
    ws.cell(row=last, column=3, value=sum(r[2] + month for r in DEPT_ROWS))
    ws.cell(row=last, column=4, value=sum(r[3] + month for r in DEPT_ROWS))
    ws.cell(row=last + 2, column=1, value="填报人：王五")
    wb.save(path)
    return path


def text_as_xlsx(path: Path) -> Path:
    """A plain-text note saved with an .xlsx name (what a clerk sends by mistake)."""
    path.write_text("各位同事：\n本月清运报表请于 5 日前报送。\n谢谢！\n", encoding="utf-8")
    return path
