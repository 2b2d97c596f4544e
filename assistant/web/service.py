"""What the API and the UI routes share: parsing uploads, access checks, submit / decide / rate,
batch jobs and exports. Everything state-changing writes an audit row.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from assistant.errors import InputError, NotFoundError
from assistant.intake.reader import load_json, read_source
from assistant.intake.records import parse_target
from assistant.models import Grade, Review, Target
from assistant.pipeline import review as run_review
from assistant.web.auth import ForbiddenError, User

_deps_lock = threading.RLock()


# -- contracts -------------------------------------------------------------------------------
class SubmissionSummary(BaseModel):
    id: int
    unit: str
    project_name: str
    status: str
    version: int
    grade: str
    score: int
    rule_ids: list[str] = Field(default_factory=list)
    created: str
    updated: str


class VersionInfo(BaseModel):
    version: int
    grade: str
    score: int
    content_hash: str
    created: str


class SubmissionDetail(SubmissionSummary):
    shown_version: int
    review: Review
    versions: list[VersionInfo]
    decisions: list[dict[str, Any]] = Field(default_factory=list)


class DecisionIn(BaseModel):
    version: int | None = Field(default=None, ge=1, le=1_000_000, description="审核的版本，缺省为最新版本")
    final_grade: Grade
    opinion: str = Field(default="", max_length=20000)
    accepted: list[int] = Field(default_factory=list, max_length=1000, description="采纳的修改建议序号（review.suggestions 下标）")
    rejected: list[int] = Field(default_factory=list, max_length=1000, description="不采纳的修改建议序号")
    status: Literal["returned", "passed"] = Field(description="returned=退回修改，passed=审核通过")


class RatingIn(BaseModel):
    version: int | None = Field(default=None, ge=1, le=1_000_000)
    completeness: int = Field(ge=1, le=5)
    relevance: int = Field(ge=1, le=5)
    suitability: int = Field(ge=1, le=5)
    fund_fit: int = Field(ge=1, le=5)
    overall: float | None = Field(default=None, ge=0, le=100)
    notes: str = Field(default="", max_length=5000)


STATUS_CN = {"submitted": "待审核", "returned": "退回修改", "passed": "审核通过"}


# -- parsing ---------------------------------------------------------------------------------
def parse_json_text(text: str, *, where: str) -> Target:
    """A target from pasted JSON or a JSON request body (nesting bounded, Chinese errors)."""
    return parse_target(load_json(text, where=where), where=where, require=True)


def parse_upload(filename: str, data: bytes) -> Target:
    """One target from an uploaded .json or .xlsx file (type checked by suffix and content)."""
    name = Path(filename or "upload").name
    if Path(name).suffix.lower() not in {".json", ".xlsx"}:
        raise InputError("不支持的文件类型：请上传 .json 或 .xlsx 文件", where=name)
    items = read_source(data, name=name)
    if len(items) > 1:
        raise InputError(f"工作簿中有{len(items)}张绩效目标表：单次提交只收一张，多张请用批量上传", where=name)
    item = items[0].item
    if isinstance(item, InputError):
        raise item
    return item


# -- access ----------------------------------------------------------------------------------
def visible(store: Any, user: User, submission_id: int) -> dict[str, Any]:
    """The submission if this user may see it; another unit's submission is simply not found."""
    row = store.submission(submission_id)
    if user.role == "unit" and row["unit"] != user.unit:
        raise NotFoundError("未找到该提交记录", where=f"submission {submission_id}")
    return row


def require(user: User, *roles: str) -> None:
    if user.role not in roles:
        raise ForbiddenError("当前角色无权执行此操作")


def summary(row: dict[str, Any]) -> SubmissionSummary:
    data = dict(row)
    data["rule_ids"] = json.loads(data.get("rule_ids") or "[]")
    return SubmissionSummary.model_validate({k: data[k] for k in SubmissionSummary.model_fields})


def list_for(store: Any, user: User, **filters: Any) -> list[SubmissionSummary]:
    unit = user.unit if user.role == "unit" else filters.pop("unit", None)
    filters.pop("unit", None)
    return [summary(r) for r in store.list_submissions(unit=unit, **filters)]


def detail(store: Any, user: User, submission_id: int, version: int | None = None) -> SubmissionDetail:
    row = visible(store, user, submission_id)
    shown, review = store.review(submission_id, version)
    versions = [VersionInfo.model_validate(v) for v in store.versions(submission_id)]
    return SubmissionDetail(**summary(row).model_dump(), shown_version=shown, review=review, versions=versions,
                            decisions=store.decisions(submission_id))


