"""Data-source definitions: one reviewable YAML file per source, in a folder beside the warehouse.

Why YAML files and not rows in the warehouse: a source definition says which department
database, feed or topic lands in which dataset, how often and how (replace, or append by key
or by an updated-at watermark). Like boards and charts it is reviewed and diffed in git, and
copied from one city's installation to the next, so it lives as text in `<db>.sources/`
(Settings.sources_dir), one `<name>.yaml` each. What the runs did — history, the watermark
reached — is the warehouse's (the catalog's source_runs and source_state tables).

A definition never holds a secret: the URL may not carry a password or a token, no key may be
called password/token/…, and `secret:` names an entry of the secrets file (citybi.secrets).
Every refusal is a Chinese sentence saying what to change.

    name: 环卫清运库
    url: postgresql://reader@10.1.2.3:5432/city
    table: 环卫清运              # the dataset in the warehouse
    source_table: public.sanitation   # or query: SELECT …
    mode: append                 # append (by key / watermark) | replace
    key: [id]
    watermark: updated_at        # only rows with updated_at after the last run's maximum
    every: 300                   # seconds; or cron: "0 6 * * *"
    secret: pg-环卫
    paused: false
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from citybi.access import require
from citybi.config import Settings
from citybi.errors import NotFound, UserFacingError
from citybi.safe_yaml import YamlRejected, load_user_yaml
from citybi.scheduler import Schedule, ScheduleError
from citybi.secrets import SecretError, check_name
from citybi.tempfiles import replace_text
from citybi.usertext import FILE_NAME_BAD, check_visible
from citybi.vocabulary import explain

SUFFIX = ".yaml"
MAX_NAME = 64
DB_KINDS = ("postgresql", "mysql")
KIND_LABELS = {"postgresql": "PostgreSQL", "mysql": "MySQL/MariaDB", "http": "HTTP 数据接口", "mqtt": "MQTT 物联网消息"}
# keys that would hold a credential: refused with their own message, not as an unknown key
_SECRET_KEYS = re.compile(r"^(password|passwd|pwd|pass|token|access_token|api_?key|apikey|secret_value|credentials?|"
                          r"auth|authorization|密码|口令|令牌|密钥值)$", re.IGNORECASE)
# query-string parameters that carry a credential in a feed URL
_SECRET_PARAMS = re.compile(r"^(password|passwd|pwd|token|access_token|api_?key|apikey|key|secret|sign|signature|"
                            r"auth|authorization)$", re.IGNORECASE)

_FIELDS = {
    "name": "名称", "url": "地址", "table": "数据集名称", "source_table": "源表", "query": "查询语句",
    "record_path": "记录路径", "max_messages": "最多消息数", "seconds": "最长等待秒数", "mode": "写入方式",
    "key": "主键列", "watermark": "更新时间列", "every": "刷新间隔（秒）", "cron": "cron 表达式",
    "secret": "密钥名称", "paused": "暂停", "description": "说明",
}


class SourceDefError(UserFacingError):
    """A definition that cannot be used; `problems` lists each thing to fix, in Chinese."""

    def __init__(self, problems: list[str], *, hint: str = "") -> None:
        self.problems = problems
        super().__init__("数据源定义有误：" + "；".join(problems), hint=hint)


def check_source_name(name: str) -> str:
    """A source's name: the file stem and what the history and the CLI refer to."""
    clean = check_visible((name or "").strip(), "数据源名称")
    if not clean:
        raise SourceDefError(["数据源名称不能为空"], hint="例如「环卫清运库」")
    if len(clean) > MAX_NAME:
        raise SourceDefError([f"数据源名称过长（{len(clean)} 个字符，最多 {MAX_NAME} 个）"])
    if FILE_NAME_BAD.search(clean) or clean.startswith("."):
        raise SourceDefError([f"数据源名称「{clean}」含有不能用于文件名的字符"],
                             hint='请去掉 \\ / : * ? " < > | 以及开头的点')
    if clean.lower().startswith("_citybi"):  # the scheduler's own jobs are named so
        raise SourceDefError([f"数据源名称「{clean}」不能以 _citybi 开头（系统保留）"])
    return clean


def kind_of(url: str) -> str:
    """The registered source connector's name for a URL (postgresql, mysql, http, mqtt…)."""
    from connectors.source import source_for

    return source_for(url).name


