"""JSON API for administration: users, API tokens (issue, list, revoke), the audit trail, corpus
import and rule profiles. Reading profiles is open to every logged-in user (a submission may pick
one); changing them is for admins. A user may list and revoke their own tokens.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from assistant.errors import InputError, NotFoundError
from assistant.web import profiles, service
from assistant.web.auth import (
    AdminUser,
    ApiUser,
    User,
    hash_password,
    issue_token,
    now_s,
    token_hash,
    user_from_row,
)
from assistant.web.store import iso

router = APIRouter(prefix="/api")
Id = Annotated[int, Path(ge=1, le=2**53, description="编号")]
ProfileName = Annotated[str, Path(max_length=40, pattern=profiles.NAME_PATTERN, description="规则配置名称")]

_PROFILE_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"type": "object",
                                    "description": "规则配置 JSON（与 assistant/data/profiles/*.json 同格式）"}},
    "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary", "description": "规则配置 .json 文件"}}}}}}}
_FILE_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"], "properties": {"file": {"type": "string", "format": "binary"}}}}}}}


class UserIn(BaseModel):
    username: str = Field(min_length=1, max_length=100, pattern=r"^[\w.@-]+$")
    password: str = Field(min_length=8, max_length=200)
    role: Literal["unit", "reviewer", "expert", "admin"]
    unit: str = Field(default="", max_length=200)


class UserOut(BaseModel):
    id: int
    username: str
    role: str
    unit: str
    created: str
    disabled: bool


class UserUpdate(BaseModel):
    disabled: bool = Field(description="true=停用（其令牌与会话立即失效），false=恢复")


class Created(BaseModel):
    id: int


MAX_ACTIVE_TOKENS = 20  # active API tokens one user may hold (login tokens included)


class SelfTokenIn(BaseModel):
    note: str = Field(default="", max_length=100, description="备注（用途）")
    days: Literal[30, 90, 365, 0] = Field(default=90, description="有效天数；0 = 直至撤销")


class IssuedToken(BaseModel):
    token: str = Field(description="令牌明文：只在此时返回一次，服务器只保存其散列")
    token_type: str = "bearer"
    id: int
    user: User


class TokenInfo(BaseModel):
    id: int
    user_id: int
    username: str
    prefix: str = Field(description="令牌开头几个字符，用于辨认")
    note: str
    created: str
    last_used: str | None
    revoked: str | None
    expires: str | None = Field(default=None, description="过期时间（登录所得令牌）；管理员签发的令牌不过期")
    active: bool
    current: bool = Field(default=False, description="是否为本次请求所用的令牌")


class CorpusImported(BaseModel):
    added: int
    duplicates: int
    corpus_version: str


class Deleted(BaseModel):
    name: str


def create_user_row(store: Any, admin: User, body: UserIn) -> int:
    if body.role == "unit" and not body.unit.strip():
        raise InputError("预算单位用户必须填写所属单位", where="unit")
    if store.user_by_name(body.username) is not None:
        raise InputError("用户名已存在", where="username")
    uid = store.create_user(username=body.username, password_hash=hash_password(body.password), role=body.role,
                            unit=body.unit.strip())
    store.audit(admin.username, "user_created", f"user:{uid}", {"username": body.username, "role": body.role,
                                                                "unit": body.unit})
    return uid


def set_disabled(store: Any, admin: User, user_id: int, disabled: bool) -> None:
    if store.user(user_id) is None:
        raise NotFoundError("未找到该用户", where=f"user {user_id}")
    if user_id == admin.id and disabled:
        raise InputError("不能停用自己的账号", where="disabled")
    store.set_user_disabled(user_id, disabled)
    store.audit(admin.username, "user_disabled" if disabled else "user_enabled", f"user:{user_id}")


def issue_for(store: Any, admin: User, user_id: int, *, t: float, note: str = "",
              lifetime_s: float | None = None) -> tuple[str, int, User]:
    """A new API token for `user_id` (issued by `admin`, or by the user themselves): lasts until revoked,
    or `lifetime_s` seconds."""
    row = store.user(user_id)
    if row is None:
        raise NotFoundError("未找到该用户", where=f"user {user_id}")
    if row["disabled"]:
        raise InputError("该用户已停用，不能签发令牌", where=f"user {user_id}")
    target = user_from_row(row)
    token = issue_token(store, target, now_s=t, note=note, lifetime_s=lifetime_s)
    token_id = store.token_row(token_hash(token), kind="api")["t_id"]
    store.audit(admin.username, "token_issued_for", f"user:{user_id}", {"token": token_id})
    return token, token_id, target


def token_info(row: dict[str, Any], current_id: int | None = None, *, now: float | None = None) -> TokenInfo:
    expired = row["expires_s"] is not None and now is not None and now >= row["expires_s"]
    return TokenInfo(id=row["id"], user_id=row["user_id"], username=row["username"], prefix=row["prefix"] or "",
                     note=row["note"] or "", created=row["created"], last_used=iso(row["last_used_s"]),
                     revoked=row["revoked"], expires=iso(row["expires_s"]),
                     active=row["revoked"] is None and not expired, current=row["id"] == current_id)


def revoke(store: Any, user: User, token_id: int) -> dict[str, Any]:
    """Admins revoke any API token, others only their own (someone else's is simply not found)."""
    row = store.token(token_id)
    if user.role != "admin" and row["user_id"] != user.id:
        raise NotFoundError("未找到该令牌", where=f"token {token_id}")
    store.revoke_token(token_id)
    store.audit(user.username, "token_revoked", f"token:{token_id}", {"user": row["user_id"]})
    return store.token(token_id)


def _current_token_id(request: Request) -> int | None:
    auth = request.headers.get("authorization", "")
    row = request.app.state.store.token_row(token_hash(auth[7:].strip()), kind="api") if len(auth) > 7 else None
    return row["t_id"] if row else None


# -- users -------------------------------------------------------------------------------------
@router.post("/users", response_model=Created, status_code=201, tags=["管理"], summary="管理员：创建用户")
def create_user(body: UserIn, request: Request, user: AdminUser) -> Created:
    return Created(id=create_user_row(request.app.state.store, user, body))


@router.get("/users", response_model=list[UserOut], tags=["管理"], summary="管理员：用户列表")
def list_users(request: Request, user: AdminUser) -> list[UserOut]:
    return [UserOut.model_validate({**r, "disabled": bool(r["disabled"])})
            for r in request.app.state.store.list_users()]


@router.patch("/users/{user_id}", response_model=UserOut, tags=["管理"],
              summary="管理员：停用或恢复用户（停用后其令牌与会话立即失效）")
def update_user(user_id: Id, body: UserUpdate, request: Request,
                user: AdminUser) -> UserOut:
    store = request.app.state.store
    set_disabled(store, user, user_id, body.disabled)
    row = store.user(user_id)
    return UserOut.model_validate({**row, "disabled": bool(row["disabled"])})


# -- tokens ------------------------------------------------------------------------------------
@router.post("/users/{user_id}/tokens", response_model=IssuedToken, status_code=201, tags=["管理"],
             summary="管理员：为用户签发 API 令牌（明文只返回这一次）")
def create_token(user_id: Id, request: Request, user: AdminUser,
                 note: str = Query(default="", max_length=100, description="备注（用途）")) -> IssuedToken:
    token, token_id, target = issue_for(request.app.state.store, user, user_id, t=now_s(request), note=note)
    return IssuedToken(token=token, id=token_id, user=target)


@router.post("/tokens", response_model=IssuedToken, status_code=201, tags=["令牌"],
             summary="为自己生成 API 令牌（明文只返回这一次；可选有效期）")
def create_own_token(body: SelfTokenIn, request: Request, user: ApiUser) -> IssuedToken:
    store, t = request.app.state.store, now_s(request)
    active = sum(1 for r in store.list_tokens(user_id=user.id) if token_info(r, now=t).active)
    if active >= MAX_ACTIVE_TOKENS:
        raise InputError(f"有效令牌已达 {MAX_ACTIVE_TOKENS} 个上限：请先撤销不再使用的令牌", where="tokens")
    token, token_id, target = issue_for(store, user, user.id, t=t, note=body.note.strip() or "自助生成",
                                        lifetime_s=body.days * 86400.0 if body.days else None)
    return IssuedToken(token=token, id=token_id, user=target)


@router.get("/tokens", response_model=list[TokenInfo], tags=["令牌"],
            summary="API 令牌列表（不含明文；管理员看全部，其他用户看自己的）")
def list_tokens(request: Request, user: ApiUser,
                user_id: int | None = Query(default=None, ge=1, le=2**53, description="只看某个用户（管理员）")
                ) -> list[TokenInfo]:
    store = request.app.state.store
    owner = user_id if user.role == "admin" else user.id
    current = _current_token_id(request)
    t = now_s(request)
    return [token_info(r, current, now=t) for r in store.list_tokens(user_id=owner)]


@router.delete("/tokens/{token_id}", response_model=TokenInfo, tags=["令牌"],
               summary="撤销 API 令牌（立即失效；管理员可撤销任何令牌，其他用户只能撤销自己的）")
def revoke_token(token_id: Id, request: Request, user: ApiUser) -> TokenInfo:
    return token_info(revoke(request.app.state.store, user, token_id), _current_token_id(request), now=now_s(request))


# -- audit and corpus ----------------------------------------------------------------------------
@router.get("/audit", tags=["管理"], summary="管理员：审计记录")
def audit(request: Request, user: AdminUser,
          limit: int = Query(default=200, ge=1, le=2000)) -> list[dict[str, Any]]:
    return request.app.state.store.audit_rows(limit=limit)


@router.post("/corpus/import", response_model=CorpusImported, tags=["管理"], openapi_extra=_FILE_BODY,
             summary="管理员：导入已批复目标到先例库（.jsonl / .json / .xlsx）")
async def corpus_import(request: Request, user: AdminUser) -> CorpusImported:
    filename, data = await _upload(request, required=True)
    result = await run_in_threadpool(service.import_corpus, request.app.state, user, filename, data)
    return CorpusImported.model_validate(result)


async def _upload(request: Request, *, required: bool) -> tuple[str, bytes]:
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith("multipart/form-data"):
        if required:
            raise InputError("请以 multipart/form-data 上传文件（字段 file）", where="Content-Type")
        return "", await request.body()
    form = await request.form()
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise InputError("缺少上传文件（表单字段 file）", where="file")
    return upload.filename or "", await upload.read()


# -- rule profiles ---------------------------------------------------------------------------------
@router.get("/profiles", response_model=list[profiles.ProfileSummary], tags=["规则配置"],
            summary="规则配置列表（标出服务器当前使用的配置）")
def list_profiles(request: Request, user: ApiUser) -> list[profiles.ProfileSummary]:
    return profiles.summaries(request.app.state)


@router.get("/profiles/{name}", response_model=profiles.ProfileDetail, tags=["规则配置"],
            summary="一个规则配置的内容：阈值、表头必填项、各条规则是否启用及严重程度")
def get_profile(name: ProfileName, request: Request, user: ApiUser) -> profiles.ProfileDetail:
    return profiles.detail(request.app.state, name)


@router.post("/profiles", response_model=profiles.ProfileSummary, status_code=201, tags=["规则配置"],
             openapi_extra=_PROFILE_BODY, summary="管理员：上传自定义规则配置（JSON 或 .json 文件；同名则替换）")
async def upload_profile(request: Request, user: AdminUser) -> profiles.ProfileSummary:
    filename, data = await _upload(request, required=False)
    where = filename or "请求体"
    if filename and not filename.lower().endswith(".json"):
        raise InputError("规则配置只支持 .json 文件", where=where)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError("规则配置不是 UTF-8 编码的 JSON", where=where) from None
    if not text.strip():
        raise InputError("规则配置为空", where=where)
    return profiles.save_custom(request.app.state, user, profiles.parse_upload(text, where=where))


@router.delete("/profiles/{name}", response_model=Deleted, tags=["规则配置"],
               summary="管理员：删除自定义规则配置（内置配置和当前配置不能删除）")
def delete_profile(name: ProfileName, request: Request, user: AdminUser) -> Deleted:
    profiles.delete_custom(request.app.state, user, name)
    return Deleted(name=name)


@router.get("/active-profile", response_model=profiles.ActiveProfileOut, tags=["规则配置"],
            summary="服务器当前使用的规则配置（提交时未指定配置即用它）")
def active_profile(request: Request, user: ApiUser) -> profiles.ActiveProfileOut:
    prof = profiles.resolve(request.app.state, None)
    return profiles.ActiveProfileOut(name=prof.name, title=prof.title)


@router.put("/active-profile", response_model=profiles.ActiveProfileOut, tags=["规则配置"],
            summary="管理员：设置服务器当前使用的规则配置")
def set_active_profile(body: profiles.ActiveProfileIn, request: Request,
                       user: AdminUser) -> profiles.ActiveProfileOut:
    return profiles.set_active(request.app.state, user, body.name)
