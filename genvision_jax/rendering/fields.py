"""A radiance field to pixels: how rays are sampled, evaluated and volume-rendered.

A field is any object with `field.apply(vars, points [..., 3], viewdirs [..., 3], times [..., 1] | None,
**kwargs) -> (rgb [..., 3], density [...])` and a `bounds` attribute (every field of
`genvision_jax.models.fields`). `FieldRenderer` holds the sampling recipe:

  coarse pass: `num_coarse` stratified samples in [near, far] (Mildenhall et al. 2020 §5.2);
  fine pass (when `fine` is set): `num_fine` inverse-CDF samples from the coarse weights, merged with
  the coarse ones and rendered by the fine field;
  or, with an occupancy grid (Müller et al. 2022 §5.4), one pass whose samples are drawn only in the
  occupied bins along each ray, each standing for its share of the occupied length, so the optical
  depth stays exact.

Random tensors drawn here are passed through `constrain` (the trainer's batch-sharding constraint),
so a ray batch split over devices is sampled where it lives.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp

from genvision_jax.rendering import sampling, volume
from genvision_jax.rendering.occupancy import OccupancyGrid, occupancy_init, occupancy_query, occupancy_update
from genvision_jax.rendering.render import render_image


def _identity(x):
    return x


@dataclasses.dataclass(frozen=True)
class FieldRenderer:
    """The static rendering recipe of one field (or a coarse + fine pair)."""

    coarse: Any
    near: float
    far: float
    num_coarse: int = 64
    fine: Any = None                    # None: one pass (coarse only)
    num_fine: int = 0
    background: tuple[float, float, float] = (1.0, 1.0, 1.0)
    # Length of the last sample's interval: NeRF's 1e10 makes it opaque wherever density > 0 (the
    # background then never shows); 0 ends each ray at `far`, as TensoRF and Instant-NGP do, which suits
    # scenes bounded by [near, far] composited on a background, and fields whose density is never 0.
    far_delta: float = 1e10
    # Samples whose weight is at most this get no colour (volume_render's `weight_threshold`; TensoRF's
    # 1e-4, 0 = off).
    weight_threshold: float = 0.0
    randomized: bool = True             # stratified jitter and random inverse-CDF u while training
    dynamic: bool = False               # rays carry a time; the field is called with it
    # Empty-space skipping with an occupancy grid (0 = off): each ray is cut into `occupancy_candidates`
    # equal bins over [near, far]; the `num_coarse` samples are drawn only in bins whose midpoint lies
    # in an occupied cell (inverse CDF of the occupancy), each standing for (occupied length) /
    # num_coarse; the grid of `occupancy_resolution`^3 cells over the field's box is refreshed every
    # `occupancy_update_every` steps with the paper's decay 0.95 and threshold min(mean, 0.01 / δ),
    # δ = (far - near) / occupancy_candidates the marching step.
    occupancy_resolution: int = 0
    occupancy_candidates: int = 128
    occupancy_update_every: int = 16

    def __post_init__(self):
        if not 0.0 <= self.near < self.far:
            raise ValueError(f"rendering needs 0 <= near < far, got near={self.near}, far={self.far}")
        if self.far_delta < 0:
            raise ValueError(f"far_delta must be >= 0, got {self.far_delta}")
        if not 0.0 <= self.weight_threshold < 1.0:
            raise ValueError(f"weight_threshold must be in [0, 1), got {self.weight_threshold}")
        if self.num_coarse < 2:
            raise ValueError(f"num_coarse must be >= 2, got {self.num_coarse}")
        if (self.fine is None) != (self.num_fine == 0):
            raise ValueError("set both a fine field and num_fine > 0 for a hierarchical model, or neither "
                             f"(got fine={'set' if self.fine is not None else None}, num_fine={self.num_fine})")
        if self.occupancy_resolution:
            if self.fine is not None or self.dynamic:
                raise ValueError("the occupancy grid replaces the fine pass and needs a static field; set "
                                 "num_fine = 0 and a non-dynamic field, or occupancy_resolution = 0")
            if self.occupancy_resolution < 1 or self.occupancy_candidates < 2 or self.occupancy_update_every < 1:
                raise ValueError("occupancy_resolution >= 1, occupancy_candidates >= 2 and "
                                 "occupancy_update_every >= 1 are required with the occupancy grid")

    @property
    def samples_per_ray(self) -> int:
        return self.num_coarse + self.num_fine

    @property
    def occupancy_threshold(self) -> float:
        """Instant-NGP's occupancy threshold: optical thickness 0.01 per marching step δ."""
        return 0.01 / ((self.far - self.near) / self.occupancy_candidates)

    def init_occupancy(self) -> OccupancyGrid | None:
        """The grid of a fresh run (every cell occupied), or None without empty-space skipping."""
        if not self.occupancy_resolution:
            return None
        return occupancy_init(self.occupancy_resolution, self.coarse.bounds)

    # --------------------------------------------------------------------------------- rays
    def render_rays(self, params, origins: jax.Array, directions: jax.Array, key: jax.Array | None,
                    times: jax.Array | None = None, randomized: bool | None = None,
                    constrain: Callable[[jax.Array], jax.Array] = _identity, freq_masks=None,
                    occupancy: OccupancyGrid | None = None) -> dict[str, jax.Array]:
        """Render rays [N, 3] (origins, unnormalized directions; t is depth along the camera axis).

        Returns {'rgb' [N, 3], 'depth' [N], 'acc' [N], 'density_coarse' [N, S_c]} of the last pass, plus
        'rgb_coarse' and 'depth_coarse' when there is a fine pass. `params` = {'coarse': ..., 'fine': ...};
        `key` may be None when not randomized; `freq_masks` are FreeNeRF's encoding masks; `occupancy`
        is the state's grid when the recipe skips empty space.
        """
        randomized = self.randomized if randomized is None else randomized
        if randomized and key is None:
            raise ValueError("render_rays: randomized sampling needs a key")
        n = origins.shape[0]
        k_coarse, k_fine = jax.random.split(key) if key is not None else (None, None)
        background = jnp.asarray(self.background, jnp.float32)

        if self.occupancy_resolution:
            if occupancy is None:
                raise ValueError("render_rays: this recipe skips empty space; pass the state's occupancy grid")
            return self._render_occupied(params["coarse"], origins, directions, k_coarse, randomized, constrain,
                                         freq_masks, occupancy, background)
        t = constrain(sampling.stratified_samples(k_coarse, self.near, self.far, self.num_coarse, (n,),
                                                  randomized=randomized))
        out = self._render_pass(self.coarse, params["coarse"], origins, directions, t, times, background, freq_masks)
        if self.fine is None:
            return {k: out[k] for k in ("rgb", "depth", "acc", "density_coarse")}
        bins = 0.5 * (t[..., 1:] + t[..., :-1])
        t_fine = constrain(sampling.sample_pdf(k_fine, bins, out["weights"][..., 1:-1], self.num_fine,
                                               randomized=randomized))
        t_all = sampling.merge_samples(t, t_fine)
        fine = self._render_pass(self.fine, params["fine"], origins, directions, t_all, times, background, freq_masks)
        return {"rgb": fine["rgb"], "depth": fine["depth"], "acc": fine["acc"],
                "density_coarse": out["density_coarse"], "rgb_coarse": out["rgb"], "depth_coarse": out["depth"]}

    def _field_inputs(self, points, directions, times):
        viewdirs = directions / jnp.linalg.norm(directions, axis=-1, keepdims=True)
        viewdirs = jnp.broadcast_to(viewdirs[..., None, :], points.shape)
        t = None
        if self.dynamic:
            t = jnp.broadcast_to(times[..., None, None], (*points.shape[:-1], 1))
        return viewdirs, t

    def _render_pass(self, field, params, origins, directions, t, times, background, freq_masks):
        points = sampling.points_along_rays(origins, directions, t)
        viewdirs, tt = self._field_inputs(points, directions, times)
        kwargs = {"freq_masks": freq_masks} if freq_masks is not None else {}
        rgb, density = field.apply({"params": params}, points, viewdirs, tt, **kwargs)
        return {**volume.volume_render(rgb, density, t, directions, background=background, far_delta=self.far_delta,
                                          weight_threshold=self.weight_threshold),
                "density_coarse": density}

    def _render_occupied(self, params, origins, directions, key, randomized, constrain, freq_masks, grid, background):
        """One pass with the samples spent on occupied space only (see `occupancy_resolution`)."""
        n, m = origins.shape[0], self.occupancy_candidates
        edges = jnp.broadcast_to(jnp.linspace(self.near, self.far, m + 1, dtype=jnp.float32), (n, m + 1))
        mids = 0.5 * (edges[:, 1:] + edges[:, :-1])
        occupied = occupancy_query(grid, sampling.points_along_rays(origins, directions, mids)).astype(jnp.float32)
        t = constrain(sampling.sample_pdf(key, edges, occupied, self.num_coarse, randomized=randomized))
        # A ray without occupied bins gets evenly spread samples (sample_pdf's fallback); the bin mask
        # zeroes them, so such rays show the background.
        width = (self.far - self.near) / m
        in_occupied_bin = jnp.take_along_axis(
            occupied, jnp.clip(jnp.floor((t - self.near) / width).astype(jnp.int32), 0, m - 1), axis=-1)
        deltas = jnp.broadcast_to(jnp.sum(occupied, axis=-1, keepdims=True) * width / self.num_coarse, t.shape)
        points = sampling.points_along_rays(origins, directions, t)
        viewdirs, _ = self._field_inputs(points, directions, None)
        kwargs = {"freq_masks": freq_masks} if freq_masks is not None else {}
        rgb, density = self.coarse.apply({"params": params}, points, viewdirs, None, **kwargs)
        density = density * in_occupied_bin
        out = volume.volume_render(rgb, density, t, directions, background=background, deltas=deltas,
                                   weight_threshold=self.weight_threshold)
        return {"rgb": out["rgb"], "depth": out["depth"], "acc": out["acc"], "density_coarse": density}

    def update_occupancy(self, grid: OccupancyGrid, params, key: jax.Array, step) -> OccupancyGrid:
        """Refresh the occupancy grid from the coarse field's density when `step` % update_every == 0."""
        def density_fn(points):
            dirs = jnp.broadcast_to(jnp.asarray([0.0, 0.0, 1.0], jnp.float32), points.shape)
            return self.coarse.apply({"params": params["coarse"]}, points, dirs, None)[1]
        return occupancy_update(grid, density_fn, key, step, threshold=self.occupancy_threshold,
                                update_every=self.occupancy_update_every)

    # --------------------------------------------------------------------------------- images
    def image_renderer(self, chunk: int, freq_masks: Callable[[jax.Array], Any] | None = None) -> Callable:
        """(params, origins [H, W, 3], directions [H, W, 3], time=None, step=0, occupancy=None) ->
        {'rgb' [H, W, 3], 'depth', 'acc'}: deterministic (bin midpoints, evenly spaced inverse-CDF u),
        `chunk` rays at a time; `freq_masks(step)` gives FreeNeRF's encoding masks of training step `step`."""

        @jax.jit
        def render_chunk(params, origins, directions, times, step, occupancy):
            out = self.render_rays(params, origins, directions, None, times, randomized=False,
                                   freq_masks=freq_masks(step) if freq_masks is not None else None,
                                   occupancy=occupancy)
            return {k: out[k] for k in ("rgb", "depth", "acc")}

        def render(params, origins, directions, time: float | None = None, step=0, occupancy=None):
            step = jnp.asarray(step, jnp.int32)
            if self.occupancy_resolution and occupancy is None:
                raise ValueError("this recipe skips empty space: render(..., occupancy=state.occupancy)")
            if self.dynamic and time is None:
                raise ValueError("this field is dynamic (D-NeRF): render(..., time=t) needs the time t in [0, 1]")

            def fn(o, d):
                times = jnp.full((o.shape[0],), time, jnp.float32) if self.dynamic else None
                return render_chunk(params, o, d, times, step, occupancy)
            return render_image(fn, origins, directions, chunk=chunk)

        return render