class SourceDef(BaseModel):
    """One data source as its YAML file says it (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=MAX_NAME)
    url: str = Field(min_length=1, max_length=2000)
    table: str = Field(min_length=1, max_length=64)
    source_table: str | None = Field(default=None, max_length=200)
    query: str | None = Field(default=None, max_length=100_000)
    record_path: str | None = Field(default=None, max_length=500)
    max_messages: int | None = Field(default=None, ge=1, le=10_000_000)
    seconds: float | None = Field(default=None, gt=0, le=3600)
    mode: Literal["append", "replace"] = "append"
    key: list[str] = Field(default_factory=list, max_length=20)
    watermark: str | None = Field(default=None, max_length=200)
    every: int | None = None
    cron: str | None = Field(default=None, max_length=100)
    secret: str | None = None
    paused: bool = False
    description: str = Field(default="", max_length=2000)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        try:
            return check_source_name(v)
        except SourceDefError as err:
            raise ValueError(err.problems[0]) from None

    @field_validator("table")
    @classmethod
    def _table(cls, v: str) -> str:
        clean = check_visible(v.strip(), "数据集名称")
        if not clean or clean.lower().startswith("_citybi") or re.search(r"[\x00-\x1f\"`]", clean):
            raise ValueError(f"数据集名称「{clean[:40]}」不能使用，请只用中文、字母、数字、下划线和括号")
        return clean

    @field_validator("secret")
    @classmethod
    def _secret(cls, v: str | None) -> str | None:
        if v is None:
            return None
        try:
            return check_name(v)
        except SecretError:
            raise ValueError("密钥名称不合规：这里只写密钥的名称（如 pg-环卫），不能写密码本身；"
                             "名称以字母或汉字开头，只含字母、数字、汉字、下划线、减号和点") from None

    @field_validator("key")
    @classmethod
    def _keys(cls, v: list[str]) -> list[str]:
        clean = [k.strip() for k in v if k and k.strip()]
        if len(set(clean)) < len(clean):
            raise ValueError("主键列有重复，请每列只写一次")
        return clean

    @model_validator(mode="after")
    def _consistent(self) -> SourceDef:
        from connectors.source import SourceRejected, check_url

        problems: list[str] = []
        try:
            check_url(self.url)
            kind = kind_of(self.url)
        except SourceRejected as err:
            raise ValueError(f"地址：{err.message}" + (f"（{err.hint}）" if err.hint else "")) from None
        params = [k for k, _ in parse_qsl(urlsplit(self.url).query) if _SECRET_PARAMS.match(k)]
        if params:
            problems.append(f"地址里不能带令牌或密码参数（{'、'.join(params)}）：会留在配置文件和日志里；"
                            "请用 citybi secrets set 名称 保存令牌，再写 secret: 名称")
        label = KIND_LABELS.get(kind, kind)
        if self.query and self.source_table:
            problems.append("查询语句和源表只能写一项：写了 query 就不用 source_table")
        if kind not in DB_KINDS:
            for field, value in (("query", self.query), ("source_table", self.source_table),
                                 ("watermark", self.watermark)):
                if value:
                    problems.append(f"{label}不支持「{_FIELDS[field]}」（{field}），只有数据库来源可以写")
        if kind != "http" and self.record_path:
            problems.append(f"{label}不支持「记录路径」（record_path），只有 HTTP 数据接口可以写")
        if kind != "mqtt" and (self.max_messages or self.seconds):
            problems.append(f"{label}不支持 max_messages / seconds，只有 MQTT 来源可以写")
        if kind == "mqtt" and not (self.max_messages or self.seconds):
            problems.append("MQTT 来源需要写每次刷新最多收多少条（max_messages）或最多等多少秒（seconds），"
                            "例如 seconds: 10")
        if self.watermark and self.mode != "append":
            problems.append("更新时间列（watermark）只用于追加：请写 mode: append")
        if self.mode == "append" and kind != "mqtt" and not (self.key or self.watermark):
            problems.append("追加方式需要主键列（key）或更新时间列（watermark），否则每次刷新都会重复写入同样的行；"
                            "也可以改为 mode: replace（每次整表替换）")
        if self.every is not None and self.cron is not None:
            problems.append("刷新间隔（every）和 cron 表达式只能写一项")
        try:
            self.schedule()
        except ScheduleError as err:
            problems.append(err.message + (f"（{err.hint}）" if err.hint else ""))
        if problems:
            raise ValueError(problems[0]) if len(problems) == 1 else _Many(problems)
        return self

    # ------------------------------------------------------------------ derived
    @property
    def kind(self) -> str:
        return kind_of(self.url)

    @property
    def kind_label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)

    def schedule(self) -> Schedule | None:
        """When the scheduler runs it (None: only by hand, 立即刷新 / citybi sources refresh)."""
        if self.every is None and self.cron is None:
            return None
        if self.every is not None and self.cron is not None:
            return None  # refused by the validator with its own message
        return Schedule(every_s=self.every) if self.every is not None else Schedule(cron=self.cron)

    def describe_schedule(self) -> str:
        s = self.schedule()
        return "仅手动刷新" if s is None else s.describe()


class _Many(ValueError):
    """Several problems found by one validator (vocabulary.explain lists each)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("；".join(problems))
        self.problems = problems


