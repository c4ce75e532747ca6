"""Alert rules and delivery channels as reviewable YAML beside the warehouse.

Why YAML files like boards and data sources: a rule says which chart or KPI card is watched,
under which filters, when it counts as bad and who is told — a decision a department reviews,
diffs in git and copies to the next district. So each rule is `<db>.alerts/rules/<名称>.yaml`
and each channel `<db>.alerts/channels/<名称>.yaml`, strict (pydantic, extra="forbid"), loaded
only through the safe YAML loader, refused with Chinese sentences saying what to change.

A channel never holds its webhook URL or signing secret: a robot's URL carries its key (anyone
with it can post to the group), so `url_secret:` and `sign_secret:` name entries of the secrets
file (citybi.secrets) and the value never reaches YAML, logs or the screen.

    name: 热线工单激增
    watch: {board: 12345热线, tile: 热线_近7天工单数, filters: {区: [临江区]}}
    condition: {kind: unusual, k: 3, periods: 14}       # or above/below (value), change
    group_by: 街道                                      # (compare 环比/同比, pct, direction),
    every: 3600                                         # target (by: 2025-12-31)
    repeat_every: 86400
    quiet_hours: "22:00-07:00"
    channels: [值班群, 领导邮箱]
"""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from citybi.charts.spec import ChartSpecError, load_yaml_text
from citybi.charts.store import YamlStore
from citybi.scheduler import Schedule, ScheduleError
from citybi.secrets import SecretError, check_name
from citybi.usertext import FILE_NAME_BAD, check_visible
from citybi.vocabulary import explain, is_relative_period, relative_periods_text, short_value

MAX_NAME = 64
KINDS = ("above", "below", "change", "target", "unusual")
KIND_LABELS = {"above": "高于阈值", "below": "低于阈值", "change": "同比/环比变化超过", "target": "到期未达目标",
               "unusual": "异常波动"}
CHANNEL_KINDS = ("wecom", "dingtalk", "feishu", "email", "webhook")
CHANNEL_LABELS = {"wecom": "企业微信群机器人", "dingtalk": "钉钉自定义机器人", "feishu": "飞书自定义机器人",
                  "email": "电子邮件", "webhook": "通用 JSON Webhook"}
# keys that would hold a credential or a robot's address: refused with their own message
_SECRET_KEYS = re.compile(r"^(url|webhook|webhook_url|hook|password|passwd|pwd|token|access_token|secret|key|sign|"
                          r"api_?key|密码|令牌|密钥|地址)$", re.IGNORECASE)
_QUIET = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*[-–~至]\s*(\d{1,2}):(\d{2})\s*$")

_FIELDS = {
    "name": "名称", "description": "说明", "watch": "监控对象", "board": "看板", "tile": "图块", "chart": "图表",
    "date": "日期筛选", "filters": "筛选", "condition": "条件", "kind": "条件类型", "value": "阈值",
    "compare": "对比", "pct": "变化幅度", "direction": "方向", "by": "期限", "target": "目标值", "k": "倍数 k",
    "periods": "历史期数", "group_by": "按组检查", "every": "检查间隔（秒）", "cron": "cron 表达式",
    "repeat_every": "重复提醒间隔（秒）", "quiet_hours": "免打扰时段", "channels": "推送渠道", "paused": "暂停",
    "url_secret": "地址密钥", "sign_secret": "签名密钥", "smtp_host": "邮件服务器", "smtp_port": "端口",
    "security": "加密方式", "user": "用户名", "password_secret": "密码密钥", "sender": "发件人", "to": "收件人",
    "timeout_s": "超时（秒）", "retries": "重试次数", "measure": "度量",
}


class AlertRuleError(ChartSpecError):
    """A rule or channel definition that cannot be used; `problems` lists each thing to fix, in Chinese."""

    def __init__(self, problems: list[str], *, hint: str = "", what: str = "预警规则") -> None:
        self.problems = problems
        from citybi.errors import UserFacingError

        UserFacingError.__init__(self, f"{what}设置有误：" + "；".join(problems), hint=hint)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def check_rule_name(name: str, what: str = "规则名称") -> str:
    clean = check_visible((name or "").strip(), what)
    if not clean:
        raise ValueError(f"{what}不能为空")
    if len(clean) > MAX_NAME:
        raise ValueError(f"{what}过长（{len(clean)} 个字符，最多 {MAX_NAME} 个）")
    if FILE_NAME_BAD.search(clean) or clean.startswith(".") or clean.lower().startswith("_citybi"):
        raise ValueError(f"{what}「{clean}」含有不能用于文件名的字符（或以 _citybi 开头）")
    return clean


