"""The radiance-field family's state, step and regularizers: one of each for every field (NeRF, hash
grid, TensoRF, Plenoxels, D-NeRF), with the rendering recipe of `genvision_jax.rendering.fields`.

The step is one `jax.jit` over the mesh: the ray batch is a global array split along 'data', the
parameters are replicated, and the random sample offsets drawn inside the step are pinned to the
batch sharding. The loss is the photometric MSE of the last pass plus the coarse pass's (NeRF eq. 6);
the grid regularizers (TV, L1) and the sparse-view ones (FreeNeRF's frequency annealing and
occlusion loss) are options of the setup.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import flax
import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh

from genvision_jax.errors import ConfigError
from genvision_jax.metrics.image import psnr_from_mse
from genvision_jax.models.fields import freenerf_mask, occlusion_loss, plenoxel_tv, tensorf_l1, tensorf_tv
from genvision_jax.rendering.fields import FieldRenderer
from genvision_jax.rendering.occupancy import OccupancyGrid
from genvision_jax.train.rng import stream_key
from genvision_jax.train.sharding import batch_sharding, constrain_batch, replicated_sharding


@flax.struct.dataclass
class FieldState:
    step: jax.Array
    params: Any          # {'coarse': ..., 'fine': ...} ('fine' only with a fine field)
    opt_state: Any
    occupancy: OccupancyGrid | None = None  # with an occupancy-grid recipe


@dataclasses.dataclass(frozen=True)
class FieldSetup:
    """The static half of a radiance-field run: the rendering recipe, optimizer and loss options."""

    renderer: FieldRenderer
    tx: optax.GradientTransformation
    coarse_loss_weight: float = 1.0     # NeRF: the coarse pass is supervised too
    regularizer: Callable[[Any], jax.Array] | None = None  # params of one field -> scalar (TV, L1)
    regularizer_weight: float = 0.0
    # FreeNeRF (Yang et al. 2023) for sparse views: the position encoding's visible frequencies grow
    # linearly until `freenerf_steps` (0 = off; fields with a Fourier encoder only), and the occlusion
    # loss weighs the density of each ray's first `occlusion_range` coarse samples.
    freenerf_steps: int = 0
    occlusion_weight: float = 0.0
    occlusion_range: int = 10

    def __post_init__(self):
        if self.regularizer_weight > 0 and self.regularizer is None:
            raise ConfigError("regularizer_weight > 0 needs a regularizer function")
        if self.freenerf_steps < 0 or self.occlusion_weight < 0 or self.occlusion_range < 1:
            raise ConfigError("sparse: freenerf steps and occlusion_weight must be >= 0 and occlusion_range >= 1")
        if self.freenerf_steps and getattr(self.renderer.coarse, "encoder", None) != "fourier":
            raise ConfigError("sparse.freenerf_fraction > 0 needs a field with a Fourier position encoding "
                              "(field.name='nerf' with field.kwargs.encoder='fourier')")

    @property
    def dynamic(self) -> bool:
        return self.renderer.dynamic

    def freq_masks(self, step) -> tuple[jax.Array, jax.Array] | None:
        """FreeNeRF masks (position, direction) at `step`; the direction encoding is never masked."""
        if not self.freenerf_steps:
            return None
        f = self.renderer.coarse
        pos = freenerf_mask(f.pos_freqs, step, self.freenerf_steps)
        return pos, jnp.ones((3 * (2 * f.dir_freqs + 1),), jnp.float32)


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
        raise ConfigError(f"regularizer weights {bad} do not apply to field {field_name!r}; it has "
                          f"{list(valid) or 'none'}")
    if not any(weights.get(k, 0.0) for k in valid):
        return None
    w = {k: float(weights.get(k, 0.0)) for k in valid}
    if field_name == "plenoxels":
        return lambda p: plenoxel_tv(p, w["tv_density"], w["tv_sh"])
    return lambda p: (w["l1"] * tensorf_l1(p) + w["tv_density"] * tensorf_tv(p, "density")
                      + w["tv_appearance"] * tensorf_tv(p, "appearance"))


def init_field_state(setup: FieldSetup, rng: jax.Array) -> FieldState:
    """Unsharded init of the coarse (and fine) field, the optimizer and the occupancy grid."""
    r = setup.renderer
    kc, kf = jax.random.split(rng)
    pts, dirs = jnp.zeros((1, 3)), jnp.ones((1, 3)) / jnp.sqrt(3.0)
    tt = jnp.zeros((1, 1)) if r.dynamic else None
    params = {"coarse": r.coarse.init(kc, pts, dirs, tt)["params"]}
    if r.fine is not None:
        params["fine"] = r.fine.init(kf, pts, dirs, tt)["params"]
    return FieldState(step=jnp.zeros((), jnp.int32), params=params, opt_state=setup.tx.init(params),
                      occupancy=r.init_occupancy())


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
    r = setup.renderer
    constrain = (lambda x: x) if mesh is None else (lambda x: constrain_batch(x, mesh))

    def step(state: FieldState, batch: dict, root: jax.Array):
        _check_batch(batch, setup)
        key = stream_key(root, "sample", state.step)
        times = batch.get("time")

        def loss_fn(params):
            out = r.render_rays(params, batch["origins"], batch["directions"], key, times, constrain=constrain,
                                freq_masks=setup.freq_masks(state.step), occupancy=state.occupancy)
            mse = jnp.mean((out["rgb"] - batch["rgb"]) ** 2)
            loss, metrics = mse, {"mse": mse, "psnr": psnr_from_mse(mse)}
            if "rgb_coarse" in out:
                mse_c = jnp.mean((out["rgb_coarse"] - batch["rgb"]) ** 2)
                loss = loss + setup.coarse_loss_weight * mse_c
                metrics["psnr_coarse"] = psnr_from_mse(mse_c)
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
            grid = r.update_occupancy(grid, params, stream_key(root, "occupancy", state.step), state.step + 1)
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
    """The deterministic image renderer of the setup's recipe, with FreeNeRF's masks of the given step."""
    return setup.renderer.image_renderer(chunk, setup.freq_masks if setup.freenerf_steps else None)
