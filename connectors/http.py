"""HTTP feeds: JSON (an array, or records under a path such as data.records), GeoJSON and CSV.

Why these rules:
- time-outs on every request and retries with exponential back-off (tenacity) for what is
  worth retrying — a refused connection, a time-out, HTTP 429 and 5xx — never for 4xx;
- the previous run's ETag / Last-Modified are sent back (If-None-Match / If-Modified-Since):
  an unchanged feed answers 304 and nothing is written;
- pagination where the feed says so: an RFC 8288 `Link: <…>; rel="next"` header, or a `next`
  URL in the document (next, next_url, links.next, paging.next); only on the same host, at
  most MAX_PAGES pages;
- JSON values are handed over as text and typed by the same rules as an uploaded file's cells
  (numbers, dates, 是/否), so one feed sending "12" and another 12 land alike; nested objects
  become columns named a.b; GeoJSON points become 经度/纬度, the columns the map page uses;
- a CSV feed (or an Excel download: the file importer goes by content) is saved to a private temporary
  file and imported by the file importer itself
  (encoding, header rows, types) — exactly like an upload.
A token is a named secret sent as `Authorization: Bearer …` (or as written, when it starts
with a scheme such as "Basic "), never put in the URL or on screen.
"""
from __future__ import annotations

import json
import os
import tempfile
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from citybi.secrets import redact
from connectors.source import Fetched, SourceRejected, SourceRequest, check_url, redacted_url

if TYPE_CHECKING:  # polars loads where a frame is made: see connectors/__init__.py
    import polars as pl

LABEL = "HTTP 数据接口"
MAX_BYTES = 200 * 1024 * 1024
MAX_PAGES = 1000
ATTEMPTS = 4  # one try and three retries
BACKOFF_S = 0.5  # first wait; doubles each retry, at most 8 s
_ACCEPT = "application/json, application/geo+json, text/csv;q=0.9, */*;q=0.5"
_NEXT_KEYS = ("next", "next_url", "nextUrl", "links.next", "paging.next", "_links.next.href")