def _secret_name(v: str | None) -> str | None:
    if v is None:
        return None
    try:
        return check_name(v)
    except SecretError:
        raise ValueError("这里只写密钥的名称（如 值班群-地址），不能写地址或密码本身；名称以字母或汉字开头，"
                         "只含字母、数字、汉字、下划线、减号和点") from None


# ---------------------------------------------------------------------------- what is watched
class Watch(_Model):
    """A KPI card or chart of a board (`board` + `tile`), or a saved chart (`chart`), with filters."""

    board: str | None = Field(default=None, max_length=200)
    tile: str | None = Field(default=None, max_length=200)  # the tile's chart name or its title
    chart: str | None = Field(default=None, max_length=200)
    date: str | None = None  # the board's date filter (a relative period: 上月, 最近7天…)
    filters: dict[str, list[str | int | float | bool]] = Field(default_factory=dict, max_length=10)
    measure: str | None = Field(default=None, max_length=300)  # a chart's measure (default: its first)

    @field_validator("date")
    @classmethod
    def _date(cls, v: str | None) -> str | None:
        if v is None or is_relative_period(v.strip()):
            return v.strip() if v else v
        raise ValueError(f"相对时间「{short_value(v)}」无法识别，可选：{relative_periods_text()}")

    @model_validator(mode="after")
    def _one(self) -> Watch:
        if (self.board is None) == (self.chart is None):
            raise ValueError("监控对象需要且只能写一项：board + tile（看板中的图块），或 chart（已保存的图表）")
        if self.board is not None and not self.tile:
            raise ValueError(f"看板「{self.board}」中的哪个图块？请写 tile（图表名称或图块标题）")
        if self.chart is not None and self.tile:
            raise ValueError("tile 只和 board 一起使用；监控已保存的图表时只写 chart")
        return self

    def describe(self) -> str:
        where = f"看板「{self.board}」的「{self.tile}」" if self.board else f"图表「{self.chart}」"
        parts = [f"{k}={'、'.join(map(str, v))}" for k, v in self.filters.items() if v]
        if self.date:
            parts.insert(0, self.date)
        return where + (f"（{'，'.join(parts)}）" if parts else "")


class Condition(_Model):
    """When a reading counts as bad. See evaluate.judge for each kind's exact meaning."""

    kind: Literal["above", "below", "change", "target", "unusual"]
    value: float | None = None  # above / below
    compare: Literal["环比", "同比"] = "环比"  # change
    pct: float | None = Field(default=None, gt=0, le=100)  # change: 0.3 = 30 % (shares: 0.05 = 5 个百分点)
    direction: Literal["up", "down", "any"] | None = None  # change / unusual (default: up / any)
    by: dt.date | None = None  # target: not reached by this day
    target: float | None = None  # target: instead of the card's own
    k: float = Field(default=3.0, gt=0, le=20)  # unusual: band = median ± k·MAD (scaled)
    periods: int = Field(default=12, ge=4, le=120)  # unusual: how many earlier periods form the band

    @model_validator(mode="after")
    def _complete(self) -> Condition:
        if self.kind in ("above", "below") and self.value is None:
            raise ValueError(f"「{KIND_LABELS[self.kind]}」需要写阈值 value，例如 value: 1000")
        if self.kind == "change" and self.pct is None:
            raise ValueError("「同比/环比变化超过」需要写变化幅度 pct，例如 pct: 0.3（30%）")
        if self.kind == "target" and self.by is None:
            raise ValueError("「到期未达目标」需要写期限 by，例如 by: 2025-12-31")
        return self

    @property
    def way(self) -> str:
        return self.direction or ("up" if self.kind == "change" else "any")

    def describe(self) -> str:
        words = {"up": "上升", "down": "下降", "any": "升降"}
        if self.kind == "above":
            return f"高于 {self.value:g}"
        if self.kind == "below":
            return f"低于 {self.value:g}"
        if self.kind == "change":
            return f"{self.compare}{words[self.way]}超过 {self.pct:.0%}"
        if self.kind == "target":
            return f"到 {self.by} 仍未达到目标" + (f" {self.target:g}" if self.target is not None else "")
        return f"超出近 {self.periods} 期的正常范围（中位数 ± {self.k:g} 倍离差，{words[self.way]}）"