# ---------------------------------------------------------------------------- YAML
def source_from_dict(data: Any) -> SourceDef:
    """A SourceDef from parsed YAML, or SourceDefError listing every problem in Chinese."""
    if not isinstance(data, dict):
        raise SourceDefError(["数据源定义应为「键: 值」形式的设置（YAML 映射），而不是列表或单个值"])
    leaked = [str(k) for k in data if _SECRET_KEYS.match(str(k))]
    if leaked:
        raise SourceDefError([f"数据源定义里不能写密码或令牌（「{'、'.join(leaked)}」）："
                              "它会留在配置文件和 git 记录里"],
                             hint="请删除这一项，用 citybi secrets set 名称 保存密码，再在定义里写 secret: 名称")
    try:
        return SourceDef.model_validate(data)
    except ValidationError as err:
        raise SourceDefError(explain(err, fields=_FIELDS, root="数据源定义")) from None


def load_source(text: str | bytes, *, what: str = "数据源定义") -> SourceDef:
    try:
        data = load_user_yaml(text, what=what)
    except YamlRejected as err:
        raise SourceDefError(err.problems, hint=err.hint) from None
    return source_from_dict(data)


def dump_source(source: SourceDef) -> str:
    """Reviewable YAML: Chinese kept, keys in model order, defaults left out."""
    data = source.model_dump(mode="json", exclude_defaults=True)
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, default_flow_style=False)


def sources_dir(settings: Settings) -> Path:
    return settings.sources_dir


class SourceFolder:
    """The definitions of one warehouse: `<db>.sources/<name>.yaml`."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def path(self, name: str) -> Path:
        return self.folder / f"{check_source_name(name)}{SUFFIX}"

    def names(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return sorted(p.stem for p in self.folder.glob(f"*{SUFFIX}") if p.is_file() and not p.name.startswith("."))

    def exists(self, name: str) -> bool:
        return self.path(name).is_file()

    def load(self, name: str) -> SourceDef:
        p = self.path(name)
        if not p.is_file():
            raise NotFound(f"数据源「{name}」不存在。", hint="可用 citybi sources list 查看已有的数据源")
        try:
            source = load_source(p.read_bytes(), what=f"数据源定义文件「{p.name}」")
        except SourceDefError as err:
            raise SourceDefError([f"「{p.name}」：{x}" for x in err.problems], hint=err.hint) from None
        if source.name != p.stem:
            raise SourceDefError([f"「{p.name}」里的 name 是「{source.name}」，与文件名不一致"],
                                 hint="请让 name 与文件名（不含 .yaml）相同")
        return source

    def load_all(self) -> list[tuple[str, SourceDef | SourceDefError]]:
        """Every definition, or the reason it cannot be used: one broken file never hides the others."""
        out: list[tuple[str, SourceDef | SourceDefError]] = []
        for name in self.names():
            try:
                out.append((name, self.load(name)))
            except SourceDefError as err:
                out.append((name, err))
            except UserFacingError as err:
                out.append((name, SourceDefError([err.message])))
        return out

    def save(self, source: SourceDef, *, overwrite: bool = True) -> Path:
        """Write `<name>.yaml` atomically; what is written is read back first (never a file we cannot load)."""
        require("sources.manage")
        target = self.path(source.name)
        if not overwrite and target.exists():
            raise SourceDefError([f"已有名为「{source.name}」的数据源"], hint="请换一个名称，或编辑已有的数据源")
        text = dump_source(source)
        load_source(text)
        self.folder.mkdir(parents=True, exist_ok=True)
        return replace_text(target, text, suffix=SUFFIX)

    def delete(self, name: str) -> bool:
        require("sources.manage")
        p = self.path(name)
        if not p.is_file():
            return False
        p.unlink()
        return True

    def set_paused(self, name: str, paused: bool) -> SourceDef:
        source = self.load(name).model_copy(update={"paused": paused})
        self.save(source)
        return source
