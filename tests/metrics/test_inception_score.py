"""Inception Score on constructed class distributions with known answers."""

import numpy as np
import pytest

from genvision_jax.metrics.inception_score import inception_score


def _confident_logits(labels, num_classes):
    # softmax(60 * onehot) = onehot up to e^-60 ~ 1e-26: one-hot predictions in float64.
    return 60.0 * np.eye(num_classes)[labels]


def test_confident_and_balanced_gives_number_of_classes():
    k, splits = 7, 3
    labels = np.tile(np.arange(k), 4 * splits)  # every split holds each class 4 times
    out = inception_score(_confident_logits(labels, k), splits=splits)
    assert out["is_mean"] == pytest.approx(k, rel=1e-12)
    assert out["is_std"] < 1e-12
    assert out["protocol"]["splits"] == 3 and out["protocol"]["n_fake"] == 84


def test_identical_rows_give_one():
    logits = np.tile(np.random.default_rng(0).normal(size=(1, 10)) * 3, (50, 1))
    out = inception_score(logits, splits=5)
    assert out["is_mean"] == pytest.approx(1.0, abs=1e-12) and out["is_std"] < 1e-12


def test_confident_unbalanced_split_gives_exp_entropy_and_split_std():
    # Split 1: classes (0, 0, 1, 2) -> p(y) = (1/2, 1/4, 1/4), IS = exp(H) = 2^1.5.
    # Split 2: all class 3 -> IS = 1. Mean and population std over the two splits.
    logits = _confident_logits(np.array([0, 0, 1, 2, 3, 3, 3, 3]), 4)
    out = inception_score(logits, splits=2)
    scores = np.array([2 ** 1.5, 1.0])
    assert out["is_mean"] == pytest.approx(scores.mean(), rel=1e-12)
    assert out["is_std"] == pytest.approx(scores.std(), rel=1e-12)


def test_matches_direct_formula_with_uneven_splits():
    z = np.random.default_rng(1).normal(size=(23, 5)) * 2
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    scores = []
    for k in range(4):
        part = p[k * 23 // 4:(k + 1) * 23 // 4]
        py = part.mean(0)
        scores.append(np.exp(np.mean(np.sum(part * np.log(part / py), 1))))
    out = inception_score(z, splits=4)
    assert out["is_mean"] == pytest.approx(np.mean(scores), rel=1e-10)
    assert out["is_std"] == pytest.approx(np.std(scores), rel=1e-8)


@pytest.mark.parametrize("logits, splits, match", [
    (np.zeros((5,)), 1, r"\[N, K\]"),
    (np.zeros((5, 1)), 1, r"K >= 2"),
    (np.zeros((5, 3)), 6, r"splits=6 for N=5"),
    (np.full((5, 3), np.inf), 1, "NaN or Inf"),
])
def test_errors(logits, splits, match):
    with pytest.raises(ValueError, match=match):
        inception_score(logits, splits=splits)
