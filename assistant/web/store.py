"""Web storage: SQLite through sqlite-utils, WAL mode; the schema and its migrations live in assistant.store.

Review versions are immutable (triggers refuse UPDATE and DELETE); every change of state
goes through a method here that also writes an audit row. One connection shared by the
server's threads, serialised by a lock (SQLite writes are serial anyway).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path
from typing import Any

import sqlite_utils

from assistant.errors import NotFoundError
from assistant.models import Review, Target
from assistant.store import MIGRATIONS, connect, migrate, now


def iso(seconds: float | None) -> str | None:
    """Epoch seconds as the ISO text the other columns use (None stays None)."""
    if seconds is None:
        return None
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat(timespec="seconds")


class Store:
    def __init__(self, path: Path | str) -> None:
        self.db = sqlite_utils.Database(connect(path))
        self.db.execute("PRAGMA foreign_keys=ON")
        self.lock = threading.RLock()

    # -- schema ------------------------------------------------------------------
    def migrate(self) -> int:
        """Bring the schema up to date (assistant.store); returns the number of known migrations."""
        with self.lock:
            migrate(self.db.conn)
            return len(MIGRATIONS)

    def _rows(self, sql: str, params: tuple | list = ()) -> list[dict[str, Any]]:
        if any(isinstance(p, int) and not -(2**63) <= p < 2**63 for p in params):
            return []  # an id SQLite cannot hold matches nothing
        with self.lock:
            return list(self.db.query(sql, params))

    def _one(self, sql: str, params: tuple | list = ()) -> dict[str, Any] | None:
        rows = self._rows(sql, params)
        return rows[0] if rows else None

    def _insert(self, table: str, row: dict[str, Any]) -> int:
        with self.lock, self.db.conn:
            cols = ", ".join(row)
            cur = self.db.conn.execute(f"INSERT INTO {table} ({cols}) VALUES ({', '.join('?' * len(row))})",
                                       tuple(row.values()))
            return int(cur.lastrowid or 0)

    def _update(self, sql: str, params: tuple) -> None:
        with self.lock, self.db.conn:
            self.db.conn.execute(sql, params)

    # -- audit -------------------------------------------------------------------
    def audit(self, user: str, action: str, obj: str, detail: str | dict = "") -> None:
        if isinstance(detail, dict):
            detail = json.dumps(detail, ensure_ascii=False)
        self._insert("audit", {"ts": now(), "user": user, "action": action, "object": obj, "detail": detail})

    def audit_rows(self, *, obj: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        if obj:
            return self._rows("SELECT * FROM audit WHERE object = ? ORDER BY id DESC LIMIT ?", (obj, limit))
        return self._rows("SELECT * FROM audit ORDER BY id DESC LIMIT ?", (limit,))

    # -- users and tokens --------------------------------------------------------
    def count_users(self) -> int:
        return int(self._rows("SELECT count(*) AS n FROM users")[0]["n"])

    def create_user(self, *, username: str, password_hash: str, role: str, unit: str = "") -> int:
        return self._insert("users", {"username": username, "password_hash": password_hash, "role": role,
                                      "unit": unit, "created": now()})

    def user_by_name(self, username: str) -> dict[str, Any] | None:
        return self._one("SELECT * FROM users WHERE username = ?", (username,))

    def user(self, user_id: int) -> dict[str, Any] | None:
        return self._one("SELECT * FROM users WHERE id = ?", (user_id,))

    def list_users(self) -> list[dict[str, Any]]:
        return self._rows("SELECT id, username, role, unit, created, disabled FROM users ORDER BY id")

    def set_user_disabled(self, user_id: int, disabled: bool) -> None:
        """Disabling also revokes the user's API tokens and ends their sessions, at once."""
        with self.lock, self.db.conn:
            self.db.conn.execute("UPDATE users SET disabled = ? WHERE id = ?", (int(disabled), user_id))
            if disabled:
                self.db.conn.execute("UPDATE tokens SET revoked = ? WHERE user_id = ? AND kind = 'api' "
                                     "AND revoked IS NULL", (now(), user_id))
                self.db.conn.execute("DELETE FROM tokens WHERE user_id = ? AND kind = 'session'", (user_id,))

    def set_password(self, user_id: int, password_hash: str, *, keep_token_hash: str | None = None) -> int:
        """A new password; the user's other sessions end and password-login API tokens (note 登录) are revoked, at
        once, except the token `keep_token_hash` (the one making the change). Returns how many were ended."""
        keep = keep_token_hash or ""
        with self.lock, self.db.conn:
            self.db.conn.execute("UPDATE users SET password_hash = ? WHERE id = ?", (password_hash, user_id))
            ended = self.db.conn.execute("DELETE FROM tokens WHERE user_id = ? AND kind = 'session' AND token_hash != ?",
                                         (user_id, keep)).rowcount
            ended += self.db.conn.execute(
                "UPDATE tokens SET revoked = ? WHERE user_id = ? AND kind = 'api' AND note = '登录' AND revoked IS NULL "
                "AND token_hash != ?", (now(), user_id, keep)).rowcount
        return int(ended)

    def add_token(self, token_hash: str, user_id: int, *, kind: str = "api", prefix: str = "", note: str = "",
                  now_s: float, expires_s: float | None = None) -> int:
        return self._insert("tokens", {"token_hash": token_hash, "user_id": user_id, "kind": kind, "prefix": prefix,
                                       "note": note, "created": iso(now_s), "created_s": now_s,
                                       "expires_s": expires_s})

    def token_row(self, token_hash: str, *, kind: str) -> dict[str, Any] | None:
        """The token joined with its user (token columns prefixed `t_`), revoked or not."""
        return self._one("SELECT u.*, t.id AS t_id, t.created_s AS t_created_s, t.last_used_s AS t_last_used_s, "
                         "t.revoked AS t_revoked, t.expires_s AS t_expires_s FROM tokens t JOIN users u ON u.id = t.user_id "
                         "WHERE t.token_hash = ? AND t.kind = ?", (token_hash, kind))

    def user_for_token(self, token_hash: str, *, kind: str) -> dict[str, Any] | None:
        row = self.token_row(token_hash, kind=kind)
        return row if row and not row["t_revoked"] and not row["disabled"] else None

    def touch_token(self, token_id: int, now_s: float) -> None:
        self._update("UPDATE tokens SET last_used_s = ? WHERE id = ?", (now_s, token_id))

    def drop_token(self, token_hash: str) -> None:
        self._update("DELETE FROM tokens WHERE token_hash = ?", (token_hash,))

    def drop_sessions_before(self, *, created_before: float, idle_before: float) -> None:
        self._update("DELETE FROM tokens WHERE kind = 'session' AND (created_s < ? OR "
                     "COALESCE(last_used_s, created_s) < ?)", (created_before, idle_before))

    def token(self, token_id: int) -> dict[str, Any]:
        row = self._one(_TOKEN_SQL + " WHERE t.id = ? AND t.kind = 'api'", (token_id,))
        if row is None:
            raise NotFoundError("未找到该令牌", where=f"token {token_id}")
        return row

    def list_tokens(self, *, user_id: int | None = None) -> list[dict[str, Any]]:
        if user_id is None:
            return self._rows(_TOKEN_SQL + " WHERE t.kind = 'api' ORDER BY t.id DESC")
        return self._rows(_TOKEN_SQL + " WHERE t.kind = 'api' AND t.user_id = ? ORDER BY t.id DESC", (user_id,))

    def revoke_token(self, token_id: int) -> None:
        self._update("UPDATE tokens SET revoked = ? WHERE id = ? AND revoked IS NULL", (now(), token_id))

    # -- server settings and custom rule profiles --------------------------------
    def get_setting(self, key: str) -> str | None:
        row = self._one("SELECT value FROM app_settings WHERE key = ?", (key,))
        return row["value"] if row else None

    def set_setting(self, key: str, value: str, *, by: str) -> None:
        with self.lock, self.db.conn:
            self.db.conn.execute("INSERT INTO app_settings (key, value, updated, updated_by) VALUES (?, ?, ?, ?) "
                                 "ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated = excluded.updated, "
                                 "updated_by = excluded.updated_by", (key, value, now(), by))

    def custom_profiles(self) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM custom_profiles ORDER BY name")

    def custom_profile(self, name: str) -> dict[str, Any] | None:
        return self._one("SELECT * FROM custom_profiles WHERE name = ?", (name,))

    def save_custom_profile(self, name: str, body: str, *, by: str) -> None:
        with self.lock, self.db.conn:
            self.db.conn.execute("INSERT INTO custom_profiles (name, body, created, created_by) VALUES (?, ?, ?, ?) "
                                 "ON CONFLICT(name) DO UPDATE SET body = excluded.body, created = excluded.created, "
                                 "created_by = excluded.created_by", (name, body, now(), by))

    def delete_custom_profile(self, name: str) -> None:
        self._update("DELETE FROM custom_profiles WHERE name = ?", (name,))

    # -- submissions and versions ------------------------------------------------
    def create_submission(self, *, unit: str, user_id: int, target: Target, review: Review) -> int:
        with self.lock:
            ts = now()
            sid = self._insert("submissions", {"unit": unit, "user_id": user_id, "project_name": review.project_name,
                                               "status": "submitted", "created": ts, "updated": ts})
            self.add_version(sid, user_id=user_id, target=target, review=review)
            return sid

    def add_version(self, submission_id: int, *, user_id: int, target: Target, review: Review) -> int:
        with self.lock:
            row = self._one("SELECT max(version) AS v FROM versions WHERE submission_id = ?", (submission_id,))
            version = int((row or {}).get("v") or 0) + 1
            with self.db.conn:
                self.db.conn.execute(_VERSION_SQL, _version_row(submission_id, version, user_id, target, review))
            if version > 1:
                self._update("UPDATE submissions SET status = 'submitted', updated = ?, project_name = ? WHERE id = ?",
                             (now(), review.project_name, submission_id))
            return version

    def submission(self, submission_id: int) -> dict[str, Any]:
        row = self._one(_SUMMARY_SQL + " WHERE s.id = ?", (submission_id,))
        if row is None:
            raise NotFoundError("未找到该提交记录", where=f"submission {submission_id}")
        return row

    def list_submissions(self, *, unit: str | None = None, grade: str | None = None, rule_id: str | None = None,
                         status: str | None = None, q: str | None = None, sort: str = "updated", limit: int = 200,
                         offset: int = 0) -> list[dict[str, Any]]:
        """Submissions (latest version, latest decision on it) matching the filters, in `sort` order (QUEUE_SORTS).
        `grade` is the current grade: the reviewer's final grade where the latest version has a decision, else the
        machine's; `q` matches the project name or the unit (contains), or the submission number."""
        where, params = _queue_filters(unit=unit, grade=grade, rule_id=rule_id, status=status, q=q)
        order = QUEUE_SORTS.get(sort, QUEUE_SORTS["updated"])
        return self._rows(_SUMMARY_SQL + where + f" ORDER BY {order} LIMIT ? OFFSET ?", [*params, limit, offset])

    def count_submissions(self, *, unit: str | None = None, grade: str | None = None, rule_id: str | None = None,
                          status: str | None = None, q: str | None = None) -> int:
        where, params = _queue_filters(unit=unit, grade=grade, rule_id=rule_id, status=status, q=q)
        return int(self._rows(f"SELECT count(*) AS n FROM ({_SUMMARY_SQL}{where})", params)[0]["n"])

    def same_content(self, hashes: list[str], *, unit: str | None = None) -> dict[str, list[int]]:
        """content hash → the submissions (ascending) whose latest version has that content; `unit`: only its own."""
        hashes = sorted({h for h in hashes if h})[:1000]
        if not hashes:
            return {}
        sql = ("SELECT s.id, v.content_hash FROM submissions s JOIN versions v ON v.submission_id = s.id "
               "AND v.version = (SELECT max(version) FROM versions WHERE submission_id = s.id) "
               f"WHERE v.content_hash IN ({', '.join('?' * len(hashes))})")
        params: list[Any] = list(hashes)
        if unit is not None:
            sql += " AND s.unit = ?"
            params.append(unit)
        out: dict[str, list[int]] = {}
        for row in self._rows(sql + " ORDER BY s.id", params):
            out.setdefault(row["content_hash"], []).append(int(row["id"]))
        return out

    def versions(self, submission_id: int) -> list[dict[str, Any]]:
        return self._rows("SELECT submission_id, version, user_id, content_hash, grade, score, created FROM versions "
                          "WHERE submission_id = ? ORDER BY version", (submission_id,))

    def review(self, submission_id: int, version: int | None = None) -> tuple[int, Review]:
        if version is None:
            row = self._one("SELECT version, review FROM versions WHERE submission_id = ? ORDER BY version DESC LIMIT 1",
                            (submission_id,))
        else:
            row = self._one("SELECT version, review FROM versions WHERE submission_id = ? AND version = ?",
                            (submission_id, version))
        if row is None:
            raise NotFoundError("未找到该版本", where=f"submission {submission_id} version {version}")
        return int(row["version"]), Review.model_validate_json(row["review"])

    def set_status(self, submission_id: int, status: str) -> None:
        self._update("UPDATE submissions SET status = ?, updated = ? WHERE id = ?", (status, now(), submission_id))

    # -- decisions and ratings ---------------------------------------------------
    def add_decision(self, *, submission_id: int, version: int, reviewer: str, final_grade: str, opinion: str,
                     accepted: list[int], rejected: list[int], status: str) -> int:
        did = self._insert("decisions", {
            "submission_id": submission_id, "version": version, "reviewer": reviewer, "final_grade": final_grade,
            "opinion": opinion, "accepted": json.dumps(accepted), "rejected": json.dumps(rejected), "status": status,
            "created": now()})
        self.set_status(submission_id, status)
        return did

    def decision_for(self, submission_id: int, version: int) -> dict[str, Any] | None:
        """The latest decision on one version (what that version's exports carry), or None."""
        row = self._one("SELECT * FROM decisions WHERE submission_id = ? AND version = ? ORDER BY id DESC LIMIT 1",
                        (submission_id, version))
        if row is not None:
            row["accepted"], row["rejected"] = json.loads(row["accepted"]), json.loads(row["rejected"])
        return row

    def decisions(self, submission_id: int) -> list[dict[str, Any]]:
        rows = self._rows("SELECT * FROM decisions WHERE submission_id = ? ORDER BY id", (submission_id,))
        for r in rows:
            r["accepted"], r["rejected"] = json.loads(r["accepted"]), json.loads(r["rejected"])
        return rows

    # -- working drafts (a unit's unsubmitted revision) ---------------------------------------------
    def save_draft(self, user_id: int, submission_id: int, text: str) -> None:
        self._update("INSERT INTO working_drafts VALUES (?, ?, ?, ?) ON CONFLICT(user_id, submission_id) "
                     "DO UPDATE SET text = excluded.text, updated = excluded.updated",
                     (user_id, submission_id, text, now()))

    def working_draft(self, user_id: int, submission_id: int) -> dict[str, Any] | None:
        return self._one("SELECT text, updated FROM working_drafts WHERE user_id = ? AND submission_id = ?",
                         (user_id, submission_id))

    def drop_draft(self, user_id: int, submission_id: int) -> None:
        self._update("DELETE FROM working_drafts WHERE user_id = ? AND submission_id = ?", (user_id, submission_id))

    def add_rating(self, row: dict[str, Any]) -> int:
        return self._insert("expert_ratings", {**row, "created": now()})

    def ratings(self, submission_id: int | None = None) -> list[dict[str, Any]]:
        if submission_id is None:
            return self._rows("SELECT * FROM expert_ratings ORDER BY id")
        return self._rows("SELECT * FROM expert_ratings WHERE submission_id = ? ORDER BY id", (submission_id,))

    # -- batch jobs --------------------------------------------------------------
    # A job keeps its uploaded file (`source`) while it runs, so a job interrupted by a crash resumes on the next
    # start; its items are written by the resumable batch (web/batches.py), one transaction per item.
    def create_job(self, *, user_id: int, unit: str, total: int, filename: str = "", profile: str = "",
                   source: bytes | None = None) -> int:
        return self._insert("jobs", {"user_id": user_id, "unit": unit, "status": "queued", "total": total,
                                     "filename": filename, "profile": profile, "created": now(), "source": source})

    def _recount(self, job_id: int) -> None:
        self.db.conn.execute(
            "UPDATE jobs SET done = (SELECT count(*) FROM job_items WHERE job_id = ? AND error IS NULL), "
            "failed = (SELECT count(*) FROM job_items WHERE job_id = ? AND error IS NOT NULL), status = 'running' "
            "WHERE id = ?", (job_id, job_id, job_id))

    def start_job_run(self, job_id: int) -> dict[str, int]:
        """A (re)start of a job: failed items are redone; returns content hash → line of the items kept."""
        with self.lock, self.db.conn:
            self.db.conn.execute("DELETE FROM job_items WHERE job_id = ? AND error IS NOT NULL", (job_id,))
            self._recount(job_id)
            rows = self.db.conn.execute(
                "SELECT v.content_hash, i.line FROM job_items i JOIN versions v ON v.submission_id = i.submission_id "
                "AND v.version = 1 WHERE i.job_id = ? AND i.duplicate_of IS NULL", (job_id,)).fetchall()
        return {h: int(line) for h, line in rows}

    def job_item(self, job_id: int, line: int, *, submission_id: int | None = None, error: str | None = None,
                 project_name: str = "", fallback: str | None = None, duplicate_of: int | None = None) -> None:
        with self.lock, self.db.conn:
            self.db.conn.execute(
                "INSERT OR REPLACE INTO job_items (job_id, line, submission_id, error, project_name, fallback, "
                "duplicate_of) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (job_id, line, submission_id, error, project_name, fallback, duplicate_of))
            self._recount(job_id)

    def job_submission(self, job_id: int, line: int, *, unit: str, user_id: int, target: Target, review: Review,
                       fallback: str | None = None) -> int:
        """A reviewed batch line: its submission (version 1) and its job item, in one transaction."""
        with self.lock, self.db.conn:
            ts = now()
            cur = self.db.conn.execute(
                "INSERT INTO submissions (unit, user_id, project_name, status, created, updated) "
                "VALUES (?, ?, ?, 'submitted', ?, ?)", (unit, user_id, review.project_name, ts, ts))
            sid = int(cur.lastrowid or 0)
            self.db.conn.execute(_VERSION_SQL, _version_row(sid, 1, user_id, target, review))
            self.db.conn.execute(
                "INSERT OR REPLACE INTO job_items (job_id, line, submission_id, error, project_name, fallback) "
                "VALUES (?, ?, ?, NULL, ?, ?)", (job_id, line, sid, review.project_name, fallback))
            self._recount(job_id)
        return sid

    def item_submission(self, job_id: int, line: int) -> int | None:
        row = self._one("SELECT submission_id FROM job_items WHERE job_id = ? AND line = ?", (job_id, line))
        return int(row["submission_id"]) if row and row["submission_id"] else None

    def finish_job(self, job_id: int, status: str = "done") -> None:
        """The job's end: its uploaded file is no longer needed."""
        self._update("UPDATE jobs SET status = ?, finished = ?, source = NULL WHERE id = ?", (status, now(), job_id))

    def unfinished_jobs(self) -> list[dict[str, Any]]:
        """Jobs a crash interrupted (queued or running), with their uploaded file."""
        return self._rows("SELECT * FROM jobs WHERE status IN ('queued', 'running') ORDER BY id")

    def mark_resumed(self, job_id: int) -> None:
        self._update("UPDATE jobs SET resumed = resumed + 1 WHERE id = ?", (job_id,))

    def job(self, job_id: int) -> dict[str, Any]:
        row = self._one(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,))
        if row is None:
            raise NotFoundError("未找到该批量任务", where=f"job {job_id}")
        row["items"] = self._rows("SELECT line, submission_id, error, project_name, fallback, duplicate_of "
                                  "FROM job_items WHERE job_id = ? ORDER BY line", (job_id,))
        return row

    def list_jobs(self, *, user_id: int | None = None, limit: int = 50) -> list[dict[str, Any]]:
        cols = ", ".join(f"j.{c.strip()}" for c in _JOB_COLUMNS.split(","))
        sql = f"SELECT {cols}, u.username FROM jobs j LEFT JOIN users u ON u.id = j.user_id"
        if user_id is None:
            return self._rows(sql + " ORDER BY j.id DESC LIMIT ?", (limit,))
        return self._rows(sql + " WHERE j.user_id = ? ORDER BY j.id DESC LIMIT ?", (user_id, limit))