class _Transient(Exception):
    """A failure worth retrying (time-out, refused connection, 429, 5xx)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class HttpConnector:
    name = "http"
    label = LABEL
    schemes = ("http", "https")

    def check(self, request: SourceRequest) -> None:
        check_url(request.url)
        parts = urlsplit(request.url)
        if not parts.hostname:
            raise SourceRejected(f"数据接口地址不完整：「{redacted_url(request.url)[:120]}」。",
                                 hint="例如 http://127.0.0.1:8000/air.json")

    def test(self, request: SourceRequest) -> str:
        fetched = self.fetch(request)
        if fetched.file is not None:
            size = fetched.file.stat().st_size
            fetched.file.unlink(missing_ok=True)
            return f"已连接数据接口，收到表格文件（CSV 或 Excel）{size:,} 字节，将按上传文件的方式导入。"
        if fetched.frame is None:
            return "已连接数据接口：数据自上次读取以来没有变化（HTTP 304）。"
        return f"已连接数据接口，收到 {fetched.frame.height:,} 条记录，{fetched.frame.width} 列：" + "、".join(
            fetched.frame.columns[:20]) + "。"

    def fetch(self, request: SourceRequest) -> Fetched:
        import httpx

        self.check(request)
        headers = {"User-Agent": "CityBI", "Accept": _ACCEPT}
        headers.update(dict(request.headers))
        if request.secret is not None:
            token = request.secret.reveal()
            if not token.isascii() or any(ch in token for ch in "\r\n"):
                # an HTTP header carries ASCII only; the encoder's own error would quote the token
                raise SourceRejected(f"密钥「{request.secret.name}」不能作为接口令牌：含有中文或换行等字符。",
                                     hint="请检查保存的令牌是否完整、正确（citybi secrets set）")
            headers["Authorization"] = token if " " in token else f"Bearer {token}"
        first = dict(headers)
        if request.state.get("etag"):
            first["If-None-Match"] = str(request.state["etag"])
        if request.state.get("last_modified"):
            first["If-Modified-Since"] = str(request.state["last_modified"])
        timeout = httpx.Timeout(request.timeout_s, connect=min(10.0, request.timeout_s))
        with httpx.Client(timeout=timeout, follow_redirects=True, max_redirects=5, trust_env=False) as client:
            status, body, resp_headers, ctype, links = self._get(client, request.url, first, request)
            if status == 304:
                return Fetched(described=redacted_url(request.url), frame=None, state=dict(request.state),
                               notes=["数据接口返回 304：数据自上次读取以来没有变化。"])
            state = {k: v for k, v in (("etag", resp_headers.get("etag")),
                                       ("last_modified", resp_headers.get("last-modified"))) if v}
            if _is_csv(ctype, request.url, body):
                return self._csv(request, body, state)
            records: list[dict[str, Any]] = []
            url, pages = request.url, 0
            while True:
                doc = _parse_json(body)
                records.extend(_records(doc, request.record_path))
                pages += 1
                nxt = links or _next_in_doc(doc)
                if not nxt or pages >= MAX_PAGES:
                    break
                nxt = urljoin(url, nxt)
                if urlsplit(nxt).netloc != urlsplit(request.url).netloc:
                    break  # a next page on another host is not followed
                url = nxt
                status, body, _h, _c, links = self._get(client, url, headers, request)
        frame = _frame(records)
        notes = [f"共读取 {pages} 页。"] if pages > 1 else []
        return Fetched(described=redacted_url(request.url), frame=frame, state=state, infer_types=True,
                       received=len(records), notes=notes)

    def _get(self, client: Any, url: str, headers: dict[str, str],
             request: SourceRequest) -> tuple[int, bytes, Any, str, str | None]:
        import httpx
        from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

        def once() -> tuple[int, bytes, Any, str, str | None]:
            try:
                with client.stream("GET", url, headers=headers) as resp:
                    if resp.status_code == 429 or resp.status_code >= 500:
                        raise _Transient(f"HTTP {resp.status_code}", resp.status_code)
                    if resp.status_code >= 400:
                        raise _explain_status(resp.status_code, url)
                    body = bytearray()
                    for chunk in resp.iter_bytes():
                        body.extend(chunk)
                        if len(body) > MAX_BYTES:
                            raise SourceRejected(f"数据接口返回的数据太大（超过 {MAX_BYTES // 1024 // 1024} MB）。",
                                                 hint="请让接口分页返回，或缩小查询范围")
                    nxt = resp.links.get("next", {}).get("url")
                    return resp.status_code, bytes(body), resp.headers, resp.headers.get("content-type", ""), nxt
            except httpx.TimeoutException as err:
                raise _Transient("timeout") from err
            except httpx.TransportError as err:
                raise _Transient(type(err).__name__ + ": " + str(err)) from err

        try:
            for attempt in Retrying(stop=stop_after_attempt(ATTEMPTS), reraise=False,
                                    wait=wait_exponential(multiplier=BACKOFF_S, max=8),
                                    retry=retry_if_exception_type(_Transient)):
                with attempt:
                    return once()
        except RetryError as err:
            last = err.last_attempt.exception()
            where = urlsplit(url).netloc
            text = redact(str(last), request.secret)
            if isinstance(last, _Transient) and last.status:
                raise SourceRejected(f"数据接口 {where} 出错（HTTP {last.status}），已重试 {ATTEMPTS - 1} 次仍失败。",
                                     hint="请稍后再试，或联系接口提供方", detail=text) from None
            if text == "timeout":
                raise SourceRejected(f"数据接口 {where} 在 {request.timeout_s:g} 秒内没有响应，"
                                     f"已重试 {ATTEMPTS - 1} 次。", hint="请检查地址和网络，或稍后再试",
                                     detail=text) from None
            raise SourceRejected(f"无法连接数据接口 {where}，已重试 {ATTEMPTS - 1} 次。",
                                 hint="请检查地址（主机、端口）是否正确、接口服务是否已启动", detail=text) from None
        raise AssertionError("unreachable")  # Retrying either returns or raises

    def _csv(self, request: SourceRequest, body: bytes, state: dict[str, Any]) -> Fetched:
        from pathlib import Path

        from citybi import tempfiles

        name = Path(urlsplit(request.url).path).name or "feed.csv"
        fd, path = tempfile.mkstemp(prefix="feed-", suffix=".csv", dir=tempfiles.process_dir())
        with os.fdopen(fd, "wb") as fh:
            fh.write(body)
        return Fetched(described=redacted_url(request.url), file=Path(path), file_name=name, state=state)


def _explain_status(status: int, url: str) -> SourceRejected:
    where = urlsplit(url).netloc
    if status in (401, 403):
        return SourceRejected(f"数据接口 {where} 拒绝访问（HTTP {status}）。",
                              hint="请检查 --secret 指定的令牌是否正确、是否已过期")
    if status == 404:
        return SourceRejected(f"数据接口地址不存在（HTTP 404）：{redacted_url(url)[:200]}", hint="请检查地址的路径部分")
    return SourceRejected(f"数据接口 {where} 拒绝了请求（HTTP {status}）。", hint="请检查地址和参数")


def _is_csv(ctype: str, url: str, body: bytes) -> bool:
    c = ctype.lower()
    if "json" in c:
        return False
    if "csv" in c or urlsplit(url).path.lower().endswith((".csv", ".tsv")):
        return True
    return body.lstrip()[:1] not in (b"{", b"[")


def _parse_json(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        start = body[:80].decode("utf-8", errors="replace")
        raise SourceRejected("数据接口返回的内容不是有效的 JSON。", hint="请检查地址是否正确、接口是否正常",
                             detail=f"{err}; starts with {start!r}") from None


def _dig(doc: Any, path: str) -> Any:
    cur = doc
    for part in path.split("."):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            return _MISSING
    return cur


_MISSING = object()


def _records(doc: Any, record_path: str | None) -> list[dict[str, Any]]:
    if isinstance(doc, dict) and doc.get("type") == "FeatureCollection" and record_path is None:
        return [_feature_row(f) for f in doc.get("features") or [] if isinstance(f, dict)]
    found = doc if not record_path else _dig(doc, record_path)
    if found is _MISSING:
        keys = "、".join(list(doc)[:20]) if isinstance(doc, dict) else type(doc).__name__
        raise SourceRejected(f"JSON 中找不到记录路径「{record_path}」。",
                             hint=f"顶层的键有：{keys}；用 --record-path 指定记录所在位置，例如 data.records")
    if isinstance(found, dict) and found.get("type") == "FeatureCollection":
        return [_feature_row(f) for f in found.get("features") or [] if isinstance(f, dict)]
    if isinstance(found, dict):
        lists = [k for k, v in found.items() if isinstance(v, list)]
        hint = "请用 --record-path 指定记录所在位置" + ("，这里的列表有：" + "、".join(lists) if lists else "")
        raise SourceRejected("JSON 中这一层不是记录列表。", hint=hint)
    if not isinstance(found, list):
        raise SourceRejected("JSON 中的记录不是列表。", hint="请用 --record-path 指定记录列表所在的位置")
    rows = [r for r in found if isinstance(r, dict)]
    if len(rows) < len(found):
        raise SourceRejected(f"JSON 记录列表中有 {len(found) - len(rows)} 项不是对象（键值对）。",
                             hint="每条记录应形如 {\"站点\": \"…\", \"AQI\": 35}")
    return rows


def _feature_row(feature: dict[str, Any]) -> dict[str, Any]:
    row = dict(feature.get("properties") or {})
    geom = feature.get("geometry") or {}
    coords = geom.get("coordinates") if isinstance(geom, dict) else None
    if geom.get("type") == "Point" and isinstance(coords, list) and len(coords) >= 2:
        row["经度"], row["纬度"] = coords[0], coords[1]
    elif geom:
        row["几何"] = json.dumps(geom, ensure_ascii=False)
    return row


def _next_in_doc(doc: Any) -> str | None:
    if not isinstance(doc, dict):
        return None
    for key in _NEXT_KEYS:
        v = _dig(doc, key)
        if isinstance(v, str) and v:
            return v
    return None


def _flatten(row: dict[str, Any], prefix: str = "", out: dict[str, Any] | None = None) -> dict[str, Any]:
    out = {} if out is None else out
    for k, v in row.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            _flatten(v, name + ".", out)
        else:
            out[name] = v
    return out


def _text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return json.dumps(v, ensure_ascii=False)
    return str(v)


def _frame(records: list[dict[str, Any]]) -> pl.DataFrame:
    """Records as all-text columns in first-seen order (typing is the importer's, as for files)."""
    import polars as pl

    flat = [_flatten(r) for r in records]
    names: dict[str, None] = {}
    for r in flat:
        names.update(dict.fromkeys(r))
    return pl.DataFrame({n: pl.Series(n, [_text(r.get(n)) for r in flat], dtype=pl.String) for n in names})
