"""The one intake reader (assistant.intake.read_source): files and uploads → numbered targets or per-item errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.errors import InputError
from assistant.intake.reader import MAX_JSON_DEPTH, read_source, read_targets

ROOT = Path(__file__).resolve().parents[1]
DRAFT = json.loads((ROOT / "samples" / "draft.json").read_text(encoding="utf-8"))


def _line(**kw: object) -> bytes:
    return json.dumps(dict(DRAFT, **kw), ensure_ascii=False).encode("utf-8")


def test_jsonl_numbers_lines_as_users_count_them_and_a_bad_line_fails_alone() -> None:
    body = b"\n".join([_line(), b"", b"{broken", _line(project_name="\u4e59"), "第五行".encode("gbk")])
    items = read_source(body, name="drafts.jsonl")
    assert [it.n for it in items] == [1, 3, 4, 5]
    ok = [it for it in items if not isinstance(it.item, InputError)]
    bad = {it.n: str(it.item) for it in items if isinstance(it.item, InputError)}
    assert [it.n for it in ok] == [1, 4]
    assert "第3行" in bad[3] and "JSON" in bad[3]
    assert "第5行" in bad[5] and "UTF-8" in bad[5]  # one non-UTF-8 line rejects nothing else


def test_deeply_nested_json_is_a_chinese_error_not_a_crash(tmp_path: Path) -> None:
    deep = "[" * 1000 + "]" * 1000
    with pytest.raises(InputError, match="嵌套层数"):
        read_source(deep.encode(), name="deep.json")
    body = b"\n".join([_line(), json.dumps({"project_name": "x", "notes": json.loads("[" * 40 + "]" * 40)}).encode()])
    items = read_source(body, name="mixed.jsonl")
    assert not isinstance(items[0].item, InputError)
    assert isinstance(items[1].item, InputError) and f"{MAX_JSON_DEPTH}层" in str(items[1].item)
    ok_depth = {"project_name": "x", "indicators": [{"name": "a", "value": "1"}], "notes": "[[[[ text, not nesting"}
    assert read_targets(json.dumps(ok_depth).encode(), name="ok.json")[0].notes.startswith("[[[[")


def test_whole_source_problems_raise(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="文件夹"):
        read_source(tmp_path)
    with pytest.raises(InputError, match="文件不存在"):
        read_source(tmp_path / "nope.json")
    with pytest.raises(InputError, match="不支持的文件类型"):
        read_source(b"a,b", name="x.csv")
    with pytest.raises(InputError, match="为空"):
        read_source(b"", name="x.json")
    with pytest.raises(InputError, match="文件过大"):
        read_source(b"{}" * 100, name="x.json", max_bytes=50)


def test_json_list_items_are_numbered_objects() -> None:
    rows = [DRAFT, {"project_name": "缺指标"}]
    items = read_source(json.dumps(rows, ensure_ascii=False).encode(), name="t.json")
    assert [it.where for it in items] == ["t.json 第1个对象", "t.json 第2个对象"]
    assert isinstance(items[1].item, InputError) and "indicators" in str(items[1].item)


def test_upload_errors_name_the_users_file_not_a_temporary_path() -> None:
    with pytest.raises(InputError) as exc:
        read_source(b"not a workbook at all", name="我的申报表.xlsx")
    assert "我的申报表.xlsx" in str(exc.value) and "upload" not in str(exc.value) and "/tmp" not in str(exc.value)
