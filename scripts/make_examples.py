"""Review the three example tables in samples/examples/ (优 / 中 / 差) offline and write what a budget unit gets back:
docs/examples/<name>.md (the Markdown review, as `assistant review FILE` prints it) and docs/examples/<name>.docx (the
审核意见表, as `assistant review FILE --export <name>.docx` writes it).

Runs the same public pipeline as the CLI (read_source → build_deps → review → to_markdown / write_export) with the
offline backend, the default profile and the shipped corpus only: a throw-away database, so precedents a machine
imported earlier do not change the examples.

    .venv/bin/python scripts/make_examples.py [--out docs/examples]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ("excellent", "mediocre", "bad")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="生成 docs/examples/ 下的示例审核意见（离线）")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "examples", help="输出目录")
    args = parser.parse_args(argv)

    from assistant.intake.reader import read_source
    from assistant.pipeline import build_deps, review
    from assistant.report.export import write_export
    from assistant.report.markdown import to_markdown
    from assistant.settings import load_settings

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings({}, db_path=Path(tmp) / "examples.db", use_cache=False)
        deps = build_deps(settings, backend="offline")
        for name in EXAMPLES:
            source = ROOT / "samples" / "examples" / f"{name}.json"
            (item,) = [n.item for n in read_source(source)]
            if isinstance(item, Exception):
                print(f"{source}: {item}", file=sys.stderr)
                return 2
            result = review(item, deps)
            (out / f"{name}.md").write_text(to_markdown(result) + "\n", encoding="utf-8")
            write_export([result], out / f"{name}.docx")
            print(f"{name}: {result.grade}（{result.score} 分） → {out / name}.md / .docx")
    return 0


if __name__ == "__main__":
    sys.exit(main())
