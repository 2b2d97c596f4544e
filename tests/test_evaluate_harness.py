"""The evaluation harness: cross-fit, leave-one-out retrieval, storage/rescore, stability,
defect injectors and detection, reports, CSV ratings end to end. Uses a 12-item subset."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from assistant.dimensions import DIMENSION_KEYS  # noqa: E402
from assistant.evaluate import defect_bench as DB
from assistant.evaluate import defects as D
from assistant.evaluate import runner  # noqa: E402
from assistant.evaluate.report import to_html, to_markdown  # noqa: E402
from assistant.evaluate.store import EvalStore  # noqa: E402
from assistant.intake.reader import read_targets  # noqa: E402
from assistant.intake.taxonomy import normalise  # noqa: E402
from assistant.models import Target  # noqa: E402
from assistant.settings import load_settings  # noqa: E402
from assistant.store import MIGRATIONS  # noqa: E402
from tests.fake_openai import FakeOpenAI, answer, error, valid

EVALS = ROOT / "evals"
CORPUS = ROOT / "corpus" / "approved_targets.jsonl"
N_BOOT = 200
# four source records × three items (original + two variants) = 12 items, 4 groups
SOURCES = ["t-d404072181", "t-f9058a4740", "t-d7ecff8bd5", "t-5a66afc815"]


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def subset(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("evalsubset")
    srcs = [s for s in _jsonl(EVALS / "item_sources.jsonl") if s["source_id"] in SOURCES]
    keep = {s["item_id"] for s in srcs}
    assert len(keep) == 12
    files = {}
    for name, rows in (("items.jsonl", [r for r in _jsonl(EVALS / "items.jsonl") if r["item_id"] in keep]),
                       ("ratings.jsonl", [r for r in _jsonl(EVALS / "ratings.jsonl") if r["item_id"] in keep]),
                       ("item_sources.jsonl", srcs)):
        p = d / name
        p.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        files[name.split(".")[0]] = p
    return files


@pytest.fixture()
def settings(tmp_path: Path):
    return load_settings({}, db_path=tmp_path / "assistant.db")


@pytest.fixture(scope="module")
def deps():
    from assistant.pipeline import build_deps

    return build_deps(load_settings({}))


@pytest.fixture(scope="module")
def base_run(subset: dict[str, Path], deps, tmp_path_factory: pytest.TempPathFactory) -> runner.EvalRun:
    s = load_settings({}, db_path=tmp_path_factory.mktemp("db") / "a.db")
    return runner.run_eval(subset["items"], subset["ratings"], subset["item_sources"], settings=s,
                           n_boot=N_BOOT, folds=5, base_deps=deps)


# --------------------------------------------------------------------------- cross-fit, retrieval


def test_crossfit_never_scores_an_item_with_a_calibration_trained_on_it(subset, settings, deps, monkeypatch):
    from assistant.evaluate import calibrate

    trained: dict[int, set[str]] = {}
    real_fit = calibrate.fit

    def spy_fit(feats, targets, **kw):
        cal = real_fit(feats, targets, **kw)
        trained[id(cal)] = {f.item_id for f in feats}
        return cal

    reviewed: list[tuple[str, int]] = []
    real_review = runner._review

    def spy_review(target, deps, **kw):
        reviewed.append((target.id, id(deps.critic.calibration)))
        return real_review(target, deps, **kw)

    monkeypatch.setattr(calibrate, "fit", spy_fit)
    monkeypatch.setattr(runner, "_review", spy_review)
    run = runner.run_eval(subset["items"], subset["ratings"], subset["item_sources"], settings=settings,
                          n_boot=N_BOOT, base_deps=deps)
    src = {s["item_id"]: s["source_id"] for s in _jsonl(subset["item_sources"])}
    assert len(reviewed) == 12 and len(trained) == len(run.config.fold_info) == 4
    for item, cal_id in reviewed:
        train = trained[cal_id]
        assert item not in train
        assert src[item] not in {src[i] for i in train}  # no sibling (same source record) either
        assert len(train) == 9
    for f in run.config.fold_info:
        assert not set(f.train_items) & set(f.test_items)
        assert not set(f.train_groups) & set(f.test_groups)
    assert sorted(i for f in run.config.fold_info for i in f.test_items) == sorted(src)


def test_retrieval_is_leave_one_out(base_run):
    src = {k: v["source_id"] for k, v in base_run.config.sources_map.items()}
    seen = 0
    for p in base_run.predictions:
        ids = [pr["id"] for pr in p.review["precedents"]]
        seen += len(ids)
        assert src[p.item_id] not in ids
        assert p.item_id not in ids
    assert seen > 0


def test_mapping_to_raters_scale(base_run):
    for p in base_run.predictions:
        r = p.review
        assert p.overall == r["score"] and p.grade == r["grade"]
        for d in DIMENSION_KEYS:
            assert p.dims[d] == r["dimensions"][d]["level"]
            assert 1 <= p.dims[d] <= 5


def test_metrics_present(base_run):
    m = base_run.metrics
    dims = m["agreement"]["dimensions"]
    assert set(dims) == {*DIMENSION_KEYS, "overall"}
    for d in dims.values():
        assert d["n_items"] == 12
        assert set(d["baseline"]["qwk"]) == {"r1", "r2", "r3"}
        assert d["alpha_raters"] is not None and d["alpha_with_model"] is not None
    for key in dims:
        assert set(m["loo_consensus"][key]["model_qwk"]) == {"r1", "r2", "r3"}
    assert m["stability"] is None and m["epochs"] == 1
    assert m["by_defect"]["original"]["n"] == 4
    assert base_run.corpus_version and base_run.model == "offline-1"


def test_no_crossfit_evaluates_a_given_calibration_and_warns_when_in_sample(subset, settings, deps, tmp_path):
    from assistant.critique.offline import save_calibration
    from assistant.evaluate import calibrate
    from assistant.evaluate.ratings import load_ratings
    targets = read_targets(subset["items"])
    src = {s["item_id"]: s["source_id"] for s in _jsonl(subset["item_sources"])}
    cons = calibrate.consensus_targets(load_ratings(subset["ratings"]))
    feats = calibrate.collect(targets, src, deps)
    path = save_calibration(calibrate.fit(feats, cons, label="items.jsonl+ratings.jsonl"), tmp_path / "cal.json")
    run = runner.run_eval(subset["items"], subset["ratings"], subset["item_sources"], settings=settings,
                          crossfit=False, calibration_path=path, n_boot=0, keep_reviews=False, base_deps=deps)
    assert not run.config.crossfit and not run.config.fold_info and run.config.calibration == str(path)
    assert any("in-sample" in w for w in run.config.warnings)
    assert "warning" in to_markdown(run)


def _llm_settings(server: FakeOpenAI, tmp_path: Path):
    return load_settings({}, base_url=server.url, api_key="sk-test-eval", model="fake-model", timeout_s=5.0,
                         max_retries=0, db_path=tmp_path / "llm.db", max_concurrency=2)


def test_openai_backend_runs_through_review_with_the_fold_critic_as_fallback(
        subset, deps, base_run, fake_openai: FakeOpenAI, tmp_path):
    fake_openai.default = valid(answer((4, 4, 3, 4)))
    run = runner.run_eval(subset["items"], subset["ratings"], subset["item_sources"],
                          settings=_llm_settings(fake_openai, tmp_path), backend="openai", epochs=2,
                          n_boot=N_BOOT, base_deps=deps)
    assert run.backend == "openai" and run.model == "fake-model" and run.prompt_hash
    assert len(fake_openai.chat_requests()) >= 24  # two epochs, not served from the cache
    assert run.metrics["stability"]["epochs"] == 2
    # when every LLM call fails, each item falls back to its fold's cross-fitted offline critic
    fake_openai.default = error(500)
    failed = runner.run_eval(subset["items"], subset["ratings"], subset["item_sources"],
                             settings=_llm_settings(fake_openai, tmp_path), backend="openai",
                             n_boot=N_BOOT, base_deps=deps)
    offline = {p.item_id: p.dims for p in base_run.predictions}
    assert all(p.review["fallback_reason"] for p in failed.predictions)
    assert {p.item_id: p.dims for p in failed.predictions} == offline


# --------------------------------------------------------------------------- storage, rescore, epochs


def test_store_and_rescore_reproduce_metrics_without_review(base_run, tmp_path, monkeypatch):
    store = EvalStore(tmp_path / "e.db")
    run_id = runner.save_run(base_run, store)
    row = store.get_run(run_id)
    assert row["backend"] == "offline" and row["corpus_version"] == base_run.corpus_version
    assert row["config"]["crossfit"] is True and row["metrics"] == json.loads(json.dumps(base_run.metrics))
    assert len(store.predictions(run_id)) == 12

    def boom(*a, **k):
        raise AssertionError("rescore must not review")

    import assistant.pipeline

    monkeypatch.setattr(runner, "_review", boom)
    monkeypatch.setattr(assistant.pipeline, "review", boom)
    again = runner.rescore(store, run_id)
    assert again.metrics == row["metrics"]
    # migrations are recorded once and re-opening is idempotent
    store.close()
    store2 = EvalStore(tmp_path / "e.db")
    assert store2.applied() == set(range(1, len(MIGRATIONS) + 1)) and store2.migrate() == []
    assert [r["id"] for r in store2.list_runs()] == [run_id]


def test_epochs_stability(subset, settings, deps):
    run = runner.run_eval(subset["items"], subset["ratings"], subset["item_sources"], settings=settings,
                          n_boot=N_BOOT, epochs=2, keep_reviews=False, base_deps=deps)
    assert len(run.predictions) == 24 and {p.epoch for p in run.predictions} == {0, 1}
    stab = run.metrics["stability"]
    assert stab["epochs"] == 2 and stab["n_items"] == 12
    for key in (*DIMENSION_KEYS, "overall"):
        s = stab["per_key"][key]
        assert s["mean_sd"] == 0.0 and s["share_changed"] == 0.0  # offline is deterministic
        assert len(s["qwk_per_epoch"]) == 2


def test_stability_detects_changes():
    preds = [runner.Prediction(item_id=f"i{i}", epoch=e, dims={d: 3.0 + (0.6 if (e and i == 0) else 0.0)
                                                                for d in DIMENSION_KEYS},
                               overall=60.0 + (30 if (e and i == 0) else 0), grade="中")
             for i in range(4) for e in range(2)]
    s = runner.stability(preds)["per_key"]
    assert s["completeness"]["share_changed"] == pytest.approx(0.25)
    assert s["overall"]["share_changed"] == pytest.approx(0.25)
    assert s["completeness"]["mean_sd"] > 0


# --------------------------------------------------------------------------- defects


@pytest.fixture(scope="module")
def corpus() -> list[Target]:
    return read_targets(CORPUS)


def _cats(t: Target) -> list[str]:
    return [n.level1 for n in normalise(t)]


def test_defect_injectors_change_the_target_as_labelled(corpus):
    ctx = D.DefectContext(records=corpus, seed=0)
    assert {d.dimension for d in D.CATALOGUE} == set(DIMENSION_KEYS)
    applied: dict[str, int] = {}
    for rec in corpus[:12]:
        for defect, v in D.inject_all(rec, ctx):
            applied[defect.name] = applied.get(defect.name, 0) + 1
            assert v != rec and v.id == f"{rec.id}~{defect.name}"
            assert rec == next(r for r in corpus if r.id == rec.id)  # the original is not mutated
            name = defect.name
            if name in ("no_satisfaction", "no_benefit", "no_cost"):
                cat = {"no_satisfaction": "satisfaction", "no_benefit": "benefit", "no_cost": "cost"}[name]
                assert cat in _cats(rec) and cat not in _cats(v)
            elif name == "no_annual_goal":
                assert rec.annual_goal and not v.annual_goal
            elif name == "foreign_goal":
                assert v.annual_goal != rec.annual_goal
                assert any(r.annual_goal == v.annual_goal and r.id != rec.id for r in corpus)
            elif name == "foreign_indicators":
                assert [i for i in v.indicators if i not in rec.indicators]
            elif name == "vague_values":
                assert any(i.value in D.VAGUE for i in v.indicators)
            elif name == "satisfaction_100":
                assert all(i.value == "100%" for i, c in zip(v.indicators, _cats(v), strict=False) if c == "satisfaction")
            elif name == "low_quality_bar":
                assert "≥50%" in [i.value for i in v.indicators]
            elif name == "budget_x10":
                assert v.amount_total_wan == pytest.approx(rec.amount_total_wan * 10)
            elif name == "budget_div10":
                assert v.amount_total_wan == pytest.approx(rec.amount_total_wan / 10)
            elif name == "cost_over_budget":
                assert len(v.indicators) == len(rec.indicators) + 1
                assert any(i.name == "项目总成本" for i in v.indicators)
            elif name == "blank_values":
                assert sum(not i.value for i in v.indicators) > sum(not i.value for i in rec.indicators)
    assert len(applied) >= 12  # most of the catalogue applies to the first records


def test_defects_are_deterministic_and_seedable(corpus):
    a = D.inject_all(corpus[3], D.DefectContext(records=corpus, seed=1))
    b = D.inject_all(corpus[3], D.DefectContext(records=corpus, seed=1))
    assert [v for _, v in a] == [v for _, v in b]
    goals = {D.foreign_goal(corpus[3], D.DefectContext(records=corpus, seed=s)).annual_goal for s in range(6)}
    assert len(goals) > 1


def test_defects_detected_on_a_couple_of_records(settings):
    names = ["no_benefit", "no_annual_goal", "vague_values", "cost_over_budget"]
    rep = DB.run_defects(settings=settings, names=names, record_ids=["t-d7ecff8bd5", "t-868d60360f"],
                        eval_items=EVALS / "items.jsonl", eval_ratings=EVALS / "ratings.jsonl",
                        eval_sources=EVALS / "item_sources.jsonl")
    assert rep.n_records == 2 and [r.defect for r in rep.rows] == names
    for row in rep.rows:
        assert row.n >= 1 and row.recall == 1.0, row
    assert all(v == 0.0 for v in rep.placebo_false_alarm.values())
    md = DB.to_markdown(rep)
    assert "| no_benefit | completeness |" in md and "placebo" in md


# --------------------------------------------------------------------------- reports, CLI, CSV


def test_reports_render(base_run):
    md = to_markdown(base_run)
    assert "Model vs consensus QWK [95% CI]" in md and "Rater vs others QWK" in md
    assert "| 完整性 (completeness) | 12 |" in md
    page = to_html(base_run)
    assert page.count("<img") >= 2 and "data:image/png;base64," in page and "<table" in page


def test_csv_ratings_end_to_end(subset, tmp_path, monkeypatch):
    rows = _jsonl(subset["ratings"])
    path = tmp_path / "ratings.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["项目", "评审人", "完整性", "相关性", "适当性", "资金匹配性", "总分", "等级"])
        for r in rows:
            w.writerow([r["item_id"], r["rater"], r["completeness"], r["relevance"], r["suitability"],
                        r["fund_fit"], r["overall"], r["grade"]])
    monkeypatch.setenv("ASSISTANT_DB", str(tmp_path / "cli.db"))
    from assistant.cli import main

    cli = CliRunner()
    res = cli.invoke(main, ["eval", "run", str(subset["items"]), str(path), "--sources", str(subset["item_sources"]),
                            "--n-boot", str(N_BOOT), "--format", "json", "--out", str(tmp_path / "r.json")])
    assert res.exit_code == 0, res.output
    data = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert data["metrics"]["agreement"]["n_items"] == 12 and data["id"] == 1
    res = cli.invoke(main, ["eval", "runs", "--format", "json"])
    assert res.exit_code == 0 and json.loads(res.output)[0]["id"] == 1
    res = cli.invoke(main, ["eval", "rescore", "1", "--format", "json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["metrics"] == data["metrics"]
    res = cli.invoke(main, ["eval", "rescore", "99"])
    assert res.exit_code != 0 and "99" in res.output


def test_split_repeats_use_other_groupings_without_leaks(subset, settings, deps):
    """Each repeat is a full cross-fit over another grouping; no source record is on both sides of a fold."""
    runs: list[runner.EvalRun] = []

    def once(seed: int) -> runner.EvalRun:
        run = runner.run_eval(subset["items"], subset["ratings"], subset["item_sources"], settings=settings,
                              n_boot=0, folds=3, base_deps=deps, keep_reviews=False, split_seed=seed)
        runs.append(run)
        return run
    from assistant.evaluate.splits import split_repeats

    rep = split_repeats(once, 3)
    assert rep["repeats"] == 3 and [r.config.split_seed for r in runs] == [1, 2, 3]
    groupings = {tuple(tuple(f.test_groups) for f in r.config.fold_info) for r in runs}
    assert len(groupings) >= 2  # the seeds really regroup the sources
    for r in runs:
        for f in r.config.fold_info:
            assert not set(f.train_groups) & set(f.test_groups)
    q = rep["qwk"]["completeness"]
    assert q["min"] <= q["mean"] <= q["max"] and q["sd"] >= 0
    md = to_markdown(runs[0].model_copy(update={"metrics": {**runs[0].metrics, "split_repeats": rep}}))
    assert "## Split robustness" in md and "seeds 1–3" in md


def test_cli_repeats_flag(subset, tmp_path, monkeypatch):
    monkeypatch.setenv("ASSISTANT_DB", str(tmp_path / "cli.db"))
    from assistant.cli import main

    res = CliRunner().invoke(main, ["eval", "run", str(subset["items"]), str(subset["ratings"]), "--sources",
                                    str(subset["item_sources"]), "--n-boot", "0", "--repeats", "2", "--no-store",
                                    "--format", "json", "--out", str(tmp_path / "r.json")])
    assert res.exit_code == 0, res.output
    data = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert data["metrics"]["split_repeats"]["repeats"] == 2
    bad = CliRunner().invoke(main, ["eval", "run", "--repeats", "2", "--no-crossfit", "--no-store"])
    assert bad.exit_code != 0 and "--repeats" in bad.output
