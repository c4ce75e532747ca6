"""Reading layer: every reading case → expected top rows, merged ranges and body.

Files are built by tests/filefactory.py; the child-process pipeline is exercised with a
stand-in shaper (filefactory.naive_build_plan) so these tests do not depend on shape.py.
"""
from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).parent))

import filefactory as ff

from citybi.config import Limits
from citybi.errors import ImportRejected
from citybi.ingest.model import ImportOptions
from connectors import excel as xl
from connectors.base import MergedRange, connector_for
from connectors.csv import CsvConnector, decode_bytes, sniff_delimiter

L = Limits()


def _read(path: Path, sheet: str | None = None) -> Any:
    conn = connector_for(path)
    assert conn is not None, f"no connector for {path.name}"
    return conn.read(path, sheet, L)


# ---------------------------------------------------------------------------------------
# xlsx


def test_xlsx_title_merged_header_top_and_merges(tmp_path: Path) -> None:
    raw = _read(ff.xlsx_titled_merged(tmp_path / "t.xlsx"))
    assert raw.name == "汇总"
    assert (raw.n_rows, raw.n_cols) == (9, 4)
    assert raw.top[0] == ["2024年各区垃圾清运情况", None, None, None]
    assert raw.top[1] == ["区", "清运量", None, "日期"]
    assert raw.top[2] == [None, "吨", "车次", None]
    assert raw.top[3] == ["南湖区", 12.5, 3, dt.datetime(2024, 3, 1)]
    assert raw.top[7] == [None, None, None, None]
    assert raw.top[8] == ["注：数据来源于各区环卫所。", None, None, None]
    assert len(raw.top) == 9
    assert set(raw.merged) == {
        MergedRange(0, 0, 0, 3), MergedRange(1, 0, 2, 0), MergedRange(1, 1, 1, 2), MergedRange(1, 3, 2, 3),
    }
    assert raw.meta["file_kind"] == "xlsx"


def test_xlsx_body_dtypes_and_values(tmp_path: Path) -> None:
    raw = _read(ff.xlsx_titled_merged(tmp_path / "t.xlsx"))
    body = raw.load_body(3)
    assert body.columns == ["c0", "c1", "c2", "c3"]
    assert body.height == 6  # 4 data rows, the blank row 8, the note row 9
    assert body["c0"].to_list() == ["南湖区", "秀洲区", "东城区", "合计", None, "注：数据来源于各区环卫所。"]
    assert body["c1"].dtype == pl.Float64
    assert body["c1"].to_list() == [12.5, 8.25, 20.0, 40.75, None, None]
    assert body["c2"].dtype.is_numeric()
    assert body["c2"].to_list() == [3, 2, 5, 10, None, None]
    assert body["c3"].dtype == pl.Datetime
    assert body["c3"].to_list()[:3] == [dt.datetime(2024, 3, d) for d in (1, 2, 3)]


def test_xlsx_mixed_column_keeps_exact_numbers(tmp_path: Path) -> None:
    raw = _read(ff.xlsx_mixed(tmp_path / "m.xlsx"))
    body = raw.load_body(1)
    col = body["c0"]
    assert col.dtype == pl.String
    assert body["c1"].dtype == pl.Float64
    assert body["c1"].to_list() == [i + 0.5 for i in range(len(ff.MIXED_VALUES))]
    expected_text = {1: "—", 3: "0.10", 6: "true", 7: "2024-03-01 00:00:00", 10: None, 11: "备注文字"}
    got = col.to_list()
    for i, v in enumerate(ff.MIXED_VALUES):
        if i in expected_text:
            assert got[i] == expected_text[i], (i, got[i])
        else:
            # the number survives exactly: fastexcel alone would give "0.134364244" and "0"
            assert float(got[i]) == float(v), (i, v, got[i])
    assert got[0] == "0.1343642441124012"
    assert got[2] == "1e-10"


