"""Recorded LLM answers replayed through a local OpenAI-compatible endpoint: every bad line named, the real openai
client exercised end to end, fallbacks counted and said, raw answers stored with runs and exported again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from assistant.errors import InputError
from assistant.evaluate.replay import load_answers, serving
from assistant.intake.reader import read_targets

ROOT = Path(__file__).resolve().parents[1]
ITEMS = ROOT / "evals" / "items.jsonl"
ANSWERS = ROOT / "evals" / "llm_answers.jsonl"


@pytest.fixture(scope="module")
def targets() -> dict:
    return {t.id: t for t in read_targets(ITEMS) if t.id}


def _lines(n: int = 3) -> list[dict]:
    out = []
    for line in ANSWERS.read_text(encoding="utf-8").splitlines():
        d = json.loads(line)
        if d["item_id"] != "item-073":
            out.append(d)
        if len(out) == n:
            return out
    return out


def _write(path: Path, rows: list, extra: list[str] = ()) -> Path:
    path.write_text("\n".join([*(json.dumps(r, ensure_ascii=False) for r in rows), *extra]) + "\n", encoding="utf-8")
    return path


def test_every_bad_line_is_named(tmp_path: Path, targets: dict) -> None:
    good = _lines(2)
    cases = {
        "broken": ("{not json", "第3行"),
        "unknown": (json.dumps({"item_id": "item-999", "answer": good[0]["answer"]}), "「item-999」不在评估项目文件中"),
        "duplicate": (json.dumps(good[0], ensure_ascii=False), "重复"),
        "no_answer": (json.dumps({"item_id": good[1]["item_id"]}), "answer"),
    }
    for name, (line, needle) in cases.items():
        path = _write(tmp_path / f"{name}.jsonl", good, [line])
        with pytest.raises(InputError) as exc:
            load_answers(path, targets)
        assert "第3行" in str(exc.value) and needle in str(exc.value), (name, str(exc.value))
    answer = json.loads(good[1]["answer"])
    del answer["dimensions"]["fund_fit"]
    path = _write(tmp_path / "dim.jsonl", [good[0], {"item_id": good[1]["item_id"], "answer": json.dumps(answer)}])
    with pytest.raises(InputError) as exc:
        load_answers(path, targets)
    assert "第2行" in str(exc.value) and "dimensions.fund_fit：缺少该字段" in str(exc.value)
    skipped: list[str] = []
    assert len(load_answers(path, targets, skipped=skipped)) == 1 and "第2行" in skipped[0]


def test_the_shared_file_loads_except_its_mismatched_line(targets: dict) -> None:
    with pytest.raises(InputError, match="第48行：项目「item-073」"):
        load_answers(ANSWERS, targets)
    skipped: list[str] = []
    assert len(load_answers(ANSWERS, targets, skipped=skipped)) == 53 and len(skipped) == 1


def test_replay_drives_the_real_openai_client(tmp_path: Path, targets: dict, deps) -> None:
    import dataclasses

    from assistant.critique.llm import OpenAICritic
    from assistant.evaluate.llm_run import replay_settings
    from assistant.pipeline import review
    from assistant.settings import load_settings

    rows = _lines(2)
    answers = load_answers(_write(tmp_path / "a.jsonl", rows), targets)
    with serving(answers, targets) as server:
        settings = replay_settings(load_settings({}, db_path=tmp_path / "a.db"), server)
        d = dataclasses.replace(deps, critic=OpenAICritic(settings, fallback=deps.critic))
        first = review(targets[rows[0]["item_id"]], d)
        other = next(t for i, t in targets.items() if i not in answers)
        missing = review(other, d)
    want = json.loads(rows[0]["answer"])["dimensions"]["relevance"]["level"]
    assert first.backend == "openai" and first.dimensions.relevance.level <= want and first.meta.llm_answer
    assert missing.fallback_reason and "HTTP 404" in missing.fallback_reason  # said, never silent
    assert server.served == [rows[0]["item_id"]] and server.missing == 1


@pytest.mark.slow
def test_eval_run_replay_counts_and_exports_answers(tmp_path: Path) -> None:
    from assistant.cli import main

    rows = _lines(4)
    ids = {r["item_id"] for r in rows}
    items = tmp_path / "items.jsonl"
    items.write_text("".join(x + "\n" for x in ITEMS.read_text(encoding="utf-8").splitlines()
                             if json.loads(x).get("id", json.loads(x).get("item_id")) in ids), encoding="utf-8")
    ratings = tmp_path / "ratings.jsonl"
    rated = (ROOT / "evals" / "ratings.jsonl").read_text(encoding="utf-8").splitlines()
    ratings.write_text("".join(x + "\n" for x in rated if json.loads(x)["item_id"] in ids), encoding="utf-8")
    answers = _write(tmp_path / "answers.jsonl", rows[:3])  # one item without a recorded answer
    env = {"ASSISTANT_DB": str(tmp_path / "var" / "a.db")}
    res = CliRunner().invoke(main, ["eval", "run", str(items), str(ratings), "--replay", str(answers), "--folds", "2",
                                    "--n-boot", "0", "--format", "json", "--out", str(tmp_path / "r.json")], env=env)
    assert res.exit_code == 0, res.output
    assert "1/4 项改用了离线评审" in res.output
    llm = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["metrics"]["llm"]
    assert llm["replay"]["served"] == 3 and llm["replay"]["missing"] == 1 and llm["fell_back"] == 1
    assert set(llm["mean_level"]) == {"completeness", "relevance", "suitability", "fund_fit"}
    res = CliRunner().invoke(main, ["eval", "answers", "1", "-o", str(tmp_path / "out.jsonl")], env=env)
    assert res.exit_code == 0, res.output
    back = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {b["item_id"] for b in back} == {r["item_id"] for r in rows[:3]}
    assert all(b["prompt_sha256"] and b["answer"] for b in back)
