"""Radiance-field training: one state, ray renderer and step for every field (NeRF, hash grid, TensoRF, ...).

A field is any module of `genvision_jax.models.fields` called as `field.apply(vars, points [..., 3],
viewdirs [..., 3], times [..., 1] | None) -> (rgb [..., 3], density [...])`. `render_rays` turns a
field into pixels with the sampling and volume rendering of `genvision_jax.rendering`:

  coarse pass: `num_coarse` stratified samples in [near, far] (Mildenhall et al. 2020 §5.2);
  fine pass (when `fine` is set): `num_fine` inverse-CDF samples from the coarse weights, merged with
  the coarse ones and rendered by the fine field; both passes enter the loss (NeRF eq. 6).

The step is one `jax.jit` over the mesh: the ray batch is a global array split along 'data', the
parameters are replicated, and the random sample offsets drawn inside the step are pinned to the
batch sharding (DESIGN.md §4). Regularizers of grid fields (TV, L1) and the sparse-view ones
(FreeNeRF's frequency annealing, RegNeRF's depth smoothness) are options of the setup.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh

from genvision_jax.models.fields import (OccupancyGrid, freenerf_mask, occlusion_loss, occupancy_init,
                                         occupancy_query, occupancy_update, plenoxel_tv, tensorf_l1, tensorf_tv)
from genvision_jax.rendering import sampling, volume
from genvision_jax.train.rng import stream_key
from genvision_jax.train.sharding import (abstract_replicated, batch_sharding, constrain_batch, create_replicated,
                                          replicated_sharding)


@flax.struct.dataclass
class FieldState:
    step: jax.Array
    params: Any          # {'coarse': ..., 'fine': ...} ('fine' only with a fine field)
    opt_state: Any
    occupancy: OccupancyGrid | None = None  # with FieldSetup.occupancy_resolution > 0


@dataclasses.dataclass(frozen=True)
class FieldSetup:
    """The static half of a radiance-field run: fields, optimizer, sampling and loss options."""

    coarse: nn.Module
    tx: optax.GradientTransformation
    near: float
    far: float
    num_coarse: int = 64
    fine: nn.Module | None = None       # None: one pass (coarse only)
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
    dynamic: bool = False               # batches carry 'time' [N]; the field is called with it
    coarse_loss_weight: float = 1.0     # NeRF: the coarse pass is supervised too
    regularizer: Callable[[Any], jax.Array] | None = None  # params of one field -> scalar (TV, L1)
    regularizer_weight: float = 0.0
    # FreeNeRF (Yang et al. 2023) for sparse views: the position encoding's visible frequencies grow
    # linearly until `freenerf_steps` (0 = off; fields with a Fourier encoder only), and the occlusion
    # loss weighs the density of each ray's first `occlusion_range` coarse samples.
    freenerf_steps: int = 0
    occlusion_weight: float = 0.0
    occlusion_range: int = 10
    # Empty-space skipping with an occupancy grid (Müller et al. 2022 §5.4; 0 = off): each ray is cut
    # into `occupancy_candidates` equal bins over [near, far]; the `num_coarse` samples are drawn only
    # in bins whose midpoint lies in an occupied cell (inverse CDF of the occupancy), each standing for
    # (occupied length) / num_coarse; the grid of `occupancy_resolution`^3 cells over the field's box is
    # refreshed every `occupancy_update_every` steps with the paper's decay 0.95 and threshold
    # min(mean, 0.01 / δ), δ = (far - near) / occupancy_candidates the marching step.
    occupancy_resolution: int = 0
    occupancy_candidates: int = 128
    occupancy_update_every: int = 16

    def __post_init__(self):
        if not 0.0 <= self.near < self.far:
            raise ValueError(f"FieldSetup needs 0 <= near < far, got near={self.near}, far={self.far}")
        if self.far_delta < 0:
            raise ValueError(f"FieldSetup.far_delta must be >= 0, got {self.far_delta}")
        if not 0.0 <= self.weight_threshold < 1.0:
            raise ValueError(f"FieldSetup.weight_threshold must be in [0, 1), got {self.weight_threshold}")
        if self.num_coarse < 2:
            raise ValueError(f"FieldSetup.num_coarse must be >= 2, got {self.num_coarse}")
        if (self.fine is None) != (self.num_fine == 0):
            raise ValueError("FieldSetup: set both `fine` and `num_fine` > 0 for a hierarchical model, or neither "
                             f"(got fine={'set' if self.fine is not None else None}, num_fine={self.num_fine})")
        if self.regularizer_weight > 0 and self.regularizer is None:
            raise ValueError("FieldSetup.regularizer_weight > 0 needs a regularizer function")
        if self.freenerf_steps < 0 or self.occlusion_weight < 0 or self.occlusion_range < 1:
            raise ValueError("FieldSetup: freenerf_steps and occlusion_weight must be >= 0 and occlusion_range >= 1")
        if self.occupancy_resolution:
            if self.fine is not None or self.dynamic:
                raise ValueError("FieldSetup: the occupancy grid replaces the fine pass and needs a static "
                                 "field; set num_fine = 0 and a non-dynamic field, or occupancy_resolution = 0")
            if self.occupancy_resolution < 1 or self.occupancy_candidates < 2 or self.occupancy_update_every < 1:
                raise ValueError("FieldSetup: occupancy_resolution >= 1, occupancy_candidates >= 2 and "
                                 "occupancy_update_every >= 1 are required with the occupancy grid")
        if self.freenerf_steps and getattr(self.coarse, "encoder", None) != "fourier":
            raise ValueError("FieldSetup.freenerf_steps needs a field with a Fourier position encoding "
                             "(make_field('nerf', encoder='fourier'))")

    def freq_masks(self, step) -> tuple[jax.Array, jax.Array] | None:
        """FreeNeRF masks (position, direction) at `step`; the direction encoding is never masked."""
        if not self.freenerf_steps:
            return None
        f = self.coarse
        pos = freenerf_mask(f.pos_freqs, step, self.freenerf_steps)
        return pos, jnp.ones((3 * (2 * f.dir_freqs + 1),), jnp.float32)

    @property
    def samples_per_ray(self) -> int:
        return self.num_coarse + self.num_fine

    @property
    def occupancy_threshold(self) -> float:
        """Instant-NGP's occupancy threshold: optical thickness 0.01 per marching step δ."""
        return 0.01 / ((self.far - self.near) / self.occupancy_candidates)


