"""Radiance-field training: the step on 1 vs 8 devices, learning, the ray renderer, setup validation."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from genvision_jax.data import scenes
from genvision_jax.models.fields import make_field
from genvision_jax.rendering import cameras
from genvision_jax.rendering.fields import FieldRenderer
from genvision_jax.rendering.occupancy import occupancy_init
from genvision_jax.tasks.fields import (FieldSetup, grid_regularizer, init_field_state, make_field_train_step,
                                        make_ray_renderer)
from genvision_jax.train import make_mesh, to_global_batch
from genvision_jax.train.rng import root_key
from genvision_jax.train.sharding import create_replicated

RENDER_KEYS = {"coarse", "fine", "near", "far", "num_coarse", "num_fine", "background", "far_delta", "weight_threshold",
               "randomized", "dynamic", "occupancy_resolution", "occupancy_candidates", "occupancy_update_every"}

TINY_NERF = dict(encoder="fourier", pos_freqs=4, dir_freqs=2, depth=2, width=32, skips=(0,), view_width=16)


def _field_setup(**kw):
    """FieldSetup from keyword arguments of its renderer and of itself."""
    render = {k: v for k, v in kw.items() if k in RENDER_KEYS}
    return FieldSetup(renderer=FieldRenderer(**render), **{k: v for k, v in kw.items() if k not in RENDER_KEYS})


def _setup(**kw):
    field = make_field("nerf", bounds=2.3, **TINY_NERF)
    defaults = dict(coarse=field, fine=make_field("nerf", bounds=2.3, **TINY_NERF), num_fine=8,
                    tx=optax.adam(5e-3), near=1.7, far=6.3, num_coarse=8)
    return _field_setup(**{**defaults, **kw})


def create_field_state(setup, key, mesh):
    return create_replicated(lambda r: init_field_state(setup, r), key, mesh)


def _view_rays(size=16, azimuth=30.0):
    intr = cameras.Intrinsics.from_fov(size, size, 0.8)
    c2w = np.asarray(cameras.orbit_poses(azimuth, 30.0, 4.0))
    view = scenes.render_view("spheres", c2w, intr)
    o, d = cameras.pixel_rays(jnp.asarray(c2w), intr)
    return np.asarray(o).reshape(-1, 3), np.asarray(d).reshape(-1, 3), view["rgb"].reshape(-1, 3), (o, d, view)


def test_nerf_step_on_1_and_8_devices_is_the_same():
    assert jax.device_count() == 8
    setup = _setup()
    o, d, rgb, _ = _view_rays()
    root = root_key(0)
    results = []
    for devices in (jax.devices()[:1], jax.devices()):
        mesh = make_mesh(devices)
        state = create_field_state(setup, root, mesh)
        step = make_field_train_step(setup, mesh)
        for k in range(3):
            idx = np.random.default_rng([0, k]).integers(0, len(rgb), 64)
            batch = to_global_batch({"origins": o[idx], "directions": d[idx], "rgb": rgb[idx]}, mesh)
            state, metrics = step(state, batch, root)
        results.append((jax.device_get(state.params), float(metrics["loss"])))
    (p1, l1), (p8, l8) = results
    assert l1 == pytest.approx(l8, rel=1e-5)
    for a, b in zip(jax.tree.leaves(p1), jax.tree.leaves(p8)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_training_on_one_view_raises_its_psnr():
    setup = _setup(tx=optax.adam(1e-2))
    o, d, rgb, _ = _view_rays()
    mesh = make_mesh(jax.devices()[:1])
    root = root_key(1)
    state = create_field_state(setup, root, mesh)
    step = make_field_train_step(setup, mesh)
    psnrs = []
    for k in range(60):
        idx = np.random.default_rng([1, k]).integers(0, len(rgb), 128)
        state, metrics = step(state, to_global_batch({"origins": o[idx], "directions": d[idx], "rgb": rgb[idx]},
                                                     mesh), root)
        psnrs.append(float(metrics["psnr"]))
    assert np.mean(psnrs[-10:]) > np.mean(psnrs[:5]) + 3.0  # dB; measured: 10.1 -> 17.1
    assert np.isfinite(psnrs).all() and int(state.step) == 60


def test_ray_renderer_is_deterministic_and_matches_render_rays():
    setup = _setup()
    state = create_field_state(setup, root_key(2), make_mesh(jax.devices()[:1]))
    _, _, _, (o, d, _) = _view_rays(size=8)
    render = make_ray_renderer(setup, chunk=24)  # 64 rays: not a multiple of the chunk
    a, b = render(state.params, o, d), render(state.params, o, d)
    np.testing.assert_array_equal(a["rgb"], b["rgb"])
    direct = setup.renderer.render_rays(state.params, o.reshape(-1, 3), d.reshape(-1, 3), None, randomized=False)
    np.testing.assert_allclose(a["rgb"].reshape(-1, 3), direct["rgb"], atol=1e-6)
    assert a["rgb"].shape == (8, 8, 3) and a["depth"].shape == (8, 8)
    assert np.all((a["acc"] >= 0) & (a["acc"] <= 1))


def test_freenerf_masks_and_occlusion_enter_the_loss():
    setup = _setup(freenerf_steps=100, occlusion_weight=1.0)
    pos, dirs = setup.freq_masks(0)
    assert pos.shape == (3 * (2 * 4 + 1),) and float(pos[:3].sum()) == 3.0 and float(pos[3:].sum()) == 0.0
    assert float(setup.freq_masks(100)[0].min()) == 1.0 and float(dirs.min()) == 1.0
    o, d, rgb, _ = _view_rays(size=8)
    mesh = make_mesh(jax.devices()[:1])
    state = create_field_state(setup, root_key(3), mesh)
    _, metrics = make_field_train_step(setup, mesh)(
        state, to_global_batch({"origins": o, "directions": d, "rgb": rgb}, mesh), root_key(3))
    assert float(metrics["occlusion"]) > 0.0
    assert float(metrics["loss"]) == pytest.approx(
        float(metrics["mse"]) + float((10 ** (-metrics["psnr_coarse"] / 10))) + float(metrics["occlusion"]), rel=1e-4)


def test_grid_regularizer_and_setup_errors():
    field = make_field("plenoxels", bounds=1.0, resolution=4)
    reg = grid_regularizer("plenoxels", {"tv_density": 1.0, "tv_sh": 0.0, "l1": 0.0})
    params = field.init(jax.random.key(0), jnp.zeros((1, 3)), jnp.ones((1, 3)) / 3 ** 0.5, None)["params"]
    flat = jax.tree.map(jnp.zeros_like, params)
    assert float(reg(flat)) == 0.0 and float(reg(params)) >= 0.0
    assert grid_regularizer("nerf", {"tv_density": 0.0}) is None
    with pytest.raises(ValueError, match=r"\['l1'\] do not apply to field 'plenoxels'"):
        grid_regularizer("plenoxels", {"l1": 1.0})
    with pytest.raises(ValueError, match="near < far"):
        _setup(near=3.0, far=2.0)
    with pytest.raises(ValueError, match="both a fine field and num_fine"):
        _setup(num_fine=0)
    with pytest.raises(ValueError, match=r"weight_threshold must be in \[0, 1\)"):
        _setup(weight_threshold=1.5)
    with pytest.raises(ValueError, match="Fourier position encoding"):
        _setup(coarse=make_field("nerf", bounds=2.3, encoder="none", depth=2, width=8, skips=(0,)),
               fine=None, num_fine=0, freenerf_steps=10)


class _SlabField(nn.Module):
    """Density `sigma` where x > `x_min` (0 elsewhere), constant grey colour: a known medium."""

    bounds: float = 2.0
    sigma: float = 0.7
    x_min: float = -10.0

    @nn.compact
    def __call__(self, points, viewdirs, times=None):
        self.param("unused", nn.initializers.zeros, (1,))
        density = jnp.where(points[..., 0] > self.x_min, self.sigma, 0.0)
        return jnp.full(points.shape, 0.5), density


def test_occupancy_sampling_spends_every_sample_on_occupied_space_with_exact_optical_depth():
    setup = FieldRenderer(coarse=_SlabField(), near=1.0, far=7.0, num_coarse=16,
                          background=(1.0, 1.0, 1.0), occupancy_resolution=8, occupancy_candidates=96)
    grid = occupancy_init(8, 2.0)
    centers = -2.0 + (np.arange(8) + 0.5) * 0.5
    slab = np.abs(centers) < 0.5  # cells covering x in [-0.5, 0.5]
    grid = grid.replace(occupied=jnp.asarray(np.broadcast_to(slab[:, None, None], (8, 8, 8))))
    origins = jnp.asarray([[-4.0, 0.1, 0.1], [-4.0, 0.3, -0.2], [0.0, -4.0, 2.5]])  # the last misses the box
    directions = jnp.asarray([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    params = {"coarse": {"unused": jnp.zeros(1)}}
    for randomized, key in ((False, None), (True, jax.random.key(3))):
        out = setup.render_rays(params, origins, directions, key, randomized=randomized, occupancy=grid)
        # The slab crosses rays 0 and 1 over t in [3.5, 4.5]: optical depth sigma * 1 exactly.
        np.testing.assert_allclose(out["acc"][:2], 1.0 - np.exp(-0.7), rtol=1e-5)
        np.testing.assert_allclose(out["rgb"][:2], 0.5 * (1 - np.exp(-0.7)) + np.exp(-0.7), rtol=1e-5)
        assert float(out["acc"][2]) == 0.0 and np.allclose(out["rgb"][2], 1.0)
        depth = np.asarray(out["depth"][:2]) / np.asarray(out["acc"][:2])
        assert np.all((depth > 3.5) & (depth < 4.5))
    with pytest.raises(ValueError, match="occupancy grid"):
        setup.render_rays(params, origins, directions, None, randomized=False)


def test_occupancy_grid_update_empties_cells_without_density_and_training_keeps_it():
    field = _SlabField(x_min=0.0)  # density only where x > 0
    setup = _field_setup(coarse=field, tx=optax.sgd(0.0), near=1.0, far=7.0, num_coarse=8,
                         occupancy_resolution=4, occupancy_update_every=2)
    mesh = make_mesh(jax.devices()[:1])
    state = create_field_state(setup, root_key(0), mesh)
    assert bool(jnp.all(state.occupancy.occupied))  # everything occupied before the first update
    step = make_field_train_step(setup, mesh)
    o, d, rgb, _ = _view_rays(size=8)
    batch = to_global_batch({"origins": o[:16], "directions": d[:16], "rgb": rgb[:16]}, mesh)
    state, metrics = step(state, batch, root_key(0))  # step 1: no update yet
    assert float(metrics["occupied_fraction"]) == 1.0
    state, metrics = step(state, batch, root_key(0))  # step 2: updated
    occupied = np.asarray(state.occupancy.occupied)
    assert occupied[2:].all() and not occupied[:2].any()  # cells of x > 0 only
    assert float(metrics["occupied_fraction"]) == 0.5
    with pytest.raises(ValueError, match="replaces the fine pass"):
        FieldRenderer(coarse=field, fine=field, num_fine=8, near=1.0, far=7.0, occupancy_resolution=4)
