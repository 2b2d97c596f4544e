"""The precedent index: streaming build, persistence keyed by corpus version, workers, bad corpora."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from assistant.errors import InputError
from assistant.intake.reader import read_targets
from assistant.intake.records import content_hash
from assistant.intake.taxonomy import normalise
from assistant.retrieve import build as index_build
from assistant.retrieve import corpus as corpus_store
from assistant.retrieve.index import PrecedentIndex, project_text
from assistant.settings import load_settings

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "corpus" / "approved_targets.jsonl"


@pytest.fixture()
def settings(tmp_path: Path):
    corpus = tmp_path / "approved.jsonl"
    shutil.copy(CORPUS, corpus)
    return load_settings({}, db_path=tmp_path / "var" / "assistant.db", corpus_path=corpus)


def _same_results(a: PrecedentIndex, b: PrecedentIndex) -> None:
    for t in read_targets(CORPUS)[:12]:
        pa = a.precedents(t, k=5, exclude_ids=[t.id or ""])
        pb = b.precedents(t, k=5, exclude_ids=[t.id or ""])
        assert [(p.id, p.similarity) for p in pa] == [(p.id, p.similarity) for p in pb]
        inds = normalise(t)
        assert a.evidence(t, inds, exclude_ids=[t.id or ""]) == b.evidence(t, inds, exclude_ids=[t.id or ""])


def test_open_index_persists_once_and_reloads(settings, monkeypatch) -> None:
    first = corpus_store.open_index(settings)
    folders = [p for p in corpus_store.index_root(settings).iterdir() if p.is_dir()]
    assert len(folders) == 1 and (folders[0] / "records.sqlite").exists()
    calls = []
    monkeypatch.setattr(corpus_store, "build_index", lambda *a, **k: calls.append(a))
    second = corpus_store.open_index(settings)
    assert calls == [], "an unchanged corpus must load the persisted index, not rebuild it"
    assert second.version == first.version and len(second) == len(first) == len(read_targets(CORPUS))
    _same_results(first, second)
    in_memory = PrecedentIndex(read_targets(CORPUS))
    corpus_store.attach_dense(in_memory, settings, folder=None)  # the same vectors, from the cache
    _same_results(first, in_memory)


def test_corpus_change_gives_a_new_version(settings) -> None:
    before = corpus_store.open_index(settings)
    rec = read_targets(CORPUS)[0].model_copy(update={"id": "new-1", "project_name": "全新的测试项目名称"})
    with settings.corpus_path.open("a", encoding="utf-8") as fh:
        fh.write(rec.model_dump_json() + "\n")
    after = corpus_store.open_index(settings)
    assert after.version != before.version and len(after) == len(before) + 1
    assert after.search("全新的测试项目名称", k=1)[0][0].id == "new-1"


def test_corrupt_persisted_index_is_rebuilt(settings) -> None:
    first = corpus_store.open_index(settings)
    folder = next(p for p in corpus_store.index_root(settings).iterdir() if p.is_dir())
    (folder / "stats.json").write_text("{not json", encoding="utf-8")
    again = corpus_store.open_index(settings)
    assert again.version == first.version
    json.loads((folder / "stats.json").read_text(encoding="utf-8"))


def test_unwritable_index_root_falls_back_to_memory(settings, monkeypatch) -> None:
    def refuse(*a, **k):
        raise PermissionError("read-only file system")
    monkeypatch.setattr(corpus_store, "build_index", lambda files, folder=None, workers=None:
                        refuse() if folder is not None else PrecedentIndex(read_targets(CORPUS)))
    index = corpus_store.open_index(settings)
    assert len(index) == len(read_targets(CORPUS))


def test_worker_processes_build_the_same_index(tmp_path: Path) -> None:
    one = corpus_store.build_index([CORPUS], folder=tmp_path / "one", workers=1)
    two = corpus_store.build_index([CORPUS], folder=tmp_path / "two", workers=2)
    assert one.version == two.version and one.data.ids == two.data.ids
    _same_results(one, two)


@pytest.mark.parametrize("workers", [1, 2])
def test_bad_corpus_line_names_file_and_line(tmp_path: Path, workers: int) -> None:
    lines = CORPUS.read_text(encoding="utf-8").splitlines()[:5]
    lines.insert(3, '{"project_name": "坏记录", "indicators": "不是列表"}')
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as exc:
        corpus_store.build_index([bad], workers=workers)
    assert "bad.jsonl 第4行" in (exc.value.where or "") and "指标" in exc.value.message


def test_non_utf8_corpus_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "gbk.jsonl"
    bad.write_bytes('{"project_name": "项目"}\n'.encode("gbk"))
    with pytest.raises(InputError, match="UTF-8"):
        corpus_store.build_index([bad])


def test_empty_corpus_is_a_clear_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    with pytest.raises(InputError, match="先例库为空"):
        corpus_store.build_index([empty])


def test_content_id_and_exclusion(tmp_path: Path) -> None:
    records = read_targets(CORPUS)
    index = PrecedentIndex(records)
    t = records[3]
    assert index.content_id(content_hash(t)) == t.id
    assert index.content_id("0" * 16) is None
    hits = index.search(project_text(t), k=3)
    assert hits[0][0].id == t.id and hits[0][1] > 0.9
    assert all(h.id != t.id for h, _ in index.search(project_text(t), k=3, exclude_ids=[t.id]))


def test_unit_cost_excludes_every_excluded_peer_even_with_equal_costs() -> None:
    base = read_targets(CORPUS)[0]
    ind = base.indicators[0].model_copy(update={"level1": "产出指标", "level2": "数量指标", "name": "培训人数",
                                                "value": "100人"})
    recs = [base.model_copy(update={"id": f"r{i}", "project_name": f"培训项目{i}", "amount_total_wan": amt,
                                    "indicators": [ind]}) for i, amt in enumerate([10, 10, 10, 40, 50])]
    index = PrecedentIndex(recs)
    assert sorted(index.data.unit_costs["人"].tolist()) == [0.1, 0.1, 0.1, 0.4, 0.5]
    draft = recs[0].model_copy(update={"id": None, "amount_total_wan": 40.0})
    inds = normalise(draft)
    # peers without r0, r1, r2 (all cost 0.1): median of [0.4, 0.5] = 0.45
    ratio = index.unit_cost_ratio(draft, inds, exclude_ids=["r0", "r1", "r2"])
    assert ratio == pytest.approx(__import__("math").log10(0.4 / 0.45))
    assert index.unit_cost_ratio(draft, inds, exclude_ids=["r0", "r1", "r2", "r3"]) is None


def test_version_is_order_independent_and_content_sensitive() -> None:
    records = read_targets(CORPUS)
    a, b = PrecedentIndex(records), PrecedentIndex(list(reversed(records)))
    assert a.version == b.version
    changed = [records[0].model_copy(update={"annual_goal": records[0].annual_goal + "。"}), *records[1:]]
    assert PrecedentIndex(changed).version != a.version


def test_stale_format_is_refused(tmp_path: Path) -> None:
    corpus_store.build_index([CORPUS], folder=tmp_path / "idx")
    stats = json.loads((tmp_path / "idx" / "stats.json").read_text(encoding="utf-8"))
    stats["meta"]["format"] = "idx0"
    (tmp_path / "idx" / "stats.json").write_text(json.dumps(stats), encoding="utf-8")
    with pytest.raises(ValueError):
        index_build.load(tmp_path / "idx")


def test_import_then_index_sees_new_records(settings, tmp_path: Path) -> None:
    rec = read_targets(CORPUS)[1].model_copy(update={"id": None, "project_name": "导入的新项目甲",
                                                         "source_url": ""})
    src = tmp_path / "history.jsonl"
    src.write_text(rec.model_dump_json() + "\n" + read_targets(CORPUS)[2].model_dump_json() + "\n",
                   encoding="utf-8")
    result = corpus_store.import_file(src, settings)
    assert (result.added, result.duplicates) == (1, 1)
    index = corpus_store.open_index(settings)
    top = index.search("导入的新项目甲", k=1)[0][0]
    assert top.project_name == "导入的新项目甲" and top.source_url == "imported:history.jsonl"
