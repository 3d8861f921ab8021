"""Stratified and inverse-CDF sampling: samples land in their bins, histograms follow the weights."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genvision_jax.rendering import sampling
from genvision_jax.rendering.sampling import merge_samples, midpoints_to_bins, points_along_rays
from genvision_jax.rendering.volume import volume_render

# Jitted: one XLA compilation per input shape instead of one per primitive (eager).
stratified_samples = jax.jit(sampling.stratified_samples, static_argnums=(3, 4),
                             static_argnames=("randomized", "lindisp"))
sample_pdf = jax.jit(sampling.sample_pdf, static_argnums=(3,), static_argnames=("randomized",))

KEY = jax.random.key(0)


def _bin_index(bins, t):
    return np.clip(np.searchsorted(bins, t, side="right") - 1, 0, len(bins) - 2)


def test_stratified_samples_lie_in_their_bins_and_are_sorted():
    near = jnp.array([[1.0], [2.0], [0.5]]) * jnp.ones((3, 4))  # per-ray near/far, batch [3, 4]
    far = near + jnp.arange(1.0, 5.0)
    s = 16
    t = np.asarray(stratified_samples(KEY, near, far, s, (3, 4)))
    assert t.shape == (3, 4, s)
    n, f = np.asarray(near)[..., None], np.asarray(far)[..., None]
    lo = n + (f - n) * np.arange(s) / s
    hi = n + (f - n) * (np.arange(s) + 1) / s
    assert np.all(t >= lo - 1e-6) and np.all(t <= hi + 1e-6)
    assert np.all(np.diff(t, axis=-1) >= 0)
    # Uniform within each bin: the in-bin offsets of 192 samples have mean ≈ 1/2 (sd ≈ 0.02).
    offsets = (t - lo) / (hi - lo)
    assert abs(offsets.mean() - 0.5) < 0.08 and offsets.std() > 0.2
    # Midpoints when not randomized (no key needed); a different key gives different samples.
    mid = stratified_samples(None, near, far, s, (3, 4), randomized=False)
    np.testing.assert_allclose(mid, 0.5 * (lo + hi), rtol=1e-6)
    assert not np.allclose(t, stratified_samples(jax.random.key(1), near, far, s, (3, 4)))


def test_stratified_samples_lindisp():
    near, far, s = 0.5, 100.0, 8
    t = np.asarray(stratified_samples(KEY, near, far, s, (50,), lindisp=True))
    disp_edges = 1 / near + (1 / far - 1 / near) * np.arange(s + 1) / s  # decreasing
    assert np.all(1 / t <= disp_edges[:-1] * (1 + 1e-6)) and np.all(1 / t >= disp_edges[1:] * (1 - 1e-6))
    assert np.all(np.diff(t, axis=-1) > 0)
    det = stratified_samples(None, near, far, s, (), randomized=False, lindisp=True)
    np.testing.assert_allclose(1 / det, 0.5 * (disp_edges[1:] + disp_edges[:-1]), rtol=1e-6)
    # Equal steps in disparity crowd the samples near the camera: first gap ≪ last gap.
    assert det[1] - det[0] < 0.05 * (det[-1] - det[-2])


def _two_bin_weights():
    w = np.full(10, 0.005)
    w[2], w[7] = 0.35, 0.61
    return w


@pytest.mark.parametrize("randomized", [True, False])
def test_sample_pdf_histogram_follows_weights(randomized):
    bins = np.linspace(0.0, 1.0, 11)
    w = _two_bin_weights()
    n = 1000
    t = np.asarray(sample_pdf(KEY, jnp.asarray(bins), 7.3 * jnp.asarray(w), n, randomized=randomized))
    assert t.shape == (n,) and np.all(np.isfinite(t))
    idx = _bin_index(bins, t)
    assert np.mean((idx == 2) | (idx == 7)) >= 0.9
    freq = np.bincount(idx, minlength=10) / n
    assert np.max(np.abs(freq - w / w.sum())) < 0.02
    # Within a bin the pdf is flat: samples in bin 7 average to its centre.
    assert abs(t[idx == 7].mean() - 0.75) < 0.01
    assert np.all(np.diff(t) >= 0) and t.min() >= bins[0] and t.max() <= bins[-1]


def test_sample_pdf_batched_nonuniform_bins_and_zero_mass_bins():
    rng = np.random.default_rng(0)
    bins = np.sort(rng.uniform(0, 5, (2, 3, 13)), -1)
    w = rng.uniform(size=(2, 3, 12)) * (rng.random((2, 3, 12)) < 0.5)
    w[..., 0] = 1.0  # at least one non-zero bin per ray
    t = np.asarray(sample_pdf(KEY, jnp.asarray(bins, jnp.float32), jnp.asarray(w, jnp.float32), 500))
    assert t.shape == (2, 3, 500)
    for b, ww, tt in zip(bins.reshape(6, 13), w.reshape(6, 12), t.reshape(6, 500)):
        freq = np.bincount(_bin_index(b, tt), minlength=12) / 500
        assert np.max(np.abs(freq - ww / ww.sum())) < 0.02
        assert np.all(freq[ww == 0] == 0)  # bins without mass get no samples


def test_sample_pdf_deterministic_is_exact_inverse_cdf():
    # Uniform weights on uniform bins: the CDF is the identity, so t = u = (i + 1/2)/N exactly.
    n = 64
    t = sample_pdf(None, jnp.linspace(0.0, 1.0, 9), jnp.ones(8), n, randomized=False)
    np.testing.assert_allclose(t, (np.arange(n) + 0.5) / n, atol=1e-6)
    # Linear CDF between edges: mass (1, 3) on bins [0, 1], [1, 2] puts u = 0.625 at t = 1.5.
    t = sample_pdf(None, jnp.array([0.0, 1.0, 2.0]), jnp.array([1.0, 3.0]), 4, randomized=False)
    np.testing.assert_allclose(t, [0.5, 1 + 1 / 6, 1.5, 1 + 5 / 6], atol=1e-6)


@pytest.mark.parametrize("scale", [0.0, 1e-30])
def test_sample_pdf_without_mass_is_uniform(scale):
    bins = jnp.linspace(2.0, 6.0, 11)
    t = np.asarray(sample_pdf(KEY, bins, scale * jnp.ones(10), 1000))
    assert np.all(np.isfinite(t))
    freq = np.bincount(_bin_index(np.asarray(bins), t), minlength=10) / 1000
    np.testing.assert_allclose(freq, 0.1, atol=0.02)
    # Degenerate bins (zero width) and zero weights: still finite, inside the range, sorted.
    t = np.asarray(sample_pdf(KEY, jnp.array([1.0, 1.0, 1.0, 2.0]), jnp.zeros(3), 50))
    assert np.all(np.isfinite(t)) and t.min() >= 1.0 and t.max() <= 2.0 and np.all(np.diff(t) >= 0)


def test_sample_pdf_stops_gradients():
    bins = jnp.linspace(0.0, 1.0, 5)
    g_bins, g_w = jax.jit(jax.grad(lambda b, w: jnp.sum(sampling.sample_pdf(KEY, b, w, 16)), argnums=(0, 1)))(
        bins, jnp.array([0.1, 0.0, 0.5, 0.4]))
    np.testing.assert_array_equal(g_bins, 0.0)
    np.testing.assert_array_equal(g_w, 0.0)


def test_midpoints_merge_and_points():
    t = jnp.array([0.0, 1.0, 3.0, 7.0])
    bins = midpoints_to_bins(t)
    np.testing.assert_allclose(bins, [0.0, 0.5, 2.0, 5.0, 7.0])
    assert np.all((t >= bins[:-1]) & (t <= bins[1:]))
    fine = jnp.array([[6.0, 0.2, 2.5]])
    np.testing.assert_allclose(merge_samples(t[None], fine), [[0.0, 0.2, 1.0, 2.5, 3.0, 6.0, 7.0]])
    o = jnp.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    d = jnp.array([[0.0, 0.0, -2.0], [1.0, 1.0, 0.0]])
    pts = points_along_rays(o, d, jnp.array([[0.0, 1.5], [2.0, 3.0]]))
    np.testing.assert_allclose(pts, [[[1, 2, 3], [1, 2, 0]], [[2, 2, 0], [3, 3, 0]]])


@jax.jit
def _coarse_to_fine(key):
    """NeRF's two passes for 16 rays along +z on t ∈ [2, 6] through an opaque slab on t ∈ [3.0, 3.1]:
    64 stratified, then 128 importance samples."""
    coarse_key, fine_key = jax.random.split(key)
    t = sampling.stratified_samples(coarse_key, 2.0, 6.0, 64, (16,))
    density = jnp.where((t >= 3.0) & (t <= 3.1), 50.0, 0.0)
    w = volume_render(jnp.zeros((16, 64, 3)), density, t, jnp.array([0.0, 0.0, 1.0]))["weights"]
    fine = sampling.sample_pdf(fine_key, midpoints_to_bins(t), w, 128)
    return fine, merge_samples(t, fine)


def test_coarse_to_fine_concentrates_on_a_thin_slab():
    # A ray hits an opaque slab on t ∈ [3.0, 3.1] (a 1/40 of [2, 6]); NeRF's hierarchical pass must put
    # most fine samples at the slab, where uniform sampling would put 2.5 %.
    fine, merged = _coarse_to_fine(KEY)
    fine = np.asarray(fine)
    near_slab = np.mean((fine > 3.0 - 0.0625) & (fine < 3.1 + 0.0625))  # ± one coarse bin
    assert near_slab > 0.9
    assert merged.shape == (16, 192) and bool(jnp.all(jnp.diff(merged, axis=-1) >= 0))