def _field_inputs(setup: FieldSetup, points, directions, times):
    viewdirs = directions / jnp.linalg.norm(directions, axis=-1, keepdims=True)
    viewdirs = jnp.broadcast_to(viewdirs[..., None, :], points.shape)
    t = None
    if setup.dynamic:
        t = jnp.broadcast_to(times[..., None, None], (*points.shape[:-1], 1))
    return viewdirs, t


def render_rays(setup: FieldSetup, params, origins: jax.Array, directions: jax.Array, key: jax.Array | None,
                times: jax.Array | None = None, randomized: bool | None = None,
                mesh: Mesh | None = None, freq_masks=None,
                occupancy: OccupancyGrid | None = None) -> dict[str, jax.Array]:
    """Render rays [N, 3] (origins, unnormalized directions; t is depth along the camera axis).

    Returns {'rgb' [N, 3], 'depth' [N], 'acc' [N], 'density_coarse' [N, S_c]} of the last pass, plus
    'rgb_coarse' and 'depth_coarse' when there is a fine pass. `key` may be None when not randomized;
    `freq_masks` are FreeNeRF's encoding masks (`FieldSetup.freq_masks`); `occupancy` is the state's
    grid when the setup skips empty space.
    """
    randomized = setup.randomized if randomized is None else randomized
    if randomized and key is None:
        raise ValueError("render_rays: randomized sampling needs a key")
    n = origins.shape[0]
    k_coarse, k_fine = jax.random.split(key) if key is not None else (None, None)
    background = jnp.asarray(setup.background, jnp.float32)

    if setup.occupancy_resolution:
        if occupancy is None:
            raise ValueError("render_rays: this setup skips empty space; pass the state's occupancy grid")
        return _render_occupied(setup, params["coarse"], origins, directions, k_coarse, randomized, mesh,
                                freq_masks, occupancy, background)
    t = sampling.stratified_samples(k_coarse, setup.near, setup.far, setup.num_coarse, (n,), randomized=randomized)
    if mesh is not None:
        t = constrain_batch(t, mesh)
    out = _render_pass(setup, setup.coarse, params["coarse"], origins, directions, t, times, background, freq_masks)
    if setup.fine is None:
        return {k: out[k] for k in ("rgb", "depth", "acc", "density_coarse")}
    bins = 0.5 * (t[..., 1:] + t[..., :-1])
    t_fine = sampling.sample_pdf(k_fine, bins, out["weights"][..., 1:-1], setup.num_fine, randomized=randomized)
    if mesh is not None:
        t_fine = constrain_batch(t_fine, mesh)
    t_all = sampling.merge_samples(t, t_fine)
    fine = _render_pass(setup, setup.fine, params["fine"], origins, directions, t_all, times, background, freq_masks)
    return {"rgb": fine["rgb"], "depth": fine["depth"], "acc": fine["acc"], "density_coarse": out["density_coarse"],
            "rgb_coarse": out["rgb"], "depth_coarse": out["depth"]}


