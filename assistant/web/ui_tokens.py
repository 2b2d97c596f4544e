"""我的 API 令牌: every logged-in user lists, creates and revokes their *own* API tokens (admins keep
the admin page for everybody's). A new token is shown exactly once; only its hash is stored. Every POST
carries the CSRF token; someone else's token is simply not found, admins included.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from assistant.errors import InputError, NotFoundError
from assistant.web import api_admin
from assistant.web.auth import User, now_s
from assistant.web.ui import _form, _user, render

router = APIRouter(include_in_schema=False, prefix="/ui/tokens")
DAY_S = 86400.0
LIFETIMES: dict[str, tuple[str, float | None]] = {"30": ("30 天", 30 * DAY_S), "90": ("90 天", 90 * DAY_S),
                                                  "365": ("1 年", 365 * DAY_S), "0": ("长期有效（直至撤销）", None)}
DEFAULT_LIFETIME = "90"
MAX_ACTIVE = api_admin.MAX_ACTIVE_TOKENS


def _tokens(request: Request, user: User) -> list[api_admin.TokenInfo]:
    t = now_s(request)
    return [api_admin.token_info(r, now=t) for r in request.app.state.store.list_tokens(user_id=user.id)]


def _page(request: Request, user: User, *, error: str | None = None, notice: str | None = None,
          **extra: Any) -> Response:
    ctx = {"user": user, "error": error, "notice": notice, "tokens": _tokens(request, user), "lifetimes": LIFETIMES,
           "chosen_lifetime": DEFAULT_LIFETIME, "max_active": MAX_ACTIVE, **extra}
    return render(request, "tokens.html", ctx, status=400 if error else 200)


@router.get("")
def tokens_page(request: Request) -> Response:
    return _page(request, _user(request))


@router.post("")
async def create_token(request: Request) -> Response:
    user = _user(request)
    form = await _form(request)
    note = str(form.get("note") or "").strip()[:100]
    days = str(form.get("days") or DEFAULT_LIFETIME)
    if days not in LIFETIMES:
        return _page(request, user, error="请选择有效期", note=note)
    if sum(1 for t in _tokens(request, user) if t.active) >= MAX_ACTIVE:
        return _page(request, user, error=f"有效令牌已达 {MAX_ACTIVE} 个上限：请先撤销不再使用的令牌", note=note)
    label, lifetime = LIFETIMES[days]
    try:
        token, token_id, _ = api_admin.issue_for(request.app.state.store, user, user.id, t=now_s(request),
                                                 note=note or "自助生成", lifetime_s=lifetime)
    except (InputError, NotFoundError) as exc:
        return _page(request, user, error=str(exc), note=note)
    return _page(request, user, new_token=token, new_token_lifetime=label,
                 notice=f"已生成令牌（编号 {token_id}，有效期：{label}）")


@router.post("/{token_id}/revoke")
async def revoke_token(token_id: int, request: Request) -> Response:
    user = _user(request)
    await _form(request)
    store = request.app.state.store
    row = store.token(token_id)  # 404 when there is no such API token
    if row["user_id"] != user.id:  # this page is for one's own tokens only, whatever the role
        raise NotFoundError("未找到该令牌", where=f"token {token_id}")
    row = api_admin.revoke(store, user, token_id)
    return _page(request, user, notice=f"已撤销令牌 {row['prefix']}…，立即失效")