@pytest.mark.parametrize("start", [0, 1, 2, 3, 4, 10, 39])
def test_xlsx_body_is_sheet_aligned(tmp_path: Path, start: int) -> None:
    """load_body(start) row 0 == sheet row `start`, column j == sheet column j (data from C3)."""
    raw = _read(ff.xlsx_offset(tmp_path / "o.xlsx"))
    assert (raw.n_rows, raw.n_cols) == (40, 4)
    assert raw.top[2] == [None, None, "名称", "值"]
    assert raw.top[39] == ["尾注", None, None, None]
    body = raw.load_body(start)
    assert body.columns == ["c0", "c1", "c2", "c3"]
    assert body.height == 40 - start
    first = [None if v is None else str(v) for v in body.row(0)]
    want = [None if v is None else str(v) for v in raw.top[start]]
    assert first == want
    assert body["c0"].to_list()[-1] == "尾注"


def test_xlsx_body_past_end_is_empty(tmp_path: Path) -> None:
    raw = _read(ff.xlsx_offset(tmp_path / "o.xlsx"))
    body = raw.load_body(40)
    assert body.shape == (0, 4)


def test_xlsx_sheets_lists_empty_sheet(tmp_path: Path) -> None:
    p = ff.xlsx_titled_merged(tmp_path / "t.xlsx")
    infos = connector_for(p).sheets(p, L)  # type: ignore[union-attr]
    assert [(s.name, s.index, s.empty, s.n_rows, s.n_cols) for s in infos] == [
        ("汇总", 0, False, 9, 4), ("空表", 1, True, 0, 0),
    ]


def test_xlsx_read_named_sheet_missing_lists_names(tmp_path: Path) -> None:
    p = ff.xlsx_titled_merged(tmp_path / "t.xlsx")
    with pytest.raises(ImportRejected, match=r"没有名为「不存在」的工作表.*「汇总」.*「空表」"):
        _read(p, "不存在")


def test_xlsx_skips_empty_first_sheet(tmp_path: Path) -> None:
    p = ff.xlsx_sheets(tmp_path / "s.xlsx", {"空": [], "数据": [["a", "b"], [1, 2]]})
    raw = _read(p)
    assert raw.name == "数据"
    assert raw.top == [["a", "b"], [1, 2]]


# The first rows of an .xlsx read only as many shared strings as they use (connectors.excel._LazyStrings):
# each string exactly as openpyxl's own table gives it — rich-text runs joined, phonetic runs left out,
# the x005F_ escape undone, spaces kept, an empty <si> empty.
_SST = [
    "<si><t>区</t></si>",
    "<si><r><t>南</t></r><r><rPr><b/></rPr><t>湖区</t></r></si>",
    '<si><t>街道</t><rPh sb="0" eb="1"><t>かいどう</t></rPh><phoneticPr fontId="1"/></si>',
    "<si><t>a_x005F_x000D_b</t></si>",
    "<si/>",
    '<si><t xml:space="preserve"> 前后有空格 </t></si>',
    *[f"<si><t>值{i}</t></si>" for i in range(6, 500)],
]


def _eager_strings(path: Path) -> list[str]:
    import zipfile

    from openpyxl.reader.strings import read_string_table

    with zipfile.ZipFile(path) as zf, zf.open("xl/sharedStrings.xml") as src:
        return list(read_string_table(src))


def test_shared_strings_are_read_as_far_as_indexed_and_as_openpyxl_reads_them(tmp_path: Path) -> None:
    import random
    import zipfile

    p = ff.raw_xlsx(tmp_path / "sst.xlsx", {"Sheet1": "<sheetData/>"}, shared=_SST)
    eager = _eager_strings(p)
    assert len(eager) == len(_SST) and eager[1] == "南湖区" and eager[3] == "a_x000D_b"
    order = [*range(len(eager)), -1, -len(eager)]
    random.Random(7).shuffle(order)
    with zipfile.ZipFile(p) as zf:
        lazy = xl._LazyStrings(zf, "xl/sharedStrings.xml")
        assert lazy[0] == eager[0] and len(lazy._items) == 1  # nothing parsed beyond what was asked
        assert [lazy[i] for i in order] == [eager[i] for i in order]
        with pytest.raises(IndexError):
            lazy[len(eager)]
        lazy.close()


