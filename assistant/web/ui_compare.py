"""版本对比 page: what a resubmission changed and whether the problems were fixed (score change with an
arrow, resolved findings in green, new ones in red, changed indicator rows old → new side by side).
The short "与上一版对比" summary on the submission page comes from versions.summary_for. No script.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from assistant.web.ui import _ACTION_CN, _SEV_CN, _user, render
from assistant.web.versions import ARROW, compare_submission

router = APIRouter(include_in_schema=False, prefix="/ui/submissions")
ROW_STATUS_CN = {"added": "新增", "removed": "删除", "changed": "修改"}
MATCHED_CN = {"name": "同名指标", "name_only": "同名指标（类别已调整）", "similar": "名称相近", "position": "同一位置"}
ADOPTION_CN = {"adopted": "已采纳", "partial": "部分采纳", "not_adopted": "未采纳"}


def _int(raw: str | None) -> int | None:
    """A version number from the query string; anything else counts as "not given"."""
    raw = (raw or "").strip()
    return int(raw) if raw.isdigit() and 0 < int(raw) <= 1_000_000 else None


@router.get("/{submission_id}/compare")
def compare_page(submission_id: int, request: Request, base: str | None = None, head: str | None = None) -> Response:
    user = _user(request)
    vc = compare_submission(request.app.state.store, user, submission_id, _int(base), _int(head))
    c = vc.comparison
    return render(request, "compare.html", {
        "user": user, "error": None, "vc": vc, "c": c, "arrow": ARROW, "sev_cn": _SEV_CN,
        "row_status_cn": ROW_STATUS_CN, "matched_cn": MATCHED_CN, "adoption_cn": ADOPTION_CN,
        "action_cn": _ACTION_CN, "adopted": sum(1 for s in c.suggestions if s.status == "adopted"),
    })
