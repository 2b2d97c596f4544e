"""The TF-IDF postings of an index as plain numpy arrays (term-major CSR), so a query needs neither scipy nor
scikit-learn: building an index uses them (retrieve/build.py), serving one does not."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Postings:
    """Row j lists the records containing term j (`indices`, ascending) with their l2-normalised TF-IDF weights."""

    indptr: np.ndarray  # int64, n_terms + 1
    indices: np.ndarray  # int32, record rows
    data: np.ndarray  # float32 weights
    n_docs: int

    @property
    def n_terms(self) -> int:
        return len(self.indptr) - 1

    def scores(self, cols: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cosine of a query (term columns and l2-normalised weights, float32) with every record it shares a term
        with: (rows, similarities). Sums accumulate in float32 in query-term order."""
        acc = np.zeros(self.n_docs, dtype=np.float32)
        for j, w in zip(cols.tolist(), weights, strict=True):
            lo, hi = self.indptr[j], self.indptr[j + 1]
            acc[self.indices[lo:hi]] += w * self.data[lo:hi]
        rows = np.flatnonzero(acc)
        return rows, acc[rows]

    def similarity_to_row(self, cols: np.ndarray, weights: np.ndarray, row: int) -> float:
        """Cosine of a query with one record: a binary search in each query term's posting row."""
        total = 0.0
        for j, w in zip(cols.tolist(), weights, strict=True):
            lo, hi = int(self.indptr[j]), int(self.indptr[j + 1])
            at = lo + int(np.searchsorted(self.indices[lo:hi], row))
            if at < hi and self.indices[at] == row:
                total += float(w) * float(self.data[at])
        return total

    def save(self, folder: Path) -> None:
        np.save(folder / "postings_indptr.npy", self.indptr)
        np.save(folder / "postings_indices.npy", self.indices)
        np.save(folder / "postings_data.npy", self.data)

    @classmethod
    def load(cls, folder: Path, n_docs: int) -> Postings:
        return cls(indptr=np.load(folder / "postings_indptr.npy"), indices=np.load(folder / "postings_indices.npy"),
                   data=np.load(folder / "postings_data.npy"), n_docs=n_docs)
