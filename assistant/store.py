"""The assistant's one SQLite database: one connection helper and one numbered migration list for every table
(web workbench, evaluation runs, batch results, LLM answer and embedding caches).

Each component keeps its own queries (web/store.py, evaluate/store.py, batch.py, cache.py) but opens its
connection here, so the schema has one history, recorded in the `migrations` table (version, applied). Never edit
a shipped migration: append the next one. Databases written before the list was unified are recognised: their
web steps carry the same numbers, and the other tables were created with IF NOT EXISTS semantics.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

MIGRATIONS: list[list[str]] = [
    [  # 1: web workbench, initial schema
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
    [  # 4: evaluation runs and their predictions (`assistant eval run`, `eval rescore`)
        """CREATE TABLE IF NOT EXISTS eval_runs (id INTEGER PRIMARY KEY, created TEXT NOT NULL, backend TEXT NOT NULL,
           model TEXT, prompt_hash TEXT, corpus_version TEXT, config TEXT, metrics TEXT)""",
        """CREATE TABLE IF NOT EXISTS eval_predictions (run_id INTEGER REFERENCES eval_runs(id), item_id TEXT,
           epoch INTEGER, dims TEXT, overall FLOAT, grade TEXT, review TEXT, PRIMARY KEY (run_id, item_id, epoch))""",
        "CREATE INDEX IF NOT EXISTS idx_eval_predictions_run_id ON eval_predictions(run_id)",
        "DROP TABLE IF EXISTS _migrations",  # the evaluation store's own bookkeeping before the list was unified
    ],
    [  # 5: resumable batches (`assistant batch`): one row per (job, content hash)
        """CREATE TABLE IF NOT EXISTS batch_jobs (id TEXT PRIMARY KEY, input TEXT, created TEXT, updated TEXT,
           status TEXT)""",
        """CREATE TABLE IF NOT EXISTS batch_results (job_id TEXT, line INTEGER, content_hash TEXT, status TEXT,
           project TEXT, review TEXT, error TEXT, finished_at TEXT, PRIMARY KEY (job_id, content_hash))""",
        "CREATE INDEX IF NOT EXISTS idx_batch_results_line ON batch_results(job_id, line)",
    ],
    [  # 6: LLM answers and embedding vectors (cache.py)
        """CREATE TABLE IF NOT EXISTS llm_cache (key TEXT PRIMARY KEY, model TEXT, prompt_hash TEXT, params TEXT,
           answer TEXT, prompt_tokens INTEGER, completion_tokens INTEGER, calls INTEGER, latency_ms FLOAT,
           created_at FLOAT)""",
        """CREATE TABLE IF NOT EXISTS embedding_cache (key TEXT PRIMARY KEY, model TEXT, dim INTEGER, vector BLOB,
           created_at FLOAT)""",
    ],
    [  # 7: web batches run on the resumable batch: the upload is kept until the job ends, duplicates are linked
        "ALTER TABLE jobs ADD COLUMN source BLOB",
        "ALTER TABLE jobs ADD COLUMN resumed INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE job_items ADD COLUMN duplicate_of INTEGER",
    ],
    [  # 8: a unit's unsubmitted revision of a submission (library picks and edits survive leaving the page)
        """CREATE TABLE IF NOT EXISTS working_drafts (user_id INTEGER NOT NULL, submission_id INTEGER NOT NULL,
           text TEXT NOT NULL, updated TEXT NOT NULL, PRIMARY KEY (user_id, submission_id))""",
    ],
]

def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def applied(conn: sqlite3.Connection) -> set[int]:
    """Migration numbers recorded in this database."""
    has = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'migrations'").fetchone()
    if not has:
        return set()
    return {int(r[0]) for r in conn.execute("SELECT version FROM migrations").fetchall()}


def migrate(conn: sqlite3.Connection) -> list[int]:
    """Apply the missing migrations, each in its own transaction; returns the numbers applied now.
    Nothing is written (no lock taken) when the database is current."""
    if applied(conn) >= set(range(1, len(MIGRATIONS) + 1)):
        return []
    ran: list[int] = []
    old_level = conn.isolation_level
    conn.isolation_level = None  # explicit transactions: DDL and the bookkeeping row commit together
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS migrations (version INTEGER PRIMARY KEY, applied TEXT NOT NULL)")
        for n, statements in enumerate(MIGRATIONS, start=1):
            conn.execute("BEGIN IMMEDIATE")
            try:
                if n in applied(conn):  # another process may have applied it meanwhile
                    conn.execute("COMMIT")
                    continue
                for sql in statements:
                    conn.execute(sql)
                conn.execute("INSERT INTO migrations VALUES (?, ?)", (n, now()))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            ran.append(n)
    finally:
        conn.isolation_level = old_level
    return ran


def connect(path: Path | str, *, timeout: float = 30.0) -> sqlite3.Connection:
    """A connection to the assistant's database at `path` (":memory:" for a private one), in WAL mode, with
    the schema migrated. The connection may be shared between threads; callers serialise its use."""
    memory = str(path) == ":memory:"
    if not memory:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=timeout, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
    if not memory:
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        if str(mode).lower() != "wal":
            conn.execute("PRAGMA journal_mode=WAL")
    migrate(conn)
    return conn
