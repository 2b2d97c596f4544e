"""Administration pages (Chinese, server-rendered): users, API tokens, rule profiles, corpus import,
audit trail. Admins only (others get 403); every POST form carries the CSRF token. Each POST
renders its page again with a notice or a Chinese error, so a new token can be shown exactly once.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from assistant.errors import InputError, NotFoundError
from assistant.web import api_admin, profiles, service, wording
from assistant.web.auth import ROLES, ForbiddenError, User, now_s
from assistant.web.ui import _SEV_CN, _form, _user, render

router = APIRouter(include_in_schema=False, prefix="/ui/admin")
_FIELD_CN = {"username": "用户名（字母、数字、下划线、点、@、连字符）", "password": "密码（至少 8 位）",
             "role": "角色", "unit": "所属单位"}
AUDIT_CN = {"login": "登录", "token_issued": "签发令牌", "token_issued_for": "为用户签发令牌", "token_revoked": "撤销令牌",
            "user_created": "创建用户", "user_disabled": "停用用户", "user_enabled": "恢复用户", "submitted": "提交草稿",
            "resubmitted": "重新提交", "decided": "审核决定", "rated": "专家评分", "batch_started": "批量上传",
            "corpus_imported": "导入先例", "profile_activated": "切换规则配置", "profile_uploaded": "上传规则配置",
            "profile_deleted": "删除规则配置", "library_imported": "导入指标库", "library_deleted": "删除指标库文件"}


def _admin(request: Request) -> User:
    user = _user(request)
    if user.role != "admin":
        raise ForbiddenError("只有管理员可以访问管理页面")
    return user


def _page(request: Request, name: str, user: User, ctx: dict[str, Any], *, error: str | None = None,
          notice: str | None = None) -> Response:
    return render(request, name, {"user": user, "error": error, "notice": notice, **ctx},
                  status=400 if error else 200)


def _explain(exc: ValidationError) -> str:
    fields = []
    for e in exc.errors()[:3]:
        key = str(e["loc"][0]) if e.get("loc") else ""
        fields.append(_FIELD_CN.get(key, key))
    return "表单填写有误：" + "、".join(fields)


@router.get("")
def admin_home(request: Request) -> Response:
    _admin(request)
    return RedirectResponse("/ui/admin/users", status_code=303)


# -- users -------------------------------------------------------------------------------------
def _users_ctx(request: Request) -> dict[str, Any]:
    return {"users": request.app.state.store.list_users(), "roles": ROLES}


@router.get("/users")
def users_page(request: Request) -> Response:
    user = _admin(request)
    return _page(request, "admin_users.html", user, _users_ctx(request))


@router.post("/users")
async def create_user(request: Request) -> Response:
    user = _admin(request)
    form = await _form(request)
    fields = {k: str(form.get(k) or "") for k in ("username", "password", "role", "unit")}
    try:
        body = api_admin.UserIn(**fields)
        uid = await run_in_threadpool(api_admin.create_user_row, request.app.state.store, user, body)
    except ValidationError as exc:
        return _page(request, "admin_users.html", user, {**_users_ctx(request), "form": fields}, error=_explain(exc))
    except InputError as exc:
        return _page(request, "admin_users.html", user, {**_users_ctx(request), "form": fields}, error=str(exc))
    return _page(request, "admin_users.html", user, _users_ctx(request),
                 notice=f"已创建用户「{body.username}」（编号 {uid}）")


@router.post("/users/{user_id}/disabled")
async def toggle_user(user_id: int, request: Request) -> Response:
    user = _admin(request)
    form = await _form(request)
    disabled = str(form.get("disabled") or "") == "1"
    try:
        api_admin.set_disabled(request.app.state.store, user, user_id, disabled)
    except (InputError, NotFoundError) as exc:
        return _page(request, "admin_users.html", user, _users_ctx(request), error=str(exc))
    row = request.app.state.store.user(user_id)
    what = "已停用用户「{}」：其令牌与会话已失效" if disabled else "已恢复用户「{}」"
    return _page(request, "admin_users.html", user, _users_ctx(request), notice=what.format(row["username"]))


# -- tokens ------------------------------------------------------------------------------------
def _tokens_ctx(request: Request) -> dict[str, Any]:
    store = request.app.state.store
    return {"tokens": [api_admin.token_info(r, now=now_s(request)) for r in store.list_tokens()],
            "users": [u for u in store.list_users() if not u["disabled"]]}


@router.get("/tokens")
def tokens_page(request: Request) -> Response:
    user = _admin(request)
    return _page(request, "admin_tokens.html", user, _tokens_ctx(request))


@router.post("/tokens")
async def create_token(request: Request) -> Response:
    user = _admin(request)
    form = await _form(request)
    try:
        uid = int(str(form.get("user_id") or "0"))
        token, token_id, target = api_admin.issue_for(request.app.state.store, user, uid, t=now_s(request),
                                                      note=str(form.get("note") or "")[:100])
    except ValueError:
        return _page(request, "admin_tokens.html", user, _tokens_ctx(request), error="请选择用户")
    except (InputError, NotFoundError) as exc:
        return _page(request, "admin_tokens.html", user, _tokens_ctx(request), error=str(exc))
    return _page(request, "admin_tokens.html", user,
                 {**_tokens_ctx(request), "new_token": token, "new_token_user": target.username},
                 notice=f"已为「{target.username}」签发令牌（编号 {token_id}）")


@router.post("/tokens/{token_id}/revoke")
async def revoke_token(token_id: int, request: Request) -> Response:
    user = _admin(request)
    await _form(request)
    row = api_admin.revoke(request.app.state.store, user, token_id)
    return _page(request, "admin_tokens.html", user, _tokens_ctx(request),
                 notice=f"已撤销令牌 {row['prefix']}…（{row['username']}），立即失效")


# -- rule profiles -------------------------------------------------------------------------------
def _profiles_ctx(request: Request) -> dict[str, Any]:
    return {"profiles": profiles.summaries(request.app.state)}


@router.get("/profiles")
def profiles_page(request: Request) -> Response:
    user = _admin(request)
    return _page(request, "admin_profiles.html", user, _profiles_ctx(request))


@router.post("/profiles/active")
async def set_active(request: Request) -> Response:
    user = _admin(request)
    form = await _form(request)
    try:
        out = profiles.set_active(request.app.state, user, str(form.get("name") or "")[:40])
    except InputError as exc:
        return _page(request, "admin_profiles.html", user, _profiles_ctx(request), error=str(exc))
    return _page(request, "admin_profiles.html", user, _profiles_ctx(request),
                 notice=f"当前规则配置已切换为「{out.title}」（{out.name}）")


@router.post("/profiles")
async def upload_profile(request: Request) -> Response:
    user = _admin(request)
    form = await _form(request)
    upload = form.get("file")
    text = str(form.get("json_text") or "")
    where = "粘贴的 JSON"
    try:
        if isinstance(upload, UploadFile) and upload.filename:
            where = upload.filename
            if not where.lower().endswith(".json"):
                raise InputError("规则配置只支持 .json 文件", where=where)
            try:
                text = (await upload.read()).decode("utf-8-sig")
            except UnicodeDecodeError:
                raise InputError("规则配置不是 UTF-8 编码的 JSON", where=where) from None
        if not text.strip():
            raise InputError("请选择规则配置 .json 文件，或粘贴规则配置 JSON", where="表单")
        saved = profiles.save_custom(request.app.state, user, profiles.parse_upload(text, where=where))
    except InputError as exc:
        return _page(request, "admin_profiles.html", user, {**_profiles_ctx(request), "json_text": text},
                     error=str(exc))
    return _page(request, "admin_profiles.html", user, _profiles_ctx(request),
                 notice=f"已保存自定义规则配置「{saved.title}」（{saved.name}）")


@router.get("/profiles/{name}")
def profile_page(name: str, request: Request) -> Response:
    user = _admin(request)
    d = profiles.detail(request.app.state, name[:40])
    return _page(request, "admin_profile.html", user, {"p": d, "field_cn": profiles.FIELD_CN, "sev_cn": _SEV_CN,
                                                        "body_json": json.dumps(d.body, ensure_ascii=False, indent=1)})


@router.post("/profiles/{name}/delete")
async def delete_profile(name: str, request: Request) -> Response:
    user = _admin(request)
    await _form(request)
    try:
        profiles.delete_custom(request.app.state, user, name[:40])
    except (InputError, NotFoundError) as exc:
        return _page(request, "admin_profiles.html", user, _profiles_ctx(request), error=str(exc))
    return _page(request, "admin_profiles.html", user, _profiles_ctx(request), notice=f"已删除规则配置「{name}」")


# -- corpus and audit ------------------------------------------------------------------------------
@router.get("/corpus")
def corpus_page(request: Request) -> Response:
    user = _admin(request)
    return _page(request, "admin_corpus.html", user, {"result": None, "version": _corpus_version(request)})


def _corpus_version(request: Request) -> str:
    index = request.app.state.deps.index
    return index.version if index is not None else ""


@router.post("/corpus")
async def corpus_import(request: Request) -> Response:
    user = _admin(request)
    form = await _form(request)
    upload = form.get("file")
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise InputError("请选择要导入的 .jsonl / .json / .xlsx 文件", where="表单")
        result = await run_in_threadpool(service.import_corpus, request.app.state, user, upload.filename,
                                         await upload.read())
    except InputError as exc:
        return _page(request, "admin_corpus.html", user, {"result": None, "version": _corpus_version(request)},
                     error=str(exc))
    return _page(request, "admin_corpus.html", user, {"result": result, "version": _corpus_version(request)},
                 notice=f"导入完成：新增 {result['added']} 条，重复 {result['duplicates']} 条")


@router.get("/audit")
def audit_page(request: Request, who: str = "", action: str = "", limit: int = 300) -> Response:
    user = _admin(request)
    rows = request.app.state.store.audit_rows(limit=max(1, min(limit, 2000)))
    if who:
        rows = [r for r in rows if r["user"] == who]
    if action:
        rows = [r for r in rows if r["action"] == action]
    rows = [{**r, "object_cn": wording.audit_object(r["object"]),
             "details": wording.audit_detail(r["detail"], request)} for r in rows]
    return _page(request, "admin_audit.html", user, {"rows": rows, "who": who[:100], "action": action[:50],
                                                      "audit_cn": AUDIT_CN})
