"""The `openai` backend: any OpenAI-compatible endpoint critiques a draft, grounded in the rule
findings and the precedents. The only module in the project that imports `openai`.

Flow: render prompts → cache lookup → chat.completions.create (json_object; plain text if the
endpoint rejects it) → strip <think> → extract the first JSON object → pydantic validation →
at most two re-asks carrying only the last output and the errors → post-checks (suspected prompt
injection caps every dimension at the offline level; contradictions with numeric rule facts are noted).
Then, as for every backend, the pipeline re-checks every suggestion with the rule engine and the merge caps
dimensions with error-level findings. Any failure returns the offline review with `fallback_reason` set: a
failure never reads as a pass. The API key is never logged or stored.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal
from urllib.parse import urlsplit

import openai
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from assistant.cache import LLMCache, make_key
from assistant.critique.base import Critic
from assistant.critique.guard import contradictions
from assistant.critique.prompts import PromptSet
from assistant.dimensions import DIMENSION_KEYS, level_to_score
from assistant.errors import ConfigError
from assistant.models import CritiqueInput, CritiqueResult, Dimensions, DimensionScore, Finding, Suggestion, Usage
from assistant.settings import Settings

log = logging.getLogger(__name__)

MAX_REASKS = 2
SCORER_VERSION = "llm-2"  # how a model's answer becomes dimension scores (parse, injection and evidence guards)
UNBACKED_GAP = 1.5  # levels above the offline review that need evidence rows the rules do not contradict
EmbedFn = Callable[[list[str]], list[list[float]]]

__all__ = [
    "OpenAICritic",
    "ModelAnswer",
    "critique_many",
    "sum_usage",
    "parse_answer",
    "extract_json",
    "strip_think",
    "make_client",
    "make_embedder",
    "LLMFailure",
]


# ---------------------------------------------------------------- the model's answer


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class DimAnswer(_Loose):
    level: int = Field(ge=1, le=5)
    rationale: str = Field(min_length=1)
    evidence: list[int] = Field(default_factory=list)


class DimsAnswer(_Loose):
    completeness: DimAnswer
    relevance: DimAnswer
    suitability: DimAnswer
    fund_fit: DimAnswer


class SuggestionAnswer(_Loose):
    action: Literal["add", "revise"]
    indicator_index: int | None = None
    level1: str = ""
    level2: str = ""
    name: str = ""
    value: str = ""
    original: str = ""
    reason: str = Field(min_length=1)
    precedent_id: str | None = None


class ModelAnswer(_Loose):
    dimensions: DimsAnswer
    suggestions: list[SuggestionAnswer] = Field(default_factory=list, max_length=10)


class LLMFailure(Exception):
    """Final failure of an LLM review; `reason` is the Chinese text shown to users."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_THINK_BLOCK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)


def strip_think(text: str) -> str:
    """Remove <think>…</think> blocks, a dangling closing tag's prefix, and an unclosed block."""
    text = _THINK_BLOCK.sub("", text)
    low = text.lower()
    if "</think>" in low:  # opening tag swallowed by the chat template
        text = text[low.rindex("</think>") + len("</think>") :]
    elif "<think>" in low:  # unterminated reasoning: nothing after it is an answer
        text = text[: low.index("<think>")]
    return text.strip()


def extract_json(text: str) -> dict[str, Any] | None:
    """The first JSON object in `text` (code fences and surrounding prose tolerated)."""
    decoder = json.JSONDecoder()
    pos = text.find("{")
    while pos != -1:
        try:
            obj, _ = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            pos = text.find("{", pos + 1)
            continue
        if isinstance(obj, dict):
            return obj
        pos = text.find("{", pos + 1)
    return None


_ERROR_CN = {"missing": "缺少该字段", "int_parsing": "应为整数", "int_type": "应为整数", "int_from_float": "应为整数",
             "greater_than_equal": "数值过小（level 为 1–5）", "less_than_equal": "数值过大（level 为 1–5）",
             "string_too_short": "不能为空", "string_type": "应为字符串", "list_type": "应为列表",
             "literal_error": "取值不在允许范围内（action 为 add 或 revise）", "too_long": "条目过多（最多 10 条）",
             "model_type": "应为 JSON 对象", "dict_type": "应为 JSON 对象"}


def _loc(err: Any) -> str:
    return ".".join(str(p) for p in err["loc"]) or "(根)"


