"""Evaluation reports: JSON, Markdown and a self-contained HTML page with matplotlib plots
(PNG, embedded as base64): CI bars for model-vs-consensus beside rater-vs-rater, confusion
heatmaps, and an overall-score scatter."""

from __future__ import annotations

import base64
import html
import io
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from assistant.dimensions import DIMENSION_KEYS, DIMENSIONS

KEYS = (*DIMENSION_KEYS, "overall")
LABEL = {**DIMENSIONS, "overall": "总体 overall"}


def _num(v: Any, digits: int = 2) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "—"
    return f"{v:.{digits}f}"


def _range(values: Mapping[str, Any] | None, digits: int = 2) -> str:
    vals = [v for v in (values or {}).values() if v is not None]
    if not vals:
        return "—"
    lo, hi = min(vals), max(vals)
    return _num(lo, digits) if abs(hi - lo) < 10 ** -digits else f"{_num(lo, digits)}–{_num(hi, digits)}"


def _ci(ci: Mapping[str, Any] | None) -> str:
    ci = ci or {}
    return f"[{_num(ci.get('low'))}, {_num(ci.get('high'))}]"


# --------------------------------------------------------------------------- tables


def agreement_rows(metrics: Mapping[str, Any]) -> list[dict[str, str]]:
    """One row per dimension (and overall): model vs consensus with CIs beside the rater baseline."""
    dims = metrics["agreement"]["dimensions"]
    loo = metrics.get("loo_consensus", {})
    rows = []
    for key in KEYS:
        d = dims.get(key)
        if d is None:
            continue
        row = {
            "dimension": f"{LABEL[key]} ({key})" if key != "overall" else LABEL[key],
            "n": str(d["n_items"]),
            "model_qwk": f"{_num(d['qwk'])} {_ci(d['qwk_ci'])}",
            "model_qwk_loo": _range(loo.get(key, {}).get("model_qwk")),
            "raters_qwk": _range(d["baseline"]["qwk"]),
            "model_spearman": f"{_num(d['spearman'])} {_ci(d['spearman_ci'])}",
            "raters_spearman": _range(d["baseline"]["spearman"]),
            "mae": _num(d["mae"]),
            "raters_mae": _range(d["baseline"]["mae"]),
            "exact": _num(d["exact"]),
            "adjacent": _num(d["adjacent"]),
            "alpha": f"{_num(d['alpha_raters'])} → {_num(d['alpha_with_model'])}",
        }
        rows.append(row)
    return rows


AGREEMENT_HEADER = [
    ("dimension", "Dimension 维度"),
    ("n", "n"),
    ("model_qwk", "Model vs consensus QWK [95% CI]"),
    ("model_qwk_loo", "Model vs each leave-one-rater-out consensus QWK"),
    ("raters_qwk", "Rater vs others QWK (range)"),
    ("model_spearman", "Model Spearman [95% CI]"),
    ("raters_spearman", "Rater vs others Spearman"),
    ("mae", "Model MAE"),
    ("raters_mae", "Rater MAE"),
    ("exact", "Exact"),
    ("adjacent", "Adjacent"),
    ("alpha", "Krippendorff α raters → +model"),
]


def _md_table(header: list[tuple[str, str]], rows: Sequence[Mapping[str, Any]]) -> str:
    lines = ["| " + " | ".join(h for _, h in header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        lines.append("| " + " | ".join(str(r.get(k, "")) for k, _ in header) + " |")
    return "\n".join(lines)


def _html_table(header: list[tuple[str, str]], rows: Sequence[Mapping[str, Any]], cls: str = "") -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(r.get(k, '')))}</td>" for k, _ in header) + "</tr>"
                   for r in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _confusion_md(d: Mapping[str, Any]) -> str:
    labels = d["labels"]
    lines = ["| consensus ↓ / model → | " + " | ".join(labels) + " |", "|" + "---|" * (len(labels) + 1)]
    for lab, row in zip(labels, d["confusion"], strict=False):
        lines.append(f"| **{lab}** | " + " | ".join(str(x) for x in row) + " |")
    return "\n".join(lines)


