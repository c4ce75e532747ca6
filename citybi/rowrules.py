"""Row-level security: which datasets a caller may read, and which of their rows.

Why a tree rewrite inside the door (Warehouse.run), not a WHERE added by each page: every
read path — charts, boards, KPI cards, 问数, the map, exports, the SQL box — ends in the
door, and only there is the query a single tree that can be rewritten as a whole. A filter
added by the chart builder would not cover a CTE, a UNION arm, a subquery or the SQL box.

The rule: after the door accepted the query, every reference to a catalog dataset, wherever
it sits (FROM, JOIN, subquery, CTE body, UNION arm, IN/EXISTS subquery), becomes a filtered
derived table that keeps the name the query used for it:

    FROM 环卫清运 AS h   →   FROM (SELECT * FROM 环卫清运 AS __rls WHERE __rls."区" IN ('临江区')) AS h

The inner column is qualified with the inner alias, so a dataset that lost its 区 column fails
to bind instead of DuckDB silently resolving "区" to an outer query's column. The values are
sqlglot literals. The rewritten tree goes through the door again, so the rewrite can never
produce something the door would not have let in.

A reference whose name is a CTE that happens to share a dataset's name is wrapped too: the
inner reference resolves exactly as the original did, so the extra filter only narrows.

Which datasets a caller may read (decided here, once):
- SYSTEM (CLI operator, scheduler, inbox, tests) and an unrestricted scope: all rows of every
  dataset their role may see.
- 管理员: every dataset. 分析员 and 领导: every dataset. 科员: the datasets of their own
  department and the 公开 ones (a dataset with no department is not theirs).
- A restricted scope (districts and/or streets): a governed dataset is filtered on each
  restricted level and must carry that level's column (a street-level user cannot read a
  dataset kept by district only: its 区 rows would include other streets); a 公开 dataset is
  read whole; a dataset that is neither is refused, so a copy imported without governance
  cannot be used to escape the rule.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlglot import exp

from citybi.context import Context
from citybi.errors import QueryRejected
from citybi.querydoor import fold

_INNER = "__rls"


@dataclass(frozen=True)
class Governance:
    """Who owns a dataset and where its rows' place is written (None: not set)."""

    department: str | None = None
    district_column: str | None = None
    street_column: str | None = None
    public: bool = False

    @property
    def governed(self) -> bool:
        """True when a row rule can be applied (the dataset names a district or street column)."""
        return bool(self.district_column or self.street_column)

    def describe(self) -> str:
        """One short Chinese line for the 数据集 page and the CLI."""
        parts = [f"归属部门：{self.department or '未设置'}"]
        if self.public:
            parts.append("公开（所有人可读全部行）")
        if self.district_column:
            parts.append(f"区列：{self.district_column}")
        if self.street_column:
            parts.append(f"街道列：{self.street_column}")
        if not self.public and not self.governed:
            parts.append("未设置区/街道列（受限用户不可读）")
        return "；".join(parts)


# column names that say "this row belongs to a district / a street" (compared after stripping spaces)
DISTRICT_NAMES = frozenset({"区", "行政区", "所在区", "所属区", "区县", "区/县", "县区", "所在区县", "所属区县",
                            "区名", "区名称", "行政区名称", "所属行政区", "所在行政区"})
STREET_NAMES = frozenset({"街道", "所在街道", "所属街道", "街道名称", "街镇", "镇街", "乡镇街道", "街道（乡镇）",
                          "所属街镇", "所在街镇"})


def detect_columns(columns: list[str]) -> tuple[str | None, str | None]:
    """(district column, street column) guessed from column names, first match wins."""
    def first(names: frozenset[str]) -> str | None:
        return next((c for c in columns if "".join(c.split()) in names), None)

    return first(DISTRICT_NAMES), first(STREET_NAMES)


# a text column whose distinct values are at least this share of one 行政区划 level's names is that
# level's column (a file whose district column is called 辖区 or 地区)
VALUE_SHARE = 0.8


def detect_by_values(values: dict[str, set[str]], levels: dict[str, set[str]]) -> tuple[str | None, str | None]:
    """(district column, street column) guessed from the columns' distinct `values` and the
    行政区划 dictionary's names per level (`levels["区"]`, `levels["街道"]`)."""
    def first(level: str) -> str | None:
        names = levels.get(level) or set()
        for column, got in values.items():
            if got and names and len(got & names) >= VALUE_SHARE * len(got):
                return column
        return None

    return first("区"), first("街道")


