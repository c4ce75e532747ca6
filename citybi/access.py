"""What each role may do, checked in the core: hiding a button is not a permission check.

One table (role → actions) so a page, the CLI and a test all ask the same question the same way:
`require(ctx, "datasets.replace", department=...)`. SYSTEM (the operator's CLI, scheduler jobs, the
inbox worker, tests) may do everything. A 科员 may write only datasets of their own department.
"""
from __future__ import annotations

from citybi.context import Context, effective
from citybi.errors import UserFacingError

# action → the Chinese words used in a refusal ("您没有权限<words>")
ACTIONS: dict[str, str] = {
    "datasets.read": "查看数据集",
    "datasets.upload": "导入数据",
    "datasets.replace": "替换或追加数据集",
    "datasets.restore": "恢复数据集版本",
    "datasets.delete": "删除数据集",
    "datasets.govern": "设置数据集的归属与行权限",
    "boards.view": "查看看板",
    "boards.edit": "编辑看板",
    "charts.edit": "制作和保存图表",
    "ask": "问数",
    "sql.run": "使用 SQL 查询",
    "export": "导出数据",
    "sources.manage": "管理数据源",
    "standards.manage": "管理数据标准",
    "alerts.manage": "管理预警",
    "metrics.manage": "定义和修改指标",
    "users.manage": "管理用户",
    "audit.read": "查看审计日志",
    "system.status": "查看系统状态",
}

_READ = {"datasets.read", "boards.view", "ask", "export"}
ROLE_ACTIONS: dict[str, frozenset[str]] = {
    "admin": frozenset(ACTIONS),
    "analyst": frozenset(_READ | {"boards.edit", "charts.edit", "sql.run", "alerts.manage",
                                    "metrics.manage"}),
    "clerk": frozenset(_READ | {"datasets.upload", "datasets.replace", "datasets.restore"}),
    "leader": frozenset({"boards.view", "ask", "export", "datasets.read"}),
}

# actions a 科员 may take only on datasets of their own department
_DEPARTMENT_BOUND = frozenset({"datasets.upload", "datasets.replace", "datasets.restore", "datasets.delete"})


class AccessDenied(UserFacingError):
    """The signed-in user's role or department does not allow this action."""


def allowed(ctx: Context, action: str, *, department: str | None = None) -> bool:
    """True when `ctx` may take `action` (on a dataset of `department`, for dataset writes)."""
    if action not in ACTIONS:
        raise KeyError(action)  # a typo in the core must not read as "denied" or "allowed"
    if ctx.is_system:
        return True
    if action not in ROLE_ACTIONS.get(ctx.role, frozenset()):
        return False
    if ctx.role == "clerk" and action in _DEPARTMENT_BOUND and department is not None:
        return ctx.scope.department is not None and department == ctx.scope.department
    return True


def require(action: str, ctx: Context | None = None, *, department: str | None = None) -> Context:
    """Raise AccessDenied (a Chinese message) unless the caller may take `action`; returns the context."""
    ctx = ctx or effective()
    if not allowed(ctx, action, department=department):
        what = ACTIONS[action]
        if ctx.role == "clerk" and action in _DEPARTMENT_BOUND and department is not None:
            raise AccessDenied(f"您没有权限{what}：该数据集属于“{department}”。",
                               hint="科员只能修改本部门的数据集，请联系该部门或管理员。")
        raise AccessDenied(f"您没有权限{what}（当前角色：{ctx.role_label}）。",
                           hint="如需此权限，请联系管理员调整您的角色。")
    return ctx