def parse_answer(content: str | None, n_indicators: int) -> tuple[ModelAnswer | None, list[str]]:
    """Validate a raw model answer; returns (answer, []) or (None, errors in Chinese)."""
    text = strip_think(content or "")
    if not text:
        return None, ["输出为空：需要一个 JSON 对象"]
    data = extract_json(text)
    if data is None:
        return None, ["输出中没有可解析的 JSON 对象（请只输出一个 JSON 对象，不要附加文字）"]
    if "dimensions" not in data and all(k in data for k in DIMENSION_KEYS):
        data = {"dimensions": {k: data[k] for k in DIMENSION_KEYS}, "suggestions": data.get("suggestions", [])}
    try:
        answer = ModelAnswer.model_validate(data)
    except ValidationError as exc:
        return None, [f"{_loc(e)}：{_ERROR_CN.get(e['type'], e['msg'])}" for e in exc.errors()][:12]
    errors: list[str] = []
    for key in DIMENSION_KEYS:
        for ix in getattr(answer.dimensions, key).evidence:
            if not 0 <= ix < n_indicators:
                errors.append(f"dimensions.{key}.evidence：指标序号 {ix} 超出范围 0–{max(n_indicators - 1, 0)}")
    for i, s in enumerate(answer.suggestions):
        if s.action == "revise" and (s.indicator_index is None or not 0 <= s.indicator_index < n_indicators):
            errors.append(f"suggestions.{i}.indicator_index：revise 需要有效的指标序号（0–{max(n_indicators - 1, 0)}）")
        if not s.name.strip() or not s.value.strip():
            errors.append(f"suggestions.{i}：name 和 value 都必须填写")
    return (None, errors) if errors else (answer, [])


# ---------------------------------------------------------------- client helpers


def make_client(settings: Settings) -> openai.OpenAI:
    """The openai client with the settings' endpoint, timeout and retry budget (its own backoff:
    0.5 s × 2^n with jitter, Retry-After honoured, on 408/409/429/5xx, timeouts and connection errors)."""
    key = settings.api_key.get_secret_value() if settings.api_key else "not-needed"
    return openai.OpenAI(
        api_key=key, base_url=settings.base_url, timeout=settings.timeout_s, max_retries=settings.max_retries
    )


def make_embedder(settings: Settings, client: openai.OpenAI | None = None, *, batch: int = 64) -> EmbedFn:
    """A callable texts → vectors via the endpoint's /v1/embeddings (used by assistant.retrieve.embeddings)."""
    if not settings.embedding_model:
        raise ConfigError("启用稠密检索需要设置 ASSISTANT_EMBEDDING_MODEL")
    cli = client or make_client(settings)
    model = settings.embedding_model

    def embed(texts: list[str]) -> list[list[float]]:
        out: list[list[float]] = []
        for start in range(0, len(texts), batch):
            resp = cli.embeddings.create(model=model, input=texts[start : start + batch], encoding_format="float")
            out += [list(d.embedding) for d in sorted(resp.data, key=lambda d: d.index)]
        return out

    return embed


def _failure_reason(exc: BaseException, retries: int) -> str:
    tried = f"，已重试 {retries} 次" if retries else ""
    if isinstance(exc, openai.APITimeoutError):
        why = f"超时{tried}"
    elif isinstance(exc, openai.APIConnectionError):
        why = f"无法连接到模型服务{tried}，请检查 OPENAI_BASE_URL"
    elif isinstance(exc, openai.RateLimitError):
        why = f"限流 HTTP 429{tried}"
    elif isinstance(exc, openai.AuthenticationError):
        why = "鉴权失败 HTTP 401，请检查 OPENAI_API_KEY"
    elif isinstance(exc, openai.NotFoundError):
        why = "HTTP 404，请检查 ASSISTANT_MODEL 与 OPENAI_BASE_URL"
    elif isinstance(exc, openai.APIStatusError):
        why = f"HTTP {exc.status_code}{tried if exc.status_code >= 500 else ''}"
    else:
        why = f"内部错误 {type(exc).__name__}"
    return f"LLM 调用失败（{why}），已改用离线评审"


