"""JSON API for the sector indicator library: search it or list a sector (every signed-in user), and, for admins,
import a bureau's own 指标库 / 支出标准 file, list and delete imported files."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from assistant.errors import InputError
from assistant.knowledge.importer import LibraryImport
from assistant.web import library
from assistant.web.api_admin import _FILE_BODY, _upload
from assistant.web.auth import AdminUser, ApiUser

router = APIRouter(prefix="/api")


class SectorOut(BaseModel):
    sector: str
    indicators: int


class Deleted(BaseModel):
    name: str


@router.get("/library", response_model=list[library.LibraryEntry], tags=["指标库"],
            summary="检索行业指标库与支出标准（q 关键词），或列出一个行业的全部指标和标准（sector）")
def search_library(request: Request, user: ApiUser,
                   q: Annotated[str, Query(max_length=100, description="关键词")] = "",
                   sector: Annotated[str, Query(max_length=80, description="行业名称（完整）")] = "",
                   k: Annotated[int, Query(ge=1, le=100)] = 20,
                   profile: Annotated[str, Query(max_length=40, description="规则配置（默认当前配置）")] = ""
                   ) -> list[library.LibraryEntry]:
    if not q.strip() and not sector:
        raise InputError("请给出关键词 q 或行业 sector", where="查询参数")
    kb = library.kb_for(request.app.state, profile or None)
    return library.browse(kb, query=q, sector=sector, k=k)


@router.get("/library/sectors", response_model=list[SectorOut], tags=["指标库"], summary="指标库中的行业及其指标数")
def library_sectors(request: Request, user: ApiUser,
                    profile: Annotated[str, Query(max_length=40)] = "") -> list[SectorOut]:
    kb = library.kb_for(request.app.state, profile or None)
    return [SectorOut(sector=s, indicators=n) for s, n in library.sector_counts(kb.library)]


@router.post("/admin/library/import", response_model=LibraryImport, tags=["指标库"], openapi_extra=_FILE_BODY,
             summary="管理员：导入本单位指标库/支出标准（.xlsx 模板或 .jsonl；整个文件校验通过才导入）")
async def import_library(request: Request, user: AdminUser,
                         profile: Annotated[str, Query(max_length=40, description="只用于此规则配置；空=所有配置")] = ""
                         ) -> LibraryImport:
    filename, data = await _upload(request, required=True)
    return await run_in_threadpool(library.import_upload, request.app.state, user, filename, data, profile or None)


@router.get("/admin/library/files", response_model=list[library.ImportedFile], tags=["指标库"],
            summary="管理员：已导入的本单位指标库文件")
def imported_files(request: Request, user: AdminUser) -> list[library.ImportedFile]:
    return library.imported_files(request.app.state)


@router.delete("/admin/library/files/{name}", response_model=Deleted, tags=["指标库"],
               summary="管理员：删除一个已导入的指标库文件")
def delete_file(request: Request, user: AdminUser,
                name: Annotated[str, Path(max_length=120, pattern=r"^[\w\-.]+\.jsonl$")]) -> Deleted:
    library.delete_imported(request.app.state, user, name)
    return Deleted(name=name)
