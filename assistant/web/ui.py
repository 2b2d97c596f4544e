"""Server-rendered Chinese UI (Jinja2). Cookie sessions; every POST form carries a CSRF token.

Pages: 登录, 提交草稿, 我的提交 / 审核队列, 审核结果 (with the reviewer's decision form and the
expert's scoring form). The same service functions as the JSON API do the work. Administration
lives in ui_admin.py, batch upload in ui_batch.py.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from assistant.dimensions import DIMENSION_KEYS, DIMENSIONS, GRADE_MEANING
from assistant.errors import AssistantError, InputError
from assistant.report.content import verdict
from assistant.report.export import EXPORT_TYPES
from assistant.web import service
from assistant.web.auth import (
    CSRF_COOKIE,
    ROLE_CN,
    SESSION_COOKIE,
    AuthError,
    RateLimited,
    User,
    check_csrf,
    csrf_token,
    session_user,
    start_session,
    token_hash,
)
from assistant.web.auth import (
    login as checked_login,
)
from assistant.web.versions import ARROW, summary_for

router = APIRouter(include_in_schema=False)
_SEV_CN = {"error": "错误", "warning": "警告", "info": "提示"}
_ACTION_CN = {"add": "新增", "revise": "修改", "remove": "删除"}


def _user(request: Request) -> User:
    user = session_user(request)
    if user is None:
        raise AuthError("请先登录")
    return user


def is_https(request: Request) -> bool:
    """The scheme the browser used: uvicorn sets it from X-Forwarded-Proto only for `--trusted-proxy` peers."""
    return request.url.scheme == "https"


def render(request: Request, name: str, ctx: dict[str, Any], status: int = 200) -> Response:
    token = csrf_token(request)
    base = {"csrf": token, "role_cn": ROLE_CN, "status_cn": service.STATUS_CN, "dims": DIMENSIONS,
            "dim_keys": DIMENSION_KEYS, "user": None}
    resp = request.app.state.templates.TemplateResponse(request, name, {**base, **ctx}, status_code=status)
    if request.cookies.get(CSRF_COOKIE) != token:
        resp.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict", secure=is_https(request))
    return resp


async def _form(request: Request) -> Any:
    form = await request.form()
    check_csrf(request, str(form.get("csrf_token") or ""))
    return form


@router.get("/")
def home(request: Request) -> Response:
    user = session_user(request)
    if user is None:
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse("/ui/submit" if user.role == "unit" else "/ui/submissions", status_code=303)


@router.get("/login")
def login_page(request: Request) -> Response:
    return render(request, "login.html", {"error": None})


@router.post("/login")
async def login(request: Request) -> Response:
    form = await _form(request)
    try:
        user = checked_login(request, str(form.get("username") or ""), str(form.get("password") or ""))
    except (AuthError, RateLimited) as exc:
        return render(request, "login.html", {"error": exc.message}, status=429 if isinstance(exc, RateLimited) else 401)
    resp = RedirectResponse("/", status_code=303)
    resp.set_cookie(SESSION_COOKIE, start_session(request, user), httponly=True, samesite="lax", secure=is_https(request),
                    max_age=int(request.app.state.config.session_max_s))
    return resp


@router.post("/logout")
async def logout(request: Request) -> Response:
    await _form(request)
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        request.app.state.store.drop_token(token_hash(token))
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(SESSION_COOKIE)
    return resp


def profile_choices(request: Request) -> dict[str, Any]:
    """Template context for a rule-profile <select>: every profile, and which one is active."""
    from assistant.web.profiles import summaries

    rows = summaries(request.app.state)
    return {"profiles": rows, "active_profile": next((p for p in rows if p.active), None)}


def chosen_profile(form: Any) -> str | None:
    return str(form.get("profile") or "").strip()[:40] or None


XLSX = EXPORT_TYPES["xlsx"]


def _attachment(data: bytes, filename: str, media_type: str = XLSX) -> Response:
    return Response(data, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@router.get("/ui/submit")
def submit_page(request: Request) -> Response:
    return render(request, "submit.html", {"user": _user(request), "error": None, "json_text": "", "chosen": "",
                                           "styles": service.TEMPLATE_STYLES, **profile_choices(request)})


@router.get("/ui/template.xlsx")
def template_download(request: Request, style: str = "88") -> Response:
    """The blank 申报表 to fill in and upload (88 or 101 style), for every signed-in user."""
    _user(request)
    data = service.template_bytes(style[:10])
    return _attachment(data, f"target-template-{style}.xlsx")


async def _target_from_form(request: Request, user: User, form: Any) -> Any:
    upload = form.get("file")
    if isinstance(upload, UploadFile) and upload.filename:
        return await service.parse_upload_held(request.app.state, user, upload)
    text = str(form.get("json_text") or "").strip()
    if not text:
        raise InputError("请粘贴绩效目标 JSON，或选择要上传的 .xlsx / .json 文件", where="表单")
    return service.parse_json_text(text, where="粘贴的 JSON")


@router.post("/ui/submit")
async def submit(request: Request) -> Response:
    user = _user(request)
    form = await _form(request)
    profile = chosen_profile(form)
    try:
        profile = service.check_profile(request.app.state, profile)
        target = await _target_from_form(request, user, form)
        sid = await run_in_threadpool(service.submit, request.app.state, user, target, profile)
    except InputError as exc:
        return render(request, "submit.html", {"user": user, "error": str(exc), "chosen": profile or "",
                                               "json_text": str(form.get("json_text") or ""),
                                               "styles": service.TEMPLATE_STYLES, **profile_choices(request)},
                      status=400)
    return RedirectResponse(f"/ui/submissions/{sid}", status_code=303)


def _queue_args(q: str, grade: str, rule_id: str, status: str, sort: str) -> dict[str, Any]:
    """The queue's filters as given (garbage ignored, never an error): the form shows them, links keep them."""
    return {"q": q.strip()[:100], "grade": grade if grade in GRADE_MEANING else "", "rule_id": rule_id.strip()[:50],
            "status": status if status in service.STATUS_CN else "", "sort": sort if sort in service.SORT_CN else ""}


