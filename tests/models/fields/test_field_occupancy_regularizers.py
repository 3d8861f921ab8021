"""Occupancy grid (Instant-NGP empty-space skipping) and the sparse-view regularizers: FreeNeRF's
frequency mask and occlusion loss, RegNeRF's depth smoothness."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genvision_jax.models.fields import depth_smoothness_loss, freenerf_mask, occlusion_loss, positional_encoding
from genvision_jax.rendering.occupancy import mask_density, occupancy_init, occupancy_query, occupancy_update


def _sphere_density(points):
    """10 inside the sphere of radius 0.5 about the origin, 0 elsewhere."""
    return jnp.where(jnp.linalg.norm(points, axis=-1) < 0.5, 10.0, 0.0)


def test_occupancy_grid_marks_a_sphere():
    grid = occupancy_init(16, 1.0)
    assert grid.occupied.shape == (16, 16, 16) and bool(grid.occupied.all())  # occupied until first update
    update = jax.jit(functools.partial(occupancy_update, density_fn=_sphere_density, update_every=16))
    grid = update(grid, key=jax.random.key(0, impl="rbg"), step=32)
    inside = jnp.asarray([[0.0, 0.0, 0.0], [0.2, -0.2, 0.1], [-0.3, 0.0, 0.0]])
    far = jnp.asarray([[0.9, 0.9, 0.9], [-0.95, 0.0, 0.0], [0.0, 0.8, -0.7]])
    outside_box = jnp.asarray([[1.5, 0.0, 0.0]])
    assert np.asarray(occupancy_query(grid, inside)).all()
    assert not np.asarray(occupancy_query(grid, far)).any()
    assert not np.asarray(occupancy_query(grid, outside_box)).any()
    # cells whose every point is within 0.5 are occupied: the [-0.25, 0.25]^3 block (cells 6..9)
    assert bool(grid.occupied[6:10, 6:10, 6:10].all())
    frac = float(grid.occupied.mean())
    assert 0.04 < frac < 0.12  # sphere volume / box volume = (4/3)π·0.125 / 8 ≈ 0.065 (+ boundary cells)
    masked = mask_density(grid, jnp.concatenate([inside, far]), jnp.ones(6))
    np.testing.assert_array_equal(np.asarray(masked), [1, 1, 1, 0, 0, 0])


def test_occupancy_update_decays_and_skips_off_steps():
    grid = occupancy_init(8, ((0.0, 0.0, 0.0), (2.0, 2.0, 2.0)))
    update = functools.partial(occupancy_update, key=jax.random.key(1, impl="rbg"))
    grid = update(grid, lambda p: jnp.full(p.shape[:-1], 4.0), step=0)
    np.testing.assert_allclose(np.asarray(grid.density), 4.0)
    assert bool(grid.occupied.all())
    same = update(grid, lambda p: jnp.zeros(p.shape[:-1]), step=5)  # 5 % 16 != 0: no update
    np.testing.assert_allclose(np.asarray(same.density), 4.0)
    decayed = update(grid, lambda p: jnp.zeros(p.shape[:-1]), step=16, decay=0.5)
    np.testing.assert_allclose(np.asarray(decayed.density), 2.0)  # max(0.5 · 4, 0)
    assert bool(decayed.occupied.all())  # 2 > min(mean = 2, 0.01)


def test_freenerf_mask_schedule():
    l, t = 4, 100
    m0 = np.asarray(freenerf_mask(l, 0, t))
    assert m0.shape == (3 * (2 * l + 1),)
    np.testing.assert_array_equal(m0, [1] * 3 + [0] * 24)  # only the raw input at step 0
    m0_no_input = np.asarray(freenerf_mask(l, 0, t, include_input=False))
    np.testing.assert_array_equal(m0_no_input, [1] * 6 + [0] * 18)  # only the lowest frequency's sin, cos
    # half way: 5 bands · 0.5 + 1 = 3.5 → input, f0, f1 visible, f2 at 0.5, f3 hidden
    np.testing.assert_allclose(np.asarray(freenerf_mask(l, 50, t)), [1] * 3 + [1] * 12 + [0.5] * 6 + [0] * 6)
    np.testing.assert_array_equal(np.asarray(freenerf_mask(l, t, t)), np.ones(27))
    np.testing.assert_array_equal(np.asarray(freenerf_mask(l, 5 * t, t, dims=2)), np.ones(18))
    # jit-safe in step, and it multiplies positional_encoding's layout (f2's block at 0.5)
    mask = jax.jit(freenerf_mask, static_argnums=(0, 2))(l, jnp.asarray(50), t)
    x = jnp.asarray([[0.1, 0.2, 0.3]])
    enc = positional_encoding(x, l) * mask
    np.testing.assert_allclose(
        np.asarray(enc[0, 15:21]), 0.5 * np.asarray(positional_encoding(x, l)[0, 15:21]), rtol=1e-5
    )  # under jit XLA divides by T as a reciprocal multiply: 0.5 to within float32 rounding


def test_freenerf_occlusion_loss():
    density = jnp.asarray([[1.0, 2.0, 3.0, 4.0], [0.0, 8.0, 1.0, 1.0]])
    # rays: (1 + 2)/4 and (0 + 8)/4 → mean 1.375
    np.testing.assert_allclose(float(occlusion_loss(density, 2)), 1.375)
    assert float(occlusion_loss(density, 0)) == 0.0


def test_regnerf_depth_smoothness():
    i, j = np.meshgrid(np.arange(5), np.arange(5), indexing="ij")
    const = jnp.full((3, 5, 5), 2.7)
    assert float(depth_smoothness_loss(const)) == 0.0
    ramp = jnp.asarray(np.stack([0.3 * i - 0.2 * j, -0.1 * i + 0.4 * j]), jnp.float32)  # P = 2, S = 5
    # patch 1: 0.09 + 0.04; patch 2: 0.01 + 0.16 → mean 0.15
    np.testing.assert_allclose(float(depth_smoothness_loss(ramp)), 0.15, rtol=1e-5)
    with pytest.raises(ValueError, match="S, S"):
        depth_smoothness_loss(jnp.zeros((2, 4, 5)))