@pytest.mark.parametrize("late", [False, True], ids=["first-strings", "last-string-first"])
def test_xlsx_top_rows_with_shared_strings_equal_the_full_table_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                     late: bool) -> None:
    first = len(_SST) - 1 if late else 0
    rows = [f'<row r="1"><c r="A1" t="s"><v>{first}</v></c><c r="B1" t="s"><v>1</v></c><c r="C1" t="s"><v>2</v></c>'
            f'<c r="D1" t="s"><v>3</v></c><c r="E1" t="s"><v>4</v></c><c r="F1" t="s"><v>5</v></c></row>']
    rows += [f'<row r="{r}"><c r="A{r}" t="s"><v>{6 + r}</v></c><c r="B{r}"><v>{r * 1.5}</v></c></row>'
             for r in range(2, 80)]
    p = ff.raw_xlsx(tmp_path / "t.xlsx", {"Sheet1": "<sheetData>" + "".join(rows) + "</sheetData>"}, shared=_SST)
    part = "xl/worksheets/sheet1.xml"
    lazy = xl.ExcelConnector()._xlsx_top(p, part)

    class Eager:  # the table read whole, as openpyxl's ExcelReader.read_strings does
        def __init__(self, archive: Any, name: str | None) -> None:
            self.items = _eager_strings(p)

        def __getitem__(self, i: int) -> str:
            return self.items[i]

        def close(self) -> None:
            pass

    monkeypatch.setattr(xl, "_LazyStrings", Eager)
    assert lazy == xl.ExcelConnector()._xlsx_top(p, part)
    assert lazy[0][:3] == [_eager_strings(p)[first], "南湖区", "街道"] and len(lazy) == 60



def test_a_shared_strings_workbook_reads_whole(tmp_path: Path) -> None:
    """As Excel and WPS save text (t="s" cells into the shared-string table): the first rows and the body."""
    sst = ["<si><t>区</t></si>", "<si><t>清运量</t></si>", *[f"<si><t>区{i}</t></si>" for i in range(70)]]
    rows = ['<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row>']
    rows += [f'<row r="{r}"><c r="A{r}" t="s"><v>{r}</v></c><c r="B{r}"><v>{r}.5</v></c></row>' for r in range(2, 72)]
    p = ff.raw_xlsx(tmp_path / "sst.xlsx", {"数据": "<sheetData>" + "".join(rows) + "</sheetData>"}, shared=sst)
    raw = _read(p)
    assert raw.top[:3] == [["区", "清运量"], ["区0", 2.5], ["区1", 3.5]] and raw.n_rows == 71
    body = raw.load_body(1)
    assert body.height == 70 and body.row(69) == ("区69", 71.5)


# ---------------------------------------------------------------------------------------
# xls


def test_xls_read_values_dates_and_merges(tmp_path: Path) -> None:
    p = ff.xls_basic(tmp_path / "b.xls")
    infos = connector_for(p).sheets(p, L)  # type: ignore[union-attr]
    assert [(s.name, s.empty) for s in infos] == [("家庭服务", False), ("Sheet2", True)]
    raw = _read(p)
    assert raw.meta == {"file_kind": "xls", "reader": "calamine"}
    assert raw.merged == [MergedRange(0, 0, 0, 2)]
    assert raw.top[0] == ["服务数据统计", None, None]
    assert raw.top[1] == ["年月", "人数", "备注"]
    assert raw.top[2][0] in (dt.date(2020, 1, 1), dt.datetime(2020, 1, 1))
    body = raw.load_body(2)
    assert body["c0"].to_list() == ["2020-01-01 00:00:00", "2020-02-01 00:00:00", "小计"]
    assert body["c1"].dtype == pl.Float64
    assert body["c1"].to_list() == [33.0, 0.13436424411240122, 33.13436424411240122]
    assert body["c2"].to_list() == ["正常", None, None]


