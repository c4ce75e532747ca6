"""CityBI's own sample city: deterministic tables a newcomer sees on first start.

Why this exists: an empty BI app teaches nothing. On first start the app loads these files,
so a clerk sees sanitation tonnage, 12345 hotline orders, air quality and district facts of
an invented city (清源市) at once. The same generator also writes "messy" copies shaped
like real department reports (title row, 单位 line, merged two-level header, 小计/合计
rows, sign-off footer, numbers typed as text) plus a GBK CSV with an NBS-style preamble
and a wide districts × months table — so the importer is exercised on realistic files and
a test can check that the messy copy imports to exactly the clean copy's rows.

Everything is derived from one seeded ``random.Random``; only the stdlib and openpyxl are
used, and the .xlsx files are written byte-for-byte reproducibly (fixed document
timestamps, fixed zip entry times) so regenerating does not churn the committed files.

Run: ``python datasets/generate.py [OUT_DIR]`` (default: datasets/sample).
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import math
import random
import re
import sys
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SEED = 20250630
START = dt.date(2024, 1, 1)
END = dt.date(2025, 6, 30)  # the sample's fixed "today": 18 whole months end here
CITY = "清源市"
# Fixed document and zip timestamps: identical bytes on every run.
_FIXED_TIME = dt.datetime(2025, 7, 1, 9, 0, 0)

_MODIFIED = re.compile(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)")
DEFAULT_OUT = Path(__file__).resolve().parent / "sample"

Row = tuple[Any, ...]

# 区 → (常住人口（万人）, 面积（平方公里）, 网格数, 环卫工人数, 中心经度, 中心纬度, streets)
# All names are invented. Coordinates place the city in a plausible spot; the map later
# only needs them to be consistent with each other.
DISTRICTS: dict[str, tuple[float, float, int, int, float, float, tuple[str, ...]]] = {
    "临江区": (58.6, 62.4, 356, 1520, 118.7825, 30.9412, ("滨江街道", "望江街道", "码头街道", "柳堤街道")),
    "云湖区": (74.3, 88.9, 441, 1865, 118.7391, 30.9723, ("湖心街道", "荷塘街道", "云台街道")),
    "松岭区": (41.2, 315.7, 268, 936, 118.6604, 31.0258, ("松涛街道", "岭南街道", "石桥街道")),
    "北港区": (96.8, 1187.5, 612, 2740, 118.8536, 31.0641, ("港湾街道", "渔村街道", "盐田街道", "新港街道")),
    "望山区": (33.5, 742.0, 205, 684, 118.6012, 30.8897, ("山前街道", "竹园街道", "茶坪街道")),
    "青禾新区": (22.9, 2136.3, 148, 512, 118.9270, 30.8755, ("禾丰街道", "稻香街道")),
}

# 垃圾类型 → mean tonnes per street per day
WASTE_TYPES: dict[str, float] = {"厨余垃圾": 8.5, "可回收物": 2.8, "有害垃圾": 0.04, "其他垃圾": 6.9}

COMPLAINTS: dict[str, int] = {  # 诉求类型 → weight
    "噪音扰民": 14, "占道经营": 9, "垃圾清运": 8, "路灯故障": 4, "供水问题": 6,
    "违章停车": 11, "环境卫生": 8, "物业纠纷": 9, "道路破损": 5, "燃气安全": 2,
}
CHANNELS: dict[str, int] = {"电话": 62, "微信公众号": 17, "政务APP": 12, "网站": 6, "市长信箱": 3}
STATUSES = ("已办结", "办理中", "已退单")

STATIONS: dict[str, tuple[str, ...]] = {
    "临江区": ("江滨公园站", "临江监测站"),
    "云湖区": ("云湖监测站", "荷塘小学站"),
    "松岭区": ("松岭监测站", "石桥站"),
    "北港区": ("北港监测站", "盐田码头站"),
    "望山区": ("望山监测站", "茶坪站"),
    "青禾新区": ("青禾监测站", "稻香站"),
}

GRID_EVENTS: dict[str, int] = {
    "暴露垃圾": 16, "占道经营": 12, "共享单车乱停": 11, "违规广告": 7, "井盖缺损": 4,
    "道路积水": 5, "绿化损坏": 5, "违章搭建": 3, "乱堆物料": 9,
}
GRID_STATUSES = ("已结案", "处置中", "待派遣")

# Places and phrasing for 诉求内容; kept free of = + - @ at the start (formula injection).
_PLACES = ("小区北门", "菜市场门口", "公交站旁", "学校东侧", "十字路口", "沿河步道", "商业街", "地铁口")
_PHRASES: dict[str, tuple[str, ...]] = {
    "噪音扰民": ("夜间施工噪音很大，影响休息", "广场舞音响声音过大", "商铺外放音乐扰民"),
    "占道经营": ("流动摊贩占用人行道", "店外摆摊堵塞通道", "早市摊位占用机动车道"),
    "垃圾清运": ("垃圾桶满溢未及时清运", "建筑垃圾堆放多日无人清理", "分类垃圾桶混装"),
    "路灯故障": ("路灯连续多晚不亮", "路灯白天常亮", "灯杆倾斜存在隐患"),
    "供水问题": ("小区停水未提前通知", "自来水发黄有异味", "水压不足高层无水"),
    "违章停车": ("车辆长期占用消防通道", "人行道停满机动车", "货车乱停影响通行"),
    "环境卫生": ("路面油污未清理", "公厕卫生状况差", "河道漂浮垃圾较多"),
    "物业纠纷": ("物业费收费不透明", "电梯故障物业不处理", "物业未履行保洁义务"),
    "道路破损": ("路面坑洼积水", "人行道地砖松动", "窨井盖下沉"),
    "燃气安全": ("闻到燃气异味", "燃气管道外露锈蚀", "餐馆违规使用液化气罐"),
}


@dataclass(frozen=True)
class SampleColumn:
    name: str
    description: str  # Chinese, shown in the catalog
    unit: str | None = None


@dataclass(frozen=True)
class SampleTable:
    clean: str  # file name inside the sample directory
    messy: str | None  # the same detail rows in the shape of a department report
    description: str
    columns: tuple[SampleColumn, ...]


SAMPLE_TABLES: dict[str, SampleTable] = {
    "环卫清运": SampleTable(
        clean="环卫清运.xlsx",
        messy="环卫清运_messy.xlsx",
        description=f"{CITY}各街道每日分类垃圾清运量（{START.year}年{START.month}月—{END.year}年{END.month}月，样例数据）。"
        "messy 版为 2025年6月 的月报。",
        columns=(
            SampleColumn("日期", "清运作业日期"),
            SampleColumn("区", "所属区"),
            SampleColumn("街道", "所属街道"),
            SampleColumn("垃圾类型", "厨余垃圾、可回收物、有害垃圾、其他垃圾"),
            SampleColumn("清运量（吨）", "当日该类垃圾清运重量（过磅）", "吨"),
            SampleColumn("车次", "清运车辆出车次数", "次"),
            SampleColumn("作业人数", "当日参与作业的环卫工人数，少量未填报为空", "人"),
        ),
    ),
    "热线工单": SampleTable(
        clean="热线工单.xlsx",
        messy=None,
        description=f"{CITY}12345政务服务便民热线受理工单（样例数据）。",
        columns=(
            SampleColumn("工单编号", "工单唯一编号（QY+受理日期+序号）"),
            SampleColumn("受理时间", "热线受理的日期时间"),
            SampleColumn("区", "诉求发生地所属区"),
            SampleColumn("街道", "诉求发生地所属街道"),
            SampleColumn("诉求类型", "诉求分类"),
            SampleColumn("来源渠道", "电话、微信公众号、政务APP、网站、市长信箱"),
            SampleColumn("办结状态", "已办结、办理中、已退单"),
            SampleColumn("处理时长（小时）", "从受理到办结的时长；未办结为空", "小时"),
            SampleColumn("满意度", "回访满意度评分 1–5；未办结或未回访为空", "分"),
            SampleColumn("诉求内容", "市民诉求原文摘要，部分含换行"),
        ),
    ),
    "空气质量": SampleTable(
        clean="空气质量.xlsx",
        messy="空气质量_messy.xlsx",
        description=f"{CITY}各监测站每日空气质量（样例数据）。",
        columns=(
            SampleColumn("日期", "监测日期"),
            SampleColumn("监测站", "国控/市控监测站名称"),
            SampleColumn("区", "监测站所在区"),
            SampleColumn("AQI", "空气质量指数（无量纲）"),
            SampleColumn("PM2.5", "细颗粒物日均浓度", "微克/立方米"),
            SampleColumn("PM10", "可吸入颗粒物日均浓度；设备维护日为空", "微克/立方米"),
            SampleColumn("首要污染物", "AQI≤50 时为“—”（无首要污染物），这是有意义的取值"),
            SampleColumn("空气质量等级", "优、良、轻度污染、中度污染、重度污染、严重污染"),
        ),
    ),
    "区县概况": SampleTable(
        clean="区县概况.xlsx",
        messy="区县概况_messy.xlsx",
        description=f"{CITY}各区基本情况（2024年末，样例数据），每区一行。",
        columns=(
            SampleColumn("区", "区名"),
            SampleColumn("常住人口（万人）", "年末常住人口", "万人"),
            SampleColumn("面积（平方公里）", "行政区域面积", "平方公里"),
            SampleColumn("网格数", "城市管理网格数量", "个"),
            SampleColumn("环卫工人数", "在岗环卫工人数", "人"),
            SampleColumn("中心经度", "区政府所在地经度（WGS-84）", "度"),
            SampleColumn("中心纬度", "区政府所在地纬度（WGS-84）", "度"),
        ),
    ),
    "网格事件": SampleTable(
        clean="网格事件.xlsx",
        messy=None,
        description=f"{CITY}网格化城市管理上报事件（样例数据），带坐标。",
        columns=(
            SampleColumn("事件编号", "事件唯一编号（SJ+上报日期+序号）"),
            SampleColumn("上报时间", "网格员上报的日期时间"),
            SampleColumn("区", "所属区"),
            SampleColumn("街道", "所属街道"),
            SampleColumn("网格", "所属网格"),
            SampleColumn("事件类型", "事件分类"),
            SampleColumn("处置状态", "已结案、处置中、待派遣"),
            SampleColumn("经度", "事件位置经度（WGS-84）", "度"),
            SampleColumn("纬度", "事件位置纬度（WGS-84）", "度"),
        ),
    ),
}

# Extra files in other real-world shapes. They are derived from the tables above, so a
# test can check them against the clean data.
VARIANT_FILES: dict[str, str] = {
    "热线工单_月度_GBK.csv": "GBK 编码 CSV，国家统计局导出格式（数据库：/指标：/时间： 前导行，"
    "注：/数据来源： 表尾），各区 × 月份 的热线受理量宽表，最新月份在前。",
    "环卫清运_月度宽表.xlsx": "各区 × 月份 的清运量（吨）宽表，表头在第 1 行，适合演示“宽表转长表”。",
}


# ---------------------------------------------------------------------------------------------
# Table generation


def _days() -> list[dt.date]:
    return [START + dt.timedelta(days=i) for i in range((END - START).days + 1)]


def _spring_festival(day: dt.date) -> float:
    """Waste drops over the Spring Festival week and peaks just before it."""
    for eve in (dt.date(2024, 2, 9), dt.date(2025, 1, 28)):
        delta = (day - eve).days
        if -7 <= delta < 0:
            return 1.25
        if 0 <= delta < 7:
            return 0.7
    return 1.0


def sanitation(rng: random.Random) -> list[Row]:
    rows: list[Row] = []
    for day in _days():
        summer = 1.0 + 0.18 * math.sin((day.timetuple().tm_yday - 100) / 365 * 2 * math.pi)
        weekend = 1.08 if day.weekday() >= 5 else 1.0
        festival = _spring_festival(day)
        for district, facts in DISTRICTS.items():
            pop_scale = 0.7 + facts[0] / 150
            for street in facts[6]:
                for wtype, base in WASTE_TYPES.items():
                    tons = round(base * pop_scale * summer * weekend * festival * rng.uniform(0.7, 1.3), 2)
                    trips = max(1, round(tons / 2.4 + rng.uniform(0, 1.5)))
                    # ~1% of days the street office did not report the crew size
                    crew = None if rng.random() < 0.01 else rng.randint(3, 6) + trips * 2
                    rows.append((day, district, street, wtype, tons, trips, crew))
    return rows


def _clock(rng: random.Random, day: dt.date, first_hour: int, last_hour: int) -> dt.datetime:
    return dt.datetime.combine(
        day, dt.time(rng.randint(first_hour, last_hour), rng.randint(0, 59), rng.randint(0, 59))
    )


def _complaint_text(rng: random.Random, street: str, ctype: str) -> str:
    place = rng.choice(_PLACES)
    phrase = rng.choice(_PHRASES[ctype])
    roll = rng.random()
    if roll < 0.2:
        # the call-taker's structured note: several lines in one cell
        return f"市民来电反映：{street}{place}{phrase}。\n诉求：请相关部门尽快处理。\n联系方式：已留存"
    if roll < 0.3:
        return f"{street}{place}{phrase}，已多次反映\n希望尽快解决"
    return f"反映{street}{place}{phrase}，请求处理。"


def hotline(rng: random.Random) -> list[Row]:
    district_weights = [facts[0] for facts in DISTRICTS.values()]
    rows: list[Row] = []
    for day in _days():
        busy = 1.2 if day.month in (7, 8) else 1.0  # summer: noise and water complaints
        for n in range(1, int(rng.randint(20, 35) * busy) + 1):
            district = rng.choices(list(DISTRICTS), weights=district_weights)[0]
            street = rng.choice(DISTRICTS[district][6])
            ctype = rng.choices(list(COMPLAINTS), weights=list(COMPLAINTS.values()))[0]
            channel = rng.choices(list(CHANNELS), weights=list(CHANNELS.values()))[0]
            when = _clock(rng, day, 7, 22)
            age = (END - day).days
            if age < 7:
                status = rng.choices(STATUSES, weights=[40, 55, 5])[0]
            else:
                status = rng.choices(STATUSES, weights=[93, 2, 5])[0]
            hours = round(rng.lognormvariate(3.0, 0.8), 1) if status == "已办结" else None
            if status == "已办结" and rng.random() > 0.08:
                score = rng.choices([1, 2, 3, 4, 5], weights=[3, 4, 9, 30, 54])[0]
            else:
                score = None
            rows.append((f"QY{day:%Y%m%d}{n:04d}", when, district, street, ctype, channel, status,
                         hours, score, _complaint_text(rng, street, ctype)))
    return rows


def aqi_level(aqi: int) -> str:
    for bound, name in ((50, "优"), (100, "良"), (150, "轻度污染"), (200, "中度污染"), (300, "重度污染")):
        if aqi <= bound:
            return name
    return "严重污染"


def air(rng: random.Random) -> list[Row]:
    rows: list[Row] = []
    for day in _days():
        winter = day.month in (11, 12, 1, 2)
        city = rng.uniform(28, 170 if winter else 105)
        for district, stations in STATIONS.items():
            for station in stations:
                aqi = max(15, int(city * rng.uniform(0.8, 1.25)))
                pm25 = round(aqi * rng.uniform(0.5, 0.72), 1)
                pm10 = None if rng.random() < 0.01 else round(aqi * rng.uniform(0.95, 1.4), 1)
                if aqi <= 50:
                    primary = "—"  # "no primary pollutant": a real value, not a blank
                else:
                    primary = rng.choice(("PM2.5", "PM10") if winter else ("PM2.5", "PM10", "O3"))
                rows.append((day, station, district, aqi, pm25, pm10, primary, aqi_level(aqi)))
    return rows


def district_facts() -> list[Row]:
    return [(name, f[0], f[1], f[2], f[3], f[4], f[5]) for name, f in DISTRICTS.items()]


def grid_events(rng: random.Random) -> list[Row]:
    # each street gets a fixed offset from its district centre so points cluster by street
    street_centre: dict[str, tuple[float, float]] = {}
    for facts in DISTRICTS.values():
        spread = 0.012 + math.sqrt(facts[1]) / 2500
        for street in facts[6]:
            street_centre[street] = (facts[4] + rng.uniform(-spread, spread),
                                     facts[5] + rng.uniform(-spread, spread))
    district_weights = [facts[2] for facts in DISTRICTS.values()]
    rows: list[Row] = []
    for day in _days():
        for n in range(1, rng.randint(3, 8) + 1):
            district = rng.choices(list(DISTRICTS), weights=district_weights)[0]
            street = rng.choice(DISTRICTS[district][6])
            grid = f"{street}第{rng.randint(1, 12):02d}网格"
            etype = rng.choices(list(GRID_EVENTS), weights=list(GRID_EVENTS.values()))[0]
            status = "已结案" if (END - day).days > 10 else rng.choice(GRID_STATUSES)
            lon, lat = street_centre[street]
            when = _clock(rng, day, 7, 19)
            rows.append((f"SJ{day:%Y%m%d}{n:03d}", when, district, street, grid, etype, status,
                         round(lon + rng.gauss(0, 0.004), 6), round(lat + rng.gauss(0, 0.003), 6)))
    return rows


def build_tables() -> dict[str, list[Row]]:
    """All table rows, in SAMPLE_TABLES order. One RNG, consumed in a fixed order."""
    rng = random.Random(SEED)
    return {
        "环卫清运": sanitation(rng),
        "热线工单": hotline(rng),
        "空气质量": air(rng),
        "区县概况": district_facts(),
        "网格事件": grid_events(rng),
    }


def column_names(table: str) -> list[str]:
    return [c.name for c in SAMPLE_TABLES[table].columns]


# ---------------------------------------------------------------------------------------------
# Writing


def _new_workbook(write_only: bool) -> Any:
    from openpyxl import Workbook

    wb = Workbook(write_only=write_only)
    wb.properties.creator = "CityBI datasets/generate.py"
    wb.properties.created = _FIXED_TIME
    wb.properties.modified = _FIXED_TIME
    return wb


def _save_reproducibly(wb: Any, path: Path) -> None:
    """openpyxl stamps the zip entries and docProps with the current time; fix both."""
    buf = io.BytesIO()
    wb.save(buf)
    buf.seek(0)
    tmp = path.with_name(path.name + ".tmp")  # a crash never leaves a half-written sample file
    with zipfile.ZipFile(buf) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=_FIXED_TIME.timetuple()[:6])
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = info.external_attr
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":  # openpyxl stamps "modified" at save time
                data = _MODIFIED.sub(_FIXED_TIME.strftime(r"\g<1>%Y-%m-%dT%H:%M:%SZ\g<2>").encode(), data)
            dst.writestr(fixed, data)
    tmp.replace(path)


def write_clean_xlsx(path: Path, sheet: str, cols: Sequence[str], rows: Iterable[Row]) -> None:
    """One sheet, header on row 1, typed cells: what a tidy export looks like."""
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    wb = _new_workbook(write_only=True)
    ws = wb.create_sheet(sheet)
    ws.freeze_panes = "A2"
    header = []
    for name in cols:
        cell = WriteOnlyCell(ws, value=name)
        cell.font = Font(bold=True)
        header.append(cell)
    ws.append(header)
    for row in rows:
        ws.append(list(row))
    _save_reproducibly(wb, path)


def _as_text_number(value: int | float) -> str:
    """A number as a clerk types it: with thousands separators, as text."""
    if isinstance(value, int):
        return f"{value:,}"
    decimals = max(1, len(repr(value).split(".")[1])) if "." in repr(value) else 1
    return f"{value:,.{decimals}f}"


def _messy_number(value: int | float | None) -> int | float | str:
    if value is None:
        return "—"
    if abs(value) >= 1000:
        return _as_text_number(value)
    return value


def _cn_date(day: dt.date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


@dataclass(frozen=True)
class _ReportLayout:
    title: str
    reporter: str  # the department on the 填报单位 line
    unit_line: str  # right-hand side of the 填报单位 line, e.g. "单位：吨"
    groups: tuple[tuple[str, tuple[int, ...]], ...]  # top-level label → 0-based column positions
    bottom: tuple[str, ...]  # second header row labels (for grouped columns)
    block_col: int | None  # district column: 小计 after each block, merged cells if merge_block
    merge_block: bool
    subtotal: str  # "sum" or "mean"
    total_first: bool  # 合计 right under the header (yearbook style) instead of at the end
    note: str | None
    filled_on: dt.date
    no_total: tuple[int, ...] = ()  # columns a clerk leaves blank in 小计/合计 (e.g. coordinates)


def write_messy_xlsx(
    path: Path, sheet: str, cols: Sequence[str], rows: list[Row], layout: _ReportLayout
) -> None:
    """The shape of a real department report built from the clean rows.

    Detail rows keep the clean values exactly (numbers ≥ 1000 become "1,234.5" text, empty
    numbers "—", dates "2024年3月1日"), so importing this file must give the clean table.
    """
    from openpyxl.styles import Alignment, Border, Font, Side
    from openpyxl.utils import get_column_letter

    wb = _new_workbook(write_only=False)
    ws = wb.active
    ws.title = sheet
    ncol = len(cols)
    numeric = [i for i in range(ncol) if any(isinstance(r[i], (int, float)) for r in rows)]
    centre = Alignment(horizontal="center", vertical="center", wrap_text=True)
    thin = Side(style="thin")
    boxed = Border(left=thin, right=thin, top=thin, bottom=thin)

    ws.append([layout.title] + [None] * (ncol - 1))
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=ncol)
    ws.cell(1, 1).font = Font(bold=True, size=16)
    ws.cell(1, 1).alignment = centre
    ws.row_dimensions[1].height = 30
    ws.append([f"填报单位：{CITY}{layout.reporter}"] + [None] * (ncol - 2) + [layout.unit_line])

    # two-level header: group labels on top, vertically merged single-level cells elsewhere
    h1 = ws.max_row + 1
    grouped = {i: label for label, idx in layout.groups for i in idx}
    ws.append([grouped.get(i, cols[i]) for i in range(ncol)])
    ws.append([layout.bottom[i] if i in grouped else None for i in range(ncol)])
    for i in range(ncol):
        if i not in grouped:
            ws.merge_cells(start_row=h1, start_column=i + 1, end_row=h1 + 1, end_column=i + 1)
    for _label, idx in layout.groups:
        if len(idx) > 1:
            ws.merge_cells(start_row=h1, start_column=idx[0] + 1, end_row=h1, end_column=idx[-1] + 1)
    for r in (h1, h1 + 1):
        for c in range(1, ncol + 1):
            cell = ws.cell(r, c)
            cell.font = Font(bold=True)
            cell.alignment = centre
            cell.border = boxed

    def aggregate(block: list[Row]) -> list[Any]:
        out: list[Any] = [None] * ncol
        for i in numeric:
            if i in layout.no_total:
                continue
            values = [r[i] for r in block if r[i] is not None]
            if not values:
                continue
            agg = sum(values) if layout.subtotal == "sum" else sum(values) / len(values)
            out[i] = _messy_number(round(agg, 2) if isinstance(agg, float) else agg)
        return out

    def detail(row: Row) -> list[Any]:
        out: list[Any] = []
        for i, v in enumerate(row):
            if i in numeric:
                out.append(_messy_number(v))
            elif isinstance(v, dt.date) and not isinstance(v, dt.datetime):
                out.append(_cn_date(v))
            else:
                out.append(v)
        return out

    def total_row(label: str) -> list[Any]:
        out = aggregate(rows)
        out[0] = label
        return out

    if layout.total_first:
        ws.append(total_row("全市合计"))

    if layout.block_col is None:
        for row in rows:
            ws.append(detail(row))
    else:
        bc = layout.block_col
        ordered = sorted(rows, key=lambda r: list(DISTRICTS).index(r[bc]))  # stable: keeps date order
        blocks: dict[str, list[Row]] = {}
        for row in ordered:
            blocks.setdefault(row[bc], []).append(row)
        for district, block in blocks.items():
            first = ws.max_row + 1
            for i, row in enumerate(block):
                cells = detail(row)
                if layout.merge_block and i > 0:
                    cells[bc] = None  # the clerk merged the district cell over its block
                ws.append(cells)
            if layout.merge_block and len(block) > 1:
                ws.merge_cells(start_row=first, start_column=bc + 1, end_row=ws.max_row, end_column=bc + 1)
                ws.cell(first, bc + 1).alignment = centre
            sub = aggregate(block)
            sub[bc] = f"{district}小计"
            ws.append(sub)
            for c in range(1, ncol + 1):
                ws.cell(ws.max_row, c).font = Font(bold=True)

    if not layout.total_first:
        ws.append(total_row("合计"))
        for c in range(1, ncol + 1):
            ws.cell(ws.max_row, c).font = Font(bold=True)
    ws.append([])
    if layout.note:
        ws.append([layout.note])
    footer: list[Any] = [None] * ncol
    footer[0] = "填报人：王芳"
    footer[min(2, ncol - 2)] = "审核人：陈建国"
    footer[ncol - 1] = f"填报日期：{_cn_date(layout.filled_on)}"
    ws.append(footer)

    for i, name in enumerate(cols):
        width = max(10, min(40, len(name) * 2 + 2))
        ws.column_dimensions[get_column_letter(i + 1)].width = width
    _save_reproducibly(wb, path)


def _months() -> list[tuple[int, int]]:
    months = []
    y, m = START.year, START.month
    while (y, m) <= (END.year, END.month):
        months.append((y, m))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return months


def write_hotline_gbk_csv(path: Path, hotline_rows: list[Row]) -> None:
    """National Bureau of Statistics export style: preamble, wide months (newest first), notes."""
    counts: dict[tuple[str, int, int], int] = {}
    for row in hotline_rows:
        when: dt.datetime = row[1]
        key = (row[2], when.year, when.month)
        counts[key] = counts.get(key, 0) + 1
    months = list(reversed(_months()))
    buf = io.StringIO()
    buf.write(f"数据库：{CITY}12345热线月度数据\r\n")
    buf.write("指标：受理工单数(件)\r\n")
    buf.write(f"时间：{START.year}年{START.month}月—{END.year}年{END.month}月\r\n")
    out = csv.writer(buf, lineterminator="\r\n")
    out.writerow(["区"] + [f"{y}年{m}月" for y, m in months])
    for district in DISTRICTS:
        out.writerow([district] + [counts.get((district, y, m), 0) for y, m in months])
    buf.write("注：本表按受理时间统计，含已退单工单。\r\n")
    buf.write(f"数据来源：{CITY}12345政务服务便民热线（样例数据，虚构）\r\n")
    path.write_bytes(buf.getvalue().encode("gbk"))


def write_sanitation_wide(path: Path, sanitation_rows: list[Row]) -> None:
    totals: dict[tuple[str, int, int], float] = {}
    for row in sanitation_rows:
        key = (row[1], row[0].year, row[0].month)
        totals[key] = totals.get(key, 0.0) + row[4]
    months = _months()
    rows = [tuple([d] + [round(totals[(d, y, m)], 2) for y, m in months]) for d in DISTRICTS]
    write_clean_xlsx(path, "月度清运量", ["区"] + [f"{y}年{m}月" for y, m in months], rows)


def messy_layouts() -> dict[str, _ReportLayout]:
    last_month = f"{END.year}年{END.month}月"
    return {
        "环卫清运": _ReportLayout(
            title=f"{CITY}生活垃圾分类清运情况月报（{last_month}）",
            reporter="城市管理局环境卫生处",
            unit_line="单位：吨",
            groups=(("清运作业", (4, 5, 6)),),
            bottom=("", "", "", "", "清运量", "车次（次）", "作业人数（人）"),
            block_col=1,
            merge_block=True,
            subtotal="sum",
            total_first=False,
            note="注：清运量以转运站过磅单为准；“—”表示街道未填报。",
            filled_on=END + dt.timedelta(days=3),
        ),
        "空气质量": _ReportLayout(
            title=f"{CITY}环境空气质量日报汇总表（{START.year}年{START.month}月—{last_month}）",
            reporter="生态环境局监测站",
            unit_line="浓度单位：微克/立方米",
            groups=(("监测结果", (3, 4, 5)),),
            bottom=("", "", "", "AQI", "PM2.5", "PM10"),
            block_col=2,
            merge_block=False,
            subtotal="mean",
            total_first=False,
            note="注：小计、合计为算术平均值；PM10 为“—”表示设备维护。",
            filled_on=END + dt.timedelta(days=5),
        ),
        "区县概况": _ReportLayout(
            title=f"{CITY}各区基本情况（{END.year - 1}年末）",
            reporter="统计局综合处",
            unit_line="单位：见表头",
            groups=(("人口与面积", (1, 2)), ("城市管理", (3, 4)), ("区政府驻地", (5, 6))),
            bottom=("", "常住人口（万人）", "面积（平方公里）", "网格数（个）", "环卫工人数（人）",
                    "经度", "纬度"),
            block_col=None,
            merge_block=False,
            subtotal="sum",
            total_first=True,
            note=None,
            filled_on=dt.date(END.year, 3, 15),
            no_total=(5, 6),
        ),
    }


def messy_rows(table: str, rows: list[Row]) -> list[Row]:
    """The clean rows that the messy copy holds (环卫清运: the last month only)."""
    if table == "环卫清运":
        return [r for r in rows if (r[0].year, r[0].month) == (END.year, END.month)]
    return rows


def generate(out_dir: Path) -> dict[str, Path]:
    """Write every sample file into out_dir; return file stem → path, in writing order."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tables = build_tables()
    layouts = messy_layouts()
    written: dict[str, Path] = {}
    for table, rows in tables.items():
        spec = SAMPLE_TABLES[table]
        cols = column_names(table)
        path = out_dir / spec.clean
        write_clean_xlsx(path, table, cols, rows)
        written[path.stem] = path
        if spec.messy:
            path = out_dir / spec.messy
            write_messy_xlsx(path, table, cols, messy_rows(table, rows), layouts[table])
            written[path.stem] = path
    path = out_dir / "热线工单_月度_GBK.csv"
    write_hotline_gbk_csv(path, tables["热线工单"])
    written[path.stem] = path
    path = out_dir / "环卫清运_月度宽表.xlsx"
    write_sanitation_wide(path, tables["环卫清运"])
    written[path.stem] = path
    return written


def main(argv: list[str]) -> int:
    out_dir = Path(argv[1]) if len(argv) > 1 else DEFAULT_OUT
    written = generate(out_dir)
    tables = build_tables()
    detail_rows: dict[str, int] = {}
    for table, rows in tables.items():
        spec = SAMPLE_TABLES[table]
        detail_rows[Path(spec.clean).stem] = len(rows)
        if spec.messy:
            detail_rows[Path(spec.messy).stem] = len(messy_rows(table, rows))
    total = 0
    for stem, path in written.items():
        size = path.stat().st_size
        total += size
        rows_text = f"{detail_rows[stem]:>7,} 行明细" if stem in detail_rows else "  各区 × 月份宽表"
        print(f"{path.name:<24}{rows_text}  {size / 1024:8.1f} KB")
    print(f"共 {len(written)} 个文件，{total / 1024 / 1024:.2f} MB → {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
