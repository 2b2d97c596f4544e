"""The one export dispatcher: reviews → a 审核意见表 file (.docx, .xlsx) or Markdown, for the CLI and the web."""

from __future__ import annotations

import tempfile
from pathlib import Path

from assistant.errors import InputError
from assistant.models import Review

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


def write_export(reviews: list[Review], path: Path) -> Path:
    """One review as a 审核意见表 (.docx or .xlsx), several as an .xlsx summary."""
    fmt = check_export_path(path)
    if fmt == "docx":
        if len(reviews) > 1:
            raise InputError("批量审核请导出为 .xlsx 汇总表", where=str(path))
        from assistant.report.docx import export_review_docx

        return export_review_docx(reviews[0], path)
    from assistant.report.xlsx import export_batch_xlsx, export_review_xlsx

    return export_review_xlsx(reviews[0], path) if len(reviews) == 1 else export_batch_xlsx(reviews, path)


def export_bytes(review: Review, fmt: str) -> bytes:
    """One review in a format of `EXPORT_TYPES`, as bytes (web downloads)."""
    if fmt == "md":
        from assistant.report.markdown import to_markdown

        return to_markdown(review).encode("utf-8")
    if fmt not in EXPORT_TYPES:
        raise InputError("导出格式只支持 docx、xlsx 或 md", where="format")
    with tempfile.TemporaryDirectory() as tmp:
        return write_export([review], Path(tmp) / f"review.{fmt}").read_bytes()