@pytest.mark.parametrize(
    ("text", "bad"),
    [
        ("一般公共预算支出（亿元）", False),
        ("2024年 GDP (亿元) café", False),
        ("ÒÔ°ã¹«¹²Ô¤Ëã", True),  # GBK bytes read as Latin-1
        ("abc\x00def", True),
        ("\x81\x82test", True),
        ("", False),
    ],
)
def test_looks_mojibake(text: str, bad: bool) -> None:
    assert xl.looks_mojibake(text) is bad


def test_xls_falls_back_to_xlrd_on_mojibake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = ff.xls_basic(tmp_path / "b.xls")
    real = xl._xls_with_calamine

    def garbled(path: Path) -> Any:
        sheets, merged = real(path)
        name, rows, width, vis = sheets[0]
        rows = [list(r) for r in rows]
        rows[1][0] = "Äê\x00ÔÂ"
        return [(name, rows, width, vis), *sheets[1:]], merged

    monkeypatch.setattr(xl, "_xls_with_calamine", garbled)
    xl._XLS_CACHE.clear()
    raw = _read(p)
    xl._XLS_CACHE.clear()
    assert raw.meta["reader"] == "xlrd"
    assert raw.top[1] == ["年月", "人数", "备注"]
    assert raw.top[2][0] == dt.datetime(2020, 1, 1)
    assert raw.merged == [MergedRange(0, 0, 0, 2)]
    assert raw.load_body(3)["c1"].to_list() == [0.13436424411240122, 33.13436424411240122]


# ---------------------------------------------------------------------------------------
# CSV


def test_csv_gbk_preamble_footer(tmp_path: Path) -> None:
    p = ff.csv_gbk_nbs(tmp_path / "分省年度数据.csv")
    raw = _read(p)
    assert raw.name == "分省年度数据"
    assert raw.meta["encoding"] == "gb18030"
    assert raw.n_cols == 4
    assert raw.top[0] == ["数据库：分省年度数据", None, None, None]
    assert raw.top[3] == ff.GBK_NBS_ROWS[0]
    assert raw.top[5] == ["天津市", "17931.3", None, "16588.5"]
    assert raw.top[-1] == ["数据来源：国家统计局", None, None, None]
    body = raw.load_body(4)
    assert body.columns == ["c0", "c1", "c2", "c3"]
    assert all(body[c].dtype == pl.String for c in body.columns)
    assert body.rows() == [
        ("北京市", "49670.2", "47353.7", "45222.4"),
        ("天津市", "17931.3", None, "16588.5"),
        ("河北省", "47526.9", "44141.7", "42370.4"),
        ("注：2024年数据为初步核算数。", None, None, None),
        ("数据来源：国家统计局", None, None, None),
    ]


