"""Does one huge workbook upload freeze the server? GET /login latency while a ~100k-row .xlsx is uploaded.

    .venv/bin/python bench/bench_upload_latency.py [--rows 100000] [--uploads 1]

Starts `assistant serve` in a subprocess on a loopback port with a throwaway database (as bench_web.py does),
creates a budget-unit user through the admin API, writes a 申报表 workbook with `--rows` indicator rows (openpyxl
write_only), then uploads it `--uploads` times at once (POST /api/submissions, multipart) while a thread polls
GET /login every 100 ms. Prints the worst and p95 /login latency, each upload's status code, time and message,
and the server's peak RSS (VmHWM from /proc). Goal: worst GET /login ≤ 2 s.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_web import free_port, pct, start_server, unit_tokens  # noqa: E402

PASSWORD = "bench-password-1"


def workbook(rows: int) -> bytes:
    import openpyxl

    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("申报表")
    ws.append(["项目名称", "压力测试项目"])
    ws.append(["项目资金（万元）", 100])
    ws.append(["一级指标", "二级指标", "三级指标", "指标值"])
    for i in range(rows):
        ws.append(["产出指标", "数量指标", f"培训人次{i}", f"≥{i % 900 + 1}人次"])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def poll_login(base: str, stop: threading.Event, lat: list[float]) -> None:
    with httpx.Client(base_url=base, timeout=60) as c:
        while not stop.is_set():
            t = time.perf_counter()
            c.get("/login")
            dt = time.perf_counter() - t
            lat.append(dt)
            time.sleep(max(0.0, 0.1 - dt))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--uploads", type=int, default=1, help="uploads sent at once by the same user")
    a = ap.parse_args()

    t = time.perf_counter()
    data = workbook(a.rows)
    print(f"# bench_upload_latency — {os.cpu_count()} cores; workbook {a.rows} rows, {len(data) / 1e6:.1f} MB "
          f"(written in {time.perf_counter() - t:.1f} s)")
    tmp = Path(tempfile.mkdtemp(prefix="bench_upload_"))
    port = free_port()
    server = start_server(tmp, port, PASSWORD, "--max-upload-mb", "20")
    base = f"http://127.0.0.1:{port}"
    try:
        [token] = unit_tokens(base, PASSWORD, 1)
        idle_lat: list[float] = []
        stop = threading.Event()
        poller = threading.Thread(target=poll_login, args=(base, stop, idle_lat))
        poller.start()
        time.sleep(1.0)
        results: list[tuple[int, float, str]] = []

        def upload() -> None:
            t0 = time.perf_counter()
            r = httpx.post(f"{base}/api/submissions", headers={"Authorization": f"Bearer {token}"}, timeout=600,
                           files={"file": ("压力测试.xlsx", data, "application/octet-stream")})
            msg = r.json().get("error", "") if r.status_code != 201 else "已审核"
            results.append((r.status_code, time.perf_counter() - t0, str(msg)[:80]))

        baseline = len(idle_lat)
        rss_before = peak_rss_mb(server.pid)
        uploads = [threading.Thread(target=upload) for _ in range(a.uploads)]
        for th in uploads:
            th.start()
        for th in uploads:
            th.join()
        time.sleep(0.5)
        stop.set()
        poller.join()
        during = idle_lat[baseline:]
        print(f"GET /login during upload: {len(during)} requests, worst {max(during, default=0):.3f} s, "
              f"p95 {pct(during, 95):.3f} s, p50 {pct(during, 50):.3f} s (before: worst "
              f"{max(idle_lat[:baseline], default=0):.3f} s)")
        for code, secs, msg in results:
            print(f"upload: HTTP {code} in {secs:.2f} s — {msg}")
        print(f"server peak RSS: {peak_rss_mb(server.pid):.0f} MB (peak before the upload: {rss_before:.0f} MB)")
        worst = max(during, default=0.0)
        print("goal worst GET /login ≤ 2 s:", "met" if worst <= 2.0 else "NOT met")
    finally:
        server.terminate()
        server.wait(timeout=20)


if __name__ == "__main__":
    main()
