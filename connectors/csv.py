"""CSV/TSV connector: decodes GBK/UTF-8 text and hands over a ragged-safe RawSheet.

Why not just `polars.read_csv(path)`: polars only reads UTF-8, and Chinese statistics
exports are GBK with preamble lines (数据库：/指标：/时间：) that have fewer fields than the
table — polars then decides the file has one column, silently (`truncate_ragged_lines`
keeps 1 column). So the text is decoded in Python (UTF-8, else GB18030, a superset of GBK,
confirmed by charset-normalizer), the first rows are parsed with the csv module (ragged
rows allowed) to find the table width, and only the body is handed to polars as all-String
text with an explicit schema, so every cell keeps its exact text.
"""
from __future__ import annotations

import codecs
import csv
import io
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from citybi.config import Limits
from citybi.errors import ImportRejected
from connectors.base import TOP_ROWS, RawSheet, SheetInfo, size_text

if TYPE_CHECKING:  # polars loads where a frame is made: see connectors/__init__.py
    import polars as pl

DELIMITERS = (",", "\t", ";", "|")
_TEXT_EXT = (".csv", ".tsv", ".txt")
# rows parsed with the csv module at the end of the file to learn the table width
_TAIL_BYTES = 64 * 1024


def _has_bom(raw: bytes) -> str | None:
    if raw.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return None


