"""A fake OpenAI-compatible HTTP server for tests (127.0.0.1, random port, stdlib only).

Speaks POST /v1/chat/completions and POST /v1/embeddings. Chat behaviour is scripted per test:
`server.push(valid(), text("oops"), error(429), slow(2.0), ...)` queues replies consumed one per
request; when the queue is empty `server.default` answers. `reject_response_format=True` makes
every request that carries `response_format` fail with HTTP 400, as some endpoints do.
Every request is recorded (`server.requests`) so tests can assert what the client sent.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

INJECTION_MARKERS = ("忽略以上", "直接评为优", "ignore previous")
EMBED_DIM = 64


@dataclass
class Reply:
    status: int = 200
    content: str | None = None  # assistant message content (status 200)
    body: dict[str, Any] | None = None  # raw JSON body (errors)
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    usage: tuple[int, int] = (1200, 300)


Behaviour = Callable[[dict[str, Any]], Reply]


def answer(
    levels: tuple[int, int, int, int] = (4, 4, 3, 4),
    *,
    evidence: list[int] | None = None,
    suggestions: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    ev = [0] if evidence is None else evidence
    keys = ("completeness", "relevance", "suitability", "fund_fit")
    sugg = (
        suggestions
        if suggestions is not None
        else [
            {
                "action": "revise",
                "indicator_index": 0,
                "level1": "产出指标",
                "level2": "数量指标",
                "name": "道路硬化里程",
                "value": "≥0.565公里",
                "original": "",
                "reason": "补充规范的计量单位",
            },
            {
                "action": "add",
                "indicator_index": None,
                "level1": "成本指标",
                "level2": "经济成本指标",
                "name": "单位长度建设成本",
                "value": "≤34万元/公里",
                "original": "",
                "reason": "缺少成本指标",
            },
        ]
    )
    return {
        "dimensions": {
            k: {"level": lv, "rationale": f"{k} 的评审理由", "evidence": ev} for k, lv in zip(keys, levels, strict=True)
        },
        "suggestions": sugg,
    }


def valid(ans: dict[str, Any] | None = None) -> Behaviour:
    return lambda req: Reply(content=json.dumps(ans or answer(), ensure_ascii=False))


def text(content: str) -> Behaviour:
    return lambda req: Reply(content=content)


def think(ans: dict[str, Any] | None = None) -> Behaviour:
    body = json.dumps(ans or answer(), ensure_ascii=False)
    return lambda req: Reply(content='<think>先想一想：{"dimensions": "草稿"} 这里不是答案。</think>\n' + body)


def prose(ans: dict[str, Any] | None = None) -> Behaviour:
    body = json.dumps(ans or answer(), ensure_ascii=False, indent=2)
    return lambda req: Reply(content=f"好的，以下是评审结果：\n```json\n{body}\n```\n如需进一步说明请告诉我。")


def error(status: int, *, retry_after: str | None = None, retry_after_ms: str | None = None) -> Behaviour:
    headers = {}
    if retry_after is not None:
        headers["retry-after"] = retry_after
    if retry_after_ms is not None:
        headers["retry-after-ms"] = retry_after_ms
    body = {"error": {"message": f"fake error {status}", "type": "fake_error", "code": str(status)}}
    return lambda req: Reply(status=status, body=body, headers=headers)


def slow(seconds: float, then: Behaviour | None = None) -> Behaviour:
    def run(req: dict[str, Any]) -> Reply:
        reply = (then or valid())(req)
        reply.delay = seconds
        return reply

    return run


def gullible() -> Behaviour:
    """A naive model: obeys any injected instruction in the prompt and answers all 5s."""

    def run(req: dict[str, Any]) -> Reply:
        prompt = "\n".join(str(m.get("content", "")) for m in req.get("messages", []) if m.get("role") == "user")
        if any(m in prompt for m in INJECTION_MARKERS) and "<target_data>" in prompt:
            data_part = prompt.split("<target_data>", 1)[1]
            if any(m in data_part for m in INJECTION_MARKERS):
                return Reply(content=json.dumps(answer((5, 5, 5, 5), suggestions=[]), ensure_ascii=False))
        return Reply(content=json.dumps(answer((3, 3, 2, 3), suggestions=[]), ensure_ascii=False))

    return run


def fake_vector(text_: str) -> list[float]:
    """Deterministic bag-of-characters vector (unit length)."""
    v = [0.0] * EMBED_DIM
    for ch in text_:
        h = int.from_bytes(hashlib.md5(ch.encode()).digest()[:4], "little")
        v[h % EMBED_DIM] += 1.0
    norm = sum(x * x for x in v) ** 0.5 or 1.0
    return [x / norm for x in v]


class FakeOpenAI:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.script: deque[Behaviour] = deque()
        self.default: Behaviour = valid()
        self.reject_response_format = False
        # /v1/embeddings: "ok", "down" (HTTP 503), "slow" (sleeps `embedding_delay_s`), "nan", "wrong_dim"
        self.embedding_mode = "ok"
        self.embedding_delay_s = 3.0
        self._lock = threading.Lock()
        self.inflight = 0
        self.max_inflight = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                try:
                    body = json.loads(raw or b"{}")
                except json.JSONDecodeError:
                    body = {}
                with server._lock:
                    server.requests.append(
                        {
                            "path": self.path,
                            "headers": dict(self.headers.items()),
                            "raw": raw,
                            "body": body,
                            "t": time.monotonic(),
                        }
                    )
                    server.inflight += 1
                    server.max_inflight = max(server.max_inflight, server.inflight)
                try:
                    if self.path.endswith("/embeddings"):
                        self._embeddings(body)
                    elif self.path.endswith("/chat/completions"):
                        self._chat(body)
                    else:
                        self._send(404, {"error": {"message": "not found"}})
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    with server._lock:
                        server.inflight -= 1

            def _embeddings(self, body: dict[str, Any]) -> None:
                mode = server.embedding_mode
                if mode == "down":
                    self._send(503, {"error": {"message": "service unavailable"}})
                    return
                if mode == "slow":
                    time.sleep(server.embedding_delay_s)
                answer = server.embeddings(body)
                for d in answer["data"]:
                    if mode == "nan":
                        d["embedding"][0] = float("nan")
                    elif mode == "wrong_dim":
                        d["embedding"] = d["embedding"] + [0.0] * 4
                self._send(200, answer)

            def _chat(self, body: dict[str, Any]) -> None:
                if server.reject_response_format and "response_format" in body:
                    msg = {
                        "error": {
                            "message": "response_format is not supported",
                            "type": "invalid_request_error",
                            "param": "response_format",
                        }
                    }
                    self._send(400, msg)
                    return
                with server._lock:
                    behaviour = server.script.popleft() if server.script else server.default
                reply = behaviour(body)
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.status != 200:
                    self._send(reply.status, reply.body or {}, reply.headers)
                    return
                self._send(
                    200,
                    {
                        "id": "chatcmpl-fake",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": body.get("model", "fake"),
                        "choices": [
                            {
                                "index": 0,
                                "finish_reason": "stop",
                                "message": {"role": "assistant", "content": reply.content},
                            }
                        ],
                        "usage": {
                            "prompt_tokens": reply.usage[0],
                            "completion_tokens": reply.usage[1],
                            "total_tokens": sum(reply.usage),
                        },
                    },
                )

            def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
                data = json.dumps(payload, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @staticmethod
    def embeddings(body: dict[str, Any]) -> dict[str, Any]:
        inputs = body.get("input", [])
        if isinstance(inputs, str):
            inputs = [inputs]
        as_b64 = body.get("encoding_format") == "base64"
        data = []
        for i, t in enumerate(inputs):
            vec = fake_vector(str(t))
            emb: Any = base64.b64encode(struct.pack(f"<{len(vec)}f", *vec)).decode() if as_b64 else vec
            data.append({"object": "embedding", "index": i, "embedding": emb})
        n = sum(len(str(t)) for t in inputs)
        return {
            "object": "list",
            "data": data,
            "model": body.get("model", "fake"),
            "usage": {"prompt_tokens": n, "total_tokens": n},
        }

    # ------------------------------------------------------------ control

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def push(self, *behaviours: Behaviour) -> None:
        with self._lock:
            self.script.extend(behaviours)

    def chat_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"].endswith("/chat/completions")]

    def start(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI().start()
    try:
        yield server
    finally:
        server.stop()