def _render_pass(setup, field, params, origins, directions, t, times, background, freq_masks):
    points = sampling.points_along_rays(origins, directions, t)
    viewdirs, tt = _field_inputs(setup, points, directions, times)
    kwargs = {"freq_masks": freq_masks} if freq_masks is not None else {}
    rgb, density = field.apply({"params": params}, points, viewdirs, tt, **kwargs)
    return {**volume.volume_render(rgb, density, t, directions, background=background, far_delta=setup.far_delta,
                                      weight_threshold=setup.weight_threshold),
            "density_coarse": density}


def _render_occupied(setup, params, origins, directions, key, randomized, mesh, freq_masks, grid, background):
    """One pass with the samples spent on occupied space only (see `FieldSetup.occupancy_resolution`)."""
    n, m = origins.shape[0], setup.occupancy_candidates
    edges = jnp.broadcast_to(jnp.linspace(setup.near, setup.far, m + 1, dtype=jnp.float32), (n, m + 1))
    mids = 0.5 * (edges[:, 1:] + edges[:, :-1])
    occupied = occupancy_query(grid, sampling.points_along_rays(origins, directions, mids)).astype(jnp.float32)
    t = sampling.sample_pdf(key, edges, occupied, setup.num_coarse, randomized=randomized)
    if mesh is not None:
        t = constrain_batch(t, mesh)
    # A ray without occupied bins gets evenly spread samples (sample_pdf's fallback); the bin mask
    # zeroes them, so such rays show the background.
    width = (setup.far - setup.near) / m
    in_occupied_bin = jnp.take_along_axis(
        occupied, jnp.clip(jnp.floor((t - setup.near) / width).astype(jnp.int32), 0, m - 1), axis=-1)
    deltas = jnp.broadcast_to(jnp.sum(occupied, axis=-1, keepdims=True) * width / setup.num_coarse, t.shape)
    points = sampling.points_along_rays(origins, directions, t)
    viewdirs, _ = _field_inputs(setup, points, directions, None)
    kwargs = {"freq_masks": freq_masks} if freq_masks is not None else {}
    rgb, density = setup.coarse.apply({"params": params}, points, viewdirs, None, **kwargs)
    density = density * in_occupied_bin
    out = volume.volume_render(rgb, density, t, directions, background=background, deltas=deltas,
                               weight_threshold=setup.weight_threshold)
    return {"rgb": out["rgb"], "depth": out["depth"], "acc": out["acc"], "density_coarse": density}


def update_occupancy(setup: FieldSetup, grid: OccupancyGrid, params, key: jax.Array, step) -> OccupancyGrid:
    """Refresh the occupancy grid from the coarse field's density when `step` % update_every == 0."""
    def density_fn(points):
        dirs = jnp.broadcast_to(jnp.asarray([0.0, 0.0, 1.0], jnp.float32), points.shape)
        return setup.coarse.apply({"params": params["coarse"]}, points, dirs, None)[1]
    return occupancy_update(grid, density_fn, key, step, threshold=setup.occupancy_threshold,
                            update_every=setup.occupancy_update_every)


