"""Evaluation runs in SQLite (sqlite-utils, WAL): config, backend, model, prompt hash, corpus
version, metrics, and every prediction, so `assistant eval rescore RUN` can recompute the metrics
without calling any backend. The tables are created by the shared migration list (assistant.store).
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import sqlite_utils

from assistant.errors import InputError
from assistant.store import applied, connect, migrate

RUNS = "eval_runs"
PREDICTIONS = "eval_predictions"


class EvalStore:
    """The evaluation tables inside the assistant's database (``settings.db_path``)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.db = sqlite_utils.Database(connect(path))

    @classmethod
    def from_settings(cls, settings: Any) -> EvalStore:
        return cls(settings.db_path)

    def close(self) -> None:
        self.db.conn.close()

    def applied(self) -> set[int]:
        return applied(self.db.conn)

    def migrate(self) -> list[int]:
        return migrate(self.db.conn)

    # ----------------------------------------------------------------- runs

    def save_run(self, *, backend: str, model: str | None, prompt_hash: str | None, corpus_version: str,
                 config: dict[str, Any], metrics: dict[str, Any], predictions: Iterable[dict[str, Any]],
                 created: str | None = None) -> int:
        """Store a run and its predictions in one transaction; returns the run id."""
        with self.db.conn:
            table = self.db[RUNS]
            table.insert({  # type: ignore[union-attr]
                "created": created or _now(), "backend": backend, "model": model or "",
                "prompt_hash": prompt_hash or "", "corpus_version": corpus_version,
                "config": _dumps(config), "metrics": _dumps(metrics)})
            run_id = int(table.last_pk or 0)  # type: ignore[union-attr]
            rows = [{"run_id": run_id, "item_id": p["item_id"], "epoch": int(p["epoch"]),
                     "dims": _dumps(p["dims"]), "overall": p.get("overall"), "grade": p.get("grade"),
                     "review": _dumps(p["review"]) if p.get("review") is not None else None}
                    for p in predictions]
            self.db[PREDICTIONS].insert_all(rows, batch_size=200)  # type: ignore[union-attr]
        return run_id

    def update_metrics(self, run_id: int, metrics: dict[str, Any]) -> None:
        self.get_run(run_id)
        with self.db.conn:
            self.db[RUNS].update(run_id, {"metrics": _dumps(metrics)})  # type: ignore[union-attr]

    def get_run(self, run_id: int) -> dict[str, Any]:
        rows = list(self.db.query(f"select * from {RUNS} where id = ?", [run_id]))
        if not rows:
            raise InputError(f"没有编号为 {run_id} 的评估运行（assistant eval runs 列出全部）", where=str(self.path))
        row = rows[0]
        row["config"] = json.loads(row["config"] or "{}")
        row["metrics"] = json.loads(row["metrics"] or "{}")
        return row

    def predictions(self, run_id: int, *, with_review: bool = False) -> list[dict[str, Any]]:
        cols = "item_id, epoch, dims, overall, grade" + (", review" if with_review else "")
        out = []
        for row in self.db.query(
                f"select {cols} from {PREDICTIONS} where run_id = ? order by item_id, epoch", [run_id]):
            row["dims"] = json.loads(row["dims"])
            if with_review:
                row["review"] = json.loads(row["review"]) if row["review"] else None
            out.append(row)
        return out

    def list_runs(self) -> list[dict[str, Any]]:
        sql = (f"select r.id, r.created, r.backend, r.model, r.prompt_hash, r.corpus_version, r.config, r.metrics, "
               f"(select count(*) from {PREDICTIONS} p where p.run_id = r.id) as n_predictions "
               f"from {RUNS} r order by r.id")
        out = []
        for row in self.db.query(sql):
            row["config"] = json.loads(row["config"] or "{}")
            row["metrics"] = json.loads(row["metrics"] or "{}")
            out.append(row)
        return out


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, allow_nan=True)