CSV_CASES = [
    # (file name, bytes, encoding, delimiter, top rows, body from row 1)
    ("bom.csv", "\ufeff区,人数\n南湖,3\n秀洲,4\n".encode(), "utf-8-sig", ",",
     [["区", "人数"], ["南湖", "3"], ["秀洲", "4"]], [("南湖", "3"), ("秀洲", "4")]),
    ("t.tsv", "区\t人数\r\n南湖\t3,5\r\n".encode(), "utf-8", "\t",
     [["区", "人数"], ["南湖", "3,5"]], [("南湖", "3,5")]),
    ("semi.csv", b"a;b;c\n1;2;3\n", "utf-8", ";", [["a", "b", "c"], ["1", "2", "3"]], [("1", "2", "3")]),
    ("pipe.txt", b"a|b\n1|x y\n", "utf-8", "|", [["a", "b"], ["1", "x y"]], [("1", "x y")]),
    ("quoted.csv", 'a,b\n"多行\n文本",2\n3,"4,5"\n'.encode(), "utf-8", ",",
     [["a", "b"], ["多行\n文本", "2"], ["3", "4,5"]], [("多行\n文本", "2"), ("3", "4,5")]),
    ("blank.csv", b"a,b\n\n1,2\n", "utf-8", ",", [["a", "b"], [None, None], ["1", "2"]],
     [(None, None), ("1", "2")]),
    ("u16.csv", "名称\t值\r\n甲\t1\r\n".encode("utf-16"), "utf-16", "\t", [["名称", "值"], ["甲", "1"]],
     [("甲", "1")]),
    # a Chinese title above the body: the body is cut from the file's own bytes at the right place
    ("title.csv", "清运台账\n区,人数\n南湖,3\n".encode(), "utf-8", ",",
     [["清运台账", None], ["区", "人数"], ["南湖", "3"]], [("区", "人数"), ("南湖", "3")]),
    ("title_bom.csv", "\ufeff清运台账\n区,人数\n南湖,3\n".encode(), "utf-8-sig", ",",
     [["清运台账", None], ["区", "人数"], ["南湖", "3"]], [("区", "人数"), ("南湖", "3")]),
    ("gbk.csv", "名称,值\n甲,0.13436424411240122\n".encode("gbk"), "gb18030", ",",
     [["名称", "值"], ["甲", "0.13436424411240122"]], [("甲", "0.13436424411240122")]),
]


@pytest.mark.parametrize(("name", "data", "enc", "delim", "top", "body"), CSV_CASES, ids=[c[0] for c in CSV_CASES])
def test_csv_cases(tmp_path: Path, name: str, data: bytes, enc: str, delim: str,
                   top: list[list[Any]], body: list[tuple[Any, ...]]) -> None:
    p = tmp_path / name
    p.write_bytes(data)
    raw = _read(p)
    assert isinstance(connector_for(p), CsvConnector)
    assert raw.meta["encoding"] == enc
    assert raw.meta["delimiter"] == delim
    assert raw.top == top
    assert raw.load_body(1).rows() == body


def test_csv_wider_row_late_widens(tmp_path: Path) -> None:
    """A row wider than any in the first rows and the tail must not be cut or crash."""
    lines = ["a,b"] + [f"{i},{i}" for i in range(70)] + ["x,y,z,w"] + [f"{i},{i}" for i in range(20000)]
    p = ff.csv_text(tmp_path / "w.csv", "\n".join(lines) + "\n")
    raw = _read(p)
    assert raw.n_cols == 2
    body = raw.load_body(1)
    assert raw.n_cols == 4
    assert len(raw.top[0]) == 4
    assert body.row(70) == ("x", "y", "z", "w")
    assert body.height == 70 + 1 + 20000


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["数据库：x", "指标：y", "a,b,c", "1,2,3"], ","),
        (["a\tb\tc", "1\t2,5\t3"], "\t"),
        (["a;b", "1,5;2"], ";"),
        (["a|b|c", "1|2|3"], "|"),
    ],
)
def test_sniff_delimiter(lines: list[str], expected: str) -> None:
    assert sniff_delimiter(lines, ".csv") == expected


@pytest.mark.parametrize(
    ("data", "enc"),
    [
        ("中文".encode(), "utf-8"),
        ("中文，数据".encode("gbk"), "gb18030"),
        ("\ufeff中文".encode(), "utf-8-sig"),
        ("𠀀中文".encode("gb18030"), "gb18030"),
    ],
)
def test_decode_bytes(data: bytes, enc: str) -> None:
    text, got = decode_bytes(data)
    assert got == enc
    assert "中文" in text


