"""Authentication and authorisation: argon2 passwords, hashed bearer tokens, cookie sessions with
a CSRF token, role checks as FastAPI dependencies, and a per-token / per-IP token-bucket rate limiter.

Only SHA-256 hashes of tokens are stored (plus a 6-character prefix to tell them apart). Sessions
expire server-side: after `session_idle_s` without a request and `session_max_s` after login,
whatever the cookie says. Time comes from `app.state.clock` so tests can move it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from fastapi import Depends, Request
from pydantic import BaseModel

from assistant.errors import AssistantError

Role = Literal["unit", "reviewer", "expert", "admin"]
ROLES: tuple[str, ...] = ("unit", "reviewer", "expert", "admin")
ROLE_CN = {"unit": "预算单位", "reviewer": "审核人员", "expert": "评审专家", "admin": "管理员"}
SESSION_COOKIE = "session"
CSRF_COOKIE = "csrftoken"

_hasher = PasswordHasher()


class AuthError(AssistantError):
    """Not logged in / bad credentials (401)."""

    code = "unauthorized"


class ForbiddenError(AssistantError):
    """Logged in but the role may not do this (403)."""

    code = "forbidden"


class RateLimited(AssistantError):
    code = "rate_limited"
    retry_after_s = 1  # the Retry-After header


class User(BaseModel):
    id: int
    username: str
    role: Role
    unit: str = ""


TOUCH_EVERY_S = 60.0  # last-use times are written at most this often per token
TOKEN_PREFIX_LEN = 6


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def user_from_row(row: dict[str, Any]) -> User:
    return User(id=row["id"], username=row["username"], role=row["role"], unit=row["unit"] or "")


def authenticate(store: Any, username: str, password: str) -> User:
    row = store.user_by_name(username)
    if row is None:
        verify_password(_DUMMY_HASH, password)  # same cost whether or not the user exists
        raise AuthError("用户名或密码错误")
    if not verify_password(row["password_hash"], password):
        raise AuthError("用户名或密码错误")
    if row.get("disabled"):
        raise AuthError("该账号已停用，请联系管理员")
    return user_from_row(row)


_DUMMY_HASH = _hasher.hash("not-a-real-password")


def issue_token(store: Any, user: User, *, kind: str = "api", now_s: float | None = None, note: str = "",
                lifetime_s: float | None = None) -> str:
    """A new random token; only its hash and a short prefix are stored. `lifetime_s`: it expires then."""
    token = new_token()
    t = time.time() if now_s is None else now_s
    store.add_token(token_hash(token), user.id, kind=kind, prefix=token[:TOKEN_PREFIX_LEN], note=note, now_s=t,
                    expires_s=None if lifetime_s is None else t + lifetime_s)
    store.audit(user.username, "login" if kind == "session" else "token_issued", f"user:{user.id}", {"kind": kind})
    return token


# -- rate limiting ---------------------------------------------------------------------------
class RateLimiter:
    """Token bucket per key: `rate` requests per second sustained, `burst` at once."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        if self.rate <= 0:
            return True
        t = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), t))
            tokens = min(float(self.burst), tokens + (t - last) * self.rate)
            if tokens < 1:
                self._buckets[key] = (tokens, t)
                return False
            self._buckets[key] = (tokens - 1, t)
            if len(self._buckets) > 50_000:  # bound memory under a flood of keys
                self._buckets.clear()
            return True


