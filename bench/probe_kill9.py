"""Reliability probe: kill -9 the web server while clients submit, restart it on the same database, and check that
every submission the server acknowledged (HTTP 201 with an id) is still there and the database passes SQLite's
integrity check.

Starts `assistant serve` in a subprocess with a throw-away database (as `bench_web.py` does), creates budget-unit
users, lets them submit corpus drafts, sends SIGKILL after --kill-after seconds, restarts, and reads back every
acknowledged id with its owner's token.

    .venv/bin/python bench/probe_kill9.py [--clients 6] [--kill-after 6]
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
ASSISTANT = REPO / ".venv" / "bin" / "assistant"
sys.path.insert(0, str(REPO / "bench"))
from bench_web import corpus_drafts, free_port, start_server, unit_tokens  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=6)
    ap.add_argument("--kill-after", type=float, default=6.0)
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="probe_kill9_"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(tmp, port, "probe-password-1")
    tokens = unit_tokens(base, "probe-password-1", a.clients)
    drafts = corpus_drafts()
    acked: list[tuple[int, int]] = []  # (client, submission id)
    failed = [0]
    lock = threading.Lock()

    def client(i: int) -> None:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {tokens[i]}"}, timeout=30) as c:
            n = i
            while True:
                try:
                    r = c.post("/api/submissions", json=drafts[n % len(drafts)])
                except httpx.HTTPError:
                    with lock:
                        failed[0] += 1
                    return  # the server is gone
                with lock:
                    if r.status_code == 201:
                        acked.append((i, r.json()["id"]))
                n += a.clients

    threads = [threading.Thread(target=client, args=(i,)) for i in range(a.clients)]
    for th in threads:
        th.start()
    time.sleep(a.kill_after)
    server.send_signal(signal.SIGKILL)
    server.wait()
    for th in threads:
        th.join()
    server = start_server(tmp, port, "probe-password-1")
    try:
        missing = []
        for i, sid in acked:
            r = httpx.get(f"{base}/api/submissions/{sid}", headers={"Authorization": f"Bearer {tokens[i]}"}, timeout=30)
            if r.status_code != 200:
                missing.append((sid, r.status_code))
        with sqlite3.connect(tmp / "web.db") as db:
            integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
        print(f"# probe_kill9 — {os.cpu_count()} cores, {a.clients} clients, SIGKILL after {a.kill_after:.0f} s")
        print(f"acknowledged before the kill: {len(acked)}; missing after restart: {len(missing)} {missing[:5]}; "
              f"requests cut by the kill: {failed[0]}; integrity_check: {integrity}")
        if missing or integrity != "ok":
            sys.exit(1)
    finally:
        server.terminate()
        server.wait(timeout=20)


if __name__ == "__main__":
    main()