def _filters(args: dict[str, Any]) -> dict[str, Any]:
    return {"q": args["q"] or None, "grade": args["grade"] or None, "rule_id": args["rule_id"] or None,
            "status": args["status"] or None, "sort": args["sort"] or "updated"}


def _page_links(args: dict[str, Any], page: int, pages: int) -> list[tuple[int | None, str]]:
    """(page or None for a gap, href) around the current page: first, last and two either side."""
    keep = {k: v for k, v in args.items() if v}
    shown = sorted({1, pages, *range(max(1, page - 2), min(pages, page + 2) + 1)})
    links: list[tuple[int | None, str]] = []
    for k, n in enumerate(shown):
        if k and n - shown[k - 1] > 1:
            links.append((None, ""))
        links.append((n, "?" + urlencode({**keep, "page": n})))
    return links


@router.get("/ui/submissions")
def submissions(request: Request, q: str = "", grade: str = "", rule_id: str = "", status: str = "",
                sort: str = "", page: str = "1") -> Response:
    user = _user(request)
    args = _queue_args(q, grade, rule_id, status, sort)
    number = int(page) if page.isascii() and page.isdigit() and len(page) < 7 else 1
    result = service.queue(request.app.state.store, user, page=number, **_filters(args))
    keep = {k: v for k, v in args.items() if v}
    return render(request, "list.html", {
        "user": user, "rows": result.rows, "total": result.total, "page": result.page, "pages": result.pages,
        "page_links": _page_links(args, result.page, result.pages), "grades": list(GRADE_MEANING),
        "prev_href": "?" + urlencode({**keep, "page": result.page - 1}) if result.page > 1 else None,
        "next_href": "?" + urlencode({**keep, "page": result.page + 1}) if result.page < result.pages else None,
        "sorts": service.SORT_CN, "export_href": "/ui/submissions/export.xlsx" + ("?" + urlencode(keep) if keep else ""),
        **args})