class UploadSlots:
    """At most `per_user` uploads being parsed / reviewed at once per user; one more is refused (429)."""

    def __init__(self, per_user: int = 2) -> None:
        self.per_user = per_user
        self._busy: dict[int, int] = {}
        self._lock = threading.Lock()

    @contextmanager
    def hold(self, user_id: int) -> Iterator[None]:
        with self._lock:
            if self._busy.get(user_id, 0) >= self.per_user:
                raise RateLimited("您有上传正在处理，请稍后再试", where="file")
            self._busy[user_id] = self._busy.get(user_id, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                left = self._busy.get(user_id, 1) - 1
                if left > 0:
                    self._busy[user_id] = left
                else:
                    self._busy.pop(user_id, None)


class LoginLockout:
    """Per-account lockout with back-off, in memory (a restart clears it; the per-IP limiter still applies).

    `max_failures` failed logins for one username within `window_s` lock that account for `base_s`, doubling with
    each further lockout (up to `max_s`); a successful login resets the account. Keys are case-folded usernames,
    existing or not, so the answer does not reveal which accounts exist.
    """

    def __init__(self, max_failures: int = 5, window_s: float = 900.0, base_s: float = 60.0,
                 max_s: float = 3600.0) -> None:
        self.max_failures, self.window_s, self.base_s, self.max_s = max_failures, window_s, base_s, max_s
        self._failures: dict[str, list[float]] = {}
        self._locked: dict[str, tuple[float, int]] = {}  # key -> (locked until, lockouts so far)
        self._lock = threading.Lock()

    def check(self, username: str, t: float) -> None:
        """Raise RateLimited while the account is locked."""
        with self._lock:
            until, _ = self._locked.get(username.casefold(), (0.0, 0))
        if t < until:
            wait = max(1, int(-(-(until - t) // 60)))
            at = time.strftime("%H:%M", time.localtime(until))
            exc = RateLimited(f"该账号登录失败次数过多，已暂时锁定：请在 {wait} 分钟后（约 {at}）再试", where="username")
            exc.retry_after_s = int(-(-(until - t) // 1))
            raise exc

    def failed(self, username: str, t: float) -> None:
        key = username.casefold()
        with self._lock:
            if len(self._failures) > 50_000:  # bound memory under a flood of made-up names
                self._failures.clear()
            recent = [x for x in self._failures.get(key, []) if t - x < self.window_s] + [t]
            if len(recent) >= self.max_failures:
                _, strikes = self._locked.get(key, (0.0, 0))
                self._locked[key] = (t + min(self.max_s, self.base_s * 2 ** strikes), strikes + 1)
                recent = []
            self._failures[key] = recent

    def succeeded(self, username: str) -> None:
        key = username.casefold()
        with self._lock:
            self._failures.pop(key, None)
            self._locked.pop(key, None)


def login(request: Request, username: str, password: str) -> User:
    """`authenticate` behind the account lockout (the UI form and POST /api/login both come here)."""
    lockout: LoginLockout = request.app.state.lockout
    t = now_s(request)
    lockout.check(username, t)
    try:
        user = authenticate(_store(request), username, password)
    except AuthError:
        lockout.failed(username, t)
        raise
    lockout.succeeded(username)
    return user


def rate_key(request: Request) -> str:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return "t:" + token_hash(auth[7:].strip())[:16]
    session = request.cookies.get(SESSION_COOKIE)
    if session:
        return "s:" + token_hash(session)[:16]
    return "ip:" + (request.client.host if request.client else "?")


# -- dependencies ----------------------------------------------------------------------------
def _store(request: Request) -> Any:
    return request.app.state.store


def now_s(request: Request) -> float:
    return float(request.app.state.clock())


def _touch(store: Any, row: dict[str, Any], t: float, every: float) -> None:
    last = row["t_last_used_s"]
    if last is None or t - last >= every:
        store.touch_token(row["t_id"], t)


def api_user(request: Request) -> User:
    """Bearer token only: the JSON API never trusts cookies, so it needs no CSRF token."""
    auth = request.headers.get("authorization", "")
    if not auth.lower().startswith("bearer ") or not auth[7:].strip():
        raise AuthError("需要登录：请在 Authorization 头中提供 Bearer 令牌")
    store = _store(request)
    row = store.token_row(token_hash(auth[7:].strip()), kind="api")
    if row is None or row["t_revoked"] or row["disabled"]:
        raise AuthError("令牌无效或已撤销")
    t = now_s(request)
    if row["t_expires_s"] is not None and t >= row["t_expires_s"]:
        raise AuthError("令牌已过期：请重新登录（POST /api/login）")
    _touch(store, row, t, TOUCH_EVERY_S)
    return user_from_row(row)


def session_expired(row: dict[str, Any], t: float, config: Any) -> bool:
    last = row["t_last_used_s"] if row["t_last_used_s"] is not None else row["t_created_s"]
    return t - row["t_created_s"] > config.session_max_s or t - last > config.session_idle_s


ApiUser = Annotated[User, Depends(api_user)]


def session_user(request: Request) -> User | None:
    """The cookie's user, or None when there is no session or it has ended (the row is then deleted)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    store, hashed = _store(request), token_hash(token)
    row = store.token_row(hashed, kind="session")
    if row is None:
        return None
    t, config = now_s(request), request.app.state.config
    if row["disabled"] or row["t_revoked"] or session_expired(row, t, config):
        store.drop_token(hashed)
        return None
    _touch(store, row, t, min(TOUCH_EVERY_S, config.session_idle_s / 10))
    return user_from_row(row)


def start_session(request: Request, user: User) -> str:
    """Log in: drop ended sessions (cheap housekeeping), then issue a session token."""
    store, t, config = _store(request), now_s(request), request.app.state.config
    store.drop_sessions_before(created_before=t - config.session_max_s, idle_before=t - config.session_idle_s)
    return issue_token(store, user, kind="session", now_s=t)


def require_roles(*roles: str) -> Callable[[User], User]:
    def dep(user: ApiUser) -> User:
        if user.role not in roles:
            raise ForbiddenError("当前角色无权执行此操作：需要" + "或".join(ROLE_CN[r] for r in roles))
        return user

    return dep


AdminUser = Annotated[User, Depends(require_roles("admin"))]
UnitOrAdmin = Annotated[User, Depends(require_roles("unit", "admin"))]
ExpertOrAdmin = Annotated[User, Depends(require_roles("expert", "admin"))]
ReviewerOrAdmin = Annotated[User, Depends(require_roles("reviewer", "admin"))]


def csrf_token(request: Request) -> str:
    """The CSRF token bound to this browser (double-submit cookie, HMAC-signed with the app secret)."""
    raw = request.cookies.get(CSRF_COOKIE) or ""
    if not _valid_csrf_cookie(request, raw):
        raw = request.state.__dict__.get("new_csrf") or ""
        if not raw:
            nonce = secrets.token_urlsafe(16)
            raw = nonce + "." + _sign(request, nonce)
            request.state.new_csrf = raw
    return raw


def _sign(request: Request, nonce: str) -> str:
    secret = request.app.state.secret.encode()
    return hmac.new(secret, nonce.encode(), hashlib.sha256).hexdigest()[:32]


def _valid_csrf_cookie(request: Request, raw: str) -> bool:
    nonce, _, sig = raw.partition(".")
    return bool(nonce) and hmac.compare_digest(sig, _sign(request, nonce))


def check_csrf(request: Request, submitted: str | None) -> None:
    cookie = request.cookies.get(CSRF_COOKIE) or ""
    if not submitted or not cookie or not _valid_csrf_cookie(request, cookie) \
            or not hmac.compare_digest(submitted, cookie):
        raise ForbiddenError("表单已过期或来源不可信（CSRF 校验失败），请刷新页面后重试")
