"""Batch upload pages for budget units and admins: upload a .jsonl / .json / .xlsx with many targets,
then a status page (progress, errors, LLM fallbacks, links to the created submissions) that reloads
itself with <meta http-equiv="refresh"> while the job runs (no script, so the CSP stays strict).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from assistant.errors import InputError
from assistant.web import batches, service
from assistant.web.auth import ForbiddenError, User
from assistant.web.ui import _form, _user, chosen_profile, profile_choices, render

router = APIRouter(include_in_schema=False, prefix="/ui/batches")
JOB_STATUS_CN = {"queued": "排队中", "running": "审核中", "done": "已完成", "failed": "中断"}
REFRESH_S = 2


def _uploader(request: Request) -> User:
    user = _user(request)
    if user.role not in ("unit", "admin"):
        raise ForbiddenError("只有预算单位（或管理员）可以批量提交")
    return user


def _list_ctx(request: Request, user: User) -> dict:
    jobs = request.app.state.store.list_jobs(user_id=None if user.role == "admin" else user.id)
    return {"user": user, "jobs": jobs, "job_status_cn": JOB_STATUS_CN, **profile_choices(request)}


@router.get("")
def batches_page(request: Request) -> Response:
    user = _uploader(request)
    return render(request, "batch.html", {**_list_ctx(request, user), "error": None, "chosen": ""})


@router.post("")
async def upload(request: Request) -> Response:
    user = _uploader(request)
    form = await _form(request)
    upload_file = form.get("file")
    profile = chosen_profile(form)
    try:
        if not isinstance(upload_file, UploadFile) or not upload_file.filename:
            raise InputError("请选择要批量上传的 .xlsx / .jsonl / .json 文件", where="表单")
        data = await upload_file.read()
        with request.app.state.upload_slots.hold(user.id):
            job_id = await run_in_threadpool(service.capped, batches.start_batch, request.app.state, user,
                                             upload_file.filename, data, profile)
    except InputError as exc:
        return render(request, "batch.html", {**_list_ctx(request, user), "error": str(exc), "chosen": profile or ""},
                      status=400)
    return RedirectResponse(f"/ui/batches/{job_id}", status_code=303)


@router.get("/{job_id}")
def job_page(job_id: int, request: Request) -> Response:
    user = _uploader(request)
    job = batches.job_status(request.app.state.store, user, job_id)
    running = job.status in ("queued", "running")
    return render(request, "batch_status.html", {"user": user, "error": None, "job": job, "running": running,
                                                  "refresh_s": REFRESH_S, "job_status_cn": JOB_STATUS_CN,
                                                  "percent": round(job.progress * 100)})
