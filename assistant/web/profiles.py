"""Rule profiles on the server: the built-in ones (assistant/data/profiles), custom ones an admin
uploads (validated with the same `Profile` model, stored in the web database), the server's active
profile (persisted in `app_settings`), and the review dependencies per profile.

Deps per profile are derived from the server's base deps with `dataclasses.replace`: the same
PrecedentIndex object and critic are shared (the pipeline re-checks suggestions with the profile's rules),
and they are cached until the base deps change (a corpus import swaps the index).
"""

from __future__ import annotations

import dataclasses
import json
import re
import threading
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from assistant.errors import InputError, NotFoundError
from assistant.intake.records import json_error
from assistant.labels import VALIDATION_CN
from assistant.models import Severity
from assistant.rules.catalogue import RULES
from assistant.rules.profiles import Profile, available_profiles, load_profile
from assistant.web.auth import User

ACTIVE_KEY = "active_profile"
NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,39}$"
_NAME_RE = re.compile(NAME_PATTERN)
_MAX_CACHED = 32
_lock = threading.RLock()

FIELD_CN = {"name": "名称", "title": "标题", "style": "表样式", "min_indicators": "三级指标最少个数",
             "min_quant_share": "可量化指标最低占比", "quant_share_strict": "占比须严格大于",
             "goal_min_chars": "年度目标最少字数", "satisfaction_low": "满意度偏低阈值", "quality_low": "质量偏低阈值",
             "fund_tolerance": "资金匹配容差", "cost_gap_ratio": "成本合计偏低比例",
             "budget_increase_ratio": "预算增幅阈值", "required_header": "表头必填项",
             "severity_overrides": "严重程度调整", "disabled": "停用的规则"}
THRESHOLD_FIELDS = ("style", "min_indicators", "min_quant_share", "quant_share_strict", "goal_min_chars",
                    "satisfaction_low", "quality_low", "fund_tolerance", "cost_gap_ratio", "budget_increase_ratio")


class ProfileSummary(BaseModel):
    name: str
    title: str
    style: str
    builtin: bool
    active: bool


class RuleSetting(BaseModel):
    id: str
    dimension: str
    title: str
    default_severity: Severity
    severity: Severity
    enabled: bool


class ProfileDetail(ProfileSummary):
    thresholds: dict[str, Any] = Field(description="阈值与表样式")
    required_header: list[str]
    severity_overrides: dict[str, Severity]
    disabled: list[str]
    rules: list[RuleSetting]
    body: dict[str, Any] = Field(description="完整的规则配置 JSON（可下载后修改再上传）")


class ActiveProfileIn(BaseModel):
    name: str = Field(min_length=1, max_length=40, description="规则配置名称")


class ActiveProfileOut(BaseModel):
    name: str
    title: str


# -- lookup ------------------------------------------------------------------------------------
def builtin_names() -> list[str]:
    return available_profiles()


def find(store: Any, name: str) -> tuple[Profile, bool] | None:
    """(profile, is_builtin), or None when no profile has that name."""
    if name in builtin_names():
        return load_profile(name), True
    row = store.custom_profile(name) if _NAME_RE.match(name or "") else None
    if row is None:
        return None
    return Profile.model_validate_json(row["body"]), False


def all_names(store: Any) -> list[str]:
    return builtin_names() + [r["name"] for r in store.custom_profiles() if r["name"] not in builtin_names()]


def _unknown(store: Any, name: str) -> InputError:
    return InputError(f"未知的规则配置「{name[:40]}」，可选：{'、'.join(all_names(store))}", where="profile")


def base_name(app_state: Any) -> str:
    return app_state.deps.profile.name


def active_name(app_state: Any) -> str:
    """The server's active profile: the admin's choice if it still exists, else the configured one."""
    stored = app_state.store.get_setting(ACTIVE_KEY)
    if stored and (stored == base_name(app_state) or find(app_state.store, stored) is not None):
        return stored
    return base_name(app_state)


def resolve(app_state: Any, name: str | None) -> Profile:
    """The profile a review will use: `name` if given (must exist), else the active one."""
    wanted = (name or "").strip() or active_name(app_state)
    if wanted == base_name(app_state) and find(app_state.store, wanted) is None:
        return app_state.deps.profile  # the configured profile, e.g. loaded from a file path
    found = find(app_state.store, wanted)
    if found is None:
        raise _unknown(app_state.store, wanted)
    return found[0]


def deps_for(app_state: Any, name: str | None) -> Any:
    """Review dependencies for a profile, sharing the base deps' index and critic (cached)."""
    prof = resolve(app_state, name)
    with _lock:
        base = app_state.deps
        if prof == base.profile:
            return base
        key = (prof.name, prof.model_dump_json())
        cache: dict = app_state.profile_deps
        hit = cache.get(key)
        if hit is not None and hit[0] is base:
            return hit[1]
        from assistant.knowledge.base import knowledge_for
        from assistant.knowledge.library import load_library

        knowledge = knowledge_for(load_library(app_state.settings.db_path), prof.name, base.index)
        deps = dataclasses.replace(base, profile=prof, knowledge=knowledge)
        if len(cache) >= _MAX_CACHED or any(v[0] is not base for v in cache.values()):
            cache.clear()
        cache[key] = (base, deps)
        return deps


# -- views -------------------------------------------------------------------------------------
def summaries(app_state: Any) -> list[ProfileSummary]:
    store, active = app_state.store, active_name(app_state)
    out = []
    for name in all_names(store):
        found = find(store, name)
        if found is not None:
            p, builtin = found
            out.append(ProfileSummary(name=name, title=p.title, style=p.style, builtin=builtin, active=name == active))
    if not any(s.active for s in out):  # the configured profile came from a file outside the catalogue
        p = app_state.deps.profile
        out.insert(0, ProfileSummary(name=p.name, title=p.title, style=p.style, builtin=True, active=True))
    return out


