"""Chunked rendering equals rendering every ray at once, for any image size and chunk."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genvision_jax.rendering.render import render_image
from genvision_jax.rendering.sampling import points_along_rays, stratified_samples
from genvision_jax.rendering.volume import volume_render


def _analytic_rays_fn(origins, directions, scale):
    """Per-ray closed-form outputs of several ranks: [n, 3], [n], [n, 2, 2]."""
    return dict(rgb=jnp.tanh(scale * origins + directions[:, ::-1]),
                depth=jnp.sum(origins * directions, -1),
                extra=jnp.stack([origins[:, :2], directions[:, 1:]], -1) * scale)


def _sphere_rays_fn(origins, directions):
    """Volume-render a soft sphere of radius 1 at the origin: density 20·sigmoid(10(1 − |x|))."""
    t = stratified_samples(None, 1.0, 5.0, 48, origins.shape[:-1], randomized=False)
    x = points_along_rays(origins, directions, t)
    density = 20.0 * jax.nn.sigmoid(10.0 * (1.0 - jnp.linalg.norm(x, axis=-1)))
    rgb = jax.nn.sigmoid(x)
    return volume_render(rgb, density, t, directions, background=jnp.ones(3))


def _rays(h, w, seed=0):
    rng = np.random.default_rng(seed)
    origins = np.broadcast_to([0.0, 0.0, 3.0], (h, w, 3)) + 0.1 * rng.normal(size=(h, w, 3))
    x, y = np.meshgrid(np.linspace(-0.5, 0.5, w), np.linspace(-0.5, 0.5, h))
    directions = np.stack([x, y, -np.ones((h, w))], -1)
    return jnp.asarray(origins, jnp.float32), jnp.asarray(directions, jnp.float32)


# 35 rays: not a multiple of 8 (4 full chunks + 3 rays), exactly one chunk, less than one chunk.
@pytest.mark.parametrize("chunk", [8, 35, 100])
@pytest.mark.parametrize("jit", [False, True])
def test_render_image_equals_unchunked_analytic(chunk, jit):
    origins, directions = _rays(5, 7)
    seen = []

    def fn(o, d, scale):
        seen.append(o.shape)
        return _analytic_rays_fn(o, d, scale)

    render = lambda o, d, s: render_image(fn, o, d, chunk=chunk, scale=s)  # noqa: E731
    out = (jax.jit(render) if jit else render)(origins, directions, jnp.float32(2.0))
    ref = _analytic_rays_fn(origins.reshape(-1, 3), directions.reshape(-1, 3), 2.0)
    n = min(chunk, 35)
    # Always full chunks: traced once inside lax.map under jit, called once per chunk eagerly.
    assert seen == [(n, 3)] * (1 if jit else -(-35 // n))
    assert out["rgb"].shape == (5, 7, 3) and out["depth"].shape == (5, 7)
    assert out["extra"].shape == (5, 7, 2, 2)
    for k in ref:
        np.testing.assert_allclose(out[k], ref[k].reshape(out[k].shape), atol=1e-6, err_msg=k)


def test_render_image_under_jit_matches_all_rays_volume_rendering():
    origins, directions = _rays(9, 11, seed=1)  # 99 rays, chunk 16 -> 7 chunks, 13 padded rays
    render = jax.jit(lambda o, d: render_image(_sphere_rays_fn, o, d, chunk=16))
    out = render(origins, directions)
    ref = jax.jit(_sphere_rays_fn)(origins.reshape(-1, 3), directions.reshape(-1, 3))
    assert set(out) == set(ref)
    for k in ref:
        np.testing.assert_allclose(out[k], ref[k].reshape(out[k].shape), rtol=2e-6, atol=1e-6, err_msg=k)
    # The central ray hits the sphere (opaque), a corner ray misses it (background).
    assert float(out["acc"][4, 5]) > 0.99 and float(out["acc"][0, 0]) < 0.1
