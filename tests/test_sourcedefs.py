"""Data-source definitions as YAML: each text → the parsed definition, or the Chinese reason it is refused."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from citybi.config import load_settings
from citybi.sourcedefs import SourceDef, SourceDefError, SourceFolder, dump_source, load_source

PG = "url: postgresql://reader@127.0.0.1:5432/city\n"

# YAML → (kind, mode, key, watermark, schedule as described, secret, paused)
GOOD = [
    ("name: 环卫库\n" + PG + "table: 环卫清运\nsource_table: public.sanitation\nkey: [id]\nwatermark: updated_at\n"
     "every: 300\nsecret: pg-环卫\n",
     ("postgresql", "append", ["id"], "updated_at", "每 5 分钟", "pg-环卫", False)),
    ("name: 工单\nurl: mysql://root@127.0.0.1:3306/test\ntable: 12345工单\nquery: SELECT * FROM orders\n"
     "mode: replace\ncron: '0 6 * * *'\npaused: true\n",
     ("mysql", "replace", [], None, "按 cron「0 6 * * *」", None, True)),
    ("name: 空气站\nurl: http://127.0.0.1:8000/air.json\ntable: 空气质量\nrecord_path: data.records\n"
     "key: [站点, 时间]\nevery: 60\n",
     ("http", "append", ["站点", "时间"], None, "每 1 分钟", None, False)),
    ("name: 传感器\nurl: mqtt://127.0.0.1:1883/city/air/#\ntable: 传感器读数\nseconds: 10\nevery: 30\n",
     ("mqtt", "append", [], None, "每 30 秒", None, False)),
    ("name: 手动\n" + PG + "table: 人口\nmode: replace\n",
     ("postgresql", "replace", [], None, "仅手动刷新", None, False)),
]


@pytest.mark.parametrize(("text", "expected"), GOOD, ids=[g[0].split("\n")[0] for g in GOOD])
def test_a_good_definition_parses(text: str, expected: tuple[object, ...]) -> None:
    s = load_source(text)
    assert (s.kind, s.mode, s.key, s.watermark, s.describe_schedule(), s.secret, s.paused) == expected
    assert load_source(dump_source(s)) == s  # what is saved reads back the same


# YAML → words the Chinese refusal must contain
BAD = [
    ("name: a\nurl: postgresql://reader:hunter2@127.0.0.1/city\ntable: t\nmode: replace\n", "地址里不能写密码"),
    ("name: a\n" + PG + "table: t\nmode: replace\npassword: hunter2\n", "不能写密码或令牌（「password」）"),
    ("name: a\n" + PG + "table: t\nmode: replace\n密码: hunter2\n", "不能写密码或令牌（「密码」）"),
    ("name: a\nurl: http://127.0.0.1/feed.json?token=abc123\ntable: t\nmode: replace\n",
     "不能带令牌或密码参数（token）"),
    ("name: a\n" + PG + "table: t\nmode: replace\nsecret: 'hunter2 !'\n", "不能写密码本身"),
    ("name: a\n" + PG + "table: t\n", "追加方式需要主键列（key）或更新时间列（watermark）"),
    ("name: a\n" + PG + "table: t\nmode: replace\nwatermark: updated_at\n", "watermark）只用于追加"),
    ("name: a\n" + PG + "table: t\nmode: replace\nevery: 60\ncron: '0 6 * * *'\n", "只能写一项"),
    ("name: a\n" + PG + "table: t\nmode: replace\ncron: '0 25 * * *'\n", "cron 表达式「0 25 * * *」无法识别"),
    ("name: a\n" + PG + "table: t\nmode: replace\ncron: '0 6 *'\n", "应有 5 段"),
    ("name: a\n" + PG + "table: t\nmode: replace\nevery: 0\n", "刷新间隔 0 秒超出范围"),
    ("name: a\n" + PG + "table: t\nmode: replace\nevery: 十分钟\n", "刷新间隔（秒）应为整数"),
    ("name: a\n" + PG + "table: t\nmode: replace\nquery: SELECT 1\nsource_table: x\n", "只能写一项"),
    ("name: a\nurl: http://127.0.0.1/a.json\ntable: t\nmode: replace\nquery: SELECT 1\n",
     "HTTP 数据接口不支持「查询语句」"),
    ("name: a\nurl: mqtt://127.0.0.1:1883/x\ntable: t\n", "MQTT 来源需要写每次刷新最多收多少条"),
    ("name: a\nurl: ftp://127.0.0.1/x.csv\ntable: t\nmode: replace\n", "不认识数据源地址"),
    ("name: a/b\n" + PG + "table: t\nmode: replace\n", "不能用于文件名"),
    ("name: _citybi.sources.sync\n" + PG + "table: t\nmode: replace\n", "系统保留"),
    ("name: a\n" + PG + "table: _citybi.versions\nmode: replace\n", "数据集名称「_citybi.versions」不能使用"),
    ("name: a\n" + PG + "table: t\nmode: merge\n", "写入方式「merge」无效"),
    ("name: a\n" + PG + "table: t\nmode: replace\nschedule: daily\n", "不认识的设置项「schedule」"),
    (PG + "table: t\nmode: replace\n", "缺少必填项：名称"),
    ("- name: a\n", "应为「键: 值」形式"),
    ("name: &x a\nurl: *x\n", "锚点引用"),
]


@pytest.mark.parametrize(("text", "words"), BAD, ids=[b[1] for b in BAD])
def test_a_bad_definition_is_refused_in_chinese(text: str, words: str) -> None:
    with pytest.raises(SourceDefError) as info:
        load_source(text)
    assert words in str(info.value)
    assert "hunter2" not in str(info.value)  # a refusal never echoes the password it refused


def test_the_folder_sits_beside_the_warehouse_and_round_trips(tmp_path: Path) -> None:
    settings = load_settings(tmp_path / "city.duckdb")
    assert settings.sources_dir == tmp_path / "city.duckdb.sources"
    folder = SourceFolder(settings.sources_dir)
    s = load_source(GOOD[0][0])
    folder.save(s)
    assert folder.names() == ["环卫库"]
    assert folder.load("环卫库") == s
    with pytest.raises(SourceDefError, match="已有名为「环卫库」"):
        folder.save(s, overwrite=False)
    assert folder.set_paused("环卫库", True).paused and folder.load("环卫库").paused
    # a hand-edited broken file is reported by name; the good ones still load
    (settings.sources_dir / "坏的.yaml").write_text("name: 坏的\nurl: x\n", encoding="utf-8")
    (settings.sources_dir / "改名.yaml").write_text(dump_source(s), encoding="utf-8")
    found = dict(folder.load_all())
    assert isinstance(found["环卫库"], SourceDef)
    assert isinstance(found["坏的"], SourceDefError) and "「坏的.yaml」" in str(found["坏的"])
    assert "与文件名不一致" in str(found["改名"])
    assert folder.delete("改名") and not folder.exists("改名")
    assert not [p for p in os.listdir(settings.sources_dir) if p.startswith(".tmp")]
