"""Saved charts (and, through the same base class, boards) as YAML files in folders.

Why folders of YAML and not a database table: charts and boards are reviewed and edited
by hand, diffed in git and shipped with the app (queries/charts, queries/boards). Why two
layers: the shipped defaults live in the repository and must not be overwritten by a
clerk's edits, so every store has one writable user folder (next to the warehouse file)
searched first, then read-only default folders. Saving a default chart writes a user copy
that shadows it; deleting the user copy brings the default back.

A name is the file stem and what a board tile refers to (`chart: 各区清运量`). Names may be
Chinese but never a path: no separators, no leading dot, no control characters.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from citybi.access import require
from citybi.charts.spec import ChartSpec, ChartSpecError, dump_spec, load_spec
from citybi.config import QUERIES_DIR, Settings, load_settings
from citybi.errors import NotFound, UserFacingError
from citybi.tempfiles import replace_text
from citybi.usertext import FILE_NAME_BAD

T = TypeVar("T")

SUFFIX = ".yaml"
MAX_NAME = 80


_PARSED: dict[tuple[str, int, int], object] = {}
_PARSED_LOCK = threading.Lock()


@dataclass(frozen=True)
class _Refused:
    """A file the parser refused, kept so that an unchanged broken file is not parsed again."""

    kind: type[ChartSpecError]
    problems: tuple[str, ...]
    hint: str


class StoreError(UserFacingError):
    """A name or file the store refuses (bad name, name taken, default that cannot be deleted)."""


def check_name(name: str, *, what: str = "名称") -> str:
    """The cleaned name, or a Chinese StoreError saying how to fix it."""
    clean = (name or "").strip()
    if not clean:
        raise StoreError(f"{what}不能为空", hint="请输入一个中文或英文名称，例如「各区清运量」")
    if len(clean) > MAX_NAME:
        raise StoreError(f"{what}过长（{len(clean)} 个字符）", hint=f"请控制在 {MAX_NAME} 个字符以内")
    if FILE_NAME_BAD.search(clean) or clean.startswith(".") or clean in (".", ".."):
        raise StoreError(f"{what}「{clean}」含有不能用于文件名的字符",
                         hint='请去掉 \\ / : * ? " < > | 以及开头的点')
    return clean


class YamlStore(Generic[T]):
    """Named YAML documents: one writable folder first, then read-only default folders."""

    what = "文件"
    action = "charts.edit"  # what a save or delete needs (citybi.access)

    def __init__(self, folder: Path, defaults: Sequence[Path] = (), *,
                 parse: Callable[[bytes], T], dump: Callable[[T], str]) -> None:
        self.folder = Path(folder)
        self.defaults = [Path(d) for d in defaults if Path(d).resolve() != Path(folder).resolve()]
        self._parse = parse
        self._dump = dump

    # ------------------------------------------------------------------ lookups
    def _candidates(self, name: str) -> list[Path]:
        return [d / f"{name}{SUFFIX}" for d in (self.folder, *self.defaults)]

    def path(self, name: str) -> Path:
        """The file that answers `name` (the user copy when there is one)."""
        name = check_name(name, what=f"{self.what}名称")
        for p in self._candidates(name):
            if p.is_file():
                return p
        raise NotFound(f"{self.what}「{name}」不存在", hint="请从列表中选择，或先保存一个")

    def names(self) -> list[str]:
        """Every name, user copies and defaults merged, defaults first in file-name order."""
        seen: dict[str, None] = {}
        for d in (*self.defaults, self.folder):
            if d.is_dir():
                for p in sorted(d.glob(f"*{SUFFIX}")):
                    if p.is_file() and not p.name.startswith("."):
                        seen.setdefault(p.stem, None)
        return list(seen)

    def exists(self, name: str) -> bool:
        try:
            self.path(name)
        except (NotFound, StoreError):
            return False
        return True

    def is_default(self, name: str) -> bool:
        """True when a shipped default of this name exists (a user copy may shadow it)."""
        return any((d / f"{name}{SUFFIX}").is_file() for d in self.defaults)

    def has_user_copy(self, name: str) -> bool:
        return (self.folder / f"{name}{SUFFIX}").is_file()

    def text(self, name: str) -> str:
        return self.path(name).read_text(encoding="utf-8")

    def load(self, name: str) -> T:
        """The parsed item, reused while the file is unchanged (same mtime and size).

        PyYAML parses a chart in 2–10 ms; a warm board of 8 tiles spent nearly all its time
        here before this cache. Items are frozen pydantic models, so sharing them is safe.
        """
        p = self.path(name)
        st = p.stat()
        key = (str(p), st.st_mtime_ns, st.st_size)
        with _PARSED_LOCK:
            found = _PARSED.get(key)
        if isinstance(found, _Refused):
            raise found.kind(list(found.problems), hint=found.hint)
        if found is not None:
            return found  # type: ignore[no-any-return]
        try:
            item = self._parse(p.read_bytes())
        except ChartSpecError as err:
            # say which file: a board with ten tiles needs to know which chart is broken
            refused = _Refused(type(err), tuple(f"{self.what}「{name}」：{x}" for x in err.problems), err.hint)
            # remembered too: the boards page opens every board on each rerun to list their titles
            self._remember(key, refused)
            raise refused.kind(list(refused.problems), hint=refused.hint) from None
        self._remember(key, item)
        return item

    @staticmethod
    def _remember(key: tuple[str, int, int], value: object) -> None:
        with _PARSED_LOCK:
            if len(_PARSED) > 1024:
                _PARSED.clear()
            _PARSED[key] = value

    # ------------------------------------------------------------------ writes
    def save(self, name: str, item: T, *, overwrite: bool = True) -> Path:
        """Write the user copy atomically (a half-written YAML would break the board)."""
        require(self.action)
        name = check_name(name, what=f"{self.what}名称")
        target = self.folder / f"{name}{SUFFIX}"
        if not overwrite and self.exists(name):
            raise StoreError(f"已有名为「{name}」的{self.what}", hint="请换一个名称，或选择覆盖保存")
        text = self._dump(item)
        self._parse(text.encode("utf-8"))  # never write what we could not read back
        self.folder.mkdir(parents=True, exist_ok=True)
        return replace_text(target, text, suffix=SUFFIX)

    def delete(self, name: str) -> bool:
        """Remove the user copy; True if a shipped default of the same name remains."""
        require(self.action)
        name = check_name(name, what=f"{self.what}名称")
        user = self.folder / f"{name}{SUFFIX}"
        if not user.is_file():
            if self.is_default(name):
                raise StoreError(f"「{name}」是系统自带的{self.what}，不能删除",
                                 hint="可以修改后另存为新名称，或在看板中不再使用它")
            raise NotFound(f"{self.what}「{name}」不存在")
        user.unlink()
        return self.is_default(name)


class ChartStore(YamlStore[ChartSpec]):
    """Saved charts: `queries/charts` ships defaults; the user folder holds saved ones."""

    what = "图表"

    def __init__(self, folder: Path, defaults: Sequence[Path] = ()) -> None:
        super().__init__(folder, defaults, parse=load_spec, dump=dump_spec)


def user_dir(settings: Settings | None = None) -> Path:
    """Where the app writes user charts and boards: next to the warehouse file."""
    settings = settings or load_settings()
    return Path(settings.db_path).resolve().parent


def chart_store(settings: Settings | None = None) -> ChartStore:
    """The app's chart store: <warehouse folder>/charts, then queries/charts."""
    return ChartStore(user_dir(settings) / "charts", [QUERIES_DIR / "charts"])
