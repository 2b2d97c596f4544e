"""Helpers for the web tests: an app with the standard users, API tokens, UI logins, an injectable clock."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from assistant.settings import load_settings
from assistant.web.app import WebConfig, create_app, ensure_admin
from assistant.web.auth import hash_password
from assistant.web.store import Store

ROOT = Path(__file__).resolve().parents[1]
DRAFT: dict[str, Any] = json.loads((ROOT / "samples" / "draft.json").read_text(encoding="utf-8"))
HTML = {"Accept": "text/html"}
PW = "password-123"
ROOT_PW = "root-password"
USERS = (("unitA", "unit", "甲单位"), ("unitB", "unit", "乙单位"), ("rev", "reviewer", ""), ("exp", "expert", ""))


class Clock:
    """Epoch seconds the app reads for session expiry; tests move it."""

    def __init__(self) -> None:
        self.t = 1_700_000_000.0

    def __call__(self) -> float:
        return self.t

    def advance(self, minutes: float) -> None:
        self.t += minutes * 60


def make_app(db: Path, deps: Any, *, users: tuple[tuple[str, str, str], ...] = USERS, admin: bool = True,
             clock: Clock | None = None, config: WebConfig | None = None) -> FastAPI:
    """An app over a fresh database with `root` (admin, ROOT_PW) and `users` (password PW)."""
    settings = load_settings({}, db_path=db)
    store = Store(settings.db_path)
    if admin:
        ensure_admin(store, username="root", password=ROOT_PW)
    pw = hash_password(PW)  # one argon2 hash for every test user (fast)
    for name, role, unit in users:
        store.create_user(username=name, password_hash=pw, role=role, unit=unit)
    return create_app(settings, deps=deps, store=store, clock=clock, config=config or WebConfig())


def api_token(c: TestClient, name: str, pw: str | None = None) -> dict[str, str]:
    r = c.post("/api/login", json={"username": name, "password": pw or (ROOT_PW if name == "root" else PW)})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def csrf(client: TestClient, url: str = "/login") -> str:
    page = client.get(url, headers=HTML)
    m = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert m, page.text[:500]
    return m.group(1)


def ui_login(app: FastAPI, name: str, pw: str | None = None) -> TestClient:
    c = TestClient(app)
    r = c.post("/login", data={"username": name, "password": pw or (ROOT_PW if name == "root" else PW),
                               "csrf_token": csrf(c)}, headers=HTML, follow_redirects=False)
    assert r.status_code == 303, r.text
    return c