class AlertRule(_Model):
    name: str = Field(min_length=1, max_length=MAX_NAME)
    description: str = Field(default="", max_length=2000)
    watch: Watch
    condition: Condition
    group_by: str | None = Field(default=None, max_length=300)  # any 区/街道 breaking the rule
    every: int | None = None  # seconds between checks; or cron
    cron: str | None = Field(default=None, max_length=100)
    repeat_every: int = Field(default=0, ge=0, le=366 * 86400)  # 0: tell once until it clears
    quiet_hours: str | None = None  # "22:00-07:00": deliveries held (not lost) until it ends
    channels: list[str] = Field(default_factory=list, max_length=10)
    paused: bool = False

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_rule_name(v)

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        parse_quiet(v)
        return v.strip()

    @field_validator("channels")
    @classmethod
    def _channels(cls, v: list[str]) -> list[str]:
        clean = [check_rule_name(c, "渠道名称") for c in v]
        if len(set(clean)) < len(clean):
            raise ValueError("推送渠道有重复，请每个只写一次")
        return clean

    @model_validator(mode="after")
    def _schedule(self) -> AlertRule:
        checked_schedule(self.every, self.cron, "检查间隔")
        return self

    def schedule(self) -> Schedule | None:
        """When the scheduler checks it (None: only after imports of its dataset and by hand)."""
        return checked_schedule(self.every, self.cron, "检查间隔")

    def describe_schedule(self) -> str:
        s = self.schedule()
        return "数据更新后检查" if s is None else f"{s.describe()}，并在数据更新后检查"

    def describe(self) -> str:
        group = f"，按「{self.group_by}」逐个检查" if self.group_by else ""
        return f"{self.watch.describe()} {self.condition.describe()}{group}"


def checked_schedule(every: int | None, cron: str | None, word: str) -> Schedule | None:
    """The schedule of a rule or briefing (`every` seconds or a `cron` line, at most one; None: neither).

    Shared by AlertRule and Briefing so both refuse the same mistakes with the same words, as
    the ValueError pydantic turns into the model's Chinese error list.
    """
    if every is not None and cron is not None:
        raise ValueError(f"{word}（every）和 cron 表达式只能写一项")
    if every is None and cron is None:
        return None
    try:
        return Schedule(every_s=every) if every is not None else Schedule(cron=cron)
    except ScheduleError as err:
        raise ValueError(err.message + (f"（{err.hint}）" if err.hint else "")) from None


def parse_quiet(text: str) -> tuple[dt.time, dt.time]:
    """"22:00-07:00" → (22:00, 07:00); a window may pass midnight."""
    m = _QUIET.match(text or "")
    if not m or int(m[1]) > 23 or int(m[3]) > 23 or int(m[2]) > 59 or int(m[4]) > 59:
        raise ValueError(f"免打扰时段「{short_value(text)}」应写成 开始-结束，例如 22:00-07:00")
    start, end = dt.time(int(m[1]), int(m[2])), dt.time(int(m[3]), int(m[4]))
    if start == end:
        raise ValueError("免打扰时段的开始和结束不能相同")
    return start, end


def in_quiet(quiet: str | None, now: dt.datetime) -> bool:
    if not quiet:
        return False
    start, end = parse_quiet(quiet)
    t = now.time()
    return start <= t < end if start < end else (t >= start or t < end)


def quiet_ends(quiet: str, now: dt.datetime) -> dt.datetime:
    """When the quiet window that `now` is in ends."""
    _start, end = parse_quiet(quiet)
    when = now.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    return when if when > now else when + dt.timedelta(days=1)


