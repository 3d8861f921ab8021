"""Metric-learning losses on embeddings: batch-hard triplet (Hermans et al. 2017, "In Defense of the
Triplet Loss for Person Re-Identification")."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def batch_hard_triplet_loss(embeddings: jax.Array, labels: jax.Array, margin: float = 0.3
                            ) -> tuple[jax.Array, jax.Array]:
    """Batch-hard triplet loss on cosine distance 1 - e_i . e_j (unit embeddings [B, D], labels [B]).

    Per anchor: max(0, d(hardest positive) - d(hardest negative) + margin), averaged over anchors that
    have both a positive and a negative in the batch. Returns (loss, fraction of anchors with loss > 0).
    """
    dist = 1.0 - embeddings @ embeddings.T
    same = labels[:, None] == labels[None, :]
    pos_mask = same & ~jnp.eye(len(labels), dtype=bool)
    hardest_pos = jnp.max(jnp.where(pos_mask, dist, -jnp.inf), axis=1)
    hardest_neg = jnp.min(jnp.where(same, jnp.inf, dist), axis=1)
    valid = pos_mask.any(axis=1) & (~same).any(axis=1)
    per_anchor = jnp.where(valid, jax.nn.relu(hardest_pos - hardest_neg + margin), 0.0)
    n_valid = jnp.maximum(valid.sum(), 1)
    return per_anchor.sum() / n_valid, (per_anchor > 0).sum() / n_valid