def may_read_dataset(ctx: Context, gov: Governance) -> bool:
    """The dataset-level decision (rows aside): see the module docstring."""
    if ctx.is_system or ctx.role == "admin":
        return True
    if ctx.role == "clerk" and not gov.public:
        return ctx.scope.department is not None and gov.department == ctx.scope.department
    return True


def readable(ctx: Context, name: str, gov: Governance) -> str | None:
    """None when `ctx` may read (some rows of) dataset `name`, else the Chinese reason."""
    if not may_read_dataset(ctx, gov):
        return f"您没有权限查看数据集「{name}」：它属于“{gov.department or '未设置部门'}”。"
    scope = ctx.scope
    if ctx.is_system or scope.unrestricted or gov.public:
        return None
    if not gov.governed:
        return f"数据集「{name}」还没有设置区/街道列，受数据权限限制的用户不能查看。"
    if scope.districts is not None and not gov.district_column:
        return f"数据集「{name}」没有区列，无法按您的区范围筛选。"
    if scope.streets is not None and not gov.street_column:
        return f"数据集「{name}」没有街道列，无法按您的街道范围筛选。"
    return None


def _filter(gov: Governance, ctx: Context) -> exp.Expression | None:
    """The predicate on the inner alias, or None when the caller reads the whole dataset."""
    scope = ctx.scope
    if ctx.is_system or scope.unrestricted or gov.public:
        return None
    conds: list[exp.Expression] = []
    for column, values in ((gov.district_column, scope.districts), (gov.street_column, scope.streets)):
        if values is None:
            continue
        assert column is not None  # readable() refused the dataset otherwise
        if not values:
            conds.append(exp.false())
            continue
        ref = exp.column(exp.to_identifier(column, quoted=True), table=exp.to_identifier(_INNER))
        conds.append(ref.isin(*[exp.Literal.string(v) for v in sorted(values)]))
    return exp.and_(*conds) if conds else None


def restricted(ctx: Context) -> bool:
    """True when the door must look at each dataset reference for this caller."""
    if ctx.is_system:
        return False
    return ctx.role == "clerk" or not ctx.scope.unrestricted


def apply(tree: exp.Expression, ctx: Context, datasets: frozenset[str],
          governance: Mapping[str, Governance]) -> tuple[exp.Expression, bool]:
    """A copy of `tree` with every dataset reference filtered to `ctx`'s rows, and whether any
    reference was narrowed (raises QueryRejected for a dataset the caller may not read).

    `datasets` and the keys of `governance` are folded names (querydoor.fold)."""
    tree = tree.copy()
    narrowed = False
    tables = [t for t in tree.find_all(exp.Table) if fold(t.name) in datasets]
    for table in tables:
        name = table.name
        gov = governance.get(fold(name), Governance())
        reason = readable(ctx, name, gov)
        if reason:
            raise QueryRejected(reason, hint="如需查看，请联系管理员调整数据集的归属或您的数据权限。",
                                detail=f"{ctx.user}: {name}")
        predicate = _filter(gov, ctx)
        if predicate is None:
            continue
        alias = table.args.get("alias")
        alias = alias.copy() if alias is not None else exp.TableAlias(this=exp.to_identifier(name, quoted=True))
        inner = exp.Table(this=exp.to_identifier(name, quoted=True),
                          db=exp.to_identifier("main", quoted=False) if table.db else None,
                          alias=exp.TableAlias(this=exp.to_identifier(_INNER)))
        table.replace(exp.Subquery(this=exp.select("*").from_(inner).where(predicate), alias=alias))
        narrowed = True
    return tree, narrowed


def scope_note(ctx: Context) -> str:
    """"按您的数据权限，只包含：临江区" — for readings and captions; empty when unrestricted."""
    scope = ctx.scope
    if ctx.is_system or scope.unrestricted:
        return ""
    parts = ["、".join(sorted(v)) or "（无）" for v in (scope.districts, scope.streets) if v is not None]
    return "按您的数据权限，只包含：" + "；".join(parts)
