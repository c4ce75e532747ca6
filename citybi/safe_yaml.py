"""The one door for YAML a user can write: boards, charts and import recipes.

Why one loader and not `yaml.safe_load`: SafeLoader only stops tags that name Python
objects. Anchors and aliases let 70 KB of board expand into ten million filter values
(80 s of CPU and 2.5 GB before anything refused it), nine lines of "billion laughs" hang a
recipe's error message, and 5,000 nested brackets overflow the recursive composer into a
RecursionError. This loader composes the node graph first (libyaml when present; an alias
is just the same node again, so a bomb stays small), walks it, and refuses aliases, tags
beyond the plain core ones (str, int, float, bool, null, seq, map),
nesting deeper than `max_depth` and more than `max_nodes` values; only a file that passes
is turned into Python objects. Every refusal is one short Chinese sentence that says where
(line) and what to change, never an echo of the file.

Dates stay text (the timestamp resolver is dropped) so that pydantic parses them and
explains a bad one in Chinese; PyYAML would raise a bare ValueError for 2024-13-01.
"""
from __future__ import annotations

from typing import Any

import yaml

from citybi.config import YamlLimits, yaml_limits
from citybi.errors import UserFacingError

# libyaml parses 10–30x faster than the pure-Python parser (a 200 KB file: 0.1 s, not 4 s)
_BASE: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_CORE = "tag:yaml.org,2002:"
# explicit tags a hand-written file may use; they only restate what a plain value would be
_PLAIN_TAGS = frozenset(_CORE + t for t in ("str", "int", "float", "bool", "null", "seq", "map"))


class YamlRejected(UserFacingError):
    """A YAML text refused before it was built; `problems` holds the one Chinese reason."""

    def __init__(self, problem: str, *, hint: str = "") -> None:
        self.problems = [problem]
        super().__init__(problem, hint=hint)


class UserYamlLoader(_BASE):  # type: ignore[misc]
    """SafeLoader (libyaml when installed) that leaves dates as text (see module docstring)."""


UserYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_user_yaml(text: str | bytes, *, what: str = "文件", limits: YamlLimits | None = None) -> Any:
    """Parse YAML a user wrote, or raise YamlRejected (Chinese) for anything hostile or broken.

    `what` names the document in messages ("看板定义", "图表定义", "导入方案文件「x.yaml」").
    """
    limits = limits or yaml_limits()
    too_big = f"{what}文件过大（超过 {limits.max_bytes // 1024} KB），请检查是否选错了文件"
    if isinstance(text, bytes):
        if len(text) > limits.max_bytes:
            raise YamlRejected(too_big)
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise YamlRejected(f"{what}不是 UTF-8 编码，请用 UTF-8 保存后重试") from None
    # characters never outnumber UTF-8 bytes, so the cheap test runs first
    if len(text) > limits.max_bytes or len(text.encode("utf-8", "surrogatepass")) > limits.max_bytes:
        raise YamlRejected(too_big)
    loader = UserYamlLoader(text)
    try:
        node = loader.get_single_node()  # the node graph: an alias is the same node object again
        if node is None:
            return None
        _check(node, what, limits)
        return loader.construct_document(node)
    except RecursionError:  # the pure-Python composer (no libyaml) recurses once per level
        raise YamlRejected(_too_deep(what, limits)) from None
    except yaml.YAMLError as err:
        if "nesting depth" in str(getattr(err, "problem", "")):  # libyaml's own cap (1,000 levels)
            raise YamlRejected(_too_deep(what, limits)) from None
        mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
        place = ""
        if mark is not None:
            line, column = mark.line, mark.column
            lines = text.split("\n")
            if line >= len(lines):  # libyaml puts "end of file" one line past a file without a final newline
                line, column = len(lines) - 1, len(lines[-1])
            place = f"（第 {line + 1} 行第 {column + 1} 列）"
        raise YamlRejected(f"{what}不是有效的 YAML{place}，请检查缩进和冒号") from None
    except (ValueError, TypeError, OverflowError):
        # a value an explicit core tag could not build (e.g. `!!int 十`)
        raise YamlRejected(f"{what}中有无法识别的值，请检查带 !! 的写法") from None
    finally:
        loader.dispose()


def _too_deep(what: str, limits: YamlLimits, line: int | None = None) -> str:
    where = f"（第 {line} 行处已超过）" if line is not None else ""
    return f"{what}嵌套层数过多：最多 {limits.max_depth} 层{where}，请检查括号和缩进"


def _check(root: yaml.Node, what: str, limits: YamlLimits) -> None:
    """Walk the composed nodes (no Python values built yet) and refuse what could expand or
    nest without bound. Composing is cheap even for a bomb: every alias is one shared node."""
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        line = node.start_mark.line + 1
        if id(node) in seen or node.tag == _CORE + "merge":  # `<<: *base` merges an alias
            raise YamlRejected(f"{what}第 {line} 行附近使用了 YAML 锚点引用（&名称 / *名称 / <<），"
                               "为安全起见不支持引用，请把内容直接写出来")
        seen.add(id(node))
        if node.tag not in _PLAIN_TAGS:
            tag = str(node.tag).removeprefix(_CORE)
            tag = tag if len(tag) <= 60 else tag[:60] + "…"
            raise YamlRejected(f"{what}第 {line} 行含有不允许的类型标签「{tag}」，请删除以 ! 开头的标签，直接写值")
        if len(seen) > limits.max_nodes:
            raise YamlRejected(f"{what}包含的值过多：最多 {limits.max_nodes:,} 个（第 {line} 行处已超过），"
                               "请减少值列表或拆成多个文件")
        if isinstance(node, yaml.SequenceNode):
            children: list[yaml.Node] = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        else:
            continue
        if children and depth + 1 > limits.max_depth:
            raise YamlRejected(_too_deep(what, limits, line))
        stack.extend((child, depth + 1) for child in reversed(children))