_JOB_COLUMNS = "id, user_id, unit, status, total, done, failed, created, finished, filename, profile, resumed"
_VERSION_SQL = ("INSERT INTO versions (submission_id, version, user_id, target, review, content_hash, grade, score, "
                "rule_ids, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")


def _version_row(sid: int, version: int, user_id: int, target: Target, review: Review) -> tuple[Any, ...]:
    return (sid, version, user_id, target.model_dump_json(), review.model_dump_json(), review.meta.content_hash,
            review.grade, review.score, json.dumps(sorted({f.rule_id for f in review.findings})), now())


_TOKEN_SQL = """SELECT t.id, t.user_id, u.username, t.kind, t.prefix, t.note, t.created, t.last_used_s, t.revoked,
  t.expires_s FROM tokens t JOIN users u ON u.id = t.user_id"""
_SUMMARY_SQL = """SELECT s.id, s.unit, s.user_id, s.project_name, s.status, s.created, s.updated,
  v.version, v.grade, v.score, v.rule_ids, v.content_hash, d.final_grade, d.reviewer AS decided_by, d.created AS decided
FROM submissions s JOIN versions v ON v.submission_id = s.id
  AND v.version = (SELECT max(version) FROM versions WHERE submission_id = s.id)
LEFT JOIN decisions d ON d.id = (SELECT max(id) FROM decisions WHERE submission_id = s.id AND version = v.version)"""
# the queue's orders (ties: newest submission first)
QUEUE_SORTS = {"updated": "s.updated DESC, s.id DESC", "score_asc": "v.score ASC, s.id DESC",
               "score_desc": "v.score DESC, s.id DESC", "project": "s.project_name ASC, s.id DESC",
               "id": "s.id DESC"}


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _queue_filters(*, unit: str | None, grade: str | None, rule_id: str | None, status: str | None,
                   q: str | None) -> tuple[str, list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    if unit is not None:
        where.append("s.unit = ?")
        params.append(unit)
    if grade:
        where.append("COALESCE(d.final_grade, v.grade) = ?")
        params.append(grade)
    if status:
        where.append("s.status = ?")
        params.append(status)
    if rule_id:
        where.append("EXISTS (SELECT 1 FROM json_each(v.rule_ids) WHERE json_each.value = ?)")
        params.append(rule_id)
    text = (q or "").strip()
    if text:
        match = "s.project_name LIKE ? ESCAPE '\\' OR s.unit LIKE ? ESCAPE '\\'"
        params += [_like(text), _like(text)]
        if text.isascii() and text.isdigit() and len(text) < 16:
            match += " OR s.id = ?"
            params.append(int(text))
        where.append(f"({match})")
    return (" WHERE " + " AND ".join(where) if where else ""), params