def messages_sha256(messages: Sequence[dict[str, str]]) -> str:
    """sha256 over the messages as sent (role and content, in order): which prompt an answer answers."""
    text = json.dumps([[m["role"], m["content"]] for m in messages], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def estimate_tokens(text: str) -> int:
    cjk = sum(1 for ch in text if "\u4e00" <= ch <= "\u9fff")
    return cjk + (len(text) - cjk) // 4


# ---------------------------------------------------------------- the critic


class OpenAICritic:
    """`Critic` over an OpenAI-compatible endpoint; the offline critic is its fallback."""

    name = "openai"

    def __init__(
        self,
        settings: Settings,
        *,
        fallback: Critic,
        cache: LLMCache | None = None,
        client: openai.OpenAI | None = None,
        prompts: PromptSet | None = None,
    ) -> None:
        if not settings.model:
            raise ConfigError("使用 openai 后端需要设置 ASSISTANT_MODEL（模型名称）")
        self.settings = settings
        self.model: str = settings.model
        self.fallback = fallback
        self.cache = cache
        self.client = client or make_client(settings)
        self.prompts = prompts or PromptSet()
        self.json_mode = True  # switched off once the endpoint rejects response_format
        self._sem = threading.BoundedSemaphore(settings.max_concurrency)
        self._secret = settings.api_key.get_secret_value() if settings.api_key else ""
        parts = urlsplit(settings.base_url or "")
        self._endpoint = (
            f"{parts.scheme}://{parts.hostname or ''}{':' + str(parts.port) if parts.port else ''}{parts.path}"
        )

    @property
    def params(self) -> dict[str, Any]:
        return {"model": self.settings.model, "temperature": self.settings.temperature, "seed": self.settings.seed}

    # ------------------------------------------------------------ public

    def critique(self, inp: CritiqueInput) -> CritiqueResult:
        usage = Usage()
        t0 = time.perf_counter()
        n = len(inp.target.indicators)
        try:
            messages = self.prompts.review_messages(inp)
            key = make_key(
                endpoint=self._endpoint, prompt_hash=self.prompts.hash, params=self.params, messages=messages
            )
            hit = self.cache.get(key) if self.cache is not None else None
            answer = parse_answer(hit.answer, n)[0] if hit else None
            raw = hit.answer if hit else ""
            if answer is not None:
                usage.cached = True
            else:
                answer, raw = self._ask(messages, n, usage)
                self._store(key, raw, usage)
        except LLMFailure as exc:
            return self._fall_back(inp, exc.reason, usage, t0)
        except Exception as exc:  # noqa: BLE001 - any failure falls back, never a crash or a pass
            log.warning("LLM review failed: %s", type(exc).__name__)
            return self._fall_back(inp, _failure_reason(exc, self.settings.max_retries), usage, t0)
        usage.latency_ms = round((time.perf_counter() - t0) * 1000, 1)
        result = self._build(inp, answer, usage)
        return result.model_copy(update={"llm_answer": self._scrub(raw), "prompt_sha256": messages_sha256(messages)})

    # ------------------------------------------------------------ calls

    def _create(self, messages: list[dict[str, str]], usage: Usage) -> str:
        kwargs: dict[str, Any] = {
            "model": self.settings.model,
            "messages": messages,
            "temperature": self.settings.temperature,
        }
        if self.settings.seed is not None:
            kwargs["seed"] = self.settings.seed
        with self._sem:
            t = time.perf_counter()
            if self.json_mode:
                try:
                    resp = self.client.chat.completions.create(**kwargs, response_format={"type": "json_object"})
                except openai.BadRequestError:
                    log.info("endpoint rejected the request with response_format; retrying as plain text")
                    resp = self.client.chat.completions.create(**kwargs)
                    self.json_mode = False
            else:
                resp = self.client.chat.completions.create(**kwargs)
            elapsed = (time.perf_counter() - t) * 1000
        content = resp.choices[0].message.content if resp.choices else None
        content = content or ""
        usage.calls += 1
        if resp.usage is not None:
            usage.prompt_tokens += resp.usage.prompt_tokens or 0
            usage.completion_tokens += resp.usage.completion_tokens or 0
        else:
            usage.prompt_tokens += sum(estimate_tokens(m["content"]) for m in messages)
            usage.completion_tokens += estimate_tokens(content)
        log.info("LLM call: model=%s latency_ms=%.0f json_mode=%s", self.settings.model, elapsed, self.json_mode)
        return content

    def _ask(self, messages: list[dict[str, str]], n: int, usage: Usage) -> tuple[ModelAnswer, str]:
        content = self._create(messages, usage)
        for attempt in range(MAX_REASKS + 1):
            answer, errors = parse_answer(content, n)
            if answer is not None:
                return answer, content
            log.info("LLM answer invalid (attempt %d): %d errors", attempt + 1, len(errors))
            if attempt == MAX_REASKS:
                raise LLMFailure(f"LLM 输出经 {MAX_REASKS} 次重问仍未通过校验（{errors[0]}），已改用离线评审")
            content = self._create(self.prompts.reask_messages(content, errors, n_indicators=n), usage)
        raise AssertionError("unreachable")

    def _store(self, key: str, raw: str, usage: Usage) -> None:
        if self.cache is None or (self._secret and self._secret in raw):
            return
        try:
            self.cache.put(
                key,
                model=self.model,
                prompt_hash=self.prompts.hash,
                params=self.params,
                answer=raw,
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                calls=usage.calls,
                latency_ms=usage.latency_ms,
            )
        except Exception as exc:  # noqa: BLE001 - a cache problem must not lose a review
            log.warning("LLM cache write failed: %s", type(exc).__name__)

    # ------------------------------------------------------------ results

    def _fall_back(self, inp: CritiqueInput, reason: str, usage: Usage, t0: float) -> CritiqueResult:
        res = self.fallback.critique(inp)
        usage.latency_ms = round((time.perf_counter() - t0) * 1000, 1)
        params = {**res.params, "attempted_backend": self.name, "attempted_model": self.settings.model}
        return res.model_copy(
            update={
                "backend": res.backend if res.backend != self.name else "offline",
                "fallback_reason": reason,
                "usage": usage,
                "params": params,
            }
        )

    def _scrub(self, text: str) -> str:
        return text.replace(self._secret, "***") if self._secret else text

    def _build(self, inp: CritiqueInput, answer: ModelAnswer, usage: Usage) -> CritiqueResult:
        injection = [h.label() for h in inp.facts.instruction_hits]
        offline = self.fallback.critique(inp)
        dims: dict[str, DimensionScore] = {}
        for key in DIMENSION_KEYS:
            a: DimAnswer = getattr(answer.dimensions, key)
            level: float = a.level
            rationale = self._scrub(a.rationale.strip())
            notes = contradictions(key, level, rationale, inp.findings)
            if notes:
                rationale += f"（与规则检查不一致：{'；'.join(notes)}。以规则检查为准）"
            off_level = offline.dimensions.get(key).level
            if injection:
                if level > off_level:
                    level = off_level
                rationale += "（注意：目标表中含疑似指令性文字，已按数据处理；本维度分数不高于离线评审）"
            elif level > off_level and (not a.evidence or notes or level - off_level >= UNBACKED_GAP
                                        and not backed(key, a.evidence, inp.findings)):
                level = off_level  # above the offline review only with evidence the rules do not contradict
                rationale += "（模型评级高于离线评审，但没有规则不矛盾的依据指标，按离线评审计）"
            dims[key] = DimensionScore(
                score=level_to_score(level),
                level=level,
                rationale=rationale,
                evidence=sorted(set(a.evidence)),
                contradictions=notes,
            )
        params: dict[str, Any] = {**self.params, "response_format": "json_object" if self.json_mode else "text"}
        if injection:
            params["injection_suspected"] = injection
        return CritiqueResult(
            dimensions=Dimensions(**dims),
            suggestions=self._suggestions(inp, answer),
            backend=self.name,
            model=self.settings.model,
            prompt_hash=self.prompts.hash,
            params=params,
            usage=usage,
            scorer_version=SCORER_VERSION,
        )

    def _suggestions(self, inp: CritiqueInput, answer: ModelAnswer) -> list[Suggestion]:
        precedents = {p.id: p.project_name for p in inp.evidence.precedents}
        out: list[Suggestion] = []
        for s in answer.suggestions:
            original = s.original
            if s.action == "revise" and not original and s.indicator_index is not None:
                original = inp.target.indicators[s.indicator_index].value
            pid = s.precedent_id if s.precedent_id in precedents else None
            sug = Suggestion(
                action=s.action,
                indicator_index=s.indicator_index if s.action == "revise" else None,
                level1=s.level1,
                level2=s.level2,
                name=s.name,
                value=s.value,
                original=original,
                reason=self._scrub(s.reason),
                source="llm",
                precedent_id=pid,
                precedent_project=precedents.get(pid) if pid else None,
            )
            out.append(sug)
        return out


def backed(dimension: str, evidence: list[int], findings: list[Finding]) -> bool:
    """Whether a level above the offline review is backed: the model names the rows it rests on, and the rules
    raise no error or warning of this dimension on those rows (a gullible model that answers 5 everywhere, talked
    into it by text no detector caught, names none or names the very rows the rules fault)."""
    if not evidence:
        return False
    faulted = {f.indicator_index for f in findings
               if f.dimension == dimension and f.severity in ("error", "warning") and f.indicator_index is not None}
    return not faulted & set(evidence)


# ---------------------------------------------------------------- batches


def critique_many(critic: Critic, inputs: Sequence[CritiqueInput], *, max_concurrency: int = 4) -> list[CritiqueResult]:
    """Critique many inputs with at most `max_concurrency` in flight; results keep input order."""
    if not inputs:
        return []
    workers = max(1, min(max_concurrency, len(inputs)))
    if workers == 1:
        return [critic.critique(i) for i in inputs]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="critique") as pool:
        return list(pool.map(critic.critique, inputs))


def sum_usage(results: Sequence[CritiqueResult]) -> Usage:
    """Tokens, calls and latency summed over a batch; `cached` is true only if every item was a cache hit."""
    total = Usage(cached=bool(results) and all(r.usage.cached for r in results))
    for r in results:
        total.prompt_tokens += r.usage.prompt_tokens
        total.completion_tokens += r.usage.completion_tokens
        total.calls += r.usage.calls
        total.latency_ms = round(total.latency_ms + r.usage.latency_ms, 1)
    return total