GRID_REGULARIZERS = {
    # Fridovich-Keil et al. 2022 eq. 4: TV of the density and SH grids.
    "plenoxels": ("tv_density", "tv_sh"),
    # Chen et al. 2022 §5: L1 on the density components, TV on the density / appearance planes.
    "tensorf": ("l1", "tv_density", "tv_appearance"),
}


def grid_regularizer(field_name: str, weights: dict[str, float]) -> Callable[[Any], jax.Array] | None:
    """params of one field -> weighted sum of its grid regularizers; None when every weight is 0.

    Weights by field: plenoxels {tv_density, tv_sh}; tensorf {l1, tv_density, tv_appearance}. A nonzero
    weight a field does not have is an error (so a typo never silently means "off")."""
    valid = GRID_REGULARIZERS.get(field_name, ())
    bad = sorted(k for k, w in weights.items() if w and k not in valid)
    if bad:
        raise ValueError(f"regularizer weights {bad} do not apply to field {field_name!r}; it has {list(valid) or 'none'}")
    if not any(weights.get(k, 0.0) for k in valid):
        return None
    w = {k: float(weights.get(k, 0.0)) for k in valid}
    if field_name == "plenoxels":
        return lambda p: plenoxel_tv(p, w["tv_density"], w["tv_sh"])
    return lambda p: (w["l1"] * tensorf_l1(p) + w["tv_density"] * tensorf_tv(p, "density")
                      + w["tv_appearance"] * tensorf_tv(p, "appearance"))


def init_field_state(setup: FieldSetup, rng: jax.Array) -> FieldState:
    """Unsharded init of the coarse (and fine) field and the optimizer."""
    kc, kf = jax.random.split(rng)
    pts, dirs = jnp.zeros((1, 3)), jnp.ones((1, 3)) / jnp.sqrt(3.0)
    tt = jnp.zeros((1, 1)) if setup.dynamic else None
    params = {"coarse": setup.coarse.init(kc, pts, dirs, tt)["params"]}
    if setup.fine is not None:
        params["fine"] = setup.fine.init(kf, pts, dirs, tt)["params"]
    grid = occupancy_init(setup.occupancy_resolution, setup.coarse.bounds) if setup.occupancy_resolution else None
    return FieldState(step=jnp.zeros((), jnp.int32), params=params, opt_state=setup.tx.init(params), occupancy=grid)


def create_field_state(setup: FieldSetup, rng: jax.Array, mesh: Mesh) -> FieldState:
    """State created directly with replicated sharding on the mesh (never materialized on one device)."""
    return create_replicated(lambda r: init_field_state(setup, r), rng, mesh)


def abstract_field_state(setup: FieldSetup, mesh: Mesh) -> FieldState:
    """Shapes, dtypes and shardings of the state: the target for checkpoint restores."""
    return abstract_replicated(lambda r: init_field_state(setup, r), mesh)


def mse_to_psnr(mse: jax.Array) -> jax.Array:
    """PSNR in dB of images in [0, 1] from their mean squared error."""
    return -10.0 * jnp.log10(mse)


def _check_batch(batch: dict, setup: FieldSetup) -> None:
    need = ("origins", "directions", "rgb") + (("time",) if setup.dynamic else ())
    missing = [k for k in need if k not in batch]
    if missing:
        raise KeyError(f"ray batch lacks {missing}; got keys {sorted(batch)}")
    n = batch["origins"].shape[0]
    for k, shape in (("origins", (n, 3)), ("directions", (n, 3)), ("rgb", (n, 3))):
        if batch[k].shape != shape:
            raise ValueError(f"ray batch {k!r} must have shape {shape}, got {batch[k].shape}")