@router.get("/ui/submissions/export.xlsx")
def submissions_export(request: Request, q: str = "", grade: str = "", rule_id: str = "", status: str = "",
                       sort: str = "") -> Response:
    """The filtered queue (every page) as an Excel summary: one row per project, a grade-distribution chart."""
    user = _user(request)
    data = service.queue_workbook(request.app.state.store, user, **_filters(_queue_args(q, grade, rule_id, status, sort)))
    return _attachment(data, "queue-summary.xlsx")


@router.get("/ui/batches/{job_id}/summary.xlsx")
def batch_summary(job_id: int, request: Request) -> Response:
    """A batch job's Excel summary (the same workbook as the queue's)."""
    user = _user(request)
    return _attachment(service.job_workbook(request.app.state.store, user, job_id), f"batch-{job_id}-summary.xlsx")


def _detail_ctx(request: Request, user: User, submission_id: int, version: int | None) -> dict[str, Any]:
    store = request.app.state.store
    d = service.detail(store, user, submission_id, version)
    r = d.review
    decision = service.decision_for(store, submission_id, d.shown_version)  # what this version's exports carry
    outcome = {i: "accept" for i in decision.accepted} | {i: "reject" for i in decision.rejected} if decision else {}
    by_row: dict[int, list] = defaultdict(list)
    for f in r.findings:
        if f.indicator_index is not None:
            by_row[f.indicator_index].append(f)
    header = [f for f in r.findings if f.indicator_index is None]
    return {"user": user, "d": d, "r": r, "by_row": by_row, "header_findings": header, "sev_cn": _SEV_CN,
            "action_cn": _ACTION_CN, "grade_meaning": GRADE_MEANING, "grades": list(GRADE_MEANING),
            "verdict": verdict(r), "target_json": draft_json(r.target), "working": None,
            "ratings": service.visible_ratings(store, user, submission_id),
            "chosen": r.meta.profile, "arrow": ARROW,
            "cmp": summary_for(request.app.state.store, user, submission_id, d.shown_version),
            "decision": decision, "outcome": outcome, **profile_choices(request)}


def draft_json(target: Any) -> str:
    """The re-submit box's JSON: defaults left out, but every indicator row keeps its four fields (an empty value
    stays visible to fill in)."""
    data = target.model_dump(mode="json", exclude_defaults=True)
    rows = [{k: v for k, v in i.items() if k != "sheet_row"} for i in data.get("indicators", [])]  # edited JSON has
    data["indicators"] = [{"level1": "", "level2": "", "name": "", "value": "", **i} for i in rows]  # no workbook rows
    return json.dumps(data, ensure_ascii=False, indent=1)


def with_working_draft(request: Request, user: User, submission_id: int, ctx: dict[str, Any]) -> dict[str, Any]:
    """The unit's saved, unsubmitted revision in the re-submit box (library picks and edits kept between pages)."""
    saved = request.app.state.store.working_draft(user.id, submission_id) if user.role in ("unit", "admin") else None
    if saved is not None:
        ctx = {**ctx, "target_json": saved["text"], "working": saved["updated"][:16].replace("T", " ")}
    return ctx


_SAVED_NOTICE = {"saved": "修改稿已保存（尚未提交）。", "discarded": "已放弃修改稿，下方恢复为当前版本的内容。"}


@router.get("/ui/submissions/{submission_id}")
def submission_page(submission_id: int, request: Request, version: int | None = None, note: str = "") -> Response:
    user = _user(request)
    ctx = with_working_draft(request, user, submission_id, _detail_ctx(request, user, submission_id, version))
    return render(request, "detail.html", {**ctx, "error": None, "notice": _SAVED_NOTICE.get(note)})


async def _redisplay(request: Request, user: User, submission_id: int, exc: AssistantError) -> Response:
    ctx = _detail_ctx(request, user, submission_id, None)
    return render(request, "detail.html", {**ctx, "error": str(exc)}, status=400)


