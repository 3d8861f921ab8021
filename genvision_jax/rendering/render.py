"""Render a whole image (or any batch of rays) in fixed-size chunks of rays.

Why chunks: a radiance field evaluates S samples per ray through an MLP, so rendering all H·W rays at
once materializes activations of size H·W·S·width (800² rays × 192 samples × 256 floats ≈ 126 GB for
NeRF's synthetic scenes). Chunking bounds peak memory by chunk·S·width, independent of image size,
and a fixed chunk size means one compiled per-chunk program serves every image of ≥ chunk rays.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

Array = jax.Array
RenderRaysFn = Callable[..., dict[str, Array]]


def render_image(render_rays_fn: RenderRaysFn, origins: Array, directions: Array, chunk: int = 4096,
                 **kwargs: Any) -> dict[str, Array]:
    """Render rays chunk by chunk: origins/directions [*B, 3] (e.g. [H, W, 3]) -> dict of [*B, ...].

    `render_rays_fn(origins [n, 3], directions [n, 3], **kwargs) -> dict of [n, ...]` renders a batch of
    rays independently (no coupling across rays); `kwargs` (params, a PRNG key, ...) are passed
    unchanged to every chunk, so a key gives each chunk the same random stream.
    Rays are flattened, padded to a multiple of `n = min(chunk, #rays)` by repeating the last ray (so
    padded rays are valid input and never produce NaN), rendered n at a time, unpadded and reshaped.

    How the chunks are looped over depends on whether we are being traced:
    - under `jit` (any input is a tracer): `jax.lax.map`, a sequential loop inside the one XLA
      program, so only one chunk's intermediates are live and the program size does not grow with
      the number of chunks;
    - eagerly: a Python loop calling `render_rays_fn` per chunk, so pass a jitted function. An eager
      `lax.map` would re-trace and re-compile its body on every call whenever `render_rays_fn` is a
      fresh closure (e.g. over the current params): measured 0.61 s per 64² render vs 0.056 s for
      the loop, with a 4×64 MLP on 32 samples per ray.
    Measured on this 2-core CPU (shared, so ±20%; same MLP, steady state, best of 5): `jax.jit` of
    this function (lax.map) vs. the eager loop over a jitted chunk function vs. all rays at once —
    128² rays, chunk 1024: 0.22 s / 0.29 s / 0.44 s; 256² rays, chunk 1024: 0.80 s / 0.88 s /
    1.39 s; 256² rays, chunk 4096: 1.14 s / 1.74 s / 1.78 s. Chunks of ~1024 rays were faster than
    4096 on CPU (cache-sized intermediates); on accelerators larger chunks are better.
    """
    batch_shape = origins.shape[:-1]
    flat_origins = origins.reshape(-1, origins.shape[-1])
    flat_directions = directions.reshape(-1, directions.shape[-1])
    num_rays = flat_origins.shape[0]
    chunk = min(chunk, num_rays)
    num_chunks = -(-num_rays // chunk)
    padding = num_chunks * chunk - num_rays

    def to_chunks(x: Array) -> Array:
        x = jnp.pad(x, ((0, padding), (0, 0)), mode="edge")
        return x.reshape(num_chunks, chunk, x.shape[-1])

    chunked_origins, chunked_directions = to_chunks(flat_origins), to_chunks(flat_directions)
    traced = any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves((origins, directions, kwargs)))
    if traced:
        outputs = jax.lax.map(lambda rays: render_rays_fn(rays[0], rays[1], **kwargs),
                              (chunked_origins, chunked_directions))
    else:
        per_chunk = [render_rays_fn(chunked_origins[i], chunked_directions[i], **kwargs)
                     for i in range(num_chunks)]
        outputs = jax.tree.map(lambda *xs: jnp.stack(xs), *per_chunk)

    def unchunk(x: Array) -> Array:
        x = x.reshape((num_chunks * chunk,) + x.shape[2:])[:num_rays]
        return x.reshape(batch_shape + x.shape[1:])

    return jax.tree.map(unchunk, outputs)
