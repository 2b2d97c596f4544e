"""What the API and the UI routes share: parsing uploads, access checks, submit / decide / rate,
batch jobs and exports. Everything state-changing writes an audit row.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
import threading
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from assistant.errors import InputError, NotFoundError
from assistant.models import Grade, Review, Target
from assistant.pipeline import review as run_review
from assistant.records import json_error, parse_target
from assistant.web.auth import ForbiddenError, User

XLSX_MAGIC = b"PK\x03\x04"
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


class JobItem(BaseModel):
    line: int = Field(description="行号（.jsonl）或第几张表（.xlsx）")
    submission_id: int | None = None
    error: str | None = None
    project_name: str = ""
    fallback: str | None = Field(default=None, description="LLM 评审失败、改用离线评审的原因")


class JobStatus(BaseModel):
    id: int
    status: str
    total: int
    done: int
    failed: int
    fallbacks: int = 0
    progress: float
    filename: str = ""
    profile: str = ""
    created: str = ""
    finished: str | None = None
    items: list[JobItem] = Field(default_factory=list)


STATUS_CN = {"submitted": "待审核", "returned": "退回修改", "passed": "审核通过"}


# -- parsing ---------------------------------------------------------------------------------
def parse_json_text(text: str, *, where: str) -> Target:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(json_error(exc), where=where) from None
    return parse_target(data, where=where, require=True)


def xlsx_targets(name: str, data: bytes) -> list[Target]:
    """The target tables of an uploaded workbook (checked to be a zip-based .xlsx first)."""
    if not data.startswith(XLSX_MAGIC):
        raise InputError("文件扩展名是 .xlsx，但内容不是 Excel 工作簿", where=name)
    from assistant.importers.xlsx import read_targets as read_xlsx

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "upload.xlsx"
        path.write_bytes(data)
        return read_xlsx(path)


def parse_upload(filename: str, data: bytes) -> Target:
    """One target from an uploaded .json or .xlsx file (type checked by suffix and content)."""
    name = Path(filename or "upload").name
    suffix = Path(name).suffix.lower()
    if not data:
        raise InputError("上传的文件为空", where=name)
    if suffix == ".json":
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise InputError("文件不是 UTF-8 编码的 JSON", where=name) from None
        return parse_json_text(text, where=name)
    if suffix == ".xlsx":
        targets = xlsx_targets(name, data)
        if not targets:
            raise InputError("工作簿中没有找到绩效目标表", where=name)
        if len(targets) > 1:
            raise InputError(f"工作簿中有{len(targets)}张绩效目标表：单次提交只收一张，多张请用批量上传", where=name)
        return parse_target(targets[0].model_dump(mode="json"), where=name, require=True)
    raise InputError("不支持的文件类型：请上传 .json 或 .xlsx 文件", where=name)


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


# -- batches ---------------------------------------------------------------------------------
BATCH_SUFFIXES = {".jsonl", ".json", ".xlsx"}


def _batch_items(name: str, data: bytes, max_lines: int) -> list[tuple[int, str | Target]]:
    """(line or sheet number, JSON text or parsed target) for every target in an uploaded batch file."""
    suffix = Path(name).suffix.lower()
    if suffix not in BATCH_SUFFIXES:
        raise InputError("批量上传只支持 .jsonl（每行一个绩效目标 JSON）、.json（目标数组）或 .xlsx 申报表", where=name)
    if not data:
        raise InputError("上传的文件为空", where=name)
    if suffix == ".xlsx":
        items: list[tuple[int, str | Target]] = list(enumerate(xlsx_targets(name, data), start=1))
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InputError("文件不是 UTF-8 编码", where=name) from None
        if suffix == ".json":
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError as exc:
                raise InputError(json_error(exc), where=name) from None
            rows = parsed if isinstance(parsed, list) else [parsed]
            items = [(n, json.dumps(row, ensure_ascii=False)) for n, row in enumerate(rows, start=1)]
        else:
            items = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not items:
        raise InputError("文件中没有绩效目标", where=name)
    if len(items) > max_lines:
        raise InputError(f"单次最多{max_lines}个绩效目标", where=name)
    return items


def start_batch(app_state: Any, user: User, filename: str, data: bytes, profile: str | None = None) -> int:
    if user.role not in ("unit", "admin"):
        raise ForbiddenError("只有预算单位（或管理员）可以批量提交")
    name = Path(filename or "batch.jsonl").name
    chosen = check_profile(app_state, profile)
    items = _batch_items(name, data, app_state.config.max_batch_lines)
    from assistant.web.profiles import active_name

    store = app_state.store
    job_id = store.create_job(user_id=user.id, unit=user.unit, total=len(items), filename=name,
                              profile=chosen or active_name(app_state))
    store.audit(user.username, "batch_started", f"job:{job_id}", {"file": name, "total": len(items)})
    app_state.executor.submit(_run_batch, app_state, user, job_id, name, items, chosen)
    return job_id


def _run_batch(app_state: Any, user: User, job_id: int, name: str, items: list[tuple[int, str | Target]],
               profile: str | None) -> None:
    store = app_state.store
    unit = "张表" if Path(name).suffix.lower() == ".xlsx" else ("个" if name.lower().endswith(".json") else "行")
    try:
        for n, item in items:
            where = f"{name} 第{n}{unit}"
            label = item.project_name if isinstance(item, Target) else ""
            try:
                target = item if isinstance(item, Target) else parse_json_text(item, where=where)
                label = target.project_name
                sid = submit(app_state, user, target, profile)
                _, review = store.review(sid)
                store.job_item(job_id, n, submission_id=sid, project_name=label,
                               fallback=review.fallback_reason or None)
            except InputError as exc:
                store.job_item(job_id, n, error=str(exc), project_name=label)
            except Exception:  # noqa: BLE001 - one bad record must not stop the batch
                store.job_item(job_id, n, error=f"{where}：审核失败（内部错误）", project_name=label)
        store.finish_job(job_id, "done")
    except Exception:  # noqa: BLE001
        store.finish_job(job_id, "failed")


def job_status(store: Any, user: User, job_id: int) -> JobStatus:
    row = store.job(job_id)
    if user.role != "admin" and row["user_id"] != user.id:
        raise NotFoundError("未找到该批量任务", where=f"job {job_id}")
    finished = row["done"] + row["failed"]
    items = [JobItem.model_validate(i) for i in row["items"]]
    return JobStatus(id=row["id"], status=row["status"], total=row["total"], done=row["done"], failed=row["failed"],
                     fallbacks=sum(1 for i in items if i.fallback), filename=row["filename"], profile=row["profile"],
                     created=row["created"], finished=row["finished"],
                     progress=round(finished / row["total"], 4) if row["total"] else 1.0, items=items)


# -- export and corpus -------------------------------------------------------------------------
EXPORT_TYPES = {"docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                "md": "text/markdown; charset=utf-8"}


def export_bytes(review: Review, fmt: str) -> bytes:
    if fmt == "md":
        from assistant.render import to_markdown

        return to_markdown(review).encode("utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"review.{fmt}"
        if fmt == "docx":
            from assistant.exporters.docx import export_review_docx

            export_review_docx(review, path)
        elif fmt == "xlsx":
            from assistant.exporters.xlsx import export_review_xlsx

            export_review_xlsx(review, path)
        else:
            raise InputError("导出格式只支持 docx、xlsx 或 md", where="format")
        return path.read_bytes()


def import_corpus(app_state: Any, user: User, filename: str, data: bytes) -> dict[str, Any]:
    require(user, "admin")
    from assistant.corpus_store import import_file, open_index

    name = Path(filename or "corpus.jsonl").name
    suffix = Path(name).suffix.lower()
    if suffix not in {".jsonl", ".json", ".xlsx"}:
        raise InputError("先例导入只支持 .jsonl、.json 或 .xlsx 文件", where=name)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        result = import_file(path, app_state.settings)
    index = open_index(app_state.settings)
    with _deps_lock:
        app_state.deps = dataclasses.replace(app_state.deps, index=index)
    app_state.store.audit(user.username, "corpus_imported", f"corpus:{name}",
                          {"added": result.added, "duplicates": result.duplicates})
    return {"added": result.added, "duplicates": result.duplicates, "corpus_version": app_state.deps.index.version}
