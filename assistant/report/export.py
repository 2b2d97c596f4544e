"""The one export dispatcher: reviews → a 审核意见表 file (.docx, .xlsx) or Markdown, for the CLI and the web."""

from __future__ import annotations

import tempfile
from pathlib import Path

from assistant.errors import InputError
from assistant.models import Review, ReviewerDecision
from assistant.report.decision import QueueEntry, with_decision_markdown

EXPORT_TYPES: dict[str, str] = {
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "md": "text/markdown; charset=utf-8",
}


def check_export_path(path: Path) -> str:
    """The export format of `path` (docx / xlsx), or a Chinese error before any review is run."""
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in ("docx", "xlsx"):
        raise InputError("导出文件须为 .docx 或 .xlsx", where=str(path))
    if path.is_dir():
        raise InputError("导出位置是一个文件夹，请给出文件名", where=str(path))
    return fmt


def write_export(reviews: list[Review], path: Path, *, decision: ReviewerDecision | None = None) -> Path:
    """One review as a 审核意见表 (.docx or .xlsx), several as an .xlsx summary. `decision`: the reviewer's decision
    on that one review (a 审核人意见 section, the machine grade labelled 系统初评); None leaves the form as it was."""
    fmt = check_export_path(path)
    if fmt == "docx":
        if len(reviews) > 1:
            raise InputError("批量审核请导出为 .xlsx 汇总表", where=str(path))
        from assistant.report.docx import export_review_docx

        return export_review_docx(reviews[0], path, decision=decision)
    from assistant.report.xlsx import export_batch_xlsx, export_review_xlsx

    if len(reviews) == 1:
        return export_review_xlsx(reviews[0], path, decision=decision)
    return export_batch_xlsx(reviews, path)


def export_bytes(review: Review, fmt: str, *, decision: ReviewerDecision | None = None) -> bytes:
    """One review in a format of `EXPORT_TYPES`, as bytes (web downloads), with the reviewer's decision if given."""
    if fmt == "md":
        from assistant.report.markdown import to_markdown

        text = to_markdown(review)
        if decision is not None:
            text = with_decision_markdown(text, review, decision)
        return text.encode("utf-8")
    if fmt not in EXPORT_TYPES:
        raise InputError("导出格式只支持 docx、xlsx 或 md", where="format")
    with tempfile.TemporaryDirectory() as tmp:
        return write_export([review], Path(tmp) / f"review.{fmt}", decision=decision).read_bytes()


def summary_bytes(reviews: list[Review], entries: list[QueueEntry] | None = None) -> bytes:
    """The batch / queue summary workbook (.xlsx) as bytes: one row per project, a grade-distribution chart.
    `entries` (one per review): the web workbench's submission number, unit, status and reviewer decision."""
    from assistant.report.xlsx import export_batch_xlsx

    with tempfile.TemporaryDirectory() as tmp:
        return export_batch_xlsx(reviews, Path(tmp) / "summary.xlsx", entries=entries).read_bytes()
