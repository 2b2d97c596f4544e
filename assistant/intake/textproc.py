"""Chinese text processing shared by retrieval and rules: jieba with a domain dictionary.

jieba is initialised lazily once per process (≈0.7 s); its cache file lives in a
configurable folder (JIEBA_CACHE_DIR) so parallel test workers don't fight over /tmp.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import threading
from functools import lru_cache
from pathlib import Path

_DICT = Path(__file__).resolve().parent.parent / "data" / "domain_dict.txt"
_lock = threading.Lock()
_tokenizer = None

NUM_RE = re.compile(r"[0-9０-９]+(?:[.,][0-9]+)*")
PUNCT_RE = re.compile(r"[\s\W_]+", re.UNICODE)

# Words that carry no project-specific meaning in an indicator name.
GENERIC_TOKENS = frozenset(
    """率 数 数量 人数 个数 次数 完成 完成率 合格 合格率 及时 及时率 满意 满意度 满意率 服务 对象 服务对象
    指标 项目 工作 年度 质量 时效 成本 效益 社会 经济 生态 可持续 影响 标准 达标 达标率 覆盖 覆盖率
    发放 到位 执行 资金 支出 预算 按时 提高 提升 增加 改善 保障 促进 情况 水平 能力 程度 有效 持续
    全年 当年 本年 实施 开展 建设 管理 验收 规范 相关 群众 人员 单位 部门 期限 时间 数 率 度 的 和 与 及
    其中 是否 总 平均 单位成本 总成本 受益 人口 户数 户 个 次 万元 元 人 人次 公里 平方米 亩
    受益群众 受益人数 受益人口 受益对象 群众 沿线 居民 农户 村民 市民 学生 职工 对象 人群 验收合格率 工程 任务""".split()
)


def _cache_dir() -> Path:
    path = Path(os.environ.get("JIEBA_CACHE_DIR") or Path(tempfile.gettempdir()) / "assistant-jieba")
    path.mkdir(parents=True, exist_ok=True)
    return path


def tokenizer():
    """The process-wide jieba Tokenizer with the domain dictionary loaded."""
    global _tokenizer
    if _tokenizer is None:
        with _lock:
            if _tokenizer is None:
                import jieba

                jieba.setLogLevel(logging.WARNING)
                tok = jieba.Tokenizer()
                tok.tmp_dir = str(_cache_dir())
                tok.cache_file = f"jieba-{os.getpid() if os.environ.get('PYTEST_XDIST_WORKER') else 'main'}.cache"
                tok.initialize()
                tok.load_userdict(str(_DICT))
                _tokenizer = tok
    return _tokenizer


@lru_cache(maxsize=65536)
def _cut(text: str) -> tuple[str, ...]:
    return tuple(tokenizer().lcut(text, HMM=True))


def tokens(text: str) -> list[str]:
    """Segment text; numbers become the placeholder token `<num>`, punctuation is dropped."""
    if not text:
        return []
    text = NUM_RE.sub(" 0 ", text)
    out: list[str] = []
    for tok in _cut(text):
        tok = tok.strip()
        if not tok or PUNCT_RE.fullmatch(tok):
            continue
        out.append("<num>" if tok == "0" else tok)
    return out


def content_tokens(text: str) -> set[str]:
    """Project-specific tokens: drops generic indicator words, numbers and single characters."""
    return {t for t in tokens(text) if t not in GENERIC_TOKENS and t != "<num>" and len(t) > 1}
