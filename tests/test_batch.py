"""Resumable batch review: kill -9 and resume, idempotence by content hash, bad lines,
endpoint faults (fallbacks listed, clean pause), a database locked by another writer."""
# ruff: noqa: E402

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

import pytest
from click.testing import CliRunner

from assistant.batch import RESULTS, export_results, iter_results, run_batch
from assistant.cli.batch import batch_command
from assistant.critique.offline import OfflineCritic
from assistant.models import CritiqueInput, CritiqueResult
from assistant.pipeline import Deps, build_deps
from assistant.settings import REPO_DIR, load_settings
from tests.fake_openai import FakeOpenAI, Reply, answer

CORPUS = REPO_DIR / "corpus" / "approved_targets.jsonl"


@pytest.fixture(scope="module")
def deps() -> Deps:
    return build_deps(load_settings({}), corpus=CORPUS)


def corpus_records() -> list[dict[str, Any]]:
    return [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_targets(path: Path, n: int, *, tag: str = "批", extra_lines: list[str] | None = None) -> list[dict]:
    recs = corpus_records()
    out = []
    for i in range(n):
        r = dict(recs[i % len(recs)])
        r.pop("id", None)
        r["project_name"] = f"{r['project_name']}（{tag}{i}）"
        out.append(r)
    lines = [json.dumps(r, ensure_ascii=False) for r in out] + (extra_lines or [])
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def count_rows(db: Path, job: str) -> int:
    if not db.exists():
        return 0
    try:
        conn = sqlite3.connect(str(db), timeout=1)
        try:
            return conn.execute(f"SELECT count(*) FROM {RESULTS} WHERE job_id = ?", (job,)).fetchone()[0]
        finally:
            conn.close()
    except sqlite3.OperationalError:
        return 0


class CountingCritic:
    """The offline critic, counting calls; optional delay, and targets it 'fails' (falls back) or raises on."""

    name = "fake"

    def __init__(self, *, delay: float = 0.0, fall_back_on: str = "", raise_on: str = "") -> None:
        self.inner = OfflineCritic()
        self.delay = delay
        self.fall_back_on = fall_back_on
        self.raise_on = raise_on
        self.calls = 0
        self._lock = threading.Lock()

    def critique(self, inp: CritiqueInput) -> CritiqueResult:
        with self._lock:
            self.calls += 1
        if self.delay:
            time.sleep(self.delay)
        name = inp.target.project_name
        if self.raise_on and self.raise_on in name:
            raise RuntimeError("critic exploded")
        res = self.inner.critique(inp)
        if self.fall_back_on and self.fall_back_on in name:
            return res.model_copy(update={"fallback_reason": "LLM 调用失败（超时，已重试 3 次），已改用离线评审"})
        return res


def with_critic(deps: Deps, critic: Any) -> Deps:
    return Deps(critic=critic, profile=deps.profile, index=deps.index, top_k=deps.top_k)


# ----------------------------------------------------------------------------- resumability

CHILD = """
import sys, time
sys.path.insert(0, {root!r})
from assistant.batch import run_batch
from assistant.critique.offline import OfflineCritic
from assistant.pipeline import build_deps
from assistant.settings import load_settings

class Slow(OfflineCritic):
    def critique(self, inp):
        time.sleep(0.05)
        return super().critique(inp)

deps = build_deps(load_settings({{}}), corpus=__import__('pathlib').Path({corpus!r}))
deps.critic = Slow()
r = run_batch({inp!r}, deps=deps, db_path={db!r}, job_name="night", max_concurrency=2)
print("FINISHED", r.reviewed)
"""


def test_kill9_then_resume_loses_and_redoes_nothing(tmp_path: Path, deps: Deps) -> None:
    inp, db = tmp_path / "in.jsonl", tmp_path / "batch.db"
    write_targets(inp, 60)
    code = CHILD.format(root=str(ROOT), corpus=str(CORPUS), inp=str(inp), db=str(db))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while count_rows(db, "night") < 12 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    assert proc.poll() is None, "the batch finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    before = count_rows(db, "night")
    assert 12 <= before < 60

    critic = CountingCritic()
    report = run_batch(inp, deps=with_critic(deps, critic), db_path=db, job_name="night")
    assert report.status == "done"
    assert report.skipped_existing == before  # finished work is not redone
    assert report.reviewed == critic.calls == 60 - before
    assert report.done == 60
    rows = list(iter_results("night", db_path=db))
    assert sorted(r["line"] for r in rows) == list(range(1, 61))  # every line exactly once
    assert all(r["status"] == "ok" and r["review"]["score"] >= 0 for r in rows)

    # a third run does nothing
    again = run_batch(inp, deps=with_critic(deps, CountingCritic()), db_path=db, job_name="night")
    assert again.reviewed == 0 and again.skipped_existing == 60 and again.done == 60


def test_same_content_reviewed_once(tmp_path: Path, deps: Deps) -> None:
    inp, db = tmp_path / "in.jsonl", tmp_path / "b.db"
    recs = write_targets(inp, 5)
    dup = dict(recs[2], id="another-id", notes="different notes")  # same content, different provenance
    with inp.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(recs[2], ensure_ascii=False) + "\n" + json.dumps(dup, ensure_ascii=False) + "\n")
    critic = CountingCritic()
    report = run_batch(inp, deps=with_critic(deps, critic), db_path=db, job_name="dup")
    assert report.total == 7 and report.reviewed == 5 == critic.calls and report.skipped_existing == 2
    rows = list(iter_results("dup", db_path=db))
    assert len(rows) == 5 and len({r["content_hash"] for r in rows}) == 5
    assert rows[2]["review"]["meta"]["content_hash"] == rows[2]["content_hash"]


