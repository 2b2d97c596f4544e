"""Resumable batch review: a file of targets → one committed SQLite row per distinct target.

`run_batch(input_path, deps=..., db_path=...)` reviews every target in a .jsonl (or .json) file
with bounded concurrency and commits each result as soon as it is reviewed, so a crash or a
`kill -9` loses at most the reviews in flight. Results are keyed by (job, content hash): running
the same job again skips finished targets, and the same content twice in a file is reviewed once.

Faults never stop the batch: a bad line is recorded as an error (with a Chinese message) and the
batch goes on; an LLM endpoint that is down, too slow or answers garbage makes the critic fall back
to the offline review, and the report lists those targets. Optionally (`pause_after_fallbacks`) the
batch pauses cleanly after that many fallbacks in a row, to be resumed later with
`retry_fallbacks=True`. A database locked by another writer is waited for (SQLite busy timeout,
then bounded retries with backoff); if it stays locked the batch pauses, losing nothing committed.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal, TypeVar

import sqlite_utils
from pydantic import Field

from assistant.errors import InputError
from assistant.models import Review, Strict, Target, Usage
from assistant.pipeline import Deps, review
from assistant.records import LineError, content_hash, iter_targets, json_error, parse_target

JOBS = "batch_jobs"
RESULTS = "batch_results"
Status = Literal["ok", "error", "fallback"]
T = TypeVar("T")


class BatchLineError(Strict):
    line: int
    message: str  # Chinese, names the line and the field


class BatchFallback(Strict):
    line: int
    project: str
    reason: str


class BatchReport(Strict):
    job_id: str
    input: str
    db_path: str
    status: Literal["done", "paused"] = "done"
    pause_reason: str | None = None
    total: int = 0  # lines in the input (targets and bad lines)
    done: int = 0  # lines whose result is in the database after this run (ok, fallback or error)
    reviewed: int = 0  # reviews performed by this run
    skipped_existing: int = 0  # lines skipped: their content was already reviewed (earlier run or earlier line)
    ok: int = 0
    errors: list[BatchLineError] = Field(default_factory=list)
    fallbacks: list[BatchFallback] = Field(default_factory=list)
    elapsed_s: float = 0.0
    tokens: Usage = Field(default_factory=Usage)
    db_retries: int = 0  # writes retried because another writer held the database


class DatabaseBusy(Exception):
    """The database stayed locked past the retry budget."""


# --------------------------------------------------------------------------- database


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _is_locked(exc: sqlite3.OperationalError) -> bool:
    msg = str(exc).lower()
    return "locked" in msg or "busy" in msg


class _Store:
    """One connection, used from the coordinating thread only."""

    def __init__(self, db_path: Path, *, busy_timeout_s: float, lock_retry_s: float) -> None:
        self.path = Path(db_path)
        if str(db_path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(str(db_path), timeout=busy_timeout_s, check_same_thread=False)
        self.conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        self.db = sqlite_utils.Database(self.conn)
        self.lock_retry_s = lock_retry_s
        self.retries = 0
        self._retry(self._setup)

    def _retry(self, fn: Callable[[], T]) -> T:
        """Run `fn` (one transaction), retrying 'database is locked' with capped backoff for lock_retry_s."""
        deadline = time.monotonic() + self.lock_retry_s
        delay = 0.05
        while True:
            try:
                return fn()
            except sqlite3.OperationalError as exc:
                if not _is_locked(exc):
                    raise
                try:
                    self.conn.rollback()
                except sqlite3.Error:
                    pass
                if time.monotonic() + delay > deadline:
                    raise DatabaseBusy(str(exc)) from None
                self.retries += 1
                time.sleep(delay)
                delay = min(delay * 2, 2.0)

    def _setup(self) -> None:
        if self.db.journal_mode != "wal":
            self.db.enable_wal()
        with self.conn:
            self.db[JOBS].create({"id": str, "input": str, "created": str, "updated": str, "status": str},
                                 pk="id", if_not_exists=True)
            self.db[RESULTS].create(
                {"job_id": str, "line": int, "content_hash": str, "status": str, "project": str, "review": str,
                 "error": str, "finished_at": str},
                pk=("job_id", "content_hash"), if_not_exists=True)
            self.conn.execute(f"CREATE INDEX IF NOT EXISTS idx_{RESULTS}_line ON {RESULTS}(job_id, line)")

    def start_job(self, job_id: str, input_path: str, *, retry_fallbacks: bool) -> dict[str, str]:
        """Register the job; drop rows that this run will redo (bad lines, and fallbacks if asked).
        Returns content_hash → status for the results kept."""

        def tx() -> dict[str, str]:
            with self.conn:
                now = _now()
                self.conn.execute(
                    f"INSERT INTO {JOBS}(id, input, created, updated, status) VALUES (?, ?, ?, ?, 'running') "
                    f"ON CONFLICT(id) DO UPDATE SET updated = excluded.updated, status = 'running', "
                    f"input = excluded.input", (job_id, input_path, now, now))
                self.conn.execute(f"DELETE FROM {RESULTS} WHERE job_id = ? AND status = 'error'", (job_id,))
                if retry_fallbacks:
                    self.conn.execute(f"DELETE FROM {RESULTS} WHERE job_id = ? AND status = 'fallback'", (job_id,))
            rows = self.conn.execute(f"SELECT content_hash, status FROM {RESULTS} WHERE job_id = ?", (job_id,))
            return dict(rows.fetchall())

        return self._retry(tx)

    def put(self, job_id: str, *, line: int, key: str, status: Status, project: str, review_json: str | None,
            error: str | None) -> None:
        def tx() -> None:
            with self.conn:  # committed when the block exits: a kill -9 after this keeps the row
                self.conn.execute(
                    f"INSERT INTO {RESULTS}(job_id, line, content_hash, status, project, review, error, finished_at) "
                    f"VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(job_id, content_hash) DO UPDATE SET "
                    f"line = excluded.line, status = excluded.status, project = excluded.project, "
                    f"review = excluded.review, error = excluded.error, finished_at = excluded.finished_at",
                    (job_id, line, key, status, project, review_json, error, _now()))

        self._retry(tx)

    def finish_job(self, job_id: str, status: str) -> None:
        def tx() -> None:
            with self.conn:
                self.conn.execute(f"UPDATE {JOBS} SET status = ?, updated = ? WHERE id = ?", (status, _now(), job_id))

        self._retry(tx)

    def close(self) -> None:
        self.conn.close()


# --------------------------------------------------------------------------- input


def default_job_id(input_path: Path) -> str:
    p = Path(input_path).resolve()
    return f"{p.stem}-{hashlib.sha256(str(p).encode()).hexdigest()[:8]}"


def _numbered(path: Path) -> list[tuple[int, Target | InputError]]:
    """(line, target or error): JSONL line numbers (blank lines counted) or 1-based items of a .json list."""
    if path.suffix.lower() == ".jsonl":
        items = list(iter_targets(path))  # one item per non-blank line
        raw = path.read_bytes().decode("utf-8-sig", errors="replace").splitlines()
        lines = [n for n, text in enumerate(raw, start=1) if text.strip()]
        return [(it.line if isinstance(it, LineError) else (lines[i] if i < len(lines) else i + 1), it)
                for i, it in enumerate(items)]
    if path.suffix.lower() != ".json":
        raise InputError("批处理只支持 .jsonl 或 .json 文件", where=str(path))
    from assistant.records import MAX_FILE_BYTES, _read_text

    try:
        data = json.loads(_read_text(path, MAX_FILE_BYTES))
    except json.JSONDecodeError as exc:
        raise InputError(json_error(exc), where=path.name) from None
    out: list[tuple[int, Target | InputError]] = []
    for n, obj in enumerate(data if isinstance(data, list) else [data], start=1):
        try:
            out.append((n, parse_target(obj, where=f"{path.name} 第{n}个对象")))
        except InputError as exc:
            out.append((n, exc))
    return out


def _message(exc: InputError) -> str:
    return str(exc)


# --------------------------------------------------------------------------- the batch


ProgressFn = Callable[[int, int], None]  # (lines processed, total lines)


def run_batch(input_path: Path | str, *, deps: Deps, db_path: Path | str, job_name: str | None = None,
              max_concurrency: int = 1, progress: ProgressFn | None = None, retry_fallbacks: bool = False,
              pause_after_fallbacks: int | None = None, busy_timeout_s: float = 5.0,
              lock_retry_s: float = 120.0) -> BatchReport:
    """Review every target in `input_path`, committing each result; resumable by (job, content hash)."""
    t0 = time.perf_counter()
    path = Path(input_path)
    job_id = job_name or default_job_id(path)
    items = _numbered(path)
    total = len(items)
    store = _Store(Path(db_path), busy_timeout_s=busy_timeout_s, lock_retry_s=lock_retry_s)
    report = BatchReport(job_id=job_id, input=str(path), db_path=str(db_path), total=total)
    processed = 0

    def tick() -> None:
        nonlocal processed
        processed += 1
        if progress is not None:
            progress(processed, total)

    try:
        existing = store.start_job(job_id, str(path.resolve()), retry_fallbacks=retry_fallbacks)
        # decide what to review; everything else is recorded or skipped right away
        todo: list[tuple[int, Target, str]] = []
        seen: set[str] = set()
        for line, item in items:
            if isinstance(item, InputError):
                store.put(job_id, line=line, key=f"error:line{line}", status="error", project="",
                          review_json=None, error=_message(item))
                report.errors.append(BatchLineError(line=line, message=_message(item)))
                tick()
                continue
            key = content_hash(item)
            if key in existing or key in seen:
                report.skipped_existing += 1
                tick()
                continue
            seen.add(key)
            todo.append((line, item, key))

        window = max(1, max_concurrency) * 2
        consecutive_fallbacks = 0
        stop = threading.Event()

        def work(target: Target) -> Review:
            return review(target, deps)

        with ThreadPoolExecutor(max_workers=max(1, max_concurrency), thread_name_prefix="batch") as pool:
            pending: dict[Future[Review], tuple[int, Target, str]] = {}
            queue = iter(todo)
            exhausted = False
            while True:
                while not exhausted and not stop.is_set() and len(pending) < window:
                    nxt = next(queue, None)
                    if nxt is None:
                        exhausted = True
                        break
                    pending[pool.submit(work, nxt[1])] = nxt
                if not pending:
                    break
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    line, target, key = pending.pop(fut)
                    project = target.project_name or "（未注明项目名称）"
                    try:
                        rv = fut.result()
                    except Exception as exc:  # noqa: BLE001 - one failed review never stops the batch
                        msg = f"第{line}行 评审失败：{type(exc).__name__}: {exc}"
                        store.put(job_id, line=line, key=key, status="error", project=project, review_json=None,
                                  error=msg)
                        report.errors.append(BatchLineError(line=line, message=msg))
                        tick()
                        continue
                    status: Status = "fallback" if rv.fallback_reason else "ok"
                    store.put(job_id, line=line, key=key, status=status, project=project,
                              review_json=rv.model_dump_json(), error=rv.fallback_reason)
                    report.reviewed += 1
                    u = rv.meta.usage
                    report.tokens.prompt_tokens += u.prompt_tokens
                    report.tokens.completion_tokens += u.completion_tokens
                    report.tokens.calls += u.calls
                    if status == "fallback":
                        report.fallbacks.append(BatchFallback(line=line, project=project,
                                                              reason=rv.fallback_reason or ""))
                        consecutive_fallbacks += 1
                        if pause_after_fallbacks and consecutive_fallbacks >= pause_after_fallbacks \
                                and not stop.is_set():
                            stop.set()
                            report.status = "paused"
                            report.pause_reason = (f"连续 {consecutive_fallbacks} 个目标的 LLM 评审失败并改用离线评审，"
                                                   f"批处理已暂停；模型服务恢复后以 --retry-fallbacks 重新运行即可续跑")
                    else:
                        report.ok += 1
                        consecutive_fallbacks = 0
                    tick()
    except DatabaseBusy as exc:
        report.status = "paused"
        report.pause_reason = f"数据库被其他程序长时间占用（{exc}），批处理已暂停；已完成的结果均已保存，重新运行即可续跑"
    finally:
        report.db_retries = store.retries
        try:
            store.finish_job(job_id, report.status)
        except (DatabaseBusy, sqlite3.Error):
            pass
        try:
            report.done = _count(store, job_id)
        except sqlite3.Error:
            pass
        store.close()
    report.elapsed_s = round(time.perf_counter() - t0, 3)
    report.errors.sort(key=lambda e: e.line)
    report.fallbacks.sort(key=lambda f: f.line)
    return report


def _count(store: _Store, job_id: str) -> int:
    return int(store.conn.execute(f"SELECT count(*) FROM {RESULTS} WHERE job_id = ?", (job_id,)).fetchone()[0])


# --------------------------------------------------------------------------- export


def iter_results(job_id: str, *, db_path: Path | str) -> Iterator[dict[str, Any]]:
    conn = sqlite3.connect(str(db_path), timeout=30)
    try:
        rows = conn.execute(
            f"SELECT line, content_hash, status, project, review, error, finished_at FROM {RESULTS} "
            f"WHERE job_id = ? ORDER BY line", (job_id,))
        for line, key, status, project, rv, error, finished in rows:
            yield {"job_id": job_id, "line": line, "content_hash": key, "status": status, "project": project,
                   "error": error, "finished_at": finished, "review": json.loads(rv) if rv else None}
    finally:
        conn.close()


def export_results(job_id: str, out_jsonl: Path | str, *, db_path: Path | str) -> int:
    """Write the job's results (ordered by input line) as JSONL; returns the number of rows."""
    out = Path(out_jsonl)
    out.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with out.open("w", encoding="utf-8") as fh:
        for row in iter_results(job_id, db_path=db_path):
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n
