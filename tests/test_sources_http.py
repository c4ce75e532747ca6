"""HTTP feeds against a real HTTP server the test starts on 127.0.0.1 (a free port)."""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from sources_upstream import QuietHandler, serve_local

import connectors.http as http_conn
from citybi.catalog import Catalog, open_warehouse
from citybi.secrets import Secret
from citybi.sources import import_source
from citybi.warehouse import Warehouse
from connectors.source import SourceRejected, SourceRequest

TOKEN = "tok-S3cret/xyz+=="
RECORDS = [{"站点": "南湖", "时间": "2024-03-01 08:00", "PM2.5": 35.5, "AQI": 50, "达标": True},
           {"站点": "秀洲", "时间": "2024-03-01 08:00", "PM2.5": None, "AQI": "61", "达标": False},
           {"站点": "嘉善", "时间": "2024-03-01 09:00", "PM2.5": 12.25, "AQI": 30, "达标": True,
            "位置": {"区": "嘉善县"}}]


@dataclass
class Feed:
    """What the test server answers, per path: (status, headers, body); counts hits."""

    routes: dict[str, Any] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)
    seen_headers: list[dict[str, str]] = field(default_factory=list)
    base: str = ""


@pytest.fixture
def feed() -> Iterator[Feed]:
    state = Feed()

    class Handler(QuietHandler):
        def do_GET(self) -> None:
            state.hits[self.path] = state.hits.get(self.path, 0) + 1
            state.seen_headers.append(dict(self.headers))
            route = state.routes.get(self.path)
            if callable(route):
                route = route(self, state.hits[self.path])
            status, headers, body = route or (404, {}, b"not found")
            if headers.get("ETag") and self.headers.get("If-None-Match") == headers["ETag"]:
                status, body = 304, b""
            self.answer(status, headers, body)

    with serve_local(Handler) as base:
        state.base = base
        yield state


@pytest.fixture
def wh(tmp_path: Path) -> Iterator[Warehouse]:
    w = open_warehouse(path=tmp_path / "w.duckdb")
    yield w
    w.close()


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http_conn, "BACKOFF_S", 0.01)


def _json(doc: Any, **headers: str) -> tuple[int, dict[str, str], bytes]:
    return 200, {"Content-Type": "application/json", **headers}, json.dumps(doc, ensure_ascii=False).encode()


def _rows(wh: Warehouse, sql: str) -> list[tuple[Any, ...]]:
    cur = wh.cursor()
    try:
        return cur.execute(sql).fetchall()
    finally:
        cur.close()


@pytest.mark.parametrize(("doc", "record_path"), [
    (RECORDS, None),
    ({"code": 0, "data": {"records": RECORDS, "total": 3}}, "data.records"),
    ({"result": [{"list": RECORDS}]}, "result.0.list"),
], ids=["array", "data.records", "through-a-list-index"])
def test_json_records_land_typed_like_a_file(feed: Feed, wh: Warehouse, doc: Any, record_path: str | None) -> None:
    feed.routes["/air.json"] = _json(doc)
    res = import_source(wh, SourceRequest(url=feed.base + "/air.json", record_path=record_path), table="空气")
    assert res.write is not None and res.write.rows_written == 3
    types = {c.name: c.type for c in Catalog(wh).get("空气").columns}
    assert types == {"站点": "text", "时间": "timestamp", "PM2.5": "number", "AQI": "integer", "达标": "boolean",
                     "位置.区": "text"}
    assert _rows(wh, 'SELECT sum("PM2.5"), sum("AQI"), count("PM2.5"), max("位置.区") FROM "空气"') == [
        (47.75, 141, 2, "嘉善县")]


def test_geojson_points_become_longitude_latitude(feed: Feed, wh: Warehouse) -> None:
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [120.75, 30.76]},
         "properties": {"站点": "南湖"}},
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [120.70, 30.80]},
         "properties": {"站点": "秀洲"}},
    ]}
    feed.routes["/stations.geojson"] = _json(fc)
    import_source(wh, SourceRequest(url=feed.base + "/stations.geojson"), table="站点")
    assert _rows(wh, 'SELECT "站点", "经度", "纬度" FROM "站点" ORDER BY 1') == [
        ("南湖", 120.75, 30.76), ("秀洲", 120.70, 30.80)]


def test_gbk_csv_feed_goes_through_the_file_importer(feed: Feed, wh: Warehouse) -> None:
    body = "数据库：环卫\n日期,区,清运量（吨）\n2024-03-01,南湖区,12.5\n2024-03-02,秀洲区,7\n".encode("gbk")
    feed.routes["/qingyun.csv"] = (200, {"Content-Type": "text/csv; charset=gbk"}, body)
    res = import_source(wh, SourceRequest(url=feed.base + "/qingyun.csv"), table="清运")
    assert res.write is not None and res.write.rows_written == 2
    assert _rows(wh, 'SELECT min("日期")::VARCHAR, sum("清运量（吨）"), max("区") FROM "清运"') == [
        ("2024-03-01", 19.5, "秀洲区")]


def test_etag_unchanged_feed_writes_nothing(feed: Feed, wh: Warehouse) -> None:
    feed.routes["/air.json"] = _json(RECORDS, ETag='"v1"', **{"Last-Modified": "Fri, 01 Mar 2024 08:00:00 GMT"})
    url = feed.base + "/air.json"
    first = import_source(wh, SourceRequest(url=url), table="空气", mode="append", key_columns=["站点", "时间"])
    assert first.state == {"etag": '"v1"', "last_modified": "Fri, 01 Mar 2024 08:00:00 GMT"}
    again = import_source(wh, SourceRequest(url=url, state=first.state), table="空气", mode="append",
                          key_columns=["站点", "时间"])
    assert again.status == "unchanged" and again.write is None
    assert feed.seen_headers[-1].get("If-None-Match") == '"v1"'
    assert feed.seen_headers[-1].get("If-Modified-Since") == "Fri, 01 Mar 2024 08:00:00 GMT"
    assert [v.version for v in Catalog(wh).versions("空气")] == [1]