_BIG5_ROWS = ["行政區,清運量（公噸）,日期,備註"] + [
    f"{d},{i * 0.37:.2f},2024-01-{1 + i % 28:02d},{n}"
    for i, (d, n) in enumerate([("臺北市信義區", "無"), ("新北市板橋區", "資源回收"), ("桃園市中壢區", "一般垃圾"),
                                ("臺中市西屯區", "廚餘")] * 1500)]


@pytest.mark.parametrize(("text", "enc"), [
    ("行政區,數量\n臺北市,3\n", "big5"),                      # a few bytes
    ("\n".join(_BIG5_ROWS) + "\n", "big5"),                   # 228 KB: judged on its first 64 KB
    ("\n".join(_BIG5_ROWS[:1] + ["1,2,3,4"] * 20000 + _BIG5_ROWS[1:]) + "\n", "big5"),  # numbers first
    ("区,清运量（吨）\n南湖区,3.5\n", "gb18030"),
], ids=["big5-small", "big5-228k", "big5-late-chinese", "gbk-small"])
def test_traditional_chinese_files_are_read_as_big5(text: str, enc: str) -> None:
    """A Taiwan or Hong Kong export (Big5) is told from GBK: the same bytes read as GBK would be mojibake."""
    data = text.encode("big5" if enc == "big5" else "gbk")
    got, name = decode_bytes(data)
    assert (got, name) == (text, enc)


_MB = 1 << 20
_ROW = "南湖区,清运作业,3.5,备注文字\n"
_MANY = _ROW * (_MB // len(_ROW.encode()) + 2000)  # past the 1 MB decoded head
_BIG_CSV_CASES = [
    ("utf8-1mb", ("区,类别,吨,备注\n" + _MANY).encode(), "utf-8"),
    ("bom-1mb", ("\ufeff区,类别,吨,备注\n" + _MANY).encode(), "utf-8-sig"),
    ("title-1mb", ("环卫清运台账\n单位：吨\n区,类别,吨,备注\n" + _MANY + "\n\n").encode(), "utf-8"),
    ("no-final-newline", ("区,类别,吨,备注\n" + _MANY + "末行,x,1,y").encode(), "utf-8"),
    ("wider-tail", ("区,类别,吨,备注\n" + _MANY + "多,出,两,列,a,b\n" + _ROW * 10).encode(), "utf-8"),
    # the first rows run past the head: 60 rows of 20 KB, and one quoted cell across it
    ("long-first-rows", ("区,类别\n" + ("甲" * 7000 + ",1\n") * 70 + _MANY).encode(), "utf-8"),
    ("quoted-across-head", ("区,说明\n" + ('南湖,"' + "很长的说明\n" * 17_000 + '"\n') * 4 + _MANY).encode(), "utf-8"),
    ("no-line-end-in-head", (",".join(["区" * 100_000] * 4) + "\n" + _MANY).encode(), "utf-8"),
    # UTF-8 for a megabyte, then GBK: not UTF-8 after all, refused the way it always was
    ("gbk-after-1mb", ("区,类别,吨,备注\n" + _MANY).encode() + "南湖区,其他,1,完\n".encode("gbk"), None),
]


@pytest.mark.parametrize(("data", "enc"), [c[1:] for c in _BIG_CSV_CASES], ids=[c[0] for c in _BIG_CSV_CASES])
def test_big_utf8_csv_reads_as_if_all_decoded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: bytes,
                                              enc: str | None) -> None:
    """A UTF-8 file over 1 MB has only its first lines decoded (connectors.csv._utf8_body): the same
    sheet as decoding all of it, whatever the first rows, the tail or the encoding further down."""
    import connectors.csv as csv_mod

    def read(name: str) -> tuple[Any, pl.DataFrame] | str:
        p = tmp_path / name
        p.write_bytes(data)
        try:
            raw = CsvConnector().read(p, None, L)
        except ImportRejected as err:
            return err.message
        return raw, raw.load_body(min(3, len(raw.top) - 1))

    lazy = read("a.csv")
    monkeypatch.setattr(csv_mod, "_HEAD_BYTES", 1 << 40)  # everything decoded at once, as before
    whole = read("b.csv")
    if enc is None:
        assert isinstance(lazy, str) and lazy == whole and "编码" in lazy
        return
    assert not isinstance(lazy, str) and not isinstance(whole, str)
    (a, a_body), (b, b_body) = lazy, whole
    assert a.meta == b.meta and a.meta["encoding"] == enc
    assert (a.top, a.n_rows, a.n_cols) == (b.top, b.n_rows, b.n_cols)  # after the body: a late wider row widens both
    assert a_body.equals(b_body) and a_body.height > 20_000


