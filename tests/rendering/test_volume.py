"""Volume rendering against closed forms: homogeneous media, opaque samples, units, limits and gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genvision_jax.rendering import volume

# Jitted once per input shape: one XLA compilation per test instead of one per primitive (eager).
volume_render = jax.jit(volume.volume_render)
alpha_composite = jax.jit(volume.alpha_composite)
distortion_loss = jax.jit(volume.distortion_loss)


def _unit(v):
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _reference_composite(rgb, alpha, t):
    """Independent float64 reference: products Π(1 − α) instead of log-space sums."""
    trans = np.concatenate([np.ones_like(alpha[..., :1]), np.cumprod(1.0 - alpha, axis=-1)[..., :-1]], -1)
    w = trans * alpha
    return dict(weights=w, transmittance=trans, acc=w.sum(-1), rgb=(w[..., None] * rgb).sum(-2),
                depth=(w * t).sum(-1))


@pytest.mark.parametrize("sigma", [0.1, 2.0, 30.0])
@pytest.mark.parametrize("spacing", ["uniform", "random"])
def test_homogeneous_segment_matches_beer_lambert(sigma, spacing):
    # Constant σ on [0, d], the last sample at d with far_delta 0: the quadrature is exact for any
    # sample spacing, acc = 1 − e^{−σd}, T(t) = e^{−σt}, rgb = c(1 − e^{−σd}) + e^{−σd}·background.
    d, num = 1.5, 257
    rng = np.random.default_rng(0)
    if spacing == "uniform":
        t = np.linspace(0.0, d, num)
    else:
        t = np.sort(np.concatenate([[0.0, d], rng.uniform(0, d, num - 2)]))
    t = np.stack([t, t])  # two rays with different unit directions
    directions = _unit(rng.normal(size=(2, 3)))
    c = np.array([0.2, 0.5, 0.9])
    bg = np.array([0.3, 0.1, 0.7])
    out = volume_render(jnp.broadcast_to(jnp.asarray(c, jnp.float32), (2, num, 3)),
                        jnp.full((2, num), sigma, jnp.float32), jnp.asarray(t, jnp.float32),
                        jnp.asarray(directions, jnp.float32), background=jnp.asarray(bg, jnp.float32),
                        far_delta=0.0)
    absorbed = 1.0 - np.exp(-sigma * d)
    np.testing.assert_allclose(out["acc"], [absorbed] * 2, atol=1e-6)
    np.testing.assert_allclose(out["rgb"], np.broadcast_to(c * absorbed + (1 - absorbed) * bg, (2, 3)),
                               atol=1e-6)
    np.testing.assert_allclose(out["transmittance"], np.exp(-sigma * t), atol=1e-6)


def test_weights_sum_to_acc_and_transmittance_never_increases():
    rng = np.random.default_rng(1)
    shape = (64, 48)
    density = 10.0 ** rng.uniform(-4, 4, shape)
    density[rng.random(shape) < 0.2] = 0.0
    density[rng.random(shape) < 0.05] = 1e6
    density[0] = 0.0  # an empty ray
    t = np.sort(rng.uniform(2.0, 6.0, shape), axis=-1)
    directions = rng.normal(size=shape[:1] + (3,))
    rgb = rng.uniform(size=shape + (3,))
    # The float64 reference below sees the same float32-rounded inputs.
    density, t, directions, rgb = (x.astype(np.float32).astype(np.float64)
                                   for x in (density, t, directions, rgb))
    out = volume_render(jnp.asarray(rgb, jnp.float32), jnp.asarray(density, jnp.float32),
                        jnp.asarray(t, jnp.float32), jnp.asarray(directions, jnp.float32))
    w, acc, trans = map(np.asarray, (out["weights"], out["acc"], out["transmittance"]))
    assert np.all(w >= 0)
    np.testing.assert_allclose(w.sum(-1), acc, atol=1e-6)
    assert np.all(acc <= 1.0) and np.all(acc >= 0.0)
    assert acc[0] == 0.0 and float(out["depth"][0]) == 0.0
    np.testing.assert_array_equal(trans[:, 0], 1.0)
    assert np.all(np.diff(trans, axis=-1) <= 0.0)
    # Parity with an independent float64 product-form implementation.
    deltas = np.concatenate([np.diff(t, axis=-1), np.full(shape[:1] + (1,), 1e10)], -1)
    deltas = deltas * np.linalg.norm(directions, axis=-1, keepdims=True)
    ref = _reference_composite(rgb, 1.0 - np.exp(-density * deltas), t)
    for k in ("weights", "transmittance", "acc", "rgb"):
        np.testing.assert_allclose(out[k], ref[k], atol=2e-6, err_msg=k)
    np.testing.assert_allclose(out["depth"], ref["depth"], rtol=1e-5, atol=1e-5)


def test_depth_of_opaque_and_partial_samples():
    t = jnp.array([[1.0, 2.0, 3.5, 4.0, 7.0]] * 3)
    density = jnp.array([[0.0, 0.0, 1e6, 0.0, 0.0],  # opaque at t = 3.5
                         [0.0, 0.0, 0.0, 0.0, 0.0],  # empty
                         [0.0, np.log(4.0), 1e6, 0.0, 0.0]])  # α = 0.75 at t = 2 (δ = 1.5·‖d‖)
    directions = jnp.array([[0.0, 0.0, 1.0]] * 2 + [[0.0, 0.0, 1.0 / 1.5]])
    out = volume_render(jnp.zeros((3, 5, 3)), density, t, directions)
    np.testing.assert_allclose(out["acc"], [1.0, 0.0, 1.0], atol=1e-6)
    np.testing.assert_allclose(out["depth"], [3.5, 0.0, 0.75 * 2.0 + 0.25 * 3.5], rtol=1e-6)
    # Normalized depth: the same where the ray is opaque; the far sample for the empty ray.
    np.testing.assert_allclose(out["depth_normalized"], [3.5, 7.0, 0.75 * 2.0 + 0.25 * 3.5], rtol=1e-6)
    np.testing.assert_allclose(out["weights"][2], [0.0, 0.75, 0.25, 0.0, 0.0], atol=1e-6)


def test_density_is_per_unit_world_length():
    # Doubling ‖d‖ with the same t doubles every world-space interval, so half the density renders the
    # same image; and with ‖d‖ = 2 a segment [0, d] in t absorbs 1 − e^{−2σd}.
    rng = np.random.default_rng(2)
    t = jnp.asarray(np.sort(rng.uniform(0, 3, (8, 16)), -1), jnp.float32)
    density = jnp.asarray(rng.uniform(0, 2, (8, 16)), jnp.float32)
    rgb = jnp.asarray(rng.uniform(size=(8, 16, 3)), jnp.float32)
    d1 = jnp.asarray(_unit(rng.normal(size=(8, 3))), jnp.float32)
    a = volume_render(rgb, density, t, d1)
    b = volume_render(rgb, density / 2, t, 2 * d1)
    for k in a:
        np.testing.assert_allclose(a[k], b[k], atol=1e-6, err_msg=k)
    t_seg = jnp.linspace(0.0, 0.5, 65)
    out = volume_render(jnp.zeros((65, 3)), jnp.full((65,), 3.0), t_seg, 2 * d1[0], far_delta=0.0)
    np.testing.assert_allclose(out["acc"], 1 - np.exp(-3.0 * 2 * 0.5), atol=1e-6)


def test_background_broadcasts_per_ray():
    density = jnp.array([[0.0, 0.0], [1e6, 0.0]])
    t = jnp.array([[1.0, 2.0]] * 2)
    rgb = jnp.full((2, 2, 3), 0.5)
    bg = jnp.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    out = volume_render(rgb, density, t, jnp.array([[0.0, 0.0, 1.0]] * 2), background=bg)
    np.testing.assert_allclose(out["rgb"], [[1.0, 0.0, 0.0], [0.5, 0.5, 0.5]], atol=1e-6)


def test_alpha_composite_matches_product_form_and_volume_render():
    rng = np.random.default_rng(3)
    alpha = rng.uniform(size=(32, 24))
    alpha[rng.random(alpha.shape) < 0.2] = 0.0
    alpha[5, 7] = 1.0  # fully opaque: nothing behind it is seen
    t = np.sort(rng.uniform(0, 4, alpha.shape), -1)
    rgb = rng.uniform(size=alpha.shape + (3,))
    out = alpha_composite(jnp.asarray(rgb, jnp.float32), jnp.asarray(alpha, jnp.float32),
                          jnp.asarray(t, jnp.float32))
    ref = _reference_composite(rgb, alpha, t)
    for k in ("weights", "transmittance", "acc", "rgb"):
        np.testing.assert_allclose(out[k], ref[k], atol=2e-6, err_msg=k)
    assert np.all(np.asarray(out["weights"][5, 8:]) == 0.0)
    # The same quadrature from densities: α = 1 − exp(−σδ).
    density = jnp.asarray(rng.uniform(0, 3, (4, 10)), jnp.float32)
    tt = jnp.asarray(np.sort(rng.uniform(0, 2, (4, 10)), -1), jnp.float32)
    dirs = jnp.ones((4, 3)) / np.sqrt(3)
    a = volume_render(jnp.ones((4, 10, 3)), density, tt, dirs, far_delta=0.3)
    deltas = jnp.concatenate([jnp.diff(tt, axis=-1), jnp.full((4, 1), 0.3)], -1)
    b = alpha_composite(jnp.ones((4, 10, 3)), 1 - jnp.exp(-density * deltas), tt)
    for k in a:
        np.testing.assert_allclose(a[k], b[k], atol=1e-6, err_msg=k)


def _loss(out):
    return sum(jnp.sum(out[k]) for k in ("rgb", "depth", "depth_normalized", "acc")) + jnp.sum(
        out["weights"] * jnp.arange(out["weights"].shape[-1]))


@jax.jit
def _outputs_and_gradients(rgb, density, t, d, alpha):
    bg = jnp.ones(3)
    out = volume.volume_render(rgb, density, t, d, background=bg)
    g_rgb, g_density = jax.grad(lambda c, s: _loss(volume.volume_render(c, s, t, d, background=bg)),
                                argnums=(0, 1))(rgb, density)
    g_rgb_only = jax.grad(lambda c: jnp.sum(volume.volume_render(c, density, t, d)["rgb"]))(rgb)
    g_alpha = jax.grad(lambda a: _loss(volume.alpha_composite(rgb, a, t)))(alpha)
    return out, g_rgb, g_density, g_rgb_only, g_alpha


@pytest.mark.parametrize("case", ["zero", "tiny", "huge", "mixed", "zero_spacing"])
def test_finite_outputs_and_gradients_at_extremes(case):
    s = 8
    t = jnp.linspace(2.0, 6.0, s)
    density = {"zero": jnp.zeros(s), "tiny": jnp.full(s, 1e-10), "huge": jnp.full(s, 1e10),
               "mixed": jnp.array([0.0, 1e10, 1e-10, 0.0, 1e10, 1.0, 0.0, 1e-10]),
               "zero_spacing": jnp.array([1.0, 1e10, 0.0, 1e-10, 5.0, 1e10, 0.0, 2.0])}[case]
    if case == "zero_spacing":
        t = jnp.array([2.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0, 4.0])
    alpha = jnp.array([0.0, 1.0, 0.5, 1.0, 0.0, 1e-10, 1 - 1e-7, 0.3])
    out, g_rgb, g_density, g_rgb_only, g_alpha = _outputs_and_gradients(
        jnp.full((s, 3), 0.5), density, t, jnp.array([0.0, 0.6, 0.8]), alpha)
    for name, x in list(out.items()) + [("g_rgb", g_rgb), ("g_density", g_density), ("g_alpha", g_alpha)]:
        assert bool(jnp.all(jnp.isfinite(x))), name
    # d rgb / d c_i = w_i: the colour gradient is exactly the weights (3 channels, one term each).
    np.testing.assert_allclose(g_rgb_only, jnp.broadcast_to(out["weights"][:, None], (s, 3)), atol=1e-6)


def test_acc_gradient_matches_closed_form():
    # acc = 1 − exp(−Σ σ_j δ_j), so ∂acc/∂σ_i = δ_i exp(−Σ σ_j δ_j): checks the log-space backward pass.
    t = jnp.array([0.0, 0.3, 0.5, 1.2, 1.6])
    density = jnp.array([0.5, 2.0, 0.0, 1.0, 3.0])
    d = jnp.array([0.0, 0.0, 2.0])
    grad = jax.grad(lambda s: volume_render(jnp.zeros((5, 3)), s, t, d, far_delta=0.25)["acc"])(density)
    deltas = 2.0 * np.array([0.3, 0.2, 0.7, 0.4, 0.25])
    np.testing.assert_allclose(grad, deltas * np.exp(-np.sum(np.asarray(density) * deltas)), rtol=1e-5)


def test_distortion_loss():
    # One bin of width L holding all the mass: ∫∫ |u − v| over [0, L]², normalized, is L/3.
    np.testing.assert_allclose(distortion_loss(jnp.array([0.2, 0.8]), jnp.array([1.0])), 0.6 / 3, rtol=1e-6)
    rng = np.random.default_rng(4)
    bins = np.sort(np.concatenate([[0.0, 1.0], rng.uniform(0, 1, 11)]))
    w = rng.uniform(size=12) * (rng.random(12) < 0.7)
    got = float(distortion_loss(jnp.asarray(bins, jnp.float32), jnp.asarray(w, jnp.float32)))
    # Brute-force O(S²) formula (Mip-NeRF 360 eq. 15) ...
    mid = 0.5 * (bins[1:] + bins[:-1])
    brute = np.sum(w[:, None] * w[None] * np.abs(mid[:, None] - mid[None])) + np.sum(w**2 * np.diff(bins)) / 3
    np.testing.assert_allclose(got, brute, rtol=1e-5)
    # ... and the double integral it stands for, on a fine grid (error O(grid step)).
    u = (np.arange(2000) + 0.5) / 2000
    cell_bin = np.clip(np.searchsorted(bins, u, side="right") - 1, 0, 11)
    mass = w[cell_bin] / np.diff(bins)[cell_bin] / 2000
    integral = np.sum(mass[:, None] * mass[None] * np.abs(u[:, None] - u[None]))
    np.testing.assert_allclose(got, integral, rtol=2e-3)
    grad = jax.grad(distortion_loss, argnums=1)(jnp.asarray(bins, jnp.float32), jnp.asarray(w, jnp.float32))
    assert bool(jnp.all(jnp.isfinite(grad)))


def test_weight_threshold_drops_colour_of_invisible_samples():
    # Weights here: sample 0 tiny (σδ = 1e-6), sample 1 large, sample 2 behind it (T ≈ e^-10 · ...).
    t = jnp.array([0.0, 1.0, 2.0])
    density = jnp.array([1e-6, 10.0, 5.0])
    rgb = jnp.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    d = jnp.array([0.0, 0.0, 1.0])
    thr = 1e-4
    ref = _reference_composite(np.asarray(rgb, np.float64),
                               1.0 - np.exp(-np.asarray(density, np.float64) * np.array([1.0, 1.0, 1.0])),
                               np.asarray(t))
    keep = ref["weights"] > thr
    assert keep.tolist() == [False, True, False]
    out = jax.jit(volume.volume_render, static_argnames="weight_threshold")(
        rgb, density, t, d, far_delta=1.0, weight_threshold=thr)
    np.testing.assert_allclose(out["rgb"], (ref["weights"][keep, None] * np.asarray(rgb)[keep]).sum(0), atol=1e-6)
    np.testing.assert_allclose(out["acc"], ref["acc"], rtol=1e-6)  # opacity and depth are untouched
    # The colour of a below-threshold sample gets no gradient; the visible one gets its weight.
    grad = jax.grad(lambda c: volume.volume_render(c, density, t, d, far_delta=1.0, weight_threshold=thr)["rgb"].sum())(rgb)
    np.testing.assert_allclose(grad[:, 0], np.where(keep, ref["weights"], 0.0), rtol=1e-5, atol=1e-12)
    # Threshold 0 is plain compositing.
    plain = volume_render(rgb, density, t, d, far_delta=1.0)
    np.testing.assert_allclose(plain["rgb"], ref["rgb"], atol=1e-6)
