"""Resumable batch review: many targets → one committed result per distinct target.

`run_batch(source, deps=..., db_path=...)` reviews every target of a file (.jsonl, .json or .xlsx, read by
`intake.read_source`) or of already-read items with bounded concurrency, and commits each result as soon as it
is reviewed, so a crash or a `kill -9` loses at most the reviews in flight. Results are keyed by (job, content
hash): running the same job again skips finished targets, and the same content twice in a file is reviewed once.
Where results go is a `BatchSink`: by default the `batch_results` table (`ResultStore`); the web service's sink
turns each result into a submission of its batch job (web/batches.py), so both resume the same way.

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
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

from pydantic import Field

from assistant.errors import InputError
from assistant.intake.reader import Numbered, read_source
from assistant.intake.records import content_hash
from assistant.models import Review, Strict, Target, Usage
from assistant.pipeline import Deps, review
from assistant.store import connect, now

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


@dataclass(frozen=True)
class BatchResult:
    """One finished line, as a sink stores it."""

    line: int
    key: str  # content hash, or "error:lineN" for a bad line
    status: Status
    project: str
    target: Target | None = None
    review: Review | None = None
    error: str | None = None


class BatchSink(Protocol):
    """Where a batch's results go. `start` returns content hash → line of the results already kept (bad lines
    and, with `retry_fallbacks`, fallbacks are dropped so this run redoes them)."""

    retries: int

    def start(self, job_id: str, source: str, *, retry_fallbacks: bool) -> dict[str, int]: ...

    def put(self, job_id: str, result: BatchResult) -> None: ...

    def duplicate(self, job_id: str, *, line: int, key: str, first_line: int, project: str) -> None: ...

    def finish(self, job_id: str, status: str) -> int: ...  # returns the number of results kept

    def close(self) -> None: ...


# --------------------------------------------------------------------------- the default sink


def _is_locked(exc: sqlite3.OperationalError) -> bool:
    msg = str(exc).lower()
    return "locked" in msg or "busy" in msg


class ResultStore:
    """The `batch_results` table; one connection, used from the coordinating thread only."""

    def __init__(self, db_path: Path | str, *, busy_timeout_s: float = 5.0, lock_retry_s: float = 120.0) -> None:
        self.path = Path(db_path)
        self.lock_retry_s = lock_retry_s
        self.retries = 0
        self.conn: sqlite3.Connection | None = None
        self.conn = self._retry(lambda: connect(db_path, timeout=busy_timeout_s))

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
                    if self.conn is not None:
                        self.conn.rollback()
                except sqlite3.Error:
                    pass
                if time.monotonic() + delay > deadline:
                    raise DatabaseBusy(str(exc)) from None
                self.retries += 1
                time.sleep(delay)
                delay = min(delay * 2, 2.0)

    def _tx(self, sql: str, args: tuple[Any, ...]) -> None:
        assert self.conn is not None
        conn = self.conn

        def tx() -> None:
            with conn:  # committed when the block exits: a kill -9 after this keeps the row
                conn.execute(sql, args)

        self._retry(tx)

    def start(self, job_id: str, source: str, *, retry_fallbacks: bool) -> dict[str, int]:
        assert self.conn is not None
        conn = self.conn

        def tx() -> dict[str, int]:
            with conn:
                ts = now()
                conn.execute(
                    f"INSERT INTO {JOBS}(id, input, created, updated, status) VALUES (?, ?, ?, ?, 'running') "
                    f"ON CONFLICT(id) DO UPDATE SET updated = excluded.updated, status = 'running', "
                    f"input = excluded.input", (job_id, source, ts, ts))
                conn.execute(f"DELETE FROM {RESULTS} WHERE job_id = ? AND status = 'error'", (job_id,))
                if retry_fallbacks:
                    conn.execute(f"DELETE FROM {RESULTS} WHERE job_id = ? AND status = 'fallback'", (job_id,))
            rows = conn.execute(f"SELECT content_hash, line FROM {RESULTS} WHERE job_id = ?", (job_id,))
            return dict(rows.fetchall())

        return self._retry(tx)

    def put(self, job_id: str, result: BatchResult) -> None:
        self._tx(f"INSERT INTO {RESULTS}(job_id, line, content_hash, status, project, review, error, finished_at) "
                 f"VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(job_id, content_hash) DO UPDATE SET "
                 f"line = excluded.line, status = excluded.status, project = excluded.project, "
                 f"review = excluded.review, error = excluded.error, finished_at = excluded.finished_at",
                 (job_id, result.line, result.key, result.status, result.project,
                  result.review.model_dump_json() if result.review is not None else None, result.error, now()))

    def duplicate(self, job_id: str, *, line: int, key: str, first_line: int, project: str) -> None:
        """Nothing to store: the result of the first line stands for both (`iter_results` lists it once)."""

    def finish(self, job_id: str, status: str) -> int:
        assert self.conn is not None
        self._tx(f"UPDATE {JOBS} SET status = ?, updated = ? WHERE id = ?", (status, now(), job_id))
        return int(self.conn.execute(f"SELECT count(*) FROM {RESULTS} WHERE job_id = ?", (job_id,)).fetchone()[0])

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


# --------------------------------------------------------------------------- the batch


def default_job_id(input_path: Path) -> str:
    p = Path(input_path).resolve()
    return f"{p.stem}-{hashlib.sha256(str(p).encode()).hexdigest()[:8]}"


ProgressFn = Callable[[int, int], None]  # (lines processed, total lines)


@dataclass
class _Run:
    """The state of one run: its sink, report and progress."""

    job_id: str
    sink: BatchSink
    report: BatchReport
    progress: ProgressFn | None
    pause_after_fallbacks: int | None
    processed: int = 0
    consecutive_fallbacks: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def tick(self) -> None:
        self.processed += 1
        if self.progress is not None:
            self.progress(self.processed, self.report.total)

    def error(self, line: int, key: str, project: str, message: str) -> None:
        self.sink.put(self.job_id, BatchResult(line=line, key=key, status="error", project=project, error=message))
        self.report.errors.append(BatchLineError(line=line, message=message))
        self.tick()

    def reviewed(self, line: int, key: str, target: Target, rv: Review) -> None:
        project = target.project_name or "（未注明项目名称）"
        status: Status = "fallback" if rv.fallback_reason else "ok"
        self.sink.put(self.job_id, BatchResult(line=line, key=key, status=status, project=project, target=target,
                                               review=rv, error=rv.fallback_reason))
        rep = self.report
        rep.reviewed += 1
        u = rv.meta.usage
        rep.tokens.prompt_tokens += u.prompt_tokens
        rep.tokens.completion_tokens += u.completion_tokens
        rep.tokens.calls += u.calls
        if status == "ok":
            rep.ok += 1
            self.consecutive_fallbacks = 0
        else:
            rep.fallbacks.append(BatchFallback(line=line, project=project, reason=rv.fallback_reason or ""))
            self.consecutive_fallbacks += 1
            limit = self.pause_after_fallbacks
            if limit and self.consecutive_fallbacks >= limit and not self.stop.is_set():
                self.stop.set()
                rep.status = "paused"
                rep.pause_reason = (f"连续 {self.consecutive_fallbacks} 个目标的 LLM 评审失败并改用离线评审，"
                                    f"批处理已暂停；模型服务恢复后以 --retry-fallbacks 重新运行即可续跑")
        self.tick()


def _plan(run: _Run, items: Sequence[Numbered], existing: dict[str, int]
          ) -> tuple[list[tuple[int, Target, str]], list[tuple[int, str, int, str]]]:
    """Record bad lines right away; return (line, target, key) of what to review, and the duplicates
    (line, key, first line, project) to record once their first line is done."""
    todo: list[tuple[int, Target, str]] = []
    dups: list[tuple[int, str, int, str]] = []
    first: dict[str, int] = {}
    for it in items:
        if isinstance(it.item, InputError):
            run.error(it.n, f"error:line{it.n}", "", str(it.item))
            continue
        key = content_hash(it.item)
        seen = first.get(key, existing.get(key))
        if seen is not None:
            if seen != it.n:
                dups.append((it.n, key, seen, it.item.project_name or "（未注明项目名称）"))
            run.report.skipped_existing += 1
            run.tick()
            continue
        first[key] = it.n
        todo.append((it.n, it.item, key))
    return todo, dups


def _review_all(run: _Run, todo: list[tuple[int, Target, str]], deps: Deps, max_concurrency: int) -> None:
    """Review with bounded concurrency (a window of 2 × workers in flight); results are stored as they finish."""
    window = max(1, max_concurrency) * 2
    with ThreadPoolExecutor(max_workers=max(1, max_concurrency), thread_name_prefix="batch") as pool:
        pending: dict[Future[Review], tuple[int, Target, str]] = {}
        queue = iter(todo)
        exhausted = False
        while True:
            while not exhausted and not run.stop.is_set() and len(pending) < window:
                nxt = next(queue, None)
                if nxt is None:
                    exhausted = True
                    break
                pending[pool.submit(review, nxt[1], deps)] = nxt
            if not pending:
                break
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                line, target, key = pending.pop(fut)
                try:
                    rv = fut.result()
                except Exception as exc:  # noqa: BLE001 - one failed review never stops the batch
                    run.error(line, key, target.project_name or "（未注明项目名称）",
                              f"第{line}行 评审失败：{type(exc).__name__}: {exc}")
                    continue
                run.reviewed(line, key, target, rv)


def run_batch(source: Path | str | Sequence[Numbered], *, deps: Deps, db_path: Path | str | None = None,
              sink: BatchSink | None = None, job_name: str | None = None, max_concurrency: int = 1,
              progress: ProgressFn | None = None, retry_fallbacks: bool = False,
              pause_after_fallbacks: int | None = None, busy_timeout_s: float = 5.0,
              lock_retry_s: float = 120.0) -> BatchReport:
    """Review every target of `source` (a file, or items already read), committing each result to `sink`
    (default: the `batch_results` table of `db_path`); resumable by (job, content hash)."""
    t0 = time.perf_counter()
    if isinstance(source, (str, Path)):
        path = Path(source)
        items: Sequence[Numbered] = read_source(path)
        label, job_id = str(path.resolve()), job_name or default_job_id(path)
    else:
        items, label = source, job_name or "batch"
        job_id = label
    if sink is None:
        if db_path is None:
            raise ValueError("run_batch needs a db_path or a sink")
        sink = ResultStore(Path(db_path), busy_timeout_s=busy_timeout_s, lock_retry_s=lock_retry_s)
    report = BatchReport(job_id=job_id, input=str(source) if isinstance(source, (str, Path)) else label,
                         db_path=str(db_path or ""), total=len(items))
    run = _Run(job_id=job_id, sink=sink, report=report, progress=progress,
               pause_after_fallbacks=pause_after_fallbacks)
    try:
        existing = sink.start(job_id, label, retry_fallbacks=retry_fallbacks)
        todo, dups = _plan(run, items, existing)
        _review_all(run, todo, deps, max_concurrency)
        for line, key, first_line, project in dups:
            sink.duplicate(job_id, line=line, key=key, first_line=first_line, project=project)
    except DatabaseBusy as exc:
        report.status = "paused"
        report.pause_reason = f"数据库被其他程序长时间占用（{exc}），批处理已暂停；已完成的结果均已保存，重新运行即可续跑"
    finally:
        report.db_retries = sink.retries
        try:
            report.done = sink.finish(job_id, report.status)
        except (DatabaseBusy, sqlite3.Error):
            pass
        sink.close()
    report.elapsed_s = round(time.perf_counter() - t0, 3)
    report.errors.sort(key=lambda e: e.line)
    report.fallbacks.sort(key=lambda f: f.line)
    return report


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
