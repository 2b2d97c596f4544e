"""Web batch jobs on the resumable batch (assistant.batch.run_batch): an uploaded .jsonl / .json / .xlsx becomes a
job whose every reviewed line is a submission of the uploading unit. The upload is kept with the job until it
ends, so a job that a crash or a restart interrupted is resumed on the next start: what was committed is kept,
the rest is reviewed (by content hash, as the CLI batch does), and the status page says so.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from assistant.batch import BatchResult, run_batch
from assistant.errors import InputError, NotFoundError
from assistant.intake.reader import read_source
from assistant.web.auth import ForbiddenError, User

log = logging.getLogger("assistant.web")
BATCH_SUFFIXES = {".jsonl", ".json", ".xlsx"}


class JobItem(BaseModel):
    line: int = Field(description="行号（.jsonl）、第几个对象（.json）或第几张表（.xlsx）")
    submission_id: int | None = None
    error: str | None = None
    project_name: str = ""
    fallback: str | None = Field(default=None, description="LLM 评审失败、改用离线评审的原因")
    duplicate_of: int | None = Field(default=None, description="与第几行内容相同（未重复提交，指向同一提交）")


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
    resumed: int = Field(default=0, description="服务重启后自动续跑的次数")
    items: list[JobItem] = Field(default_factory=list)


class WebBatchSink:
    """`BatchSink` over the web store: a reviewed line becomes a submission and its job item, atomically."""

    retries = 0

    def __init__(self, app_state: Any, user: User, job_id: int) -> None:
        self.state, self.user, self.job = app_state, user, job_id

    def start(self, job_id: str, source: str, *, retry_fallbacks: bool) -> dict[str, int]:
        return self.state.store.start_job_run(self.job)

    def put(self, job_id: str, result: BatchResult) -> None:
        store = self.state.store
        if result.status == "error" or result.target is None or result.review is None:
            store.job_item(self.job, result.line, error=result.error, project_name=result.project)
            return
        sid = store.job_submission(self.job, result.line, unit=self.user.unit, user_id=self.user.id,
                                   target=result.target, review=result.review, fallback=result.review.fallback_reason)
        store.audit(self.user.username, "submitted", f"submission:{sid}",
                    {"version": 1, "grade": result.review.grade, "content_hash": result.review.meta.content_hash,
                     "profile": result.review.meta.profile, "job": self.job})

    def duplicate(self, job_id: str, *, line: int, key: str, first_line: int, project: str) -> None:
        store = self.state.store
        store.job_item(self.job, line, submission_id=store.item_submission(self.job, first_line), project_name=project,
                       duplicate_of=first_line)

    def finish(self, job_id: str, status: str) -> int:
        self.state.store.finish_job(self.job, "done" if status == "done" else "failed")
        return 0

    def close(self) -> None:
        pass


def _items(name: str, data: bytes, max_lines: int) -> list[Any]:
    if Path(name).suffix.lower() not in BATCH_SUFFIXES:
        raise InputError("批量上传只支持 .jsonl（每行一个绩效目标 JSON）、.json（目标数组）或 .xlsx 申报表", where=name)
    items = read_source(data, name=name)
    if len(items) > max_lines:
        raise InputError(f"单次最多{max_lines}个绩效目标", where=name)
    return items


def start_batch(app_state: Any, user: User, filename: str, data: bytes, profile: str | None = None) -> int:
    """Check the upload, create the job (keeping the file) and queue it; returns the job id."""
    from assistant.web.profiles import active_name
    from assistant.web.service import check_profile

    if user.role not in ("unit", "admin"):
        raise ForbiddenError("只有预算单位（或管理员）可以批量提交")
    name = Path(filename or "batch.jsonl").name
    chosen = check_profile(app_state, profile)
    items = _items(name, data, app_state.config.max_batch_lines)
    store = app_state.store
    job_id = store.create_job(user_id=user.id, unit=user.unit, total=len(items), filename=name,
                              profile=chosen or active_name(app_state), source=data)
    store.audit(user.username, "batch_started", f"job:{job_id}", {"file": name, "total": len(items)})
    app_state.executor.submit(_run, app_state, user, job_id, items, chosen)
    return job_id


def _run(app_state: Any, user: User, job_id: int, items: list[Any], profile: str | None) -> None:
    from assistant.web.profiles import deps_for

    try:
        run_batch(items, deps=deps_for(app_state, profile), sink=WebBatchSink(app_state, user, job_id),
                  job_name=f"web-{job_id}")
    except Exception:  # noqa: BLE001 - a job that cannot run ends as failed, with what it did
        log.exception("batch job %s failed", job_id)
        app_state.store.finish_job(job_id, "failed")


def resume_unfinished(app_state: Any) -> list[int]:
    """Queue every job a crash or restart interrupted; returns their ids. A job whose upload is gone (or unreadable)
    ends as failed with what it had done."""
    from assistant.web.auth import user_from_row

    store = app_state.store
    resumed = []
    for row in store.unfinished_jobs():
        owner = store.user(row["user_id"])
        if owner is None or not row.get("source"):
            store.finish_job(row["id"], "failed")
            continue
        try:
            items = read_source(bytes(row["source"]), name=row["filename"] or "batch.jsonl")
        except InputError:
            store.finish_job(row["id"], "failed")
            continue
        store.mark_resumed(row["id"])
        app_state.executor.submit(_run, app_state, user_from_row(owner), row["id"], items, row["profile"] or None)
        resumed.append(row["id"])
    return resumed


def job_status(store: Any, user: User, job_id: int) -> JobStatus:
    row = store.job(job_id)
    if user.role != "admin" and row["user_id"] != user.id:
        raise NotFoundError("未找到该批量任务", where=f"job {job_id}")
    finished = row["done"] + row["failed"]
    items = [JobItem.model_validate(i) for i in row["items"]]
    return JobStatus(id=row["id"], status=row["status"], total=row["total"], done=row["done"], failed=row["failed"],
                     fallbacks=sum(1 for i in items if i.fallback), filename=row["filename"], profile=row["profile"],
                     created=row["created"], finished=row["finished"], resumed=row["resumed"] or 0,
                     progress=round(finished / row["total"], 4) if row["total"] else 1.0, items=items)