def test_empty_csv_listed_as_empty(tmp_path: Path) -> None:
    p = ff.csv_text(tmp_path / "e.csv", "\n\n\n")
    infos = CsvConnector().sheets(p, L)
    assert [(i.name, i.empty) for i in infos] == [("e", True)]


# ---------------------------------------------------------------------------------------
# the child-process pipeline (with a stand-in shaper)


@pytest.fixture
def shaper(monkeypatch: pytest.MonkeyPatch) -> None:
    from citybi.ingest.worker import SHAPER_ENV

    tests_dir = str(Path(__file__).parent)
    monkeypatch.setenv("PYTHONPATH", tests_dir)
    monkeypatch.setenv(SHAPER_ENV, "filefactory:naive_build_plan")


def test_list_sheets_in_child(tmp_path: Path) -> None:
    from citybi.ingest.pipeline import list_sheets

    p = ff.xlsx_titled_merged(tmp_path / "t.xlsx")
    infos = list_sheets(p, L)
    assert [(i.name, i.empty, i.n_rows) for i in infos] == [("汇总", False, 9), ("空表", True, 0)]


def test_a_big_frame_is_memory_mapped_a_small_one_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reader's frame file: read by polars when small (no pyarrow import in a one-shot command),
    memory-mapped through pyarrow when big (not copied into the command's heap) — the same frame."""
    import datetime as dt

    from citybi.ingest import pipeline

    frame = pl.DataFrame({"区": ["南湖区", None], "吨": [1.5, None], "日期": [dt.date(2024, 1, 1), None],
                          "时间": [dt.datetime(2024, 1, 1, 8), None], "车次": [3, None], "完成": [True, None]})
    path = tmp_path / "f.arrow"
    frame.write_ipc(path, compression="uncompressed")
    prep = pipeline.Prepared(plan=None, frame_path=path)  # type: ignore[arg-type]
    small = prep.frame()
    monkeypatch.setattr(pipeline, "_COPY_FRAME_BYTES", 0)
    mapped = prep.frame()
    assert small.equals(frame) and mapped.equals(frame)


def test_prepare_xlsx_in_child(tmp_path: Path, shaper: None) -> None:
    from citybi.ingest.pipeline import file_sha256, prepare

    p = ff.xlsx_mixed(tmp_path / "m.xlsx")
    prep = prepare(p, ImportOptions(), L, work_dir=tmp_path / "wd", original_name="上传.xlsx")
    assert prep.frame_path.parent == tmp_path / "wd"
    assert prep.plan.file_name == "上传.xlsx"
    assert prep.plan.sha256 == file_sha256(p)
    assert prep.plan.file_kind == "xlsx"
    df = prep.frame()
    assert df.columns == ["混合", "数值", "文本"]
    assert df["混合"][0] == "0.1343642441124012"
    assert df["数值"].to_list()[:2] == [0.5, 1.5]


def test_prepare_csv_uses_original_name_and_encoding(tmp_path: Path, shaper: None) -> None:
    from citybi.ingest.pipeline import prepare

    p = ff.csv_text(tmp_path / "upload_1234.csv", "区,人数\n南湖,3\n", "gbk")
    prep = prepare(p, ImportOptions(), L, original_name="各区人数.csv")
    assert prep.plan.sheet == "各区人数"
    assert prep.plan.encoding == "gb18030"
    assert prep.frame().rows() == [("南湖", "3")]
    prep.discard()
    assert not prep.frame_path.exists()


def test_prepare_union_sheets(tmp_path: Path, shaper: None) -> None:
    from citybi.ingest.pipeline import prepare

    p = ff.xlsx_sheets(tmp_path / "u.xlsx", {
        "南湖区": [["街道", "人数"], ["建设", 3], ["新兴", 4]],
        "空": [],
        "秀洲区": [["街道", "人数"], ["王店", 5]],
    })
    prep = prepare(p, ImportOptions(union_sheets=True), L)
    df = prep.frame()
    assert df.columns == ["工作表", "街道", "人数"]
    assert df.rows() == [("南湖区", "建设", 3), ("南湖区", "新兴", 4), ("秀洲区", "王店", 5)]
    assert prep.plan.row_count == 3
    assert prep.plan.skipped_sheets == ["空"]
    assert prep.plan.warnings == ["工作表「南湖区」：南湖区 读取完成", "工作表「秀洲区」：秀洲区 读取完成"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (ImportOptions(sheet="不存在"), "没有名为「不存在」的工作表。现有工作表：「A」、「B」、「C」"),
        (ImportOptions(sheet="C"), "工作表「C」是空的"),
        (ImportOptions(union_sheets=True), "无法合并工作表：「B」的列与第一个工作表「A」不同"),
    ],
)
def test_prepare_sheet_choice_errors(tmp_path: Path, shaper: None, options: ImportOptions, message: str) -> None:
    from citybi.ingest.pipeline import prepare

    p = ff.xlsx_sheets(tmp_path / "s.xlsx", {"A": [["x", "y"], [1, 2]], "B": [["x", "z"], [1, 2]], "C": []})
    with pytest.raises(ImportRejected) as ei:
        prepare(p, options, L)
    assert message in ei.value.message