def test_bad_lines_are_recorded_and_the_batch_goes_on(tmp_path: Path, deps: Deps) -> None:
    inp, db = tmp_path / "in.jsonl", tmp_path / "b.db"
    write_targets(inp, 6, extra_lines=["{这不是 JSON", json.dumps({"project_name": "缺指标"}, ensure_ascii=False),
                                       json.dumps({"project_name": "金额错", "indicators": [{"name": "x", "value": "1"}],
                                                   "amount_total_wan": "很多"}, ensure_ascii=False)])
    with inp.open("a", encoding="utf-8") as fh:  # a blank line, then one more good target
        fh.write("\n" + json.dumps(dict(corpus_records()[0], id=None, project_name="末行项目"), ensure_ascii=False) + "\n")
    critic = CountingCritic(raise_on="（批3）")
    report = run_batch(inp, deps=with_critic(deps, critic), db_path=db, job_name="bad")
    assert report.status == "done"
    assert [e.line for e in report.errors] == [4, 7, 8, 9]
    msgs = {e.line: e.message for e in report.errors}
    assert "JSON 格式错误" in msgs[7] and "indicators" in msgs[8] and "资金总额" in msgs[9] and "评审失败" in msgs[4]
    assert report.reviewed == 6 and report.ok == 6  # 5 good + the last line after the blank one
    rows = {r["line"]: r for r in iter_results("bad", db_path=db)}
    assert rows[11]["project"] == "末行项目" and rows[11]["status"] == "ok"
    assert rows[7]["status"] == "error"
    # errors are retried on the next run (the line may have been fixed); finished ones are not
    critic2 = CountingCritic()
    again = run_batch(inp, deps=with_critic(deps, critic2), db_path=db, job_name="bad")
    assert critic2.calls == 1 and again.reviewed == 1 and len(again.errors) == 3


def test_fallbacks_listed_in_report_and_export(tmp_path: Path, deps: Deps) -> None:
    inp, db, out = tmp_path / "in.jsonl", tmp_path / "b.db", tmp_path / "out.jsonl"
    write_targets(inp, 12)
    critic = CountingCritic(fall_back_on="（批1")  # 批1, 批10, 批11
    report = run_batch(inp, deps=with_critic(deps, critic), db_path=db, job_name="fb", max_concurrency=4)
    assert [f.line for f in report.fallbacks] == [2, 11, 12]
    assert all("已改用离线评审" in f.reason and "（批1" in f.project for f in report.fallbacks)
    assert report.ok == 9 and report.status == "done"
    assert export_results("fb", out, db_path=db) == 12
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["line"] for r in rows] == list(range(1, 13))
    assert [r["line"] for r in rows if r["status"] == "fallback"] == [2, 11, 12]
    # --retry-fallbacks redoes exactly the fallbacks
    critic2 = CountingCritic()
    again = run_batch(inp, deps=with_critic(deps, critic2), db_path=db, job_name="fb", retry_fallbacks=True)
    assert critic2.calls == 3 and again.ok == 3 and not again.fallbacks


def _garbage_or_valid(req: dict[str, Any]) -> Reply:
    prompt = json.dumps(req.get("messages", []), ensure_ascii=False)
    if "【坏】" in prompt or "GARBAGE" in prompt:
        return Reply(content="GARBAGE 这不是 JSON")
    if "【慢】" in prompt:
        return Reply(content=json.dumps(answer(), ensure_ascii=False), delay=1.5)
    return Reply(content=json.dumps(answer(), ensure_ascii=False))


def _openai_deps(deps: Deps, url: str, tmp_path: Path, **kw: Any) -> Deps:
    from assistant.critique.llm import OpenAICritic

    settings = load_settings({}, backend="openai", base_url=url, model="fake", timeout_s=0.6, max_retries=0,
                             use_cache=False, db_path=tmp_path / "cache.db", **kw)
    return with_critic(deps, OpenAICritic(settings, fallback=OfflineCritic()))


