"""Who is asking: the user, their role and their data scope, carried from a page, a CLI command or a
scheduler job down to the query door (Warehouse.run).

Why a context variable and not a parameter on every function: every read path (charts, boards, KPI
cards, 问数, the map, exports, the SQL box) already funnels into Warehouse.run and the shared result
cache, and threading a `ctx` argument through each of them would touch every signature in the core.
Instead the entry point sets the context once — a page (through citybi.ui's gate), a CLI command
(`--as NAME`, else the operator), a scheduler job or the inbox worker (SYSTEM) — and the door reads
it. Two rules keep that safe:

- Caches key on `Context.scope_key()`, never only on the SQL text, so one user's cached result
  never answers another scope's question.
- Threads do not inherit context variables: work handed to a pool must run inside
  `contextvars.copy_context()` (see `in_pool`), and a door opened for the web app refuses a query
  that arrives with no context at all (Warehouse(require_context=True)) instead of running it with
  full rights. Library use, tests and the CLI run as SYSTEM when nothing was set.
"""
from __future__ import annotations

import contextvars
import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")

# internal role names → the label users see
ROLE_LABELS: dict[str, str] = {
    "admin": "管理员",
    "analyst": "分析员",
    "clerk": "科员",
    "leader": "领导",
    "system": "系统",
}
ROLES: tuple[str, ...] = ("admin", "analyst", "clerk", "leader")


@dataclass(frozen=True)
class Scope:
    """The rows a user may see. None means "no restriction" on that level; an empty set means none."""

    department: str | None = None
    districts: frozenset[str] | None = None
    streets: frozenset[str] | None = None

    @property
    def unrestricted(self) -> bool:
        return self.districts is None and self.streets is None

    def key(self) -> str:
        """A stable text naming this scope (cache keys, audit entries)."""
        if self.unrestricted:
            return "*"

        def part(values: frozenset[str] | None) -> str:
            return "*" if values is None else "|".join(sorted(values))

        text = f"d={part(self.districts)};s={part(self.streets)}"
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Context:
    """One caller: user name, role (a key of ROLE_LABELS) and data scope."""

    user: str
    role: str
    scope: Scope = field(default_factory=Scope)
    address: str | None = None  # where the request came from (audit), when known

    def scope_key(self) -> str:
        # department is part of the key: which datasets a role/department may read differs too
        dept = self.scope.department or ""
        return f"{self.role}:{dept}:{self.scope.key()}" if not self.is_system else "system"

    @property
    def is_system(self) -> bool:
        return self.role == "system"

    @property
    def role_label(self) -> str:
        return ROLE_LABELS.get(self.role, self.role)


SYSTEM = Context(user="system", role="system")

_current: contextvars.ContextVar[Context | None] = contextvars.ContextVar("citybi_context", default=None)


def current() -> Context | None:
    """The context set by the caller's entry point, or None when nothing set one."""
    return _current.get()


def effective() -> Context:
    """The context a library call runs with: the one set, else SYSTEM (tests, scripts, the CLI)."""
    return _current.get() or SYSTEM


@contextmanager
def use(ctx: Context) -> Iterator[Context]:
    """Run the block as `ctx`; the previous context comes back afterwards, also on errors."""
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)


def set_for_run(ctx: Context) -> None:
    """Set the context for the rest of this thread's unit of work: a Streamlit script run (each
    session's runs happen on that session's own script thread, and the gate sets it again at the
    top of every run, so it never carries over to another session or a later user)."""
    _current.set(ctx)


def in_pool(fn: Callable[..., T]) -> Callable[..., T]:
    """Wrap `fn` so a thread pool runs it with the submitting thread's context (threads start empty)."""
    snapshot = contextvars.copy_context()

    def run(*args: object, **kwargs: object) -> T:
        return snapshot.copy().run(fn, *args, **kwargs)

    return run