def test_prepare_named_sheet(tmp_path: Path, shaper: None) -> None:
    from citybi.ingest.pipeline import prepare

    p = ff.xlsx_sheets(tmp_path / "s.xlsx", {"A": [["x"], [1]], "B": [["名称"], ["乙"]]})
    prep = prepare(p, ImportOptions(sheet="B"), L)
    assert prep.plan.sheet == "B"
    assert prep.frame().rows() == [("乙",)]


def test_big_sheet_scan_reads_rows_everywhere_and_columns_merges_from_the_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shortcut for big sheets must find the same extent and merged ranges as a full scan."""
    import zipfile

    from openpyxl import Workbook

    from citybi.config import Limits
    from connectors import excel as xl

    wb = Workbook()
    ws = wb.active
    ws.append(["区", "值", "备注"])
    for i in range(3000):
        ws.append([f"区{i % 7}", i * 1.5, "x" * (i % 13)])
    ws.merge_cells("A3001:C3001")
    path = tmp_path / "big.xlsx"
    wb.save(path)
    limits = Limits()
    zf = zipfile.ZipFile(path)
    part = xl.xlsx_sheet_parts(zf)[0].part
    full = xl.scan_sheet_xml(path, zf, part, limits)
    xl._SCAN_CACHE.clear()
    monkeypatch.setattr(xl, "_SCAN_CHUNK", 4096)
    monkeypatch.setattr(xl, "_FULL_SCAN_BYTES", 1024)
    quick = xl.scan_sheet_xml(path, zf, part, limits)
    assert (quick.max_row, quick.max_col, quick.has_values) == (full.max_row, full.max_col, full.has_values) == (
        3001, 3, True)
    assert quick.merged == full.merged and len(quick.merged) == 1