def test_real_openai_critic_faults_garbage_and_timeout(tmp_path: Path, deps: Deps) -> None:
    """Against the fake endpoint: garbage answers and answers slower than the timeout fall back, the rest don't."""
    recs = corpus_records()
    names = ["甲项目", "乙项目【坏】", "丙项目", "丁项目【慢】", "戊项目"]
    inp = tmp_path / "in.jsonl"
    inp.write_text("\n".join(json.dumps(dict(recs[i], id=None, project_name=n), ensure_ascii=False)
                             for i, n in enumerate(names)) + "\n", encoding="utf-8")
    server = FakeOpenAI().start()
    server.default = _garbage_or_valid
    try:
        report = run_batch(inp, deps=_openai_deps(deps, server.url, tmp_path), db_path=tmp_path / "b.db",
                           job_name="llm", max_concurrency=2)
    finally:
        server.stop()
    assert report.status == "done" and report.done == 5
    assert [(f.line, f.project) for f in report.fallbacks] == [(2, "乙项目【坏】"), (4, "丁项目【慢】")]
    assert "校验" in report.fallbacks[0].reason and "超时" in report.fallbacks[1].reason
    assert report.ok == 3 and report.tokens.prompt_tokens > 0


def test_endpoint_down_pauses_cleanly_then_resumes(tmp_path: Path, deps: Deps) -> None:
    inp, db = tmp_path / "in.jsonl", tmp_path / "b.db"
    write_targets(inp, 10)
    server = FakeOpenAI().start()
    dead_url = server.url
    server.stop()  # nothing listens there any more: connection refused
    report = run_batch(inp, deps=_openai_deps(deps, dead_url, tmp_path), db_path=db, job_name="down",
                       pause_after_fallbacks=3)
    assert report.status == "paused" and "暂停" in (report.pause_reason or "")
    # reviews already in flight when it paused finish and are kept (each is a complete offline review)
    assert 3 <= len(report.fallbacks) <= 4 and all("无法连接" in f.reason for f in report.fallbacks)
    assert report.done == len(report.fallbacks) < 10
    server2 = FakeOpenAI().start()
    try:
        again = run_batch(inp, deps=_openai_deps(deps, server2.url, tmp_path), db_path=db, job_name="down",
                          retry_fallbacks=True)
    finally:
        server2.stop()
    assert again.status == "done" and again.reviewed == 10 and not again.fallbacks and again.done == 10


def test_database_locked_by_another_writer_waits_and_completes(tmp_path: Path, deps: Deps) -> None:
    inp, db = tmp_path / "in.jsonl", tmp_path / "b.db"
    write_targets(inp, 8)
    run_batch(inp, deps=deps, db_path=db, job_name="setup")  # creates the schema (WAL)
    write_targets(inp, 8, tag="锁")
    locked = threading.Event()

    def hold() -> None:
        other = sqlite3.connect(str(db), timeout=5, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        other.execute("INSERT INTO batch_jobs(id, input, created, updated, status) VALUES ('x','x','x','x','x')")
        locked.set()
        time.sleep(1.0)
        other.execute("COMMIT")
        other.close()

    th = threading.Thread(target=hold)
    th.start()
    locked.wait(5)
    t0 = time.monotonic()
    report = run_batch(inp, deps=deps, db_path=db, job_name="locked", busy_timeout_s=0.1, lock_retry_s=10)
    th.join()
    assert report.status == "done" and report.done == 8 and report.reviewed == 8
    assert report.db_retries > 0 and time.monotonic() - t0 >= 0.8


def test_database_locked_too_long_pauses(tmp_path: Path, deps: Deps) -> None:
    inp, db = tmp_path / "in.jsonl", tmp_path / "b.db"
    write_targets(inp, 3)
    run_batch(inp, deps=deps, db_path=db, job_name="setup")
    write_targets(inp, 3, tag="久")
    other = sqlite3.connect(str(db), timeout=5, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    other.execute("INSERT INTO batch_jobs(id, input, created, updated, status) VALUES ('x','x','x','x','x')")
    try:
        report = run_batch(inp, deps=deps, db_path=db, job_name="long", busy_timeout_s=0.05, lock_retry_s=0.5)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert report.status == "paused" and "数据库" in (report.pause_reason or "")
    again = run_batch(inp, deps=deps, db_path=db, job_name="long")
    assert again.status == "done" and again.done == 3


def test_cli_batch_text_json_and_export(tmp_path: Path) -> None:
    inp, db, out = tmp_path / "in.jsonl", tmp_path / "b.db", tmp_path / "out.jsonl"
    write_targets(inp, 4, extra_lines=["not json"])
    runner = CliRunner()
    res = runner.invoke(batch_command, [str(inp), "--db", str(db), "--job", "cli", "--corpus", str(CORPUS),
                                        "--out", str(out)])
    assert res.exit_code == 3, res.output  # partial: one bad line
    assert "本次评审 4" in res.output and "第5行" in res.output and out.exists()
    res2 = runner.invoke(batch_command, [str(inp), "--db", str(db), "--job", "cli", "--corpus", str(CORPUS),
                                         "--format", "json", "--no-progress"])
    data = json.loads(res2.output.strip().splitlines()[-1])
    assert data["skipped_existing"] == 4 and data["reviewed"] == 0 and data["done"] == 5
    missing = runner.invoke(batch_command, [str(tmp_path / "nope.jsonl"), "--db", str(db), "--corpus", str(CORPUS)])
    assert missing.exit_code == 2 and "文件不存在" in missing.output
