"""Web batch jobs run on the resumable batch: an interrupted job resumes at start-up without redoing committed
lines; duplicates in one upload are linked, not submitted twice."""

from __future__ import annotations

import json
import time
from pathlib import Path

from fastapi.testclient import TestClient

from assistant.pipeline import review
from assistant.settings import load_settings
from assistant.web.app import WebConfig, create_app, ensure_admin
from assistant.web.auth import hash_password
from assistant.web.store import Store

ROOT = Path(__file__).resolve().parents[1]
DRAFT = json.loads((ROOT / "samples" / "draft.json").read_text(encoding="utf-8"))


def _store(tmp_path: Path) -> tuple[Store, int]:
    store = Store(tmp_path / "web.db")
    ensure_admin(store, username="root", password="root-password")
    uid = store.create_user(username="unitA", password_hash=hash_password("password-123"), role="unit", unit="甲单位")
    return store, uid


def _wait(store: Store, job_id: int) -> dict:
    for _ in range(400):
        row = store.job(job_id)
        if row["status"] in ("done", "failed"):
            return row
        time.sleep(0.05)
    raise AssertionError(store.job(job_id))


def test_a_job_interrupted_by_a_crash_resumes_at_start_up(tmp_path: Path, deps) -> None:
    store, uid = _store(tmp_path)
    lines = [dict(DRAFT, project_name=f"项目{i}") for i in range(1, 4)]
    body = "\n".join(json.dumps(x, ensure_ascii=False) for x in lines).encode()
    job = store.create_job(user_id=uid, unit="甲单位", total=3, filename="drafts.jsonl", profile="default", source=body)
    from assistant.models import Target

    first = Target.model_validate(lines[0])
    sid = store.job_submission(job, 1, unit="甲单位", user_id=uid, target=first, review=review(first, deps))
    assert store.job(job)["status"] == "running"  # the server died here: 1 of 3 committed
    settings = load_settings({}, db_path=tmp_path / "web.db")
    with TestClient(create_app(settings, deps=deps, store=store, config=WebConfig())):
        row = _wait(store, job)
    assert row["status"] == "done" and row["resumed"] == 1 and (row["done"], row["failed"]) == (3, 0)
    items = {i["line"]: i for i in row["items"]}
    assert items[1]["submission_id"] == sid  # kept, not reviewed again
    subs = store.list_submissions(unit="甲单位")
    assert sorted(s["project_name"] for s in subs) == ["项目1", "项目2", "项目3"]  # no duplicate submission
    assert store.job(job).get("source") is None  # the upload is dropped when the job ends


def test_duplicate_lines_link_to_one_submission(tmp_path: Path, deps) -> None:
    store, _ = _store(tmp_path)
    settings = load_settings({}, db_path=tmp_path / "web.db")
    line = json.dumps(DRAFT, ensure_ascii=False)
    with TestClient(create_app(settings, deps=deps, store=store, config=WebConfig())) as c:
        tok = c.post("/api/login", json={"username": "unitA", "password": "password-123"}).json()["token"]
        files = {"file": ("d.jsonl", "\n".join([line, line]).encode(), "application/x-ndjson")}
        r = c.post("/api/batches", files=files, headers={"Authorization": f"Bearer {tok}"})
        assert r.status_code == 202, r.text
        row = _wait(store, r.json()["id"])
    items = {i["line"]: i for i in row["items"]}
    assert items[2]["duplicate_of"] == 1 and items[2]["submission_id"] == items[1]["submission_id"]
    assert len(store.list_submissions(unit="甲单位")) == 1
