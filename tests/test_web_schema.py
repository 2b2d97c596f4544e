"""Schemathesis against the OpenAPI spec: no input yields a 5xx (slow; skips without schemathesis)."""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    from assistant.pipeline import build_deps
    from assistant.settings import load_settings
    from assistant.web.app import WebConfig, create_app
    from assistant.web.auth import User, hash_password
    from assistant.web.store import Store

    cfg = load_settings({}, db_path=tmp_path_factory.mktemp("schema") / "s.db")
    store = Store(cfg.db_path)
    uid = store.create_user(username="root", password_hash=hash_password("root-password"), role="admin", unit="甲单位")
    app = create_app(cfg, deps=build_deps(cfg), store=store,
                     config=WebConfig(rate_per_s=0, login_rate_per_s=0, max_body_bytes=64 * 1024))
    root = User(id=uid, username="root", role="admin", unit="甲单位")
    return app, store, root


def test_no_server_errors(web):
    """Every operation, 25 generated cases each (the pytest plugin is not used: it lags pytest 9).

    Generated calls may revoke the admin's own token (DELETE /api/tokens/{id}): a fresh one is
    issued whenever that happens, so later operations are still exercised while authenticated.
    """
    from hypothesis import given

    from assistant.web.auth import issue_token, token_hash

    app, store, root = web
    token = [issue_token(store, root)]
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    checked = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case):  # type: ignore[no-untyped-def]
            if store.user_for_token(token_hash(token[0]), kind="api") is None:
                token[0] = issue_token(store, root)
            response = case.call(headers={"Authorization": f"Bearer {token[0]}"})
            assert response.status_code < 500, (case.method, case.formatted_path, response.status_code,
                                                 response.content[:300])
            assert b"Traceback" not in response.content  # binary answers (exports, icons) included

        check()
        checked += 1
    assert checked >= 25