def _base_rates_rows(dims: Mapping[str, Any]) -> list[dict[str, str]]:
    rows = []
    for key in KEYS:
        d = dims.get(key)
        if d is None:
            continue
        for who, rates in (("consensus", d["base_rates_consensus"]), ("model", d["base_rates_model"])):
            rows.append({"dimension": key, "who": who,
                         "rates": "  ".join(f"{k}:{_num(v)}" for k, v in rates.items())})
    return rows


def _stability_rows(stab: Mapping[str, Any] | None) -> list[dict[str, str]]:
    if not stab:
        return []
    return [{"key": k, "mean_sd": _num(v["mean_sd"], 3), "max_sd": _num(v["max_sd"], 3),
             "share_changed": _num(v["share_changed"]),
             "qwk_per_epoch": ", ".join(_num(x) for x in v.get("qwk_per_epoch", []))}
            for k, v in stab["per_key"].items()]


def _split_rows(rep: Mapping[str, Any] | None) -> list[dict[str, str]]:
    """Rows for the split-robustness table (`eval run --repeats N`)."""
    if not rep:
        return []
    rows = []
    for key, v in rep["qwk"].items():
        rows.append({"key": f"{LABEL.get(key, key)} QWK", "mean": _num(v["mean"]), "sd": _num(v["sd"]),
                     "range": f"{_num(v['min'])}–{_num(v['max'])}"})
    for key, label in (("overall_spearman", "overall Spearman"), ("grade_agreement", "grade agreement")):
        v = rep[key]
        rows.append({"key": label, "mean": _num(v["mean"]), "sd": _num(v["sd"]),
                     "range": f"{_num(v['min'])}–{_num(v['max'])}"})
    return rows


_SPLIT_NOTE = ("The same cross-fit repeated over {n} other groupings of the source records into folds "
               "(GroupKFold shuffled, seeds 1–{n}); the headline table above uses one grouping.")
_SPLIT_HEADER = [("key", "figure"), ("mean", "mean"), ("sd", "SD"), ("range", "min–max")]


def _header_lines(run: Any) -> list[tuple[str, str]]:
    c = run.config
    fit = ("cross-fitted: GroupKFold by source record, "
           f"{c.folds} folds; each item scored by a calibration fitted without it or its siblings"
           if c.crossfit else f"calibration as is: {c.calibration or 'shipped'} ({c.calibration_label})")
    return [
        ("run", str(run.id) if run.id is not None else "(not stored)"),
        ("created", run.created),
        ("backend / model", f"{run.backend} / {run.model or '—'}"),
        ("prompt hash", run.prompt_hash or "—"),
        ("corpus version", run.corpus_version or "—"),
        ("items / ratings", f"{c.items} / {c.ratings}"),
        ("raters", ", ".join(run.metrics["agreement"]["raters"]) + " (reference raters)"),
        ("epochs", str(c.epochs)),
        ("scorer", fit),
        ("retrieval", "leave-one-out: an item never retrieves its own source record"),
        ("bootstrap", f"{c.n_boot} resamples of items, seed {c.seed}, percentile 95 % CI"),
        ("mapping", c.mapping),
    ]


def to_json(run: Any) -> str:
    data = run.model_dump(exclude={"predictions"})
    data["config"] = {k: v for k, v in data["config"].items() if k not in ("ratings_snapshot",)}
    data["predictions"] = [{k: v for k, v in p.model_dump().items() if k != "review"} for p in run.predictions]
    return json.dumps(data, ensure_ascii=False, indent=1)


