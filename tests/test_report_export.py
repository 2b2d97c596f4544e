"""Export a hand-built Review to .xlsx / .docx and a batch summary; open them and check the content."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from docx import Document
from openpyxl import load_workbook

from assistant.dimensions import DIMENSIONS, GRADE_MEANING, grade_for
from assistant.models import (
    Dimensions,
    DimensionScore,
    Finding,
    Precedent,
    PrecedentIndicator,
    Review,
    ReviewMeta,
    Suggestion,
    Target,
)
from assistant.report.docx import export_review_docx
from assistant.report.safe import safe_text
from assistant.report.xlsx import BATCH_HEADS, export_batch_xlsx, export_review_xlsx

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "approved_targets.jsonl"
RECORDS = [Target.model_validate(json.loads(line)) for line in CORPUS.read_text(encoding="utf-8").splitlines()]
WHEN = dt.datetime(2025, 3, 1, 9, 30)
EVIL = '=HYPERLINK("http://evil.example","点击")'


def make_review(target: Target, *, scores: tuple[int, int, int, int] = (85, 70, 55, 90)) -> Review:
    """A Review as the pipeline would produce it (built by hand: the pipeline is written elsewhere)."""
    dims = Dimensions(**{
        key: DimensionScore(score=s, level=s / 20, rationale=f"{name}：示例意见，得分{s}。",
                            capped_by=["S-01"] if key == "suitability" else [])
        for (key, name), s in zip(DIMENSIONS.items(), scores, strict=False)
    })
    score = round(sum(scores) / 4)
    findings = [
        Finding(rule_id="C-01", dimension="completeness", severity="error", field="annual_goal",
                message="年度目标未填写", suggestion="补充本年度计划完成的产出和效果"),
        Finding(rule_id="S-05", dimension="suitability", severity="warning", indicator_index=1,
                message="指标值「≥100%」以100%为上限却使用≥", suggestion="改为「=100%」并说明口径"),
        Finding(rule_id="S-06", dimension="suitability", severity="error", indicator_index=1,
                message="指标值缺少计算口径", suggestion="在指标解释中写明计算公式"),
        Finding(rule_id="R-02", dimension="relevance", severity="info", indicator_index=0,
                message="指标与项目名称的关联较弱", suggestion="核对指标是否反映项目主要产出"),
        Finding(rule_id="FF-01", dimension="fund_fit", severity="warning", field="amount_total_wan",
                message="-资金总额与产出数量不匹配", suggestion="@补充成本测算依据"),
    ]
    suggestions = [
        Suggestion(action="revise", indicator_index=1, name=target.indicators[1].name if len(target.indicators) > 1
                   else "", value="=100%", original=target.indicators[1].value if len(target.indicators) > 1 else "",
                   reason="100%为上限，应使用「=」"),
        Suggestion(action="remove", indicator_index=2, reason="与第1行重复"),
        Suggestion(action="add", level1="成本指标", level2="经济成本指标", name="单位道路硬化成本",
                   value="≤336万元/公里", reason="缺少成本指标", source="precedent", precedent_id="t-0001",
                   precedent_project="镇际联网路升级改造工程一期"),
        Suggestion(action="add", level1="满意度指标", level2="服务对象满意度指标", name="沿线群众满意度",
                   value="≥90%", reason="缺少满意度指标", source="rules"),
    ]
    precedents = [
        Precedent(id="t-9ca0ff3705", project_name="镇际联网路升级改造工程一期", similarity=0.83, region="某县",
                  year=2021, amount_total_wan=919.0, source_url="http://example.gov.cn/yjs/2021/1.html",
                  indicators=[PrecedentIndicator(level1="output", level2="quantity", name="道路改造长度",
                                                 value="≥2.7公里")]),
        Precedent(id="t-x", project_name=EVIL, similarity=0.41, source_url=""),
    ]
    return Review(target_id=target.id, project_name=target.project_name or "（未命名项目）", score=score,
                  grade=grade_for(score), dimensions=dims, findings=findings, suggestions=suggestions,
                  precedents=precedents, backend="offline", meta=ReviewMeta(profile="default",
                                                                           corpus_version="2025.03"),
                  target=target)


@pytest.fixture
def review() -> Review:
    t = RECORDS[0].model_copy(update={"department": "某县交通运输局", "annual_goal": "完成道路硬化0.565公里。"})
    return make_review(t)


def xlsx_texts(path: Path) -> list[str]:
    wb = load_workbook(path)
    out = [str(c.value) for ws in wb.worksheets for row in ws.iter_rows() for c in row if c.value is not None]
    wb.close()
    return out


def docx_texts(path: Path) -> list[str]:
    doc = Document(str(path))
    texts = [p.text for p in doc.paragraphs]
    for table in doc.tables:
        for row in table.rows:
            texts.extend(c.text for c in row.cells)
    texts.extend(p.text for p in doc.sections[0].footer.paragraphs)
    return texts


def test_safe_text() -> None:
    assert safe_text(EVIL) == "'" + EVIL
    for bad in ("+1", "-1", "@SUM(A1)", "\t=1", "\r=1"):
        assert safe_text(bad).startswith("'")
    assert safe_text("≥95%") == "≥95%" and safe_text("＝100%") == "＝100%"
    assert safe_text("a\x00b\x07c\nd") == "abc\nd"
    assert safe_text(None) == ""


def test_review_xlsx_content(tmp_path: Path, review: Review) -> None:
    path = export_review_xlsx(review, tmp_path / "r.xlsx", generated_at=WHEN)
    wb = load_workbook(path)
    assert wb.sheetnames == ["审核意见表", "问题清单"]
    ws = wb["审核意见表"]
    texts = [str(c.value) for row in ws.iter_rows() for c in row if c.value is not None]
    joined = "\n".join(texts)
    t = review.target
    for needle in ("项目支出绩效目标审核意见表", t.project_name, "某县交通运输局", "19", review.grade,
                   GRADE_MEANING[review.grade], "完整性", "资金匹配性", "完整性：示例意见，得分85。", "受规则 S-01 限制",
                   "年度目标未填写", "镇际联网路升级改造工程一期", "http://example.gov.cn/yjs/2021/1.html",
                   "单位道路硬化成本", "≤336万元/公里", "审核方式：离线评审",
                   "规则配置：通用（88号式，成本在产出下）（default）", "2025-03-01 09:30"):
        assert needle in joined, needle
    # findings sit on the row of the indicator they concern, the revised value beside the original
    row2 = next(r for r in ws.iter_rows(values_only=True) if r[0] == 2 and r[3] == t.indicators[1].name)
    assert row2[4] == t.indicators[1].value and row2[5] == "'=100%"
    assert "【错误】指标值缺少计算口径" in row2[7] and "【警告】" in row2[7]
    assert row2[7].index("【错误】") < row2[7].index("【警告】")
    row3 = next(r for r in ws.iter_rows(values_only=True) if r[0] == 3 and r[3] == t.indicators[2].name)
    assert row3[5].startswith("建议删除")
    scores = {r[0]: r[3] for r in ws.iter_rows(values_only=True) if r[0] in DIMENSIONS.values()}
    assert scores == dict(zip(DIMENSIONS.values(), (85, 70, 55, 90), strict=False))
    issues = wb["问题清单"]
    assert issues.auto_filter.ref == "A1:H6" and issues.freeze_panes == "A2"
    assert [r[1] for r in issues.iter_rows(min_row=2, values_only=True)] == ["错误", "错误", "警告", "警告", "提示"]
    assert "'-资金总额与产出数量不匹配" in [r[6] for r in issues.iter_rows(min_row=2, values_only=True)]


def test_review_docx_content(tmp_path: Path, review: Review) -> None:
    path = export_review_docx(review, tmp_path / "r.docx", generated_at=WHEN)
    texts = docx_texts(path)
    joined = "\n".join(texts)
    t = review.target
    for needle in ("项目支出绩效目标审核意见表", "一、项目基本信息", t.project_name, "某县交通运输局", "完成道路硬化0.565公里。",
                   f"审核等级：{review.grade}（总分 {review.score} 分）。{GRADE_MEANING[review.grade]}。",
                   "错误 2 项，警告 2 项，提示 1 项", "完整性", "相关性", "适当性", "资金匹配性", "受规则 S-01 限制",
                   "年度目标未填写", "补充本年度计划完成的产出和效果", "单位道路硬化成本", "参考案例：镇际联网路升级改造工程一期",
                   "http://example.gov.cn/yjs/2021/1.html", "审核方式：离线评审", "规则配置：通用（88号式，成本在产出下）（default）",
                   "生成时间：2025-03-01 09:30", "审核人（签字）"):
        assert needle in joined, needle
    doc = Document(str(path))
    ind_table = next(tb for tb in doc.tables if tb.rows[0].cells[0].text == "序号"
                     and tb.rows[0].cells[4].text == "原指标值")
    assert len(ind_table.rows) == 1 + len(t.indicators)
    cells = [c.text for c in ind_table.rows[2].cells]
    assert cells[3] == t.indicators[1].name and cells[4] == t.indicators[1].value and cells[5] == "'=100%"
    assert "指标值缺少计算口径" in cells[6] and "在指标解释中写明计算公式" in cells[7]
    dim_table = next(tb for tb in doc.tables if tb.rows[0].cells[0].text == "审核维度")
    assert [r.cells[1].text for r in dim_table.rows[1:]] == ["85", "70", "55", "90"]
    assert doc.sections[0].orientation == 1  # landscape


def test_formula_injection_is_escaped_everywhere(tmp_path: Path) -> None:
    t = RECORDS[1].model_copy(update={"project_name": EVIL, "department": "+cmd|' /C calc'!A0",
                                      "implementing_unit": "@SUM(1+1)"})
    rv = make_review(t)
    xlsx = export_review_xlsx(rv, tmp_path / "e.xlsx", generated_at=WHEN)
    batch = export_batch_xlsx([rv], tmp_path / "b.xlsx", generated_at=WHEN)
    docx = export_review_docx(rv, tmp_path / "e.docx", generated_at=WHEN)
    for path in (xlsx, batch):
        wb = load_workbook(path)
        for ws in wb.worksheets:
            for row in ws.iter_rows():
                for c in row:
                    assert c.data_type != "f", f"{ws.title}!{c.coordinate} is a formula"
                    if isinstance(c.value, str):
                        assert not c.value.startswith(("=", "+", "-", "@")), c.value
        assert "'" + EVIL in xlsx_texts(path)
    texts = docx_texts(docx)
    assert "'" + EVIL in texts and all(not x.startswith(("=", "+", "-", "@")) for x in texts)


def test_batch_summary(tmp_path: Path) -> None:
    reviews = [make_review(t, scores=s) for t, s in zip(RECORDS[:3], [(95, 92, 90, 97), (60, 40, 50, 30),
                                                                      (80, 85, 82, 81)], strict=False)]
    path = export_batch_xlsx(reviews, tmp_path / "batch.xlsx", generated_at=WHEN)
    wb = load_workbook(path)
    ws = wb["审核汇总"]
    assert tuple(c.value for c in ws[1]) == BATCH_HEADS
    assert ws.auto_filter.ref == "A1:O4" and ws.freeze_panes == "C2"
    rows = list(ws.iter_rows(min_row=2, max_row=4, values_only=True))
    assert [r[1] for r in rows] == [t.project_name for t in RECORDS[:3]]
    assert [r[4] for r in rows] == ["优", "差", "良"]
    assert [r[5] for r in rows] == [94, 45, 82] and all(isinstance(r[5], int) for r in rows)
    assert rows[1][6:10] == (60, 40, 50, 30)
    assert rows[0][10:13] == (2, 2, 1)
    top = rows[0][13].split("\n")
    assert len(top) == 3 and top[0].startswith("【错误】") and top[2].startswith("【警告】")


def test_review_without_indicators_or_precedents(tmp_path: Path) -> None:
    t = Target(project_name="空项目")
    rv = make_review(RECORDS[0]).model_copy(update={"target": t, "precedents": [], "suggestions": [],
                                                    "project_name": "空项目"})
    export_review_docx(rv, tmp_path / "e.docx", generated_at=WHEN)
    export_review_xlsx(rv, tmp_path / "e.xlsx", generated_at=WHEN)
    joined = "\n".join(docx_texts(tmp_path / "e.docx"))
    assert "未填写绩效指标" in joined and "未填写" in joined


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("soffice") is None or shutil.which("pdftoppm") is None,
                    reason="LibreOffice (soffice) / pdftoppm not installed")
def test_render_docx_to_png(tmp_path: Path, review: Review) -> None:
    """Render through LibreOffice and pdftoppm; the PNG goes to out/ (git-ignored) for a human look."""
    docx = export_review_docx(review, tmp_path / "review.docx", generated_at=WHEN)
    subprocess.run(["soffice", "--headless", f"-env:UserInstallation=file://{tmp_path}/lo", "--convert-to", "pdf",
                    "--outdir", str(tmp_path), str(docx)], check=True, capture_output=True, timeout=180)
    pdf = tmp_path / "review.pdf"
    assert pdf.exists() and pdf.stat().st_size > 1000
    out = Path(__file__).resolve().parents[1] / "out"
    out.mkdir(exist_ok=True)
    subprocess.run(["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", str(pdf), str(out / "review_docx")],
                   check=True, capture_output=True, timeout=60)
    pngs = sorted(out.glob("review_docx*.png"))
    assert pngs and pngs[0].stat().st_size > 10_000