def detail(app_state: Any, name: str) -> ProfileDetail:
    store = app_state.store
    found = find(store, name)
    if found is None and name == base_name(app_state):
        found = (app_state.deps.profile, True)
    if found is None:
        raise NotFoundError(f"未找到规则配置「{name[:40]}」", where="profile")
    p, builtin = found
    rules = [RuleSetting(id=r.id, dimension=r.dimension, title=r.title, default_severity=r.severity,
                         severity=p.severity_overrides.get(r.id, r.severity), enabled=r.id not in p.disabled)
             for r in RULES.values()]
    return ProfileDetail(name=p.name, title=p.title, style=p.style, builtin=builtin,
                         active=p.name == active_name(app_state),
                         thresholds={k: getattr(p, k) for k in THRESHOLD_FIELDS}, required_header=p.required_header,
                         severity_overrides=p.severity_overrides, disabled=p.disabled, rules=rules,
                         body=p.model_dump(mode="json"))


# -- changes (admin) ---------------------------------------------------------------------------
def set_active(app_state: Any, user: User, name: str) -> ActiveProfileOut:
    prof = resolve(app_state, name.strip() or "-")
    app_state.store.set_setting(ACTIVE_KEY, prof.name, by=user.username)
    app_state.store.audit(user.username, "profile_activated", f"profile:{prof.name}")
    return ActiveProfileOut(name=prof.name, title=prof.title)


def _explain(exc: ValidationError) -> str:
    msgs = []
    for e in exc.errors()[:5]:
        loc = [str(p) for p in e.get("loc", ())]
        field = ".".join(f"{p}（{FIELD_CN[p]}）" if p in FIELD_CN else p for p in loc) or "配置"
        msgs.append(f"字段 {field} {VALIDATION_CN.get(e.get('type', ''), '无效')}")
    return "；".join(msgs)


def parse_upload(text: str, *, where: str) -> Profile:
    """Validate an uploaded profile JSON: the Profile model, a safe name, known rule ids."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(json_error(exc), where=where) from None
    if not isinstance(data, dict):
        raise InputError("规则配置应为一个 JSON 对象", where=where)
    try:
        prof = Profile.model_validate(data)
    except ValidationError as exc:
        raise InputError("规则配置格式错误：" + _explain(exc), where=where) from None
    if not _NAME_RE.match(prof.name):
        raise InputError("字段 name（名称）只能用小写字母、数字、下划线和连字符（1–40 个字符，以字母或数字开头）",
                         where=where)
    if not prof.title.strip() or len(prof.title) > 100:
        raise InputError("字段 title（标题）不能为空，且不超过 100 个字符", where=where)
    unknown = sorted({*prof.disabled, *prof.severity_overrides} - set(RULES))
    if unknown:
        raise InputError(f"未知的规则编号：{'、'.join(unknown[:10])}（可用 assistant rules 查看规则目录）", where=where)
    bad_header = sorted(set(prof.required_header) - {"unit", "period", *_target_fields()})
    if bad_header:
        raise InputError(f"字段 required_header（表头必填项）中有未知字段：{'、'.join(bad_header[:10])}", where=where)
    for key in ("min_quant_share", "fund_tolerance", "cost_gap_ratio", "budget_increase_ratio"):
        if not 0 <= getattr(prof, key) <= 10:
            raise InputError(f"字段 {key}（{FIELD_CN[key]}）应在 0 到 10 之间", where=where)
    for key in ("satisfaction_low", "quality_low"):
        if not 0 <= getattr(prof, key) <= 100:
            raise InputError(f"字段 {key}（{FIELD_CN[key]}）应在 0 到 100 之间", where=where)
    if not 0 <= prof.min_indicators <= 200 or not 0 <= prof.goal_min_chars <= 2000:
        raise InputError("字段 min_indicators / goal_min_chars 取值超出合理范围", where=where)
    return prof


def _target_fields() -> set[str]:
    from assistant.models import Target

    return set(Target.model_fields)


def save_custom(app_state: Any, user: User, prof: Profile) -> ProfileSummary:
    if prof.name in builtin_names() or prof.name == base_name(app_state):
        raise InputError(f"「{prof.name}」是内置规则配置，不能覆盖：请换一个名称", where="name")
    store = app_state.store
    if store.custom_profile(prof.name) is None and len(store.custom_profiles()) >= 100:
        raise InputError("自定义规则配置最多 100 个，请先删除不用的配置", where="name")
    store.save_custom_profile(prof.name, prof.model_dump_json(), by=user.username)
    store.audit(user.username, "profile_uploaded", f"profile:{prof.name}", {"title": prof.title})
    return ProfileSummary(name=prof.name, title=prof.title, style=prof.style, builtin=False,
                          active=prof.name == active_name(app_state))


def delete_custom(app_state: Any, user: User, name: str) -> None:
    store = app_state.store
    if name in builtin_names():
        raise InputError("内置规则配置不能删除", where="profile")
    if find(store, name) is None:
        raise NotFoundError(f"未找到规则配置「{name[:40]}」", where="profile")
    if name == active_name(app_state):
        raise InputError("该配置正在使用中：请先把其他配置设为当前配置，再删除", where="profile")
    store.delete_custom_profile(name)
    store.audit(user.username, "profile_deleted", f"profile:{name}")
