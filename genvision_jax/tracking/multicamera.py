"""Cross-camera association of tracklets by appearance.

A tracklet (one track in one camera) is summarised by the normalised mean of its ReID embeddings;
tracklets of two cameras are matched one-to-one by minimum total cosine distance, accepting pairs up to
`max_distance` (each identity appears at most once per camera, so the matching is a bipartite
assignment, not a nearest-neighbour search).
"""

from __future__ import annotations

import numpy as np

from genvision_jax.tracking import assignment


def tracklet_embeddings(track_ids: np.ndarray, embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-detection embeddings [N, D] with their track ids [N] -> (ids [T], unit mean embeddings [T, D])."""
    track_ids = np.asarray(track_ids)
    emb = assignment.normalize(embeddings, "embeddings")
    if len(track_ids) != len(emb):
        raise ValueError(f"track_ids has {len(track_ids)} rows, embeddings {len(emb)}")
    ids, inverse = np.unique(track_ids, return_inverse=True)
    sums = np.zeros((len(ids), emb.shape[1]))
    np.add.at(sums, inverse, emb)
    return ids, assignment.normalize(sums, "tracklet means")


def associate_tracklets(emb_a: np.ndarray, emb_b: np.ndarray, max_distance: float = 0.5,
                        method: str = "hungarian") -> np.ndarray:
    """One-to-one matches [K, 2] (row in a, row in b) of tracklet embeddings with cosine distance <= max_distance."""
    cost = assignment.cosine_cost(np.asarray(emb_a), np.asarray(emb_b))
    matches, _, _ = assignment.linear_assignment(cost, max_distance, method)
    return matches


def association_accuracy(ids_a: np.ndarray, ids_b: np.ndarray, matches: np.ndarray) -> dict[str, float]:
    """Precision (correct / proposed) and recall (correct / identities seen by both cameras) of `matches`
    given the true identity of each tracklet."""
    ids_a, ids_b = np.asarray(ids_a), np.asarray(ids_b)
    correct = int(np.sum(ids_a[matches[:, 0]] == ids_b[matches[:, 1]])) if len(matches) else 0
    shared = len(np.intersect1d(ids_a, ids_b))
    return {"precision": correct / len(matches) if len(matches) else float("nan"),
            "recall": correct / shared if shared else float("nan"),
            "matches": int(len(matches)), "correct": correct, "shared_identities": shared}