# -- actions ---------------------------------------------------------------------------------
def review_target(app_state: Any, target: Target, profile: str | None = None) -> Review:
    """Review with the named rule profile (None: the server's active profile)."""
    from assistant.web.profiles import deps_for

    with _deps_lock:
        deps = deps_for(app_state, profile)
    return run_review(target, deps)


def check_profile(app_state: Any, profile: str | None) -> str | None:
    """A chosen profile must exist (400 in Chinese otherwise); empty means the active one."""
    from assistant.web.profiles import resolve

    if not (profile or "").strip():
        return None
    return resolve(app_state, profile).name


def submit(app_state: Any, user: User, target: Target, profile: str | None = None) -> int:
    if user.role not in ("unit", "admin"):
        raise ForbiddenError("只有预算单位（或管理员）可以提交草稿")
    review = review_target(app_state, target, profile)
    store = app_state.store
    sid = store.create_submission(unit=user.unit, user_id=user.id, target=target, review=review)
    store.audit(user.username, "submitted", f"submission:{sid}",
                {"version": 1, "grade": review.grade, "content_hash": review.meta.content_hash,
                 "profile": review.meta.profile})
    return sid


def resubmit(app_state: Any, user: User, submission_id: int, target: Target, profile: str | None = None) -> int:
    store = app_state.store
    row = visible(store, user, submission_id)
    if user.role != "admin" and not (user.role == "unit" and row["unit"] == user.unit):
        raise ForbiddenError("只有提交单位可以修改后重新提交")
    review = review_target(app_state, target, profile)
    version = store.add_version(submission_id, user_id=user.id, target=target, review=review)
    store.audit(user.username, "resubmitted", f"submission:{submission_id}",
                {"version": version, "grade": review.grade, "content_hash": review.meta.content_hash,
                 "profile": review.meta.profile})
    return version


def decide(store: Any, user: User, submission_id: int, body: DecisionIn) -> int:
    require(user, "reviewer", "admin")
    visible(store, user, submission_id)
    version, review = store.review(submission_id, body.version)
    n = len(review.suggestions)
    bad = [i for i in body.accepted + body.rejected if not 0 <= i < n]
    if bad:
        raise InputError(f"修改建议序号超出范围（共{n}条）：{bad}", where="accepted/rejected")
    if set(body.accepted) & set(body.rejected):
        raise InputError("同一条修改建议不能既采纳又不采纳", where="accepted/rejected")
    did = store.add_decision(submission_id=submission_id, version=version, reviewer=user.username,
                             final_grade=body.final_grade, opinion=body.opinion, accepted=sorted(set(body.accepted)),
                             rejected=sorted(set(body.rejected)), status=body.status)
    store.audit(user.username, "decided", f"submission:{submission_id}",
                {"version": version, "final_grade": body.final_grade, "status": body.status,
                 "accepted": body.accepted, "rejected": body.rejected, "decision": did})
    return did


def rate(store: Any, user: User, submission_id: int, body: RatingIn) -> int:
    require(user, "expert", "admin")
    visible(store, user, submission_id)
    version, _ = store.review(submission_id, body.version)
    rid = store.add_rating({"submission_id": submission_id, "version": version, "expert": user.username,
                            **body.model_dump(exclude={"version"})})
    store.audit(user.username, "rated", f"submission:{submission_id}", {"version": version, "rating": rid})
    return rid


def ratings_jsonl(store: Any) -> str:
    """Expert ratings in the evaluation harness's format (evaluate.ratings.load_ratings reads it)."""
    lines = []
    for r in store.ratings():
        row = {"item_id": f"web-{r['submission_id']}-v{r['version']}", "rater": r["expert"],
               **{k: r[k] for k in ("completeness", "relevance", "suitability", "fund_fit")}}
        if r["overall"] is not None:
            row["overall"] = r["overall"]
        if r["notes"]:
            row["notes"] = {"overall": r["notes"]}
        lines.append(json.dumps(row, ensure_ascii=False))
    return "\n".join(lines) + ("\n" if lines else "")


# -- export and corpus -------------------------------------------------------------------------
def import_corpus(app_state: Any, user: User, filename: str, data: bytes) -> dict[str, Any]:
    require(user, "admin")
    from assistant.pipeline import open_precedents
    from assistant.retrieve.corpus import import_file

    name = Path(filename or "corpus.jsonl").name
    result = import_file(data, app_state.settings, filename=name)
    index = open_precedents(app_state.settings)
    with _deps_lock:
        app_state.deps = dataclasses.replace(app_state.deps, index=index)
    app_state.store.audit(user.username, "corpus_imported", f"corpus:{name}",
                          {"added": result.added, "duplicates": result.duplicates})
    return {"added": result.added, "duplicates": result.duplicates, "corpus_version": app_state.deps.index.version}