@router.post("/ui/submissions/{submission_id}/decision")
async def decision(submission_id: int, request: Request) -> Response:
    user = _user(request)
    form = await _form(request)
    accepted: list[int] = []
    rejected: list[int] = []
    for key, value in form.multi_items():
        if key.startswith("s_") and key[2:].isdigit():
            (accepted if value == "accept" else rejected if value == "reject" else []).append(int(key[2:]))
    try:
        body = service.DecisionIn(version=int(str(form.get("version") or 0)) or None,
                                  final_grade=str(form.get("final_grade") or ""),
                                  opinion=str(form.get("opinion") or ""),
                                  accepted=accepted, rejected=rejected, status=str(form.get("status") or ""))
        service.decide(request.app.state.store, user, submission_id, body)
    except (ValidationError, ValueError) as exc:
        return await _redisplay(request, user, submission_id, InputError(_short(exc), where="审核表单"))
    return RedirectResponse(f"/ui/submissions/{submission_id}", status_code=303)


@router.post("/ui/submissions/{submission_id}/ratings")
async def rating(submission_id: int, request: Request) -> Response:
    user = _user(request)
    form = await _form(request)
    try:
        overall = str(form.get("overall") or "").strip()
        body = service.RatingIn(version=int(str(form.get("version") or 0)) or None,
                                **{k: int(str(form.get(k) or 0)) for k in DIMENSION_KEYS},
                                overall=float(overall) if overall else None, notes=str(form.get("notes") or ""))
        service.rate(request.app.state.store, user, submission_id, body)
    except (ValidationError, ValueError) as exc:
        return await _redisplay(request, user, submission_id, InputError(_short(exc), where="评分表单"))
    return RedirectResponse(f"/ui/submissions/{submission_id}", status_code=303)


@router.post("/ui/submissions/{submission_id}/versions")
async def resubmit(submission_id: int, request: Request) -> Response:
    user = _user(request)
    form = await _form(request)
    service.visible(request.app.state.store, user, submission_id)
    try:
        profile = service.check_profile(request.app.state, chosen_profile(form))
        target = await _target_from_form(request, user, form)
        await run_in_threadpool(service.resubmit, request.app.state, user, submission_id, target, profile)
    except InputError as exc:
        ctx = _detail_ctx(request, user, submission_id, None)
        return render(request, "detail.html", {**ctx, "error": str(exc), "target_json": str(form.get("json_text") or "")},
                      status=400)  # what the unit typed stays in the box
    request.app.state.store.drop_draft(user.id, submission_id)
    return RedirectResponse(f"/ui/submissions/{submission_id}", status_code=303)


@router.get("/ui/submissions/{submission_id}/export")
def export(submission_id: int, request: Request, format: str = "docx", version: int | None = None) -> Response:
    user = _user(request)
    if format not in EXPORT_TYPES:
        raise InputError("导出格式只支持 docx、xlsx 或 md", where="format")
    shown, data = service.export_review(request.app.state.store, user, submission_id, version, format)
    return _attachment(data, f"review-{submission_id}-v{shown}.{format}", EXPORT_TYPES[format])


@router.get("/ui/password")
def password_page(request: Request) -> Response:
    return render(request, "password.html", {"user": _user(request), "min_length": service.MIN_PASSWORD})


@router.post("/ui/password")
async def change_password(request: Request) -> Response:
    """Change one's own password; the user's other sessions end (this one stays signed in)."""
    user = _user(request)
    form = await _form(request)
    token = request.cookies.get(SESSION_COOKIE)
    try:
        ended = await run_in_threadpool(
            service.change_password, request.app.state.store, user, str(form.get("current_password") or ""),
            str(form.get("new_password") or ""), str(form.get("confirm_password") or ""),
            keep_token_hash=token_hash(token) if token else None)
    except InputError as exc:
        return render(request, "password.html", {"user": user, "min_length": service.MIN_PASSWORD, "error": str(exc)},
                      status=400)
    notice = "密码已修改。" + (f"其他 {ended} 处登录已退出。" if ended else "")
    return render(request, "password.html", {"user": user, "min_length": service.MIN_PASSWORD, "notice": notice})


def _short(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        fields = "、".join(".".join(str(p) for p in e["loc"]) for e in exc.errors()[:3])
        return f"表单字段无效：{fields}"
    return "表单填写有误，请检查后重试"