def looks_like_text(head: bytes) -> bool:
    """True when the first bytes decode as UTF-8/GB18030 text with no binary control bytes."""
    if not head:
        return False
    bom = _has_bom(head)
    if bom == "utf-16":
        return True
    if b"\x00" in head:
        return False
    sample = head[: 8192]
    text: str | None = None
    for enc in ("utf-8", "gb18030"):
        dec = codecs.getincrementaldecoder(enc)(errors="strict")
        try:
            # final=False: a character cut at the sample's end is not an error
            text = dec.decode(sample, final=False)
            break
        except UnicodeDecodeError:
            continue
    if text is None:
        return False
    bad = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\r\n\f")
    return bad <= max(1, len(text) // 1000)


def decode_bytes(raw: bytes) -> tuple[str, str]:
    """(text, encoding name). UTF-8 (BOM or not), UTF-16 with BOM, else GB18030/Big5."""
    bom = _has_bom(raw)
    if bom:
        try:
            return raw.decode(bom), bom
        except UnicodeDecodeError as exc:
            raise ImportRejected(
                "文件开头标明了编码，但内容无法按该编码读取，文件可能已损坏。请重新导出 CSV 后再上传。",
                detail=str(exc),
            ) from exc
    try:
        # a GBK file fails within its first line: found on the head, without first allocating (and
        # faulting in) room for the whole file's text as the full decode does (~15 ms for 25 MB)
        codecs.getincrementaldecoder("utf-8")(errors="strict").decode(raw[:65536], final=False)
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    guess = _charset_guess(raw)
    # GB18030 decodes GBK/GB2312 exactly; prefer it unless the detector is sure of Big5
    order = ["big5", "gb18030"] if guess == "big5" else ["gb18030"]
    for enc in order:
        try:
            return raw.decode(enc), enc
        except UnicodeDecodeError:
            continue
    if guess:
        try:
            return raw.decode(guess), guess
        except (UnicodeDecodeError, LookupError):
            pass
    raise ImportRejected(
        "无法识别 CSV 文件的文字编码（既不是 UTF-8 也不是 GBK）。请在 Excel 或 WPS 中另存为“CSV UTF-8”后再上传。"
    )


def _charset_guess(raw: bytes) -> str | None:
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(raw[: 64 * 1024]).best()  # 64 KB tells Big5 from GBK as 256 KB did, in 2 ms, not 17
    except Exception:
        return None
    if best is None:
        return None
    enc = best.encoding.lower().replace("_", "-")
    if enc in ("gb2312", "gbk", "cp936", "gb18030", "hz"):
        return "gb18030"
    return enc


def sniff_delimiter(lines: list[str], suffix: str) -> str:
    """The delimiter that splits the sample into the most rows of one consistent width."""
    best = ("\t" if suffix == ".tsv" else ",", -1.0)
    for d in DELIMITERS:
        widths = [len(r) for r in csv.reader(lines, delimiter=d) if r]
        multi = [w for w in widths if w > 1]
        if not multi:
            continue
        mode, count = Counter(multi).most_common(1)[0]
        score = count * 1000 + mode
        if suffix == ".tsv" and d == "\t":
            score += 0.5
        if score > best[1]:
            best = (d, score)
    return best[0]


def _lines(text: str, block: int = 256 * 1024) -> Iterator[str]:
    """text.splitlines(keepends=True), lazily: the first rows of a 200 MB file without splitting all of it.

    The last piece of each block is carried into the next, so a line (or a \\r\\n pair) cut by the
    block boundary comes out whole, exactly as splitting the whole text would give it.
    """
    carry = ""
    for start in range(0, len(text), block):
        lines = (carry + text[start:start + block]).splitlines(keepends=True)
        carry = lines.pop() if lines else ""
        yield from lines
    if carry:
        yield carry


class _Tracked:
    """Feeds lines to csv.reader while counting characters, to know where rows end."""

    def __init__(self, text: str) -> None:
        self._lines = _lines(text)
        self.pos = 0

    def __iter__(self) -> Iterator[str]:
        for line in self._lines:
            self.pos += len(line)
            yield line


@dataclass
class _Parsed:
    # the decoded text: all of it, or (`complete` false) the first whole lines of a UTF-8 file; `text`
    # decodes the rest only when something needs it (rows beyond the first ones, the csv-module fallback)
    head: str
    encoding: str
    delimiter: str
    top: list[list[Any]]
    # character offset where sheet row i starts, for i in 0..len(top)
    offsets: list[int]
    n_cols: int
    n_rows: int
    # the file's own bytes when they are exactly `text` in UTF-8 (no BOM kept): the body is handed to
    # polars from them instead of encoding 200,000 rows of text back into the bytes it came from
    utf8: bytes | None = None
    complete: bool = True

    @property
    def text(self) -> str:
        if not self.complete:
            assert self.utf8 is not None
            self.head, self.complete = self.utf8.decode("utf-8"), True
        return self.head

    def byte_offset(self, off: int) -> int:
        """Where character `off` of the text starts in its UTF-8 bytes."""
        return len((self.head if off <= len(self.head) else self.text)[:off].encode("utf-8"))


def _cells(row: list[str]) -> list[Any]:
    return [c if c != "" else None for c in row]


class CsvConnector:
    """Reads .csv/.tsv/.txt files as one sheet named after the file."""

    name = "csv"
    label = "CSV"
    extensions = _TEXT_EXT

    def sniff(self, head: bytes, path: Path) -> bool:
        if head.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
            return False
        if head.lstrip()[:1] == b"<":
            # HTML/XML (e.g. a web page saved with an .xls name) is not a table we can trust
            return False
        return looks_like_text(head)

    def max_bytes(self, limits: Limits) -> int:
        return limits.max_csv_bytes

    def check(self, path: Path, limits: Limits) -> str:
        # the text itself is judged while decoding (encoding, quotes): that needs the whole file
        size = path.stat().st_size
        if size > limits.max_csv_bytes:
            raise ImportRejected(
                f"CSV 文件太大（{size_text(size)}），上限为 {size_text(limits.max_csv_bytes)}。请拆分后分批上传。"
            )
        return "csv"

    def _parse(self, path: Path, limits: Limits) -> _Parsed:
        # sheets() and read() both need the decoded text: decode a 200 MB file once, not twice
        st = path.stat()
        key = (str(path), st.st_mtime_ns, st.st_size, limits.max_csv_bytes)
        cached = _LAST_PARSE.get(key)
        if cached is None:
            cached = self._parse_uncached(path, limits)
            _LAST_PARSE.clear()
            _LAST_PARSE[key] = cached
        return cached

    def _parse_uncached(self, path: Path, limits: Limits) -> _Parsed:
        size = path.stat().st_size
        if size > limits.max_csv_bytes:
            raise ImportRejected(
                f"CSV 文件太大（{size / 1024 / 1024:.0f} MB），上限为 {limits.max_csv_bytes // 1024 // 1024} MB。"
                "请拆分后分批上传。"
            )
        raw = path.read_bytes()
        lazy = _utf8_body(raw)
        if lazy is not None:
            try:
                return _parse_text(path, *lazy)
            except _NeedWholeText:
                pass
        text, enc = decode_bytes(raw)
        utf8: bytes | None = None
        if enc in ("utf-8", "utf-8-sig") and not text.startswith("\ufeff"):
            utf8 = raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw
        del raw
        if text.startswith("\ufeff"):
            text = text[1:]
        return _parse_text(path, text, enc, utf8, True)

    def sheets(self, path: Path, limits: Limits) -> list[SheetInfo]:
        p = self._parse(path, limits)
        empty = p.n_cols == 0 or not any(v is not None for r in p.top for v in r)
        return [SheetInfo(path.stem, 0, 0 if empty else p.n_rows, 0 if empty else p.n_cols, empty)]

    def read(self, path: Path, sheet: str | None, limits: Limits) -> RawSheet:
        import polars as pl

        if sheet is not None and sheet != path.stem:
            raise ImportRejected(f"CSV 文件只有一个工作表「{path.stem}」，没有「{sheet}」。")
        p = self._parse(path, limits)
        if p.n_cols == 0 or not any(v is not None for r in p.top for v in r):
            raise ImportRejected("CSV 文件里没有任何数据。请检查是否上传了正确的文件。")
        raw = RawSheet(
            name=path.stem,
            top=p.top,
            n_rows=p.n_rows,
            n_cols=p.n_cols,
            merged=[],
            load_body=lambda start: pl.DataFrame(),
            meta={"encoding": p.encoding, "delimiter": p.delimiter, "file_kind": "csv"},
        )
        raw.load_body = lambda start: _csv_body(p, start, raw)
        return raw

    # early body read (big files, from the reader's hint) --------------------------------------

    def early_top(self, path: Path, sheet: str | None, limits: Limits) -> tuple[str, list[list[Any]]] | None:
        """A big CSV's name and first rows, parsed before the reader loads the shaping code; else None.

        Why: in a one-shot `citybi ingest` the reader's modules (the import plan's pydantic models,
        the shaping code: ~0.15 s) load after polars, and polars' body read (~0.1 s for 200,000 ×
        12) came only after them. With the first rows parsed here, the caller finds the header and
        starts the body read (`prefetch_body`) on another core while those modules load. The parse
        is the one the request uses (cached); anything odd returns None and the request says why.
        """
        try:
            if path.stat().st_size < _EARLY_MIN_BYTES or (sheet is not None and sheet != path.stem):
                return None
            p = self._parse(path, limits)
        except Exception:  # refused or unreadable: the request's own read reports it, in Chinese
            return None
        if p.n_cols == 0 or not any(v is not None for r in p.top for v in r):
            return None
        return path.stem, p.top

    def prefetch_body(self, path: Path, sheet: str, start: int) -> None:
        """Start polars' read of the body from sheet row `start` on a thread (see early_top)."""
        import threading
        from concurrent.futures import Future

        if _BODY_PREFETCH:  # never two body reads at once
            return
        p = _parsed_now(path)
        if p is None:
            return
        source = _body_source(p, start)  # here: finding it may decode more of p's text; the thread only reads
        fut: Future[pl.DataFrame] = Future()

        def run() -> None:
            try:
                fut.set_result(_read_body(p, source, p.n_cols))
            except BaseException as exc:  # handed to whoever claims it (a ragged body: the csv-module path)
                fut.set_exception(exc)

        _BODY_PREFETCH[(id(p), start)] = (p, fut)
        threading.Thread(target=run, name="citybi-csv-body", daemon=True).start()


# a UTF-8 file's first bytes decoded for its first rows; the rest stays bytes (polars reads them)
_HEAD_BYTES = 1 << 20


class _NeedWholeText(Exception):
    """The first rows did not end inside the decoded head: parse the whole text instead."""


def _utf8_body(raw: bytes) -> tuple[str, str, bytes, bool] | None:
    """(head text, encoding, UTF-8 bytes, whole?) for a file that is UTF-8 throughout, else None.

    Why: decoding a 25 MB Chinese CSV into a Python string took 31 ms (and ~50 MB) only to learn it
    is UTF-8; polars checks the same bytes in 7 ms. Only the first whole lines are decoded, for the
    header rows; polars reads the body from the bytes. Anything else (GBK, UTF-16, a file that turns
    out not to be UTF-8 further down) goes the way it always went: decode_bytes.
    """
    import polars as pl

    bom = _has_bom(raw)
    if bom == "utf-16":
        return None
    data = raw[3:] if bom else raw
    if data.startswith(codecs.BOM_UTF8):  # a second BOM: text, not a marker (decode_bytes keeps it)
        return None
    try:
        codecs.getincrementaldecoder("utf-8")(errors="strict").decode(data[:65536], final=False)
        pl.Series([data], dtype=pl.Binary).cast(pl.String)
    except Exception:  # not UTF-8 (UnicodeDecodeError; polars: invalid utf8)
        return None
    enc = bom or "utf-8"
    if len(data) <= _HEAD_BYTES:
        return data.decode("utf-8"), enc, data, True
    cut = data.rfind(b"\n", 0, _HEAD_BYTES) + 1
    if cut == 0:  # no line end in the first megabyte
        return None
    return data[:cut].decode("utf-8"), enc, data, False


def _parse_text(path: Path, head: str, enc: str, utf8: bytes | None, complete: bool) -> _Parsed:
    """Delimiter, the first rows with their offsets, the table width and the row count."""
    sample = head[:65536].splitlines()[:TOP_ROWS]
    delim = sniff_delimiter(sample, path.suffix.lower())
    tr = _Tracked(head)
    top: list[list[Any]] = []
    offsets = [0]
    reader = csv.reader(tr, delimiter=delim)
    try:
        for row in reader:
            top.append(_cells(row))
            offsets.append(tr.pos)
            if len(top) >= TOP_ROWS:
                break
    except csv.Error as exc:
        if not complete:
            raise _NeedWholeText from exc
        raise ImportRejected(
            "CSV 文件格式有误（引号不成对或行内有非法字符），无法读取。请用 Excel 打开后重新另存为 CSV。",
            detail=str(exc),
        ) from exc
    if not complete and offsets[-1] >= len(head):  # the rows ran to the head's end: they may go on
        raise _NeedWholeText
    p = _Parsed(head, enc, delim, top, offsets, 0, 0, utf8, complete)
    width = max((len(r) for r in top), default=0)
    at_end = complete and offsets[-1] >= len(head)
    # a wider row further down would not fit the polars schema: look at the tail too
    if not at_end:
        tail = _tail_text(p)
        nl = tail.find("\n")
        if nl >= 0 and (not p.complete or len(p.head) > _TAIL_BYTES):  # the first line may be cut: drop it
            tail = tail[nl + 1:]
        try:
            width = max([width, *(len(r) for r in csv.reader(io.StringIO(tail), delimiter=delim))])
        except csv.Error:
            pass
    while top and not any(v is not None for v in top[-1]) and at_end:
        top.pop()
        offsets.pop()
        at_end = offsets[-1] >= len(head)
    if at_end:
        n_rows = len(top)
    elif complete:
        n_rows = len(top) + _count_lines(head, offsets[-1])
    else:
        assert utf8 is not None
        n_rows = len(top) + utf8.count(b"\n", p.byte_offset(offsets[-1])) + (0 if utf8.endswith(b"\n") else 1)
    p.top = [r + [None] * (width - len(r)) for r in top]
    p.n_cols, p.n_rows = width, n_rows
    return p


def _tail_text(p: _Parsed) -> str:
    """The text's last _TAIL_BYTES characters (decoded from the bytes' end when the text is not)."""
    if p.complete:
        return p.head[-_TAIL_BYTES:]
    assert p.utf8 is not None
    # 4 bytes per character at most: enough bytes for that many characters; start on a character
    start = max(0, len(p.utf8) - 4 * _TAIL_BYTES - 4)
    while start < len(p.utf8) and 0x80 <= p.utf8[start] < 0xC0:
        start += 1
    return p.utf8[start:].decode("utf-8")[-_TAIL_BYTES:]


_LAST_PARSE: dict[tuple[str, int, int, int], _Parsed] = {}
_BLANK_RE = re.compile(r"[\r\n]*")  # a body of line ends only: no rows (matched, not copied by strip)
_BLANK_BYTES_RE = re.compile(rb"[\r\n]*")


def _count_lines(text: str, start: int) -> int:
    n = text.count("\n", start)
    if not text.endswith("\n"):
        n += 1
    return n


def _offset_of_row(p: _Parsed, start: int) -> int:
    """Character offset where sheet row `start` begins (rows beyond `top` are parsed on)."""
    if start < len(p.offsets):
        return p.offsets[start]
    tr = _Tracked(p.text[p.offsets[-1]:])
    row = len(p.offsets) - 1
    for _ in csv.reader(tr, delimiter=p.delimiter):
        row += 1
        if row == start:
            return p.offsets[-1] + tr.pos
    return len(p.text)


def _body_source(p: _Parsed, start: int) -> int | None:
    """Where the body from sheet row `start` begins in the bytes polars reads, or None (no rows)."""
    off = _offset_of_row(p, start)
    if p.utf8 is not None:
        boff = p.byte_offset(off)
        return None if _BLANK_BYTES_RE.fullmatch(p.utf8, boff) is not None else boff
    if _BLANK_RE.fullmatch(p.text, off) is not None:
        return None
    return len(p.text[:off].encode("utf-8"))


def _read_body(p: _Parsed, boff: int | None, n: int) -> pl.DataFrame:
    """The body as `n` all-String columns c0…; raises polars' error on a row wider than that."""
    import polars as pl

    if boff is None:
        return pl.DataFrame({f"c{j}": pl.Series([], dtype=pl.String) for j in range(n)})
    schema = {f"c{j}": pl.String for j in range(n)}
    # the body is never copied out of the text (a 200k-row file's text is ~40 MB in memory): polars
    # reads the UTF-8 bytes from where the body starts
    data = io.BytesIO(p.utf8 if p.utf8 is not None else p.text.encode("utf-8"))
    data.seek(boff)
    return pl.read_csv(
        data, has_header=False, separator=p.delimiter,
        schema=schema, infer_schema=False, quote_char='"', truncate_ragged_lines=False,
        raise_if_empty=False, missing_columns="insert",
    )


# body reads started early (CsvConnector.prefetch_body), by (parse, first row); claimed by _csv_body
_BODY_PREFETCH: dict[tuple[int, int], tuple[_Parsed, Any]] = {}
_EARLY_MIN_BYTES = _HEAD_BYTES  # a smaller file is read in a few milliseconds anyway


def _parsed_now(path: Path) -> _Parsed | None:
    """The cached parse of this file as it is now (early_top's), or None."""
    st = path.stat()
    for key, p in _LAST_PARSE.items():
        if key[:3] == (str(path), st.st_mtime_ns, st.st_size):
            return p
    return None


def _claim_prefetch(p: _Parsed, start: int) -> pl.DataFrame | None:
    """The early body read of exactly this parse and first row, if one was started and succeeded.

    Any other early read is waited for and dropped first; a failed one (a ragged body) is dropped
    too, and the caller reads the body its usual way, which handles that case."""
    mine = _BODY_PREFETCH.pop((id(p), start), None)
    settle_prefetch()
    if mine is None or mine[0] is not p or mine[1].exception() is not None:
        return None
    return mine[1].result()


def prefetch_running() -> bool:
    """An early body read started and not yet claimed or dropped."""
    return any(not fut.done() for _p, fut in _BODY_PREFETCH.values())


def settle_prefetch() -> None:
    """Wait for every early body read still running and drop it (after a request, or a refusal)."""
    while _BODY_PREFETCH:
        _key, (_p, fut) = _BODY_PREFETCH.popitem()
        fut.exception()  # waits; its result or error is of no use any more


def _csv_body(p: _Parsed, start: int, raw: RawSheet) -> pl.DataFrame:
    import polars as pl

    early = _claim_prefetch(p, start)
    if early is not None and raw.n_cols == p.n_cols:
        return early
    try:
        return _read_body(p, _body_source(p, start), raw.n_cols)
    except (pl.exceptions.ComputeError, pl.exceptions.SchemaError):
        pass
    # a row wider than any we saw: parse with the csv module (slow, exact) and widen
    n = raw.n_cols
    off = _offset_of_row(p, start)
    rows = [_cells(r) for r in csv.reader(io.StringIO(p.text[off:]), delimiter=p.delimiter)]
    width = max([n, *(len(r) for r in rows)])
    if width > n:
        for r in raw.top:
            r.extend([None] * (width - n))
        raw.n_cols = width
    return pl.DataFrame(
        {f"c{j}": pl.Series([r[j] if j < len(r) else None for r in rows], dtype=pl.String)
         for j in range(width)}
    )
