"""The command line: JSON contract, markdown default, batches, bad input, rules, corpus search/import, profiles."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from assistant.cli import main

REPO = Path(__file__).resolve().parent.parent
DRAFT = REPO / "samples" / "draft.json"
CORPUS = REPO / "corpus" / "approved_targets.jsonl"
DIMS = ("completeness", "relevance", "suitability", "fund_fit")


@pytest.fixture(autouse=True)
def hermetic_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Imports land in tmp; no backend, profile or corpus settings leak in from the environment."""
    for var in ("ASSISTANT_BACKEND", "ASSISTANT_PROFILE", "ASSISTANT_CORPUS", "OPENAI_BASE_URL", "OPENAI_API_KEY",
                "ASSISTANT_MODEL", "ASSISTANT_TOP_K", "ASSISTANT_DENSE_RETRIEVAL"):
        monkeypatch.delenv(var, raising=False)
    db = tmp_path / "x.db"
    monkeypatch.setenv("ASSISTANT_DB", str(db))
    return db


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def draft_data() -> dict:
    return json.loads(DRAFT.read_text(encoding="utf-8"))


def write_json(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def assert_clean_error(res: Result, *needles: str) -> None:
    assert res.exit_code == 2, (res.exit_code, res.output)
    assert res.stderr.startswith("错误："), res.stderr
    assert "Traceback" not in res.output
    assert res.stdout == ""
    for n in needles:
        assert n in res.stderr, (n, res.stderr)


# ---------------------------------------------------------------------------- review


def test_review_json_contract() -> None:
    res = run("review", str(DRAFT), "--format", "json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert {"project_name", "score", "grade", "dimensions", "findings", "suggestions", "precedents", "backend"} <= set(data)
    assert data["project_name"] == draft_data()["project_name"]
    assert isinstance(data["score"], int) and 0 <= data["score"] <= 100
    assert data["grade"] in {"优", "良", "中", "差"}
    assert set(data["dimensions"]) == set(DIMS)
    for d in DIMS:
        assert isinstance(data["dimensions"][d]["score"], int) and data["dimensions"][d]["rationale"]
    assert data["findings"]
    for f in data["findings"]:
        assert {"rule_id", "dimension", "severity", "indicator_index", "message", "suggestion"} <= set(f)
    # the sample is a corpus record: it never retrieves itself, and no other approved project is of its kind, so
    # none is shown as similar and the review says so
    assert data["precedents"] == [] and "没有与本项目相近的项目" in data["meta"]["retrieval_note"]
    assert data["backend"] == "offline"
    assert "target" not in data and "indicators" not in data


def test_review_json_precedents_of_the_same_kind(tmp_path: Path) -> None:
    """A road draft (an edited copy of an approved road table) cites approved road projects, itself first."""
    rec = next(json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines()
               if json.loads(line)["id"] == "t-250d69ee97")
    original = rec.pop("id")
    rec["project_name"] = "2024年村组产业道路硬化工程"
    res = run("review", str(write_json(tmp_path / "road.json", rec)), "--format", "json")
    data = json.loads(res.stdout)
    assert data["precedents"] and data["precedents"][0]["id"] == original
    for p in data["precedents"]:
        assert {"id", "project_name", "similarity", "match"} <= set(p)
        assert "道路" in p["project_name"] or "路" in p["project_name"]
    assert data["meta"]["retrieval"]


def test_review_markdown_is_default() -> None:
    res = run("review", str(DRAFT))
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[0].startswith("# 绩效目标审核意见")
    assert "**审核等级：" in res.stdout and "## 需要修改的地方" in res.stdout and "第1个指标" in res.stdout


def test_console_script_subprocess() -> None:
    exe = Path(sys.executable).parent / "assistant"
    if not exe.exists():
        exe = REPO / ".venv" / "bin" / "assistant"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASSISTANT_", "OPENAI_"))}
    proc = subprocess.run([str(exe), "review", str(DRAFT), "--format", "json"], capture_output=True, text=True,
                          env=env, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["grade"] in {"优", "良", "中", "差"}


def test_jsonl_batch_with_broken_line(tmp_path: Path) -> None:
    good = draft_data()
    other = dict(good, id=None, project_name="另一项目")
    path = tmp_path / "batch.jsonl"
    path.write_text("\n".join([json.dumps(good, ensure_ascii=False), '{"project_name": "坏行",',
                               json.dumps(other, ensure_ascii=False)]) + "\n", encoding="utf-8")
    res = run("review", str(path))
    assert res.exit_code == 3, res.output
    assert res.stdout.count("# 绩效目标审核意见") == 2
    assert "第2行" in res.stderr and "JSON" in res.stderr
    assert "完成 2 项，失败 1 项" in res.stderr
    assert "Traceback" not in res.output


def test_jsonl_batch_json_format_reports_line(tmp_path: Path) -> None:
    good = draft_data()
    path = tmp_path / "batch.jsonl"
    path.write_text("\n".join([json.dumps(good, ensure_ascii=False), json.dumps({"project_name": "x"}),
                               json.dumps(good, ensure_ascii=False)]), encoding="utf-8")
    res = run("review", str(path), "--format", "json")
    assert res.exit_code == 3
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert len(rows) == 3
    assert rows[1]["line"] == 2 and "indicators" in rows[1]["error"]
    assert rows[0]["grade"] and rows[2]["grade"]
    assert "第2行" in res.stderr


def test_jsonl_all_lines_broken_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text("{\n[1,2]\n", encoding="utf-8")
    res = run("review", str(path))
    assert res.exit_code == 2
    assert "第1行" in res.stderr and "第2行" in res.stderr


# ---------------------------------------------------------------------------- bad input


def test_missing_file(tmp_path: Path) -> None:
    assert_clean_error(run("review", str(tmp_path / "nope.json")), "文件不存在")


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "gbk.json"
    path.write_bytes(json.dumps({"project_name": "道路硬化工程", "indicators": []}, ensure_ascii=False).encode("gbk"))
    assert_clean_error(run("review", str(path)), "UTF-8")


def test_too_large_file(tmp_path: Path) -> None:
    path = tmp_path / "huge.json"
    with path.open("wb") as fh:
        fh.truncate(50 * 1024 * 1024)  # sparse: no 50 MB written to disk
    try:
        assert_clean_error(run("review", str(path)), "文件过大", "20 MB")
    finally:
        path.unlink()


def test_mistyped_field_alone(tmp_path: Path) -> None:
    data = draft_data()
    data["project_nam"] = data.pop("project_name")
    assert_clean_error(run("review", str(write_json(tmp_path / "typo.json", data))), "project_name", "项目名称",
                       "project_nam（拼写错误？）")


def test_mistyped_extra_field(tmp_path: Path) -> None:
    data = draft_data()
    data["project_nam"] = "x"
    assert_clean_error(run("review", str(write_json(tmp_path / "typo.json", data))), "project_nam", "未知字段")


def test_mistyped_indicator_field(tmp_path: Path) -> None:
    data = draft_data()
    data["indicators"][2]["valeu"] = data["indicators"][2].pop("value")
    assert_clean_error(run("review", str(write_json(tmp_path / "typo.json", data))), "indicators", "[2]", "valeu")


def test_wrong_type(tmp_path: Path) -> None:
    data = dict(draft_data(), amount_total_wan="abc")
    assert_clean_error(run("review", str(write_json(tmp_path / "type.json", data))), "amount_total_wan", "资金总额",
                       "应为数字")


def test_empty_indicator_list(tmp_path: Path) -> None:
    data = dict(draft_data(), indicators=[])
    assert_clean_error(run("review", str(write_json(tmp_path / "empty.json", data))), "指标", "为空")


def test_txt_file(tmp_path: Path) -> None:
    path = tmp_path / "draft.txt"
    path.write_text(DRAFT.read_text(encoding="utf-8"), encoding="utf-8")
    assert_clean_error(run("review", str(path)), "不支持的文件类型")


def test_invalid_json(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"project_name": "x",\n "indicators": [}', encoding="utf-8")
    res = run("review", str(path))
    assert_clean_error(res, "JSON 格式错误", "第2行", "此处应为一个值")
    assert "Expecting" not in res.output  # the parser's English message is translated


def test_invalid_jsonl_line_says_what_is_wrong_in_chinese(tmp_path: Path) -> None:
    path = tmp_path / "drafts.jsonl"
    path.write_text(DRAFT.read_text(encoding="utf-8").replace("\n", " ").strip() + "\n{project_name: 1}\n",
                    encoding="utf-8")
    res = run("review", str(path))
    assert res.exit_code == 3 and "第2行" in res.output and "字段名应使用英文双引号" in res.output


def test_not_an_object(tmp_path: Path) -> None:
    assert_clean_error(run("review", str(write_json(tmp_path / "s.json", "道路"))), "JSON 对象")


def test_unknown_profile() -> None:
    assert_clean_error(run("review", str(DRAFT), "--profile", "nosuch"), "找不到规则配置", "xinjiang")


# ---------------------------------------------------------------------------- profiles


def test_profile_xinjiang_changes_c09(tmp_path: Path) -> None:
    data = draft_data()
    data["indicators"] = data["indicators"][:6]
    path = write_json(tmp_path / "six.json", data)
    default = json.loads(run("review", str(path), "--format", "json").stdout)
    xj = json.loads(run("review", str(path), "--profile", "xinjiang", "--format", "json").stdout)
    assert "C-09" not in {f["rule_id"] for f in default["findings"]}
    c09 = [f for f in xj["findings"] if f["rule_id"] == "C-09"]
    assert len(c09) == 1 and c09[0]["severity"] == "error" and "7" in c09[0]["message"]


def test_rules_json_and_profile_severity() -> None:
    res = run("rules", "--format", "json")
    assert res.exit_code == 0
    rows = json.loads(res.stdout)
    assert len(rows) >= 30
    for r in rows:
        assert r["id"] and r["dimension"] in DIMS and r["severity"] in {"error", "warning", "info"} and r["title"]
    assert {r["id"]: r["severity"] for r in rows}["C-09"] == "warning"
    xj = {r["id"]: r["severity"] for r in json.loads(run("rules", "--format", "json", "--profile", "xinjiang").stdout)}
    assert xj["C-09"] == "error"


def test_rules_markdown_and_profiles() -> None:
    res = run("rules")
    assert res.exit_code == 0 and "C-01" in res.stdout and "规则配置：default" in res.stdout
    res = run("profiles")
    assert res.exit_code == 0 and {"default", "xinjiang", "central101"} <= {ln.split()[0] for ln in res.stdout.splitlines()}


# ---------------------------------------------------------------------------- corpus


def test_corpus_search_json() -> None:
    res = run("corpus", "search", "道路硬化", "--format", "json")
    assert res.exit_code == 0, res.output
    hits = json.loads(res.stdout)
    assert hits and len(hits) <= 5
    for h in hits:
        assert h["id"] and h["project_name"] and 0 < h["similarity"] <= 1.0001
    assert [h["similarity"] for h in hits] == sorted((h["similarity"] for h in hits), reverse=True)
    assert any("道路" in h["project_name"] for h in hits[:3])


def test_corpus_search_text_no_hits() -> None:
    res = run("corpus", "search", "zzzqqq")
    assert res.exit_code == 0 and "没有找到" in res.stdout


def test_corpus_import_then_search(tmp_path: Path, hermetic_env: Path) -> None:
    rec = {"project_name": "喀斯特溶洞探险步道修缮工程", "implementing_unit": "某景区管理处", "amount_total_wan": 88,
           "annual_goal": "完成溶洞探险步道修缮3公里",
           "indicators": [{"level1": "产出指标", "level2": "数量指标", "name": "溶洞探险步道修缮长度", "value": "≥3公里"}]}
    src = tmp_path / "mine.jsonl"
    src.write_text(json.dumps(rec, ensure_ascii=False) + "\n" + json.dumps(draft_data(), ensure_ascii=False) + "\n",
                   encoding="utf-8")
    before = json.loads(run("corpus", "search", "溶洞探险步道", "--format", "json").stdout)
    assert not any(h["project_name"] == rec["project_name"] for h in before)
    res = run("corpus", "import", str(src))
    assert res.exit_code == 0, res.output
    assert "已导入 1 项（跳过重复 1 项）" in res.stdout  # the draft is already a corpus record
    stored = hermetic_env.parent / "corpus" / "mine.jsonl"
    assert stored.is_file() and str(stored) in res.stdout
    saved = json.loads(stored.read_text(encoding="utf-8").splitlines()[0])
    assert saved["id"].startswith("u-") and saved["source_url"] == "imported:mine.jsonl"
    hits = json.loads(run("corpus", "search", "溶洞探险步道", "--format", "json").stdout)
    assert hits[0]["project_name"] == rec["project_name"] and hits[0]["id"] == saved["id"]
    assert "先例库索引已更新：42 项" in res.stdout
    again = run("corpus", "import", str(src))
    assert "已导入 0 项（跳过重复 2 项）" in again.stdout
    assert not (REPO / "var" / "corpus" / "mine.jsonl").exists()


def test_corpus_index_builds_once_then_loads(hermetic_env: Path) -> None:
    first = run("corpus", "index")
    assert first.exit_code == 0 and "先例库：41 项" in first.stdout
    folders = list((hermetic_env.parent / "index").iterdir())
    assert len(folders) == 1 and str(folders[0]) in first.stdout
    mtime = (folders[0] / "stats.json").stat().st_mtime_ns
    second = run("corpus", "index")
    assert second.exit_code == 0 and (folders[0] / "stats.json").stat().st_mtime_ns == mtime
    assert first.stdout.splitlines()[0] == second.stdout.splitlines()[0]


def test_corpus_import_bad_suffix(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("a,b\n", encoding="utf-8")
    assert_clean_error(run("corpus", "import", str(path)), "只支持")


def test_review_with_custom_corpus(tmp_path: Path) -> None:
    lines = CORPUS.read_text(encoding="utf-8").splitlines()[:5]
    path = tmp_path / "small.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    allowed = {json.loads(line)["id"] for line in lines}
    data = json.loads(run("review", str(DRAFT), "--format", "json", "--corpus", str(path)).stdout)
    assert {p["id"] for p in data["precedents"]} <= allowed


# ---------------------------------------------------------------------------- output files are never lost

def small_corpus(tmp_path: Path) -> Path:
    """Five precedents: the review runs in seconds (the full corpus would be indexed into the fresh database)."""
    path = tmp_path / "small.jsonl"
    path.write_text("\n".join(CORPUS.read_text(encoding="utf-8").splitlines()[:5]) + "\n", encoding="utf-8")
    return path


def test_template_refuses_to_overwrite_unless_force(tmp_path: Path) -> None:
    out = tmp_path / "申报表.xlsx"
    assert run("template", "-o", str(out)).exit_code == 0
    out.write_bytes(b"filled in by the user")
    assert_clean_error(run("template", "-o", str(out)), "文件已存在", "--force")
    assert out.read_bytes() == b"filled in by the user"
    res = run("template", "-o", str(out), "--force")
    assert res.exit_code == 0 and out.read_bytes()[:2] == b"PK"


def test_review_export_refuses_existing_file_and_the_input_itself(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from assistant.intake.xlsx_template import write_template

    monkeypatch.setenv("ASSISTANT_DENSE_RETRIEVAL", "0")  # TF-IDF alone: seconds, not a model load

    out = tmp_path / "意见.docx"
    out.write_bytes(b"an earlier opinion")
    assert_clean_error(run("review", str(DRAFT), "--export", str(out)), "文件已存在", "--force")
    assert out.read_bytes() == b"an earlier opinion"
    res = run("review", str(DRAFT), "--export", str(out), "--force", "--corpus", str(small_corpus(tmp_path)))
    assert res.exit_code == 0 and out.read_bytes()[:2] == b"PK"
    workbook = tmp_path / "draft.xlsx"
    write_template(workbook, style="88")
    before = workbook.read_bytes()
    assert_clean_error(run("review", str(workbook), "--export", str(workbook), "--force"), "输出文件就是输入文件")
    assert workbook.read_bytes() == before


def test_batch_out_replaces_only_its_own_earlier_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSISTANT_DENSE_RETRIEVAL", "0")
    inp, db, out = tmp_path / "in.jsonl", tmp_path / "b.db", tmp_path / "results.jsonl"
    inp.write_text(json.dumps(draft_data(), ensure_ascii=False) + "\n", encoding="utf-8")
    args = ["batch", str(inp), "--db", str(db), "--corpus", str(small_corpus(tmp_path)), "--no-progress"]
    assert run(*args, "--out", str(out)).exit_code == 0
    assert run(*args, "--out", str(out)).exit_code == 0  # a rerun may rewrite its own export
    other = tmp_path / "notes.jsonl"
    other.write_text('{"mine": 1}\n', encoding="utf-8")
    assert_clean_error(run(*args, "--out", str(other)), "文件已存在")
    assert other.read_text(encoding="utf-8") == '{"mine": 1}\n'
    assert_clean_error(run(*args, "--out", str(inp), "--force"), "输出文件就是输入文件")
    assert run(*args, "--out", str(other), "--force").exit_code == 0


def test_eval_outputs_refuse_existing_files(tmp_path: Path) -> None:
    out = tmp_path / "answers.jsonl"
    out.write_text("recorded answers\n", encoding="utf-8")
    assert_clean_error(run("eval", "answers", "1", "-o", str(out)), "文件已存在")
    report = tmp_path / "report.md"
    report.write_text("an earlier report\n", encoding="utf-8")
    assert_clean_error(run("eval", "rescore", "1", "--out", str(report)), "文件已存在")
    assert out.read_text(encoding="utf-8") == "recorded answers\n"
    assert report.read_text(encoding="utf-8") == "an earlier report\n"