def to_markdown(run: Any) -> str:
    m = run.metrics
    dims = m["agreement"]["dimensions"]
    out = ["# 评估报告：助手与参考评分的一致性 (agreement with the reference raters)", ""]
    out += [f"- **{k}**: {v}" for k, v in _header_lines(run)]
    for w in run.config.warnings:
        out.append(f"- **warning**: {w}")
    out += ["", "## Agreement", "",
            "Model = the assistant's score mapped to the raters' scale; consensus = mean of the raters "
            "(rounded half to even for κ). \"Rater vs others\" is each rater against the rounded mean of the "
            "other raters (the bar); \"leave-one-rater-out\" scores the model against those same consensuses. "
            "Overall is on 0–100 (κ over 0–100, adjacent = within 5 points).", "",
            _md_table(AGREEMENT_HEADER, agreement_rows(m)), ""]
    ov = dims.get("overall")
    if ov:
        out += [f"Overall grade agreement (优/良/中/差): {_num(ov.get('grade_agreement'))}; "
                f"grade κ: {_num(ov.get('grade_qwk'))}.", ""]
    out += ["## Base rates", "", _md_table([("dimension", "Dimension"), ("who", ""), ("rates", "share per level")],
                                          _base_rates_rows(dims)), ""]
    out += ["## Confusion matrices", ""]
    for key in KEYS:
        if key in dims:
            out += [f"### {LABEL[key]}", "", _confusion_md(dims[key]), ""]
    stab = _stability_rows(m.get("stability"))
    if stab:
        out += ["## Repeat-run stability", "",
                "Mean/max over items of the SD across epochs; share of items whose rounded level "
                "(overall: grade) changed between epochs.", "",
                _md_table([("key", "key"), ("mean_sd", "mean SD"), ("max_sd", "max SD"),
                           ("share_changed", "share changed"), ("qwk_per_epoch", "κ per epoch")], stab), ""]
    splits = _split_rows(m.get("split_repeats"))
    if splits:
        out += ["## Split robustness", "", _SPLIT_NOTE.format(n=m["split_repeats"]["repeats"]), "",
                _md_table(_SPLIT_HEADER, splits), ""]
    bd = m.get("by_defect") or {}
    if bd:
        rows = [{"defect": k, "dimension": v["dimension"] or "all", "n": v["n"],
                 "consensus": _num(v["consensus_mean"]), "model": _num(v["model_mean"]), "mae": _num(v["mae"])}
                for k, v in bd.items()]
        out += ["## By defect kind (rated items)", "",
                "Mean level on the damaged dimension (originals: all four).", "",
                _md_table([("defect", "defect"), ("dimension", "dimension"), ("n", "n"),
                           ("consensus", "consensus mean"), ("model", "model mean"), ("mae", "MAE")], rows), ""]
    if run.config.crossfit and run.config.fold_info:
        out += ["## Folds", "", _md_table(
            [("fold", "fold"), ("n_train", "train items"), ("n_test", "held-out items"), ("groups", "held-out sources")],
            [{"fold": f.fold, "n_train": len(f.train_items), "n_test": len(f.test_items),
              "groups": len(f.test_groups)} for f in run.config.fold_info]), ""]
    return "\n".join(out)


# --------------------------------------------------------------------------- plots


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from assistant.evaluate.fonts import configure

    configure(plt)
    return plt


def _label(key: str, *, tick: bool = False) -> str:
    """A dimension's chart label: Chinese (and the key, on ticks) with a CJK font, the key alone without."""
    from assistant.evaluate.fonts import cjk_family

    if cjk_family() is None:
        return "overall (0–100)" if tick and key == "overall" else key
    if tick:
        return "总体\noverall (0–100)" if key == "overall" else f"{LABEL[key]}\n{key}"
    return LABEL[key]


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buf.getvalue()