def field_step_fn(setup: FieldSetup, mesh: Mesh | None = None) -> Callable:
    """Pure (state, batch, root) -> (state, metrics); batch = {'origins', 'directions', 'rgb' [N, 3],
    'time' [N] when dynamic}. Randomness from stream 'sample' at the state's step."""

    def step(state: FieldState, batch: dict, root: jax.Array):
        _check_batch(batch, setup)
        key = stream_key(root, "sample", state.step)
        times = batch.get("time")

        def loss_fn(params):
            out = render_rays(setup, params, batch["origins"], batch["directions"], key, times, mesh=mesh,
                              freq_masks=setup.freq_masks(state.step), occupancy=state.occupancy)
            mse = jnp.mean((out["rgb"] - batch["rgb"]) ** 2)
            loss, metrics = mse, {"mse": mse, "psnr": mse_to_psnr(mse)}
            if "rgb_coarse" in out:
                mse_c = jnp.mean((out["rgb_coarse"] - batch["rgb"]) ** 2)
                loss = loss + setup.coarse_loss_weight * mse_c
                metrics["psnr_coarse"] = mse_to_psnr(mse_c)
            if setup.regularizer_weight > 0:
                reg = sum(setup.regularizer(p) for p in params.values())
                loss = loss + setup.regularizer_weight * reg
                metrics["regularizer"] = reg
            if setup.occlusion_weight > 0:
                occ = occlusion_loss(out["density_coarse"], setup.occlusion_range)
                loss = loss + setup.occlusion_weight * occ
                metrics["occlusion"] = occ
            metrics["loss"] = loss
            return loss, metrics

        grads, metrics = jax.grad(loss_fn, has_aux=True)(state.params)
        updates, opt_state = setup.tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        metrics["grad_norm"] = optax.tree.norm(grads)
        grid = state.occupancy
        if grid is not None:
            grid = update_occupancy(setup, grid, params, stream_key(root, "occupancy", state.step), state.step + 1)
            metrics["occupied_fraction"] = jnp.mean(grid.occupied.astype(jnp.float32))
        return FieldState(step=state.step + 1, params=params, opt_state=opt_state, occupancy=grid), metrics

    return step


def make_field_train_step(setup: FieldSetup, mesh: Mesh) -> Callable:
    """The jitted step over `mesh`: state replicated and donated, rays split along 'data'."""
    rep = replicated_sharding(mesh)
    keys = ("origins", "directions", "rgb") + (("time",) if setup.dynamic else ())
    batch_sh = {k: batch_sharding(mesh, 1 if k == "time" else 2) for k in keys}
    return jax.jit(field_step_fn(setup, mesh), in_shardings=(rep, batch_sh, rep), out_shardings=(rep, rep),
                   donate_argnums=0)


def make_ray_renderer(setup: FieldSetup, chunk: int) -> Callable:
    """(params, origins [H, W, 3], directions [H, W, 3], time=None, step=0, occupancy=None) -> {'rgb'
    [H, W, 3], 'depth', 'acc'}: deterministic (bin midpoints, evenly spaced inverse-CDF u), `chunk` rays
    at a time, with FreeNeRF's masks of training step `step` and the state's occupancy grid."""
    from genvision_jax.rendering.render import render_image

    @jax.jit
    def render_chunk(params, origins, directions, times, step, occupancy):
        out = render_rays(setup, params, origins, directions, None, times, randomized=False,
                          freq_masks=setup.freq_masks(step), occupancy=occupancy)
        return {k: out[k] for k in ("rgb", "depth", "acc")}

    def render(params, origins, directions, time: float | None = None, step=0, occupancy=None):
        step = jnp.asarray(step, jnp.int32)
        if setup.occupancy_resolution and occupancy is None:
            raise ValueError("this setup skips empty space: render(..., occupancy=state.occupancy)")

        if setup.dynamic and time is None:
            raise ValueError("this field is dynamic (D-NeRF): render(..., time=t) needs the time t in [0, 1]")

        def fn(o, d):
            times = jnp.full((o.shape[0],), time, jnp.float32) if setup.dynamic else None
            return render_chunk(params, o, d, times, step, occupancy)
        return render_image(fn, origins, directions, chunk=chunk)

    return render