def test_refetch_by_key_never_doubles(feed: Feed, wh: Warehouse) -> None:
    feed.routes["/air.json"] = _json(RECORDS)
    url = feed.base + "/air.json"
    for _ in range(3):
        import_source(wh, SourceRequest(url=url), table="空气", mode="append", key_columns=["站点", "时间"])
    assert _rows(wh, 'SELECT count(*) FROM "空气"') == [(3,)]


@pytest.mark.parametrize("style", ["link-header", "next-in-body"])
def test_pagination(feed: Feed, wh: Warehouse, style: str) -> None:
    pages = [RECORDS[:1], RECORDS[1:2], RECORDS[2:]]
    for i, page in enumerate(pages):
        nxt = f"/air?page={i + 2}" if i + 1 < len(pages) else None
        path = "/air" if i == 0 else f"/air?page={i + 1}"
        if style == "link-header":
            feed.routes[path] = _json({"data": page}, **({"Link": f'<{nxt}>; rel="next"'} if nxt else {}))
        else:
            feed.routes[path] = _json({"data": page, "next": nxt})
    res = import_source(wh, SourceRequest(url=feed.base + "/air", record_path="data"), table="空气")
    assert res.write is not None and res.write.rows_written == 3 and "共读取 3 页" in "".join(res.notes)


def test_a_flaky_feed_is_retried_with_backoff(feed: Feed, wh: Warehouse) -> None:
    feed.routes["/air.json"] = lambda _h, hit: (503, {}, b"busy") if hit <= 2 else _json(RECORDS)
    res = import_source(wh, SourceRequest(url=feed.base + "/air.json"), table="空气")
    assert res.write is not None and res.write.rows_written == 3 and feed.hits["/air.json"] == 3


@pytest.mark.parametrize(("route", "record_path", "expected"), [
    ((500, {}, b"boom"), None, "HTTP 500），已重试 3 次仍失败"),
    ((200, {"Content-Type": "application/json"}, b"{not json"), None, "不是有效的 JSON"),
    ((200, {"Content-Type": "application/json"}, b'{"data": {"rows": []}}'), "data.records",
     "找不到记录路径「data.records」"),
    ((200, {"Content-Type": "application/json"}, b'{"data": {"rows": []}}'), None, "这一层不是记录列表"),
    ((200, {"Content-Type": "application/json"}, b"[1, 2]"), None, "不是对象"),
    ((404, {}, b"no"), None, "地址不存在（HTTP 404）"),
    ((401, {}, b"no"), None, "拒绝访问（HTTP 401）"),
], ids=["http-500", "garbage-json", "missing-record-path", "not-a-list", "not-objects", "404", "401"])
def test_feed_faults_give_a_clear_message_and_leave_the_dataset(feed: Feed, wh: Warehouse, route: Any,
                                                               record_path: str | None, expected: str) -> None:
    feed.routes["/ok.json"] = _json(RECORDS)
    import_source(wh, SourceRequest(url=feed.base + "/ok.json"), table="空气")
    feed.routes["/bad.json"] = route
    with pytest.raises(SourceRejected) as err:
        import_source(wh, SourceRequest(url=feed.base + "/bad.json", record_path=record_path), table="空气",
                      mode="append", key_columns=["站点"])
    assert expected in str(err.value)
    assert [v.version for v in Catalog(wh).versions("空气")] == [1]
    assert _rows(wh, 'SELECT count(*) FROM "空气"') == [(3,)]


def test_nothing_listening_is_a_connection_message(wh: Warehouse) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(SourceRejected, match="无法连接数据接口"):
        import_source(wh, SourceRequest(url=f"http://127.0.0.1:{port}/x.json"), table="空气")


def test_token_is_sent_as_bearer_and_never_shown(feed: Feed, wh: Warehouse) -> None:
    def guarded(handler: BaseHTTPRequestHandler, _hit: int) -> tuple[int, dict[str, str], bytes]:
        if handler.headers.get("Authorization") == f"Bearer {TOKEN}":
            return _json(RECORDS)
        return 401, {}, b"no"

    feed.routes["/secure.json"] = guarded
    with pytest.raises(SourceRejected) as err:
        import_source(wh, SourceRequest(url=feed.base + "/secure.json", secret=Secret("air", "wrong-token")),
                      table="空气")
    assert "令牌" in str(err.value)
    res = import_source(wh, SourceRequest(url=feed.base + "/secure.json", secret=Secret("air", TOKEN)), table="空气")
    assert res.write is not None and res.write.rows_written == 3
    plan = Catalog(wh).plan_json("空气")
    stored = json.dumps([v.__dict__ for v in Catalog(wh).versions("空气")], default=str, ensure_ascii=False)
    assert TOKEN not in plan + stored + json.dumps(res.outcome(), ensure_ascii=False)


def test_a_token_http_cannot_carry_is_refused_without_quoting_it(feed: Feed, wh: Warehouse) -> None:
    feed.routes["/secure.json"] = _json(RECORDS)
    with pytest.raises(SourceRejected) as err:
        import_source(wh, SourceRequest(url=feed.base + "/secure.json", secret=Secret("air", "令牌-Secret9")),
                      table="空气")
    shown = str(err.value) + err.value.detail + repr(err.value) + repr(err.value.__cause__)
    assert "「air」不能作为接口令牌" in str(err.value) and "Secret9" not in shown
