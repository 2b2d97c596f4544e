"""Comparing two versions of one submission (API and UI share this): which versions, access, result.

Defaults: `head` is the latest version and `base` the one before `head`. The same access rule as
reading the submission applies (service.visible): another unit's submission is simply not found.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from assistant.errors import NotFoundError
from assistant.report.compare import Comparison, compare_reviews
from assistant.web import service
from assistant.web.auth import User

ARROW = {"up": "↑", "down": "↓", "same": "→"}


class VersionComparison(BaseModel):
    submission_id: int
    project_name: str
    unit: str
    base_version: int = Field(description="基准版本（缺省为对比版本的上一版）")
    head_version: int = Field(description="对比版本（缺省为最新版本）")
    versions: list[int] = Field(description="该提交的全部版本号")
    comparison: Comparison


def pick_versions(versions: list[int], base: int | None, head: int | None) -> tuple[int, int]:
    """(base, head) after defaults; a version that does not exist is a Chinese 404."""
    if not versions:
        raise NotFoundError("该提交没有任何版本", where="versions")
    for label, v in (("对比版本", head), ("基准版本", base)):
        if v is not None and v not in versions:
            raise NotFoundError(f"未找到{label}第 {v} 版（共 {len(versions)} 个版本）", where=f"version {v}")
    if head is None:
        head = versions[-1]
    if base is None:
        earlier = [v for v in versions if v < head]
        if not earlier:
            raise NotFoundError(f"第 {head} 版之前没有版本，无法与上一版对比", where=f"version {head}")
        base = earlier[-1]
    return base, head


def compare_submission(store: Any, user: User, submission_id: int, base: int | None = None,
                       head: int | None = None) -> VersionComparison:
    row = service.visible(store, user, submission_id)
    versions = [int(v["version"]) for v in store.versions(submission_id)]
    base, head = pick_versions(versions, base, head)
    _, base_review = store.review(submission_id, base)
    _, head_review = store.review(submission_id, head)
    return VersionComparison(submission_id=submission_id, project_name=head_review.project_name, unit=row["unit"],
                             base_version=base, head_version=head, versions=versions,
                             comparison=compare_reviews(base_review, head_review))


def summary_for(store: Any, user: User, submission_id: int, shown_version: int) -> VersionComparison | None:
    """The shown version against the one before it, for the submission page (None for a first version)."""
    if shown_version <= 1:
        return None
    try:
        return compare_submission(store, user, submission_id, head=shown_version)
    except NotFoundError:
        return None
