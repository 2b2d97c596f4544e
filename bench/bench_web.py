"""Web throughput: review submissions per second with N concurrent clients on loopback (offline backend).

    .venv/bin/python bench/bench_web.py [--clients 10] [--seconds 20]

Starts `assistant serve` in a subprocess with a temp database (as a user would), creates one budget-unit
user per client through the admin API, then each client (a thread with its own bearer token) submits
drafts back to back: the shipped corpus records with the id removed, so each is a real review.
Prints submissions/s, latency p50/p95/max and any non-201 responses.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
ASSISTANT = Path(sys.executable).parent / "assistant"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(p / 100 * len(xs)) - 1))] if xs else float("nan")


def start_server(tmp: Path, port: int, admin_password: str, *extra: str) -> subprocess.Popen[bytes]:
    """`assistant serve` on the offline backend with the databases in `tmp` (reused when it is started again), once
    GET /login answers; exits with the server log's tail when it does not start within 2 minutes."""
    env = {**os.environ, "ASSISTANT_DB": str(tmp / "assistant.db"), "ASSISTANT_BACKEND": "offline"}
    server = subprocess.Popen([str(ASSISTANT), "serve", "--port", str(port), "--db", str(tmp / "web.db"),
                               "--init-admin", f"admin:{admin_password}", *extra], env=env,
                              stdout=subprocess.DEVNULL, stderr=open(tmp / "server.log", "a"))
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/login", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            server.terminate()
            sys.exit(f"server did not start: {(tmp / 'server.log').read_text()[-2000:]}")
        time.sleep(0.3)


def unit_tokens(base: str, admin_password: str, n: int) -> list[str]:
    """n budget-unit users (unit0…, each in its own unit) created by the admin, and a token for each."""
    admin = httpx.post(f"{base}/api/login", json={"username": "admin", "password": admin_password}).json()
    ah = {"Authorization": f"Bearer {admin['token']}"}
    tokens = []
    for i in range(n):
        user = {"username": f"unit{i}", "password": "unit-password-1", "role": "unit", "unit": f"单位{i}"}
        httpx.post(f"{base}/api/users", json=user, headers=ah).raise_for_status()
        tokens.append(httpx.post(f"{base}/api/login", json={"username": user["username"],
                                                              "password": user["password"]}).json()["token"])
    return tokens


def corpus_drafts() -> list[dict]:
    """The shipped corpus records as drafts (without their ids)."""
    drafts = []
    for line in (REPO / "corpus" / "approved_targets.jsonl").read_text(encoding="utf-8").splitlines():
        d = json.loads(line)
        d.pop("id", None)
        drafts.append(d)
    return drafts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=20.0)
    a = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench_web_"))
    port = free_port()
    server = start_server(tmp, port, "bench-password-1")
    base = f"http://127.0.0.1:{port}"
    try:
        tokens = unit_tokens(base, "bench-password-1", a.clients)
        drafts = corpus_drafts()
        lat: list[float] = []
        bad: dict[int, int] = {}
        lock = threading.Lock()
        start = threading.Barrier(a.clients + 1)
        stop_at = [0.0]

        def client(i: int) -> None:
            with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {tokens[i]}"}, timeout=60) as c:
                c.get("/api/me")
                start.wait()
                n = i
                while time.monotonic() < stop_at[0]:
                    t = time.perf_counter()
                    r = c.post("/api/submissions", json=drafts[n % len(drafts)])
                    dt = (time.perf_counter() - t) * 1000
                    with lock:
                        if r.status_code == 201:
                            lat.append(dt)
                        else:
                            bad[r.status_code] = bad.get(r.status_code, 0) + 1
                    n += a.clients

        threads = [threading.Thread(target=client, args=(i,)) for i in range(a.clients)]
        for th in threads:
            th.start()
        stop_at[0] = time.monotonic() + a.seconds
        start.wait()
        t0 = time.monotonic()
        for th in threads:
            th.join()
        wall = time.monotonic() - t0
        cpu = os.cpu_count()
        print(f"# bench_web — {cpu} cores, {a.clients} clients, {a.seconds:.0f} s, offline backend, uvicorn 1 process")
        print(f"submissions: {len(lat)} in {wall:.1f} s = {len(lat) / wall:.1f}/s; latency ms p50 {pct(lat, 50):.0f} "
              f"p95 {pct(lat, 95):.0f} max {max(lat, default=float('nan')):.0f} mean {statistics.fmean(lat):.0f}; "
              f"non-201: {bad or 'none'}")
    finally:
        server.terminate()
        server.wait(timeout=20)


if __name__ == "__main__":
    main()
