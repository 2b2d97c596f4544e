"""Library pages: 行业指标库 (browse, search, pick indicators into a draft) for every signed-in user, and the
admin page that imports or removes a bureau's own 指标库 / 支出标准 files (JSONL or the Excel template)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from assistant.errors import AssistantError, InputError
from assistant.intake.reader import load_json
from assistant.intake.records import parse_target
from assistant.knowledge.importer import write_template
from assistant.knowledge.picks import MAX_PICKS, add_to_draft
from assistant.models import LibraryHint
from assistant.web import library, service
from assistant.web.ui import _detail_ctx, _form, _user, draft_json, profile_choices, render, with_working_draft
from assistant.web.ui_admin import _admin, _page

router = APIRouter(include_in_schema=False)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_DRAFT_BYTES = 1024 * 1024


@router.get("/ui/library")
def library_page(request: Request, q: str = "", sector: str = "", submission: int | None = None,
                 profile: str = "") -> Response:
    user = _user(request)
    if submission is not None:
        service.visible(request.app.state.store, user, submission)
    kb = library.kb_for(request.app.state, profile or None)
    rows = library.browse(kb, query=q[:100], sector=sector[:80])
    can_pick = submission is not None and user.role in ("unit", "admin")
    return render(request, "library.html", {
        "user": user, "q": q[:100], "sector": sector[:80], "submission": submission, "rows": rows,
        "sectors": library.sector_counts(kb.library), "can_pick": can_pick, "max_picks": MAX_PICKS,
        "error": None, "profile": profile[:40]})


@router.post("/ui/submissions/{submission_id}/draft")
async def save_draft(submission_id: int, request: Request) -> Response:
    """The re-submit box saved as the unit's working draft (next=save), saved before going to the library
    (next=library), or dropped (next=discard)."""
    user = _user(request)
    form = await _form(request)
    service.require(user, "unit", "admin")
    ctx = _detail_ctx(request, user, submission_id, None)
    store, nxt = request.app.state.store, str(form.get("next") or "save")
    text = str(form.get("json_text") or "")
    if len(text.encode("utf-8")) > MAX_DRAFT_BYTES:
        return render(request, "detail.html", {**ctx, "target_json": text, "error": "修改稿过大（超过 1 MB），未保存"},
                      status=400)
    if nxt == "discard":
        store.drop_draft(user.id, submission_id)
        return RedirectResponse(f"/ui/submissions/{submission_id}?note=discarded#resubmit", status_code=303)
    store.save_draft(user.id, submission_id, text)
    if nxt == "library":
        knowledge = ctx["r"].knowledge
        sector = knowledge.sectors[0].sector if knowledge and knowledge.sectors else ""
        query = urlencode({"submission": submission_id, "sector": sector, "profile": ctx["r"].meta.profile})
        return RedirectResponse(f"/ui/library?{query}", status_code=303)
    return RedirectResponse(f"/ui/submissions/{submission_id}?note=saved#resubmit", status_code=303)


@router.post("/ui/submissions/{submission_id}/library")
async def pick_into_draft(submission_id: int, request: Request) -> Response:
    """Picked library indicators appended to the unit's working draft (or, without one, to the shown version),
    kept as its working draft for the unit to check and edit; nothing is submitted until 重新提交."""
    user = _user(request)
    form = await _form(request)
    service.require(user, "unit", "admin")
    ctx = with_working_draft(request, user, submission_id, _detail_ctx(request, user, submission_id, None))
    keys = [str(v) for k, v in form.multi_items() if k == "pick"]
    if not keys:
        return render(request, "detail.html", {**ctx, "error": "没有选择任何指标（请在指标库中勾选后再加入草稿）"}, status=400)
    try:
        base = parse_target(load_json(ctx["target_json"], where="修改稿"), where="修改稿", require=False) \
            if ctx["working"] else ctx["r"].target
    except InputError as exc:
        return render(request, "detail.html", {**ctx, "error": f"{exc}：请先在下方修正修改稿，再加入指标"}, status=400)
    kb = library.kb_for(request.app.state, ctx["r"].meta.profile)
    draft, added, skipped = add_to_draft(base, kb.library, keys)
    text = draft_json(draft)
    request.app.state.store.save_draft(user.id, submission_id, text)
    return render(request, "detail.html", {**ctx, "target_json": text, "working": "刚才", "error": None,
                                           "notice": _pick_notice(len(keys), added, skipped)})


def _pick_notice(asked: int, added: list[LibraryHint], skipped: list[str]) -> str:
    names = "、".join(f"「{h.name}」" for h in added[:6]) + ("等" if len(added) > 6 else "")
    notice = (f"已把 {len(added)} 个指标{names}加入下方修改稿（已保存，尚未提交）。参考值来自其他地区已公开的表，"
              "请按本项目实际核对、修改后再点「重新提交」。") if added else "没有加入新的指标。"
    if any(not h.typical_value for h in added):
        notice += "指标值为空的（\"value\": \"\"），请填写。"
    if skipped:
        notice += f"修改稿中已有同名指标，未重复加入：{'、'.join(skipped[:5])}。"
    if asked > MAX_PICKS:
        notice += f"一次最多加入 {MAX_PICKS} 个，其余 {asked - MAX_PICKS} 个未加入，请分次选用。"
    unknown = min(asked, MAX_PICKS) - len(added) - len(skipped)
    if unknown > 0:
        notice += f"{unknown} 个条目已不在指标库中（指标库可能已更新），未加入。"
    return notice


# -- admin ------------------------------------------------------------------------------------------
def _admin_ctx(request: Request) -> dict[str, Any]:
    return {"summary": library.summary(request.app.state), "result": None, **profile_choices(request),
            "chosen": ""}


@router.get("/ui/admin/library")
def admin_library(request: Request, deleted: str = "") -> Response:
    user = _admin(request)
    return _page(request, "admin_library.html", user, _admin_ctx(request),
                 notice=f"已删除导入文件「{deleted[:120]}」" if deleted else None)


@router.get("/ui/admin/library/template")
def library_template(request: Request) -> Response:
    _admin(request)
    with tempfile.TemporaryDirectory() as tmp:
        data = write_template(Path(tmp) / "template.xlsx").read_bytes()
    return Response(data, media_type=XLSX, headers={"Content-Disposition": 'attachment; filename="library-template.xlsx"'})


@router.post("/ui/admin/library")
async def admin_library_import(request: Request) -> Response:
    user = _admin(request)
    form = await _form(request)
    upload = form.get("file")
    profile = str(form.get("profile") or "").strip()[:40]
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise InputError("请选择要导入的 .xlsx（指标库模板）或 .jsonl 文件", where="表单")
        result = await run_in_threadpool(library.import_upload, request.app.state, user, upload.filename,
                                         await upload.read(), profile or None)
    except AssistantError as exc:
        return _page(request, "admin_library.html", user, _admin_ctx(request), error=str(exc))
    scope = f"（仅用于规则配置「{result.profile}」）" if result.profile else "（所有规则配置）"
    scope += "，替换了上次同名导入的文件" if result.replaced else ""
    return _page(request, "admin_library.html", user, {**_admin_ctx(request), "result": result},
                 notice=f"导入完成{scope}：指标 {result.indicators} 个，支出标准 {result.standards} 条")


@router.post("/ui/admin/library/{name}/delete")
async def admin_library_delete(name: str, request: Request) -> Response:
    user = _admin(request)
    await _form(request)
    try:
        library.delete_imported(request.app.state, user, name[:120])
    except AssistantError as exc:
        return _page(request, "admin_library.html", user, _admin_ctx(request), error=str(exc))
    return RedirectResponse(f"/ui/admin/library?{urlencode({'deleted': name[:120]})}", status_code=303)
