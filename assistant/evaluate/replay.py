"""Recorded LLM answers, replayed through a real OpenAI-compatible HTTP endpoint.

A bureau records its model's answers once (`assistant eval run --backend openai` keeps every raw answer with the
hash of the prompt it answered; `assistant eval answers RUN -o answers.jsonl` writes them out) and re-scores them
whenever the policy after the model changes (parser, rule re-check, caps, merge): `assistant eval run --replay
answers.jsonl` serves each recorded answer from a local endpoint to the real `openai` client, so everything after
the model runs as in production, without the model.

A request is matched to its item by the draft it carries (the `<target_data>` block, rendered for every item the
same way the prompt renders it), not by the prompt's hash: a recorded answer still says what the model concluded
about that draft after the prompt has changed (the hash then differs, and the report says so). A request for a
draft without a recorded answer gets HTTP 404 with a message; the review then falls back to offline *and says
so*, and the evaluation counts it.

File format (one JSON object per line, as ../shared/evals/llm_answers.jsonl): `item_id`, `answer` (the raw message
content), optional `prompt_sha256`, `prompt_commit`, `retrieval`. Every line is checked before anything is served:
a broken line, an item not in the items file, a duplicate, or an answer missing a dimension is an `InputError`
naming the line.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from assistant.critique.llm import estimate_tokens, parse_answer
from assistant.critique.prompts import target_data_json
from assistant.errors import InputError
from assistant.intake.reader import load_json
from assistant.models import Strict, Target

MAX_FILE_BYTES = 50 * 1024 * 1024
_TARGET_BLOCK = re.compile(r"<target_data>\s*(.*?)\s*</target_data>", re.S)


class RecordedAnswer(Strict):
    item_id: str
    answer: str
    prompt_sha256: str | None = None
    prompt_commit: str | None = None
    retrieval: str | None = None


def load_answers(path: Path, items: Mapping[str, Target], *, skipped: list[str] | None = None
                 ) -> dict[str, RecordedAnswer]:
    """Every line validated (Chinese errors naming the line) before any is used. With a `skipped` list, a bad line
    is recorded there (「文件 第N行：why」) instead of stopping the load; its item then has no recorded answer."""
    name = path.name
    if not path.is_file():
        raise InputError("文件不存在", where=str(path))
    if path.stat().st_size > MAX_FILE_BYTES:
        raise InputError("文件超过 50 MB", where=name)
    out: dict[str, RecordedAnswer] = {}
    for n, raw in enumerate(path.read_bytes().splitlines(), start=1):
        where = f"{name} 第{n}行"
        if not raw.strip():
            continue
        try:
            rec = _line(raw, n, where, items, out)
        except InputError as exc:
            if skipped is None:
                raise
            skipped.append(str(exc))
            continue
        out[rec.item_id] = rec
    if not out:
        raise InputError("文件中没有可用的已记录答案", where=name)
    return out


def _line(raw: bytes, n: int, where: str, items: Mapping[str, Target], seen: Mapping[str, RecordedAnswer]
          ) -> RecordedAnswer:
    try:
        text = raw.decode("utf-8-sig" if n == 1 else "utf-8")
    except UnicodeDecodeError:
        raise InputError("不是 UTF-8 编码", where=where) from None
    data = load_json(text, where=where)
    if not isinstance(data, dict):
        raise InputError("应为一个 JSON 对象（含 item_id 和 answer）", where=where)
    try:
        rec = RecordedAnswer.model_validate({k: v for k, v in data.items() if k in RecordedAnswer.model_fields})
    except ValidationError as exc:
        fields = "、".join(".".join(str(p) for p in e["loc"]) for e in exc.errors()[:3])
        raise InputError(f"缺少或无效的字段：{fields}", where=where) from None
    target = items.get(rec.item_id)
    if target is None:
        raise InputError(f"项目「{rec.item_id}」不在评估项目文件中", where=where)
    if rec.item_id in seen:
        raise InputError(f"项目「{rec.item_id}」重复（每个项目只能有一个已记录答案）", where=where)
    answer, errors = parse_answer(rec.answer, len(target.indicators))
    if answer is None:
        raise InputError(f"项目「{rec.item_id}」的答案无法使用：{'；'.join(errors[:3])}", where=where)
    return rec


class ReplayServer:
    """An OpenAI-compatible endpoint on 127.0.0.1 that answers each chat request with the recorded answer for the
    draft in its prompt. `served` and `missing` count what happened."""

    def __init__(self, answers: Mapping[str, RecordedAnswer], items: Mapping[str, Target], *, port: int = 0,
                 model: str = "replay") -> None:
        self.model = model
        self._by_target = {target_data_json(t): answers[i].answer for i, t in items.items() if i in answers}
        self._item_of = {target_data_json(t): i for i, t in items.items() if i in answers}
        self.served: list[str] = []
        self.missing = 0
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def answer_for(self, body: Mapping[str, Any]) -> tuple[str | None, str | None]:
        """(answer, item id) for a chat request body, or (None, None)."""
        messages = body.get("messages") or []
        user = next((m.get("content") or "" for m in messages if isinstance(m, dict) and m.get("role") == "user"), "")
        found = _TARGET_BLOCK.search(user if isinstance(user, str) else "")
        if found is None:
            return None, None
        key = found.group(1)
        return self._by_target.get(key), self._item_of.get(key)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body, ensure_ascii=False).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                if self.path.rstrip("/").endswith("/models"):
                    self._send(200, {"object": "list", "data": [{"id": server.model, "object": "model"}]})
                else:
                    self._send(404, {"error": {"message": "not found", "type": "invalid_request_error"}})

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except json.JSONDecodeError:
                    self._send(400, {"error": {"message": "invalid JSON body", "type": "invalid_request_error"}})
                    return
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send(404, {"error": {"message": "replay serves /v1/chat/completions only",
                                               "type": "invalid_request_error"}})
                    return
                content, item = server.answer_for(body)
                with server._lock:
                    if content is None:
                        server.missing += 1
                    else:
                        server.served.append(item or "")
                if content is None:
                    self._send(404, {"error": {"message": "replay: no recorded answer for this draft",
                                               "type": "not_found_error", "code": "replay_missing"}})
                    return
                self._send(200, _completion(server.model, body, content))

        return Handler

    def start(self) -> ReplayServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="replay-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def _completion(model: str, body: Mapping[str, Any], content: str) -> dict[str, Any]:
    prompt = sum(estimate_tokens(str(m.get("content") or "")) for m in body.get("messages") or [] if isinstance(m, dict))
    done = estimate_tokens(content)
    return {"id": f"replay-{time.time_ns()}", "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": done, "total_tokens": prompt + done}}


@contextmanager
def serving(answers: Mapping[str, RecordedAnswer], items: Mapping[str, Target], *, port: int = 0
            ) -> Iterator[ReplayServer]:
    server = ReplayServer(answers, items, port=port).start()
    try:
        yield server
    finally:
        server.stop()


def answers_from_run(predictions: list[dict[str, Any]]) -> list[RecordedAnswer]:
    """The raw answers stored with an LLM run's reviews (first epoch), as replay lines."""
    out = []
    for p in predictions:
        meta = (p.get("review") or {}).get("meta") or {}
        if p.get("epoch", 0) == 0 and meta.get("llm_answer"):
            out.append(RecordedAnswer(item_id=p["item_id"], answer=meta["llm_answer"],
                                      prompt_sha256=meta.get("prompt_sha256"), retrieval="leave-one-out (eval run)"))
    return out
