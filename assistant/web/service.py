"""What the API and the UI routes share: parsing uploads, access checks, submit / decide / rate,
batch jobs and exports. Everything state-changing writes an audit row.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from assistant.errors import InputError, NotFoundError
from assistant.intake.reader import load_json, read_source
from assistant.intake.records import parse_target
from assistant.intake.xlsx_grid import table_row_cap
from assistant.models import Grade, Review, ReviewerDecision, Target
from assistant.pipeline import review as run_review
from assistant.report.decision import QueueEntry
from assistant.report.export import summary_bytes
from assistant.web.auth import ForbiddenError, User, hash_password, verify_password

T = TypeVar("T")

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
    final_grade: Grade | None = Field(default=None, description="审核人最终等级（最新版本已有审核结论时）；grade/score 为系统初评")
    decided_by: str | None = Field(default=None, description="作出该结论的审核人")
    decided: str | None = Field(default=None, description="审核结论的时间")
    duplicate_of: list[int] = Field(default_factory=list, description="最新版本内容与本提交相同的其他提交编号")


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
SORT_CN = {"updated": "最近更新", "score_asc": "得分从低到高", "score_desc": "得分从高到低", "project": "项目名称"}
PAGE_SIZE = 50
MAX_SUMMARY_ROWS = 5000  # one queue / batch summary workbook
MIN_PASSWORD = 8


class QueuePage(BaseModel):
    rows: list[SubmissionSummary]
    total: int
    page: int
    pages: int


# -- parsing ---------------------------------------------------------------------------------
def parse_json_text(text: str, *, where: str) -> Target:
    """A target from pasted JSON or a JSON request body (nesting bounded, Chinese errors)."""
    return parse_target(load_json(text, where=where), where=where, require=True)


async def parse_upload_held(state: Any, user: User, upload: Any) -> Target:
    """`parse_upload` of an uploaded file off the event loop, holding one of the user's upload slots (a few per user
    at once; the next gets HTTP 429)."""
    with state.upload_slots.hold(user.id):
        return await run_in_threadpool(parse_upload, upload.filename or "", await upload.read())


def parse_upload(filename: str, data: bytes) -> Target:
    """One target from an uploaded .json or .xlsx file (type checked by suffix and content)."""
    name = Path(filename or "upload").name
    if Path(name).suffix.lower() not in {".json", ".xlsx"}:
        raise InputError("不支持的文件类型：请上传 .json 或 .xlsx 文件", where=name)
    try:
        with table_row_cap():  # an upload's table has at most MAX_ROWS_PER_TABLE rows; the read stops there
            items = read_source(data, name=name)
    except InputError as exc:  # a sheet or row alone does not tell the user which of their files it was
        if name not in exc.message and name not in (exc.where or ""):
            exc.where = f"文件「{name}」" + (exc.where or "")
        raise
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
    return SubmissionSummary.model_validate({k: data[k] for k in SubmissionSummary.model_fields if k in data})


def scoped(user: User, filters: dict[str, Any]) -> dict[str, Any]:
    """The filters with the unit a user may see: a budget unit only ever its own."""
    unit = user.unit if user.role == "unit" else filters.get("unit")
    return {**filters, "unit": unit}


def with_duplicates(store: Any, user: User, rows: list[dict[str, Any]]) -> list[SubmissionSummary]:
    """Summaries, each with the other submissions of the same content (a unit sees only its own unit's)."""
    same = store.same_content([r.get("content_hash") or "" for r in rows],
                              unit=user.unit if user.role == "unit" else None)
    out = []
    for r in rows:
        s = summary(r)
        s.duplicate_of = [i for i in same.get(r.get("content_hash") or "", []) if i != s.id]
        out.append(s)
    return out


def list_for(store: Any, user: User, **filters: Any) -> list[SubmissionSummary]:
    return with_duplicates(store, user, store.list_submissions(**scoped(user, filters)))


def queue(store: Any, user: User, *, page: int = 1, **filters: Any) -> QueuePage:
    """One page (PAGE_SIZE rows) of the queue; a page past the end shows the last one."""
    where = scoped(user, filters)
    sort = where.pop("sort", "updated")
    total = store.count_submissions(**where)
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, page), pages)
    rows = store.list_submissions(**where, sort=sort, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    return QueuePage(rows=with_duplicates(store, user, rows), total=total, page=page, pages=pages)


def detail(store: Any, user: User, submission_id: int, version: int | None = None) -> SubmissionDetail:
    row = visible(store, user, submission_id)
    shown, review = store.review(submission_id, version)
    versions = [VersionInfo.model_validate(v) for v in store.versions(submission_id)]
    return SubmissionDetail(**with_duplicates(store, user, [row])[0].model_dump(), shown_version=shown, review=review,
                            versions=versions, decisions=store.decisions(submission_id))


def reviewer_decision(row: dict[str, Any] | None) -> ReviewerDecision | None:
    """A stored decision row as the exports' contract (None stays None)."""
    if row is None:
        return None
    return ReviewerDecision(reviewer=row["reviewer"], created=row["created"], version=row["version"],
                            status=row["status"], final_grade=row["final_grade"], opinion=row["opinion"] or "",
                            accepted=list(row["accepted"]), rejected=list(row["rejected"]))


def decision_for(store: Any, submission_id: int, version: int) -> ReviewerDecision | None:
    """The latest decision on that version, which its 审核意见表 carries."""
    return reviewer_decision(store.decision_for(submission_id, version))


def export_review(store: Any, user: User, submission_id: int, version: int | None, fmt: str) -> tuple[int, bytes]:
    """(shown version, the 审核意见表 bytes) with the reviewer's decision on that version, if any."""
    from assistant.report.export import export_bytes

    visible(store, user, submission_id)
    shown, review = store.review(submission_id, version)
    return shown, export_bytes(review, fmt, decision=decision_for(store, submission_id, shown))


def summary_workbook(store: Any, user: User, ids: list[int]) -> bytes:
    """The queue / batch summary (.xlsx) of these submissions (latest versions), in this order."""
    rows = [visible(store, user, sid) for sid in dict.fromkeys(ids)][:MAX_SUMMARY_ROWS]
    summaries = with_duplicates(store, user, rows)
    reviews, entries = [], []
    for s in summaries:
        version, review = store.review(s.id, s.version)
        reviews.append(review)
        entries.append(QueueEntry(submission_id=s.id, unit=s.unit, version=version, status=STATUS_CN.get(s.status, s.status),
                                  decision=decision_for(store, s.id, version), duplicate_of=s.duplicate_of))
    return summary_bytes(reviews, entries)


def queue_workbook(store: Any, user: User, **filters: Any) -> bytes:
    """The filtered queue (every page, up to MAX_SUMMARY_ROWS) as a summary workbook."""
    rows = store.list_submissions(**scoped(user, filters), limit=MAX_SUMMARY_ROWS)
    return summary_workbook(store, user, [int(r["id"]) for r in rows])


def job_workbook(store: Any, user: User, job_id: int) -> bytes:
    """A batch job's summary workbook: its submissions in file order (duplicate lines once)."""
    from assistant.web.batches import job_status

    job = job_status(store, user, job_id)
    ids = [i.submission_id for i in job.items if i.submission_id]
    if not ids:
        raise InputError("该批量任务还没有审核完成的项目，暂无汇总表", where=f"job {job_id}")
    return summary_workbook(store, user, ids)


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


def capped(fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` with the per-table row cap on any workbook it reads (batch uploads: run in a worker thread)."""
    with table_row_cap():
        return fn(*args)


def visible_ratings(store: Any, user: User, submission_id: int | None = None) -> list[dict[str, Any]]:
    """Ratings this user may see: reviewers and admins all of them, units none; an expert sees their own and,
    for a submission version they have rated themselves, the other experts' (never before: no anchoring)."""
    if user.role == "unit":
        return []
    rows = store.ratings(submission_id)
    if user.role != "expert":
        return list(rows)
    rated = {(r["submission_id"], r["version"]) for r in rows if r["expert"] == user.username}
    return [r for r in rows if (r["submission_id"], r["version"]) in rated]


def ratings_jsonl(store: Any, user: User) -> str:
    """Expert ratings in the evaluation harness's format (evaluate.ratings.load_ratings reads it); an expert
    gets only what `visible_ratings` shows them."""
    lines = []
    for r in visible_ratings(store, user):
        row = {"item_id": f"web-{r['submission_id']}-v{r['version']}", "rater": r["expert"],
               **{k: r[k] for k in ("completeness", "relevance", "suitability", "fund_fit")}}
        if r["overall"] is not None:
            row["overall"] = r["overall"]
        if r["notes"]:
            row["notes"] = {"overall": r["notes"]}
        lines.append(json.dumps(row, ensure_ascii=False))
    return "\n".join(lines) + ("\n" if lines else "")


# -- one's own password and the blank template ---------------------------------------------------
def change_password(store: Any, user: User, current: str, new: str, confirm: str | None = None, *,
                    keep_token_hash: str | None = None, via: str = "ui") -> int:
    """Check the current password, set the new one (at least MIN_PASSWORD characters), end the user's other sessions;
    returns how many sessions / login tokens were ended. Audited, without either password."""
    row = store.user(user.id)
    if row is None or not verify_password(row["password_hash"], current or ""):
        raise InputError("当前密码不正确", where="current_password")
    if len(new or "") < MIN_PASSWORD:
        raise InputError(f"新密码至少需要 {MIN_PASSWORD} 个字符", where="new_password")
    if len(new) > 200:
        raise InputError("新密码不能超过 200 个字符", where="new_password")
    if confirm is not None and confirm != new:
        raise InputError("两次输入的新密码不一致", where="confirm_password")
    if new == current:
        raise InputError("新密码不能与当前密码相同", where="new_password")
    ended = store.set_password(user.id, hash_password(new), keep_token_hash=keep_token_hash)
    store.audit(user.username, "password_changed", f"user:{user.id}", {"via": via, "sessions_ended": ended})
    return ended


TEMPLATE_STYLES = {"88": "88号文样式（成本指标在产出指标下）", "101": "101号文样式（成本指标为一级指标）"}


def template_bytes(style: str) -> bytes:
    """The blank 项目支出绩效目标申报表 (.xlsx) in 88 or 101 style, as `assistant template` writes it."""
    import tempfile

    from assistant.intake.xlsx_template import write_template

    if style not in TEMPLATE_STYLES:
        raise InputError(f"模板样式只能是 88 或 101，收到「{style[:20]}」", where="style")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "template.xlsx"
        write_template(path, style="101" if style == "101" else "88")
        return path.read_bytes()


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
