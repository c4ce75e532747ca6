"""The door every uploaded file passes before any parser touches it.

Why only generic checks here: what makes a file hostile depends on its format (a zip bomb,
a cell at XFD1048576, an encrypted workbook), and only the connector for that format knows
it. So this module checks what holds for every file — it exists, it is not empty, it is not
larger than any connector accepts, some connector's magic bytes claim it — and then hands
the file to that connector's `check()` (see `connectors.base.FileConnector` for the order
and the contract). A new connector brings its own checks without a change here, and
`connectors` never imports `citybi.ingest`. Parsing still runs in a memory-capped child
process (citybi.ingest.worker) as the second line of defence.
"""
from __future__ import annotations

from pathlib import Path

from citybi.config import Limits
from citybi.errors import ImportRejected
from connectors.base import FileConnector, connector_for, registered, size_text


def admit(path: Path, limits: Limits) -> tuple[FileConnector, str]:
    """The connector for a file that may be parsed, and the file's kind; else ImportRejected."""
    if not path.is_file():
        raise ImportRejected("找不到上传的文件，请重新上传。", detail=str(path))
    size = path.stat().st_size
    if size == 0:
        raise ImportRejected("文件是空的（0 字节）。请检查是否上传了正确的文件，或重新导出后再上传。")
    conns = list(registered().values())
    if not conns:
        raise ImportRejected(_unsupported(conns))
    # the largest limit first, so a huge file is refused before its bytes are sniffed
    if size > max(c.max_bytes(limits) for c in conns):
        each = "，".join(f"{c.label} 文件上限 {size_text(c.max_bytes(limits))}" for c in conns)
        raise ImportRejected(
            f"文件太大（{size_text(size)}），超过上限。{each}。请删除无关的工作表或拆分后分批上传。"
        )
    conn = connector_for(path)
    if conn is None:
        raise ImportRejected(_unsupported(conns))
    kind = conn.check(path, limits)
    # a connector's check() is meant to refuse this with its own hint; this backs it up
    limit = conn.max_bytes(limits)
    if size > limit:
        raise ImportRejected(
            f"{conn.label} 文件太大（{size_text(size)}），上限为 {size_text(limit)}。请拆分后分批上传。"
        )
    return conn, kind


def check_file(path: Path, limits: Limits) -> str:
    """Raise ImportRejected for any file that must not reach a parser; return its kind."""
    return admit(path, limits)[1]


def _or_list(items: list[str]) -> str:
    """"A 或 B", "A、B 或 C" — how a Chinese message lists alternatives."""
    return items[0] if len(items) == 1 else "、".join(items[:-1]) + " 或 " + items[-1]


def _unsupported(conns: list[FileConnector]) -> str:
    labels = list(dict.fromkeys(c.label for c in conns))
    exts = list(dict.fromkeys(e for c in conns for e in c.extensions))
    if not labels:
        return "系统中没有可用的文件读取器，无法导入文件。请联系管理员。"
    return (
        f"不是 {_or_list(labels)} 文件：文件内容与扩展名不符，可能是被改了扩展名的其他文件。"
        f"请上传 {_or_list(exts)} 文件。"
    )