# ---------------------------------------------------------------------------- channels
class ChannelDef(_Model):
    """Where messages go. Robots: `url_secret` (+ `sign_secret`); e-mail: an SMTP server and addresses."""

    name: str = Field(min_length=1, max_length=MAX_NAME)
    kind: Literal["wecom", "dingtalk", "feishu", "email", "webhook"]
    description: str = Field(default="", max_length=500)
    url_secret: str | None = None
    sign_secret: str | None = None
    smtp_host: str | None = Field(default=None, max_length=255)
    smtp_port: int = Field(default=25, ge=1, le=65535)
    security: Literal["none", "starttls", "ssl"] = "none"
    user: str | None = Field(default=None, max_length=255)
    password_secret: str | None = None
    sender: str | None = Field(default=None, max_length=255)
    to: list[str] = Field(default_factory=list, max_length=50)
    timeout_s: float = Field(default=10.0, gt=0, le=120)
    retries: int = Field(default=3, ge=0, le=10)  # extra attempts after the first, with back-off

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_rule_name(v, "渠道名称")

    @field_validator("url_secret", "sign_secret", "password_secret")
    @classmethod
    def _secret(cls, v: str | None) -> str | None:
        return _secret_name(v)

    @field_validator("to")
    @classmethod
    def _addresses(cls, v: list[str]) -> list[str]:
        bad = [a for a in v if not re.fullmatch(r"[^@\s<>,;]+@[^@\s<>,;]+", a.strip())]
        if bad:
            raise ValueError("收件人地址无效：" + "、".join(short_value(b) for b in bad))
        return [a.strip() for a in v]

    @model_validator(mode="after")
    def _complete(self) -> ChannelDef:
        label = CHANNEL_LABELS[self.kind]
        if self.kind == "email":
            missing = [_FIELDS[f] for f in ("smtp_host", "sender") if not getattr(self, f)]
            if not self.to:
                missing.append(_FIELDS["to"])
            if missing:
                raise ValueError(f"{label}需要填写：" + "、".join(missing))
            if self.url_secret or self.sign_secret:
                raise ValueError("电子邮件渠道不用 url_secret / sign_secret")
        else:
            if not self.url_secret:
                raise ValueError(f"{label}需要 url_secret：保存 webhook 地址的密钥名称"
                                 "（用 citybi secrets set 名称 保存地址，这里只写名称）")
            if self.kind in ("wecom", "webhook") and self.sign_secret:
                raise ValueError(f"{label}没有签名设置，请删除 sign_secret")
        return self

    @property
    def label(self) -> str:
        return CHANNEL_LABELS[self.kind]


# ---------------------------------------------------------------------------- YAML
def _translate(err: ValidationError, root: str) -> list[str]:
    return explain(err, fields=_FIELDS, items={"channels": "个渠道", "to": "个收件人"}, root=root)


def rule_from_dict(data: Any) -> AlertRule:
    if not isinstance(data, dict):
        raise AlertRuleError(["预警规则应为「键: 值」形式的设置（YAML 映射）"])
    try:
        return AlertRule.model_validate(data)
    except ValidationError as err:
        raise AlertRuleError(_translate(err, "预警规则")) from None


def channel_from_dict(data: Any) -> ChannelDef:
    if not isinstance(data, dict):
        raise AlertRuleError(["推送渠道应为「键: 值」形式的设置（YAML 映射）"], what="推送渠道")
    leaked = [str(k) for k in data if _SECRET_KEYS.match(str(k))]
    if leaked:
        raise AlertRuleError([f"推送渠道里不能直接写地址、密码或签名密钥（「{'、'.join(leaked)}」）：机器人地址带有它的"
                              "密钥，会留在配置文件和 git 里。请用 citybi secrets set 名称 保存，再写 url_secret / "
                              "sign_secret / password_secret: 名称"], what="推送渠道")
    try:
        return ChannelDef.model_validate(data)
    except ValidationError as err:
        raise AlertRuleError(_translate(err, "推送渠道"), what="推送渠道") from None


def _load(text: str | bytes, what: str) -> Any:
    try:
        return load_yaml_text(text, what=what)
    except ChartSpecError as err:
        raise AlertRuleError(err.problems, what=what) from None


def load_rule(text: str | bytes) -> AlertRule:
    return rule_from_dict(_load(text, "预警规则"))


def load_channel(text: str | bytes) -> ChannelDef:
    return channel_from_dict(_load(text, "推送渠道"))


def _dump(model: BaseModel) -> str:
    data = model.model_dump(mode="json", exclude_defaults=True)
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, default_flow_style=False)


def dump_rule(rule: AlertRule) -> str:
    return _dump(rule)


def dump_channel(channel: ChannelDef) -> str:
    return _dump(channel)


class RuleStore(YamlStore[AlertRule]):
    what = "预警规则"

    def __init__(self, folder: Path) -> None:
        super().__init__(folder, (), parse=load_rule, dump=dump_rule)


class ChannelStore(YamlStore[ChannelDef]):
    what = "推送渠道"

    def __init__(self, folder: Path) -> None:
        super().__init__(folder, (), parse=load_channel, dump=dump_channel)


def alerts_dir(db_path: str | Path) -> Path:
    """`<db>.alerts/` beside the warehouse (like `<db>.sources/` and `<db>.secrets`)."""
    db = Path(db_path)
    return db.with_name(db.name + ".alerts")


def rule_store(db_path: str | Path) -> RuleStore:
    return RuleStore(alerts_dir(db_path) / "rules")


def channel_store(db_path: str | Path) -> ChannelStore:
    return ChannelStore(alerts_dir(db_path) / "channels")
