"""Assignment: thresholded Hungarian equals brute force; greedy is what it says; costs; errors."""

import itertools

import numpy as np
import pytest

from genvision_jax.tracking import assignment


def brute_force_cost(cost, max_cost):
    """Min over all partial matchings of (sum of matched costs + max_cost per unmatched row/column pair),
    i.e. the objective `linear_assignment` optimizes, by enumeration."""
    n, m = cost.shape
    best = np.inf
    for k in range(min(n, m) + 1):
        for rows in itertools.combinations(range(n), k):
            for cols in itertools.permutations(range(m), k):
                pairs = [cost[r, c] for r, c in zip(rows, cols)]
                if all(np.isfinite(p) and p <= max_cost for p in pairs):
                    best = min(best, sum(pairs) + (min(n, m) - k) * max_cost)
    return best


@pytest.mark.parametrize("seed", range(30))
def test_hungarian_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    n, m = rng.integers(1, 5, 2)
    cost = rng.uniform(0, 1, (n, m))
    cost[rng.random((n, m)) < 0.2] = np.inf  # gated pairs
    max_cost = float(rng.uniform(0.3, 0.9))
    matches, ur, uc = assignment.linear_assignment(cost, max_cost)
    got = cost[matches[:, 0], matches[:, 1]].sum() + (min(n, m) - len(matches)) * max_cost
    assert got == pytest.approx(brute_force_cost(cost, max_cost), abs=1e-9)
    assert np.all(cost[matches[:, 0], matches[:, 1]] <= max_cost)
    assert sorted(np.r_[matches[:, 0], ur]) == list(range(n)) and sorted(np.r_[matches[:, 1], uc]) == list(range(m))


def test_greedy_takes_cheapest_first_and_can_be_suboptimal():
    cost = np.array([[0.1, 0.2], [0.15, 0.9]])
    greedy, _, _ = assignment.linear_assignment(cost, 1.0, "greedy")
    optimal, _, _ = assignment.linear_assignment(cost, 1.0, "hungarian")
    assert greedy.tolist() == [[0, 0], [1, 1]]    # 0.1 first, then the forced 0.9: total 1.0
    assert optimal.tolist() == [[0, 1], [1, 0]]   # total 0.35
    # Above the threshold nothing is taken, by either method.
    for method in assignment.METHODS:
        matches, ur, uc = assignment.linear_assignment(cost, 0.05, method)
        assert len(matches) == 0 and ur.tolist() == [0, 1] and uc.tolist() == [0, 1]


def test_costs():
    a = np.array([[0.0, 0.0, 10.0, 10.0]])
    b = np.array([[0.0, 0.0, 10.0, 10.0], [20.0, 0.0, 30.0, 10.0]])
    np.testing.assert_allclose(assignment.iou_cost(a, b), [[0.0, 1.0]])
    np.testing.assert_allclose(assignment.giou_cost(a, b), [[0.0, 1.0 + 1 / 3]])
    rng = np.random.default_rng(0)
    gallery = rng.normal(size=(3, 5, 8))
    sizes = np.array([1, 5, 3])
    dets = rng.normal(size=(4, 8))
    cost = assignment.cosine_cost(gallery, dets, sizes)
    for i in range(3):
        for j in range(4):
            g = gallery[i, :sizes[i]]
            cos = g @ dets[j] / np.linalg.norm(g, axis=1) / np.linalg.norm(dets[j])
            assert cost[i, j] == pytest.approx(1 - cos.max(), abs=1e-12)
    # One feature per track: the [N, D] form equals a gallery of size 1.
    np.testing.assert_allclose(assignment.cosine_cost(gallery[:, 0], dets),
                               assignment.cosine_cost(gallery[:, :1], dets, np.ones(3, int)), atol=1e-12)


def test_errors_are_named():
    with pytest.raises(ValueError, match="unknown assignment method"):
        assignment.linear_assignment(np.zeros((1, 1)), 1.0, "auction")
    with pytest.raises(ValueError, match="non-zero norm"):
        assignment.cosine_cost(np.ones((1, 3)), np.zeros((1, 3)))
    with pytest.raises(ValueError, match="gallery_size"):
        assignment.cosine_cost(np.ones((2, 4, 3)), np.ones((1, 3)), np.array([0, 2]))
