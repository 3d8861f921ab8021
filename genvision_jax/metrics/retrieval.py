"""Retrieval metrics of embeddings: rank-1 accuracy and mean average precision (re-identification)."""

from __future__ import annotations

import numpy as np


def retrieval_metrics(query: np.ndarray, query_ids: np.ndarray, gallery: np.ndarray, gallery_ids: np.ndarray
                      ) -> dict[str, float]:
    """Rank-1 accuracy and mean average precision of cosine-similarity retrieval.

    query [Q, D], gallery [G, D] (unit or not); queries whose identity is absent from the gallery are
    skipped and counted.
    """
    q = query / np.linalg.norm(query, axis=1, keepdims=True)
    g = gallery / np.linalg.norm(gallery, axis=1, keepdims=True)
    order = np.argsort(-(q @ g.T), axis=1, kind="stable")
    hits = np.asarray(gallery_ids)[order] == np.asarray(query_ids)[:, None]  # [Q, G] in rank order
    has = hits.any(axis=1)
    hits = hits[has]
    ranks = np.arange(1, hits.shape[1] + 1)
    precision_at_hit = np.cumsum(hits, axis=1) / ranks
    ap = (precision_at_hit * hits).sum(axis=1) / hits.sum(axis=1)
    return {"rank1": float(hits[:, 0].mean()) if len(hits) else float("nan"),
            "mAP": float(ap.mean()) if len(hits) else float("nan"),
            "num_queries": int(has.sum()), "num_skipped": int((~has).sum())}