def plot_ci_bars(metrics: Mapping[str, Any]) -> bytes:
    """Per dimension: model vs consensus κ with its 95 % CI, beside each rater vs the others (with CI)."""
    plt = _plt()
    dims = metrics["agreement"]["dimensions"]
    loo = metrics.get("loo_consensus", {})
    keys = [k for k in KEYS if k in dims]
    raters = metrics["agreement"]["raters"]
    fig, ax = plt.subplots(figsize=(max(7, 1.9 * len(keys)), 4.2))
    width = 0.8 / (1 + len(raters))
    for i, key in enumerate(keys):
        d = dims[key]
        v = d["qwk"] or 0.0
        lo, hi = d["qwk_ci"]["low"], d["qwk_ci"]["high"]
        err = [[max(0.0, v - lo)], [max(0.0, hi - v)]] if lo is not None and hi is not None else None
        ax.bar(i - 0.4 + width / 2, v, width, color="#d95f02", yerr=err, capsize=3,
               label="model vs consensus" if i == 0 else None)
        for j, r in enumerate(raters):
            rv = d["baseline"]["qwk"].get(r)
            ci = loo.get(key, {}).get("rater_qwk_ci", {}).get(r)
            rerr = ([[max(0.0, rv - ci[0])], [max(0.0, ci[1] - rv)]]
                    if rv is not None and ci and None not in ci else None)
            ax.bar(i - 0.4 + width * (j + 1.5), rv or 0.0, width, color="#7570b3", alpha=0.45 + 0.5 * j / max(1, len(raters)),
                   yerr=rerr, capsize=3, label=f"rater {r} vs others" if i == 0 else None)
    ax.set_xticks(range(len(keys)))
    ax.set_xticklabels([_label(k, tick=True) for k in keys])
    ax.set_ylabel("quadratic weighted κ")
    ax.set_ylim(min(0.0, *(dims[k]["qwk_ci"]["low"] or 0 for k in keys)) - 0.05, 1.05)
    ax.axhline(0, color="black", lw=0.6)
    ax.set_title("Agreement: model vs rater consensus (95 % bootstrap CI) beside rater vs rater")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=1 + len(raters), frameon=False)
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def plot_confusions(metrics: Mapping[str, Any]) -> bytes:
    """Confusion heatmaps, rows = rounded consensus, columns = rounded model (overall: grades)."""
    plt = _plt()
    dims = metrics["agreement"]["dimensions"]
    keys = [k for k in KEYS if k in dims]
    fig, axes = plt.subplots(1, len(keys), figsize=(3.3 * len(keys), 3.5))
    axes = [axes] if len(keys) == 1 else list(axes)
    for ax, key in zip(axes, keys, strict=False):
        d = dims[key]
        mat = d["confusion"]
        labels = d["labels"]
        vmax = max(1, max(max(r) for r in mat))
        ax.imshow(mat, cmap="Blues", vmin=0, vmax=vmax)
        for i, row in enumerate(mat):
            for j, v in enumerate(row):
                ax.text(j, i, str(v), ha="center", va="center", fontsize=9,
                        color="white" if v > vmax * 0.6 else "black")
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels(labels)
        ax.set_yticks(range(len(labels)))
        ax.set_yticklabels(labels)
        ax.set_xlabel("model")
        ax.set_ylabel("consensus")
        ax.set_title(f"{_label(key)} κ={_num(d['qwk'])}", fontsize=10)
    fig.tight_layout()
    return _png(fig)


def plot_scatter(run: Any) -> bytes:
    """Per dimension and overall: model vs consensus per item (jittered)."""
    import numpy as np

    from assistant.evaluate.metrics import consensus
    from assistant.evaluate.ratings import Rating, ratings_matrix
    from assistant.evaluate.runner import mean_predictions

    plt = _plt()
    pred = mean_predictions(run.predictions)
    ratings = [Rating.model_validate(r) for r in run.config.ratings_snapshot]
    keys = [k for k in KEYS if k in run.metrics["agreement"]["dimensions"]]
    fig, axes = plt.subplots(1, len(keys), figsize=(3.3 * len(keys), 3.4))
    axes = [axes] if len(keys) == 1 else list(axes)
    rng = np.random.default_rng(0)
    for ax, key in zip(axes, keys, strict=False):
        ids, mats = ratings_matrix(ratings, key) if ratings else ([], {})
        cons = consensus(mats) if mats else np.array([])
        xs = np.array([pred.get(i, {}).get(key, np.nan) for i in ids], dtype=float)
        keep = ~np.isnan(xs)
        x, y = xs[keep], cons[keep] if len(cons) else cons
        lo, hi = (0, 100) if key == "overall" else (1, 5)
        jit = 0.0 if key == "overall" else 0.06
        ax.scatter(x + rng.normal(0, jit, x.size), y + rng.normal(0, jit, y.size), s=14, alpha=0.7, color="#1b9e77")
        ax.plot([lo, hi], [lo, hi], color="grey", lw=0.8, ls="--")
        ax.set_xlim(lo - 0.3 * (hi - lo) / 4, hi + 0.3 * (hi - lo) / 4)
        ax.set_ylim(lo - 0.3 * (hi - lo) / 4, hi + 0.3 * (hi - lo) / 4)
        ax.set_xlabel("model")
        ax.set_ylabel("raters' mean")
        ax.set_title(_label(key), fontsize=10)
    fig.tight_layout()
    return _png(fig)


