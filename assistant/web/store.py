"""Web storage: SQLite through sqlite-utils, WAL mode, numbered migrations.

Review versions are immutable (triggers refuse UPDATE and DELETE); every change of state
goes through a method here that also writes an audit row. One connection shared by the
server's threads, serialised by a lock (SQLite writes are serial anyway).
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

import sqlite_utils

from assistant.errors import NotFoundError
from assistant.models import Review, Target

MIGRATIONS: list[list[str]] = [
    [  # 1: initial schema
        """CREATE TABLE users (id INTEGER PRIMARY KEY, username TEXT UNIQUE NOT NULL, password_hash TEXT NOT NULL,
           role TEXT NOT NULL, unit TEXT NOT NULL DEFAULT '', created TEXT NOT NULL)""",
        """CREATE TABLE tokens (token_hash TEXT PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id),
           kind TEXT NOT NULL DEFAULT 'api', created TEXT NOT NULL)""",
        """CREATE TABLE submissions (id INTEGER PRIMARY KEY, unit TEXT NOT NULL, user_id INTEGER NOT NULL,
           project_name TEXT NOT NULL, status TEXT NOT NULL, created TEXT NOT NULL, updated TEXT NOT NULL)""",
        """CREATE TABLE versions (submission_id INTEGER NOT NULL REFERENCES submissions(id), version INTEGER NOT NULL,
           user_id INTEGER NOT NULL, target TEXT NOT NULL, review TEXT NOT NULL, content_hash TEXT NOT NULL,
           grade TEXT NOT NULL, score INTEGER NOT NULL, rule_ids TEXT NOT NULL, created TEXT NOT NULL,
           PRIMARY KEY (submission_id, version))""",
        """CREATE TRIGGER versions_immutable_u BEFORE UPDATE ON versions
           BEGIN SELECT RAISE(ABORT, 'review versions are immutable'); END""",
        """CREATE TRIGGER versions_immutable_d BEFORE DELETE ON versions
           BEGIN SELECT RAISE(ABORT, 'review versions are immutable'); END""",
        """CREATE TABLE decisions (id INTEGER PRIMARY KEY, submission_id INTEGER NOT NULL,
           version INTEGER NOT NULL, reviewer TEXT NOT NULL, final_grade TEXT NOT NULL, opinion TEXT NOT NULL, accepted TEXT NOT NULL,
           rejected TEXT NOT NULL, status TEXT NOT NULL, created TEXT NOT NULL)""",
        """CREATE TABLE expert_ratings (id INTEGER PRIMARY KEY, submission_id INTEGER NOT NULL,
           version INTEGER NOT NULL, expert TEXT NOT NULL, completeness INTEGER, relevance INTEGER, suitability INTEGER, fund_fit INTEGER,
           overall REAL, notes TEXT NOT NULL DEFAULT '', created TEXT NOT NULL)""",
        """CREATE TABLE jobs (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, unit TEXT NOT NULL, status TEXT NOT NULL,
           total INTEGER NOT NULL, done INTEGER NOT NULL DEFAULT 0, failed INTEGER NOT NULL DEFAULT 0,
           created TEXT NOT NULL, finished TEXT)""",
        """CREATE TABLE job_items (job_id INTEGER NOT NULL, line INTEGER NOT NULL, submission_id INTEGER,
           error TEXT, PRIMARY KEY (job_id, line))""",
        """CREATE TABLE audit (id INTEGER PRIMARY KEY, ts TEXT NOT NULL, user TEXT NOT NULL, action TEXT NOT NULL,
           object TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '')""",
        "CREATE INDEX submissions_unit ON submissions(unit)",
        "CREATE INDEX versions_grade ON versions(grade)",
    ],
    [  # 2: token ids / prefixes / last use / revocation, session times, disabled users, profiles, batch details
        """CREATE TABLE tokens_v2 (id INTEGER PRIMARY KEY, token_hash TEXT UNIQUE NOT NULL,
           user_id INTEGER NOT NULL REFERENCES users(id), kind TEXT NOT NULL DEFAULT 'api',
           prefix TEXT NOT NULL DEFAULT '', note TEXT NOT NULL DEFAULT '', created TEXT NOT NULL,
           created_s REAL NOT NULL DEFAULT 0, last_used_s REAL, revoked TEXT)""",
        # API tokens keep working; old sessions (no server-side times) are dropped: users log in again
        """INSERT INTO tokens_v2 (token_hash, user_id, kind, created, created_s)
           SELECT token_hash, user_id, kind, created, COALESCE(CAST(strftime('%s', created) AS REAL), 0)
           FROM tokens WHERE kind = 'api'""",
        "DROP TABLE tokens",
        "ALTER TABLE tokens_v2 RENAME TO tokens",
        "CREATE INDEX tokens_user ON tokens(user_id)",
        "ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE jobs ADD COLUMN filename TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE jobs ADD COLUMN profile TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE job_items ADD COLUMN project_name TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE job_items ADD COLUMN fallback TEXT",
        """CREATE TABLE app_settings (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated TEXT NOT NULL,
           updated_by TEXT NOT NULL DEFAULT '')""",
        """CREATE TABLE custom_profiles (name TEXT PRIMARY KEY, body TEXT NOT NULL, created TEXT NOT NULL,
           created_by TEXT NOT NULL DEFAULT '')""",
    ],
    [  # 3: tokens from a password login expire (admin-issued integration tokens do not)
        "ALTER TABLE tokens ADD COLUMN expires_s REAL",
    ],
]


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def iso(seconds: float | None) -> str | None:
    """Epoch seconds as the ISO text the other columns use (None stays None)."""
    if seconds is None:
        return None
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).isoformat(timespec="seconds")


class Store:
    def __init__(self, path: Path | str) -> None:
        path = Path(path)
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
        self.db = sqlite_utils.Database(conn)
        if str(path) != ":memory:":
            self.db.enable_wal()
        self.db.execute("PRAGMA foreign_keys=ON")
        self.lock = threading.RLock()
        self.migrate()

    # -- schema ------------------------------------------------------------------
    def migrate(self) -> int:
        with self.lock:
            self.db.execute("CREATE TABLE IF NOT EXISTS migrations "
                            "(version INTEGER PRIMARY KEY, applied TEXT NOT NULL)")
            done = {r[0] for r in self.db.execute("SELECT version FROM migrations").fetchall()}
            for n, statements in enumerate(MIGRATIONS, start=1):
                if n in done:
                    continue
                with self.db.conn:
                    for sql in statements:
                        self.db.conn.execute(sql)
                    self.db.conn.execute("INSERT INTO migrations VALUES (?, ?)", (n, now()))
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
            self._insert("versions", {
                "submission_id": submission_id, "version": version, "user_id": user_id,
                "target": target.model_dump_json(), "review": review.model_dump_json(),
                "content_hash": review.meta.content_hash, "grade": review.grade, "score": review.score,
                "rule_ids": json.dumps(sorted({f.rule_id for f in review.findings})), "created": now()})
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
                         status: str | None = None, limit: int = 200, offset: int = 0) -> list[dict[str, Any]]:
        where, params = [], []
        if unit is not None:
            where.append("s.unit = ?")
            params.append(unit)
        if grade:
            where.append("v.grade = ?")
            params.append(grade)
        if status:
            where.append("s.status = ?")
            params.append(status)
        if rule_id:
            where.append("EXISTS (SELECT 1 FROM json_each(v.rule_ids) WHERE json_each.value = ?)")
            params.append(rule_id)
        sql = _SUMMARY_SQL + (" WHERE " + " AND ".join(where) if where else "")
        return self._rows(sql + " ORDER BY s.id DESC LIMIT ? OFFSET ?", [*params, limit, offset])

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

    def decisions(self, submission_id: int) -> list[dict[str, Any]]:
        rows = self._rows("SELECT * FROM decisions WHERE submission_id = ? ORDER BY id", (submission_id,))
        for r in rows:
            r["accepted"], r["rejected"] = json.loads(r["accepted"]), json.loads(r["rejected"])
        return rows

    def add_rating(self, row: dict[str, Any]) -> int:
        return self._insert("expert_ratings", {**row, "created": now()})

    def ratings(self, submission_id: int | None = None) -> list[dict[str, Any]]:
        if submission_id is None:
            return self._rows("SELECT * FROM expert_ratings ORDER BY id")
        return self._rows("SELECT * FROM expert_ratings WHERE submission_id = ? ORDER BY id", (submission_id,))

    # -- batch jobs --------------------------------------------------------------
    def create_job(self, *, user_id: int, unit: str, total: int, filename: str = "", profile: str = "") -> int:
        return self._insert("jobs", {"user_id": user_id, "unit": unit, "status": "queued", "total": total,
                                     "filename": filename, "profile": profile, "created": now()})

    def job_item(self, job_id: int, line: int, *, submission_id: int | None = None, error: str | None = None,
                 project_name: str = "", fallback: str | None = None) -> None:
        with self.lock:
            self._insert("job_items", {"job_id": job_id, "line": line, "submission_id": submission_id, "error": error,
                                       "project_name": project_name, "fallback": fallback})
            col = "failed" if error else "done"
            self._update(f"UPDATE jobs SET {col} = {col} + 1, status = 'running' WHERE id = ?", (job_id,))

    def finish_job(self, job_id: int, status: str = "done") -> None:
        self._update("UPDATE jobs SET status = ?, finished = ? WHERE id = ?", (status, now(), job_id))

    def job(self, job_id: int) -> dict[str, Any]:
        row = self._one("SELECT * FROM jobs WHERE id = ?", (job_id,))
        if row is None:
            raise NotFoundError("未找到该批量任务", where=f"job {job_id}")
        row["items"] = self._rows("SELECT line, submission_id, error, project_name, fallback FROM job_items "
                                  "WHERE job_id = ? ORDER BY line", (job_id,))
        return row

    def list_jobs(self, *, user_id: int | None = None, limit: int = 50) -> list[dict[str, Any]]:
        sql = "SELECT j.*, u.username FROM jobs j LEFT JOIN users u ON u.id = j.user_id"
        if user_id is None:
            return self._rows(sql + " ORDER BY j.id DESC LIMIT ?", (limit,))
        return self._rows(sql + " WHERE j.user_id = ? ORDER BY j.id DESC LIMIT ?", (user_id, limit))


_TOKEN_SQL = """SELECT t.id, t.user_id, u.username, t.kind, t.prefix, t.note, t.created, t.last_used_s, t.revoked,
  t.expires_s FROM tokens t JOIN users u ON u.id = t.user_id"""
_SUMMARY_SQL = """SELECT s.id, s.unit, s.user_id, s.project_name, s.status, s.created, s.updated,
  v.version, v.grade, v.score, v.rule_ids
FROM submissions s JOIN versions v ON v.submission_id = s.id
  AND v.version = (SELECT max(version) FROM versions WHERE submission_id = s.id)"""
