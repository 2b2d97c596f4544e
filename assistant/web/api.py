"""JSON API under /api. Routes validate, call the service (pipeline + store) and return models.

Authentication: `POST /api/login` returns a bearer token; every other route needs
`Authorization: Bearer <token>`. A budget unit only ever sees its own unit's submissions:
another unit's submission is 404, never 403-with-data.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from assistant.errors import InputError
from assistant.models import Grade
from assistant.report.export import EXPORT_TYPES
from assistant.web import batches, service
from assistant.web.auth import (
    ApiUser,
    ExpertOrAdmin,
    ReviewerOrAdmin,
    UnitOrAdmin,
    User,
    issue_token,
    now_s,
    token_hash,
)
from assistant.web.auth import (
    login as checked_login,
)
from assistant.web.batches import JobStatus
from assistant.web.profiles import NAME_PATTERN
from assistant.web.service import DecisionIn, RatingIn, SubmissionDetail, SubmissionSummary
from assistant.web.versions import VersionComparison, compare_submission

router = APIRouter(prefix="/api")
Id = Annotated[int, Path(ge=1, le=2**53, description="编号")]
ProfileChoice = Annotated[str | None, Query(max_length=40, pattern=NAME_PATTERN,
                                            description="规则配置名称（GET /api/profiles），缺省为服务器当前配置")]
MAX_VERSION = 1_000_000

_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"type": "object", "description": "绩效目标表（Target JSON）"}},
            "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
                "file": {"type": "string", "format": "binary", "description": ".json 或 .xlsx 文件"}}}},
        },
    }
}
_FILE_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"], "properties": {"file": {"type": "string", "format": "binary"}}}}}}}


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=200)


class TokenOut(BaseModel):
    token: str
    token_type: str = "bearer"
    user: User


class Created(BaseModel):
    id: int


class PasswordIn(BaseModel):
    current_password: str = Field(min_length=1, max_length=200, description="当前密码")
    new_password: str = Field(max_length=200, description=f"新密码，至少 {service.MIN_PASSWORD} 个字符")


class PasswordOut(BaseModel):
    changed: bool = True
    sessions_ended: int = Field(description="随之退出的其他登录（网页会话与密码登录换取的令牌）数")


class SubmitOut(BaseModel):
    id: int
    version: int
    submission: SubmissionDetail


async def _target_from_request(request: Request, user: User) -> Any:
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InputError("缺少上传文件（表单字段 file）", where="file")
        return await service.parse_upload_held(request.app.state, user, upload)
    if not ctype.startswith("application/json"):
        raise InputError("请以 application/json 提交绩效目标，或以 multipart/form-data 上传文件", where="Content-Type")
    body = await request.body()
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError("请求体不是 UTF-8 编码", where="body") from None
    return service.parse_json_text(text, where="请求体")


async def _file(request: Request) -> tuple[str, bytes]:
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise InputError("请以 multipart/form-data 上传文件（字段 file）", where="Content-Type")
    form = await request.form()
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise InputError("缺少上传文件（表单字段 file）", where="file")
    return upload.filename or "", await upload.read()


@router.post("/login", response_model=TokenOut, tags=["认证"], summary="用户名和密码换取令牌")
def login(body: LoginIn, request: Request) -> TokenOut:
    store = request.app.state.store
    user = checked_login(request, body.username, body.password)
    token = issue_token(store, user, now_s=now_s(request), note="登录",
                        lifetime_s=request.app.state.config.login_token_s)
    return TokenOut(token=token, user=user)


@router.get("/me", response_model=User, tags=["认证"], summary="当前用户")
def me(user: ApiUser) -> User:
    return user


@router.post("/me/password", response_model=PasswordOut, tags=["认证"],
             summary="修改自己的密码（其他网页登录和密码登录换取的令牌随之失效，本令牌保持有效）")
def change_password(body: PasswordIn, request: Request, user: ApiUser) -> PasswordOut:
    auth = request.headers.get("authorization", "")
    ended = service.change_password(request.app.state.store, user, body.current_password, body.new_password,
                                    keep_token_hash=token_hash(auth[7:].strip()), via="api")
    return PasswordOut(sessions_ended=ended)


_XLSX_RESPONSE: dict[int | str, dict[str, Any]] = {200: {"content": {EXPORT_TYPES["xlsx"]: {}}}}


def _xlsx(data: bytes, filename: str) -> Response:
    return Response(data, media_type=EXPORT_TYPES["xlsx"],
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@router.get("/template.xlsx", tags=["提交"], response_class=Response, responses=_XLSX_RESPONSE,
            summary="下载空白的绩效目标申报表 Excel 模板（88 或 101 号文样式），填好后上传提交")
def template(user: ApiUser, style: Literal["88", "101"] = "88") -> Response:
    return _xlsx(service.template_bytes(style), f"target-template-{style}.xlsx")


@router.post("/submissions", response_model=SubmitOut, status_code=201, tags=["提交"], openapi_extra=_UPLOAD_BODY,
             summary="提交绩效目标（JSON 或上传 .json/.xlsx 文件）并获取审核结果")
async def submit(request: Request, user: UnitOrAdmin,
                 profile: ProfileChoice = None) -> SubmitOut:
    state = request.app.state
    profile = service.check_profile(state, profile)
    target = await _target_from_request(request, user)
    sid = await run_in_threadpool(service.submit, state, user, target, profile)
    return SubmitOut(id=sid, version=1, submission=service.detail(state.store, user, sid))


GradeFilter = Annotated[Grade | None, Query(description="等级：有审核结论的按审核人最终等级，否则按系统评分")]
RuleFilter = Annotated[str | None, Query(max_length=50, description="含该规则编号的问题")]
StatusFilter = Literal["submitted", "returned", "passed"] | None
UnitFilter = Annotated[str | None, Query(max_length=200, description="单位（预算单位只看到本单位的）")]
TextFilter = Annotated[str | None, Query(max_length=100, description="项目名称或单位包含的文字，或提交编号")]
SortChoice = Annotated[Literal["updated", "score_asc", "score_desc", "project"],
                       Query(description="updated=最近更新（默认），score_asc/score_desc=按系统评分，project=按项目名称")]


@router.get("/submissions", response_model=list[SubmissionSummary], tags=["提交"],
            summary="提交列表（预算单位只看到本单位的；响应头 X-Total-Count 为符合条件的总数）")
def list_submissions(request: Request, response: Response, user: ApiUser, grade: GradeFilter = None,
                     rule_id: RuleFilter = None, status: StatusFilter = None, unit: UnitFilter = None,
                     q: TextFilter = None, sort: SortChoice = "updated",
                     limit: int = Query(default=100, ge=1, le=500), offset: int = Query(default=0, ge=0, le=10**9)
                     ) -> list[SubmissionSummary]:
    store = request.app.state.store
    filters = {"grade": grade, "rule_id": rule_id, "status": status, "unit": unit, "q": (q or "").strip() or None}
    response.headers["X-Total-Count"] = str(store.count_submissions(**service.scoped(user, filters)))
    return service.list_for(store, user, **filters, sort=sort, limit=limit, offset=offset)


@router.get("/submissions/summary.xlsx", tags=["导出"], response_class=Response, responses=_XLSX_RESPONSE,
            summary="符合条件的全部提交导出为 Excel 汇总表（每个项目一行，含审核人结论；另有等级分布图）")
def submissions_summary(request: Request, user: ApiUser, grade: GradeFilter = None, rule_id: RuleFilter = None,
                        status: StatusFilter = None, unit: UnitFilter = None, q: TextFilter = None,
                        sort: SortChoice = "updated") -> Response:
    data = service.queue_workbook(request.app.state.store, user, grade=grade, rule_id=rule_id, status=status,
                                  unit=unit, q=(q or "").strip() or None, sort=sort)
    return _xlsx(data, "queue-summary.xlsx")


@router.get("/submissions/{submission_id}", response_model=SubmissionDetail, tags=["提交"],
            summary="一次提交的审核结果（可指定版本）")
def get_submission(submission_id: Id, request: Request, user: ApiUser,
                   version: int | None = Query(default=None, ge=1, le=MAX_VERSION)) -> SubmissionDetail:
    return service.detail(request.app.state.store, user, submission_id, version)


@router.get("/submissions/{submission_id}/compare", response_model=VersionComparison, tags=["提交"],
            summary="两个版本对比：表头与指标的变化、得分变化、已解决/新出现/仍未解决的问题、建议采纳情况")
def compare_versions(submission_id: Id, request: Request, user: ApiUser,
                     base: int | None = Query(default=None, ge=1, le=MAX_VERSION, description="基准版本，缺省为上一版"),
                     head: int | None = Query(default=None, ge=1, le=MAX_VERSION, description="对比版本，缺省为最新版")
                     ) -> VersionComparison:
    return compare_submission(request.app.state.store, user, submission_id, base, head)


@router.post("/submissions/{submission_id}/versions", response_model=SubmitOut, status_code=201, tags=["提交"],
             openapi_extra=_UPLOAD_BODY, summary="修改后重新提交（保留历史版本）")
async def resubmit(submission_id: Id, request: Request, user: UnitOrAdmin,
                   profile: ProfileChoice = None) -> SubmitOut:
    state = request.app.state
    service.visible(state.store, user, submission_id)  # 404 before parsing another unit's resubmission
    profile = service.check_profile(state, profile)
    target = await _target_from_request(request, user)
    version = await run_in_threadpool(service.resubmit, state, user, submission_id, target, profile)
    return SubmitOut(id=submission_id, version=version, submission=service.detail(state.store, user, submission_id))


@router.post("/submissions/{submission_id}/decision", response_model=Created, status_code=201, tags=["审核"],
             summary="审核人员：采纳/不采纳建议、最终等级与意见、退回或通过")
def decision(submission_id: Id, body: DecisionIn, request: Request,
             user: ReviewerOrAdmin) -> Created:
    return Created(id=service.decide(request.app.state.store, user, submission_id, body))


@router.post("/submissions/{submission_id}/ratings", response_model=Created, status_code=201, tags=["专家评分"],
             summary="评审专家：四个维度 1–5 分")
def rating(submission_id: Id, body: RatingIn, request: Request,
           user: ExpertOrAdmin) -> Created:
    return Created(id=service.rate(request.app.state.store, user, submission_id, body))


@router.get("/submissions/{submission_id}/audit", tags=["审核"], summary="一次提交的审计记录")
def submission_audit(submission_id: Id, request: Request, user: ApiUser) -> list[dict[str, Any]]:
    store = request.app.state.store
    service.visible(store, user, submission_id)
    return store.audit_rows(obj=f"submission:{submission_id}")


@router.get("/submissions/{submission_id}/export", tags=["导出"], summary="导出审核意见（docx / xlsx / md）",
            response_class=Response, responses={200: {"content": {t: {} for t in EXPORT_TYPES.values()}}})
def export(submission_id: Id, request: Request, user: ApiUser,
           format: Literal["docx", "xlsx", "md"] = "docx",
           version: int | None = Query(default=None, ge=1, le=MAX_VERSION)
           ) -> Response:
    shown, data = service.export_review(request.app.state.store, user, submission_id, version, format)
    filename = f"review-{submission_id}-v{shown}.{format}"
    return Response(data, media_type=EXPORT_TYPES[format],
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@router.post("/batches", response_model=JobStatus, status_code=202, tags=["批量"], openapi_extra=_FILE_BODY,
             summary="批量上传 .jsonl（每行一个绩效目标）、.json（目标数组）或 .xlsx 申报表，后台审核")
async def create_batch(request: Request, user: UnitOrAdmin,
                       profile: ProfileChoice = None) -> JobStatus:
    state = request.app.state
    profile = service.check_profile(state, profile)
    filename, data = await _file(request)
    with state.upload_slots.hold(user.id):
        job_id = await run_in_threadpool(service.capped, batches.start_batch, state, user, filename, data, profile)
    return batches.job_status(state.store, user, job_id)


@router.get("/batches/{job_id}", response_model=JobStatus, tags=["批量"], summary="批量任务状态与进度")
def get_batch(job_id: Id, request: Request, user: ApiUser) -> JobStatus:
    return batches.job_status(request.app.state.store, user, job_id)


@router.get("/batches/{job_id}/summary.xlsx", tags=["批量"], response_class=Response, responses=_XLSX_RESPONSE,
            summary="批量任务的 Excel 汇总表（每个项目一行，含审核人结论；另有等级分布图）")
def batch_summary(job_id: Id, request: Request, user: ApiUser) -> Response:
    return _xlsx(service.job_workbook(request.app.state.store, user, job_id), f"batch-{job_id}-summary.xlsx")


@router.get("/corpus/search", tags=["先例库"], summary="检索已批复的相似项目")
def corpus_search(request: Request, user: ApiUser, q: str = Query(min_length=1, max_length=500),
                  k: int = Query(default=5, ge=1, le=50)) -> list[dict[str, Any]]:
    index = request.app.state.deps.index
    if index is None:
        return []
    out = []
    for rec, score in index.search(q, k=k):
        out.append({"id": rec.id, "project_name": rec.project_name, "region": rec.region, "year": rec.year,
                    "amount_total_wan": rec.amount_total_wan, "similarity": round(float(score), 4),
                    "source_url": rec.source_url,
                    "indicators": [{"name": i.name, "value": i.value} for i in rec.indicators[:30]]})
    return out


@router.get("/ratings.jsonl", response_class=PlainTextResponse, tags=["专家评分"],
            summary="专家评分导出（评估工具的 ratings.jsonl 格式；专家只看到自己已评分版本上的评分）")
def ratings_export(request: Request, user: ExpertOrAdmin) -> str:
    return service.ratings_jsonl(request.app.state.store, user)