def figures(run: Any) -> dict[str, bytes]:
    figs = {"agreement_ci": plot_ci_bars(run.metrics), "confusion": plot_confusions(run.metrics)}
    if run.config.ratings_snapshot:
        figs["scatter"] = plot_scatter(run)
    return figs


def save_figures(run: Any, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name, data in figures(run).items():
        p = folder / f"{name}.png"
        p.write_bytes(data)
        out.append(p)
    return out


_CSS = """
body{font-family:"Noto Sans CJK SC","WenQuanYi Micro Hei","Microsoft YaHei",sans-serif;margin:2em;max-width:1300px;color:#222}
table{border-collapse:collapse;margin:0.8em 0;font-size:13px}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:left}
th{background:#f3f3f3}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px;font-size:13px}
dt{font-weight:bold}
img{max-width:100%;margin:0.5em 0}
.warn{color:#b00}
"""


def to_html(run: Any) -> str:
    m = run.metrics
    dims = m["agreement"]["dimensions"]
    figs = figures(run)

    def img(name: str, alt: str) -> str:
        data = base64.b64encode(figs[name]).decode("ascii")
        return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'

    parts = ["<!doctype html><html lang=\"zh\"><head><meta charset=\"utf-8\">",
             "<title>评估报告 · agreement with the reference raters</title>", f"<style>{_CSS}</style></head><body>",
             "<h1>评估报告：助手与参考评分的一致性</h1>", "<dl>"]
    parts += [f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in _header_lines(run)]
    parts.append("</dl>")
    parts += [f'<p class="warn">warning: {html.escape(w)}</p>' for w in run.config.warnings]
    parts += ["<h2>Agreement</h2>",
              "<p>Model vs the raters' consensus, beside each rater vs the mean of the other raters "
              "(the bar the model should reach), and the model vs those same leave-one-rater-out consensuses.</p>",
              _html_table(AGREEMENT_HEADER, agreement_rows(m), "agreement"),
              img("agreement_ci", "QWK with 95% CI, model vs consensus beside rater vs rater")]
    ov = dims.get("overall")
    if ov:
        parts.append(f"<p>Overall grade agreement: {_num(ov.get('grade_agreement'))}; "
                     f"grade κ: {_num(ov.get('grade_qwk'))}.</p>")
    parts += ["<h2>Confusion matrices</h2>", img("confusion", "confusion heatmaps")]
    if "scatter" in figs:
        parts += ["<h2>Model vs raters' mean per item</h2>", img("scatter", "scatter per dimension")]
    parts += ["<h2>Base rates</h2>", _html_table([("dimension", "Dimension"), ("who", ""), ("rates", "share per level")],
                                                 _base_rates_rows(dims))]
    stab = _stability_rows(m.get("stability"))
    if stab:
        parts += ["<h2>Repeat-run stability</h2>",
                  _html_table([("key", "key"), ("mean_sd", "mean SD"), ("max_sd", "max SD"),
                               ("share_changed", "share changed"), ("qwk_per_epoch", "κ per epoch")], stab)]
    splits = _split_rows(m.get("split_repeats"))
    if splits:
        parts += ["<h2>Split robustness</h2>",
                  f"<p>{html.escape(_SPLIT_NOTE.format(n=m['split_repeats']['repeats']))}</p>",
                  _html_table(_SPLIT_HEADER, splits)]
    bd = m.get("by_defect") or {}
    if bd:
        rows = [{"defect": k, "dimension": v["dimension"] or "all", "n": v["n"],
                 "consensus": _num(v["consensus_mean"]), "model": _num(v["model_mean"]), "mae": _num(v["mae"])}
                for k, v in bd.items()]
        parts += ["<h2>By defect kind (rated items)</h2>",
                  _html_table([("defect", "defect"), ("dimension", "dimension"), ("n", "n"),
                               ("consensus", "consensus mean"), ("model", "model mean"), ("mae", "MAE")], rows)]
    parts.append("</body></html>")
    return "\n".join(parts)


def render(run: Any, fmt: str) -> str:
    if fmt == "json":
        return to_json(run)
    if fmt == "markdown":
        return to_markdown(run)
    if fmt == "html":
        return to_html(run)
    raise ValueError(f"unknown format {fmt!r}")
