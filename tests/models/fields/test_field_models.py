"""Radiance fields: the shared contract for every field (shapes, rgb ∈ [0,1], density ≥ 0 and 0 outside
the box, finite gradients on the bounds, outside and at extreme inputs), NeRF's paper parameter count and
skip, hand-computed TensoRF and Plenoxel values and regularizers, D-NeRF's canonical frame, make_field."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genvision_jax.models.fields import (
    FIELDS,
    NeRFMLP,
    PlenoxelField,
    TensoRFField,
    field_options,
    make_field,
    plenoxel_tv,
    tensorf_l1,
    tensorf_tv,
    total_variation,
)
from genvision_jax.models.fields import plenoxels

# jitted once per shape: a whole function compiles faster than its ops one by one
trilinear = jax.jit(plenoxels.trilinear)
total_variation = jax.jit(total_variation, static_argnames="squared")
plenoxel_tv = jax.jit(plenoxel_tv, static_argnames="squared")
tensorf_tv = jax.jit(tensorf_tv, static_argnames="which")
tensorf_l1 = jax.jit(tensorf_l1)

BOUNDS = ((-1.0, -0.5, 0.0), (1.0, 1.5, 1.0))
LO, HI = np.array(BOUNDS[0], np.float32), np.array(BOUNDS[1], np.float32)

TINY = {
    "nerf": dict(depth=3, width=16, skips=(1,), view_width=8, pos_freqs=4, dir_freqs=2, density_activation="softplus"),
    "nerf_hash": dict(encoder="hash", depth=2, width=16, skips=(), view_width=8, hash_levels=3, hash_log2_size=8,
                      hash_min_res=2, hash_max_res=12),
    "instant_ngp": dict(hash_levels=3, hash_log2_size=8, hash_min_res=2, hash_max_res=12, density_hidden=16,
                        color_hidden=16),
    "tensorf": dict(resolution=6, density_components=2, appearance_components=3, appearance_dim=5, mlp_hidden=8,
                    density_shift=0.0),
    "plenoxels": dict(resolution=5),
    "dnerf": dict(depth=2, width=16, skips=(), pos_freqs=3, time_freqs=2, canonical="nerf", deformation_init=None,
                  canonical_kwargs=dict(depth=2, width=16, skips=(), view_width=8, density_activation="softplus")),
}


def _count(tree):
    return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))


def _init(field, *inputs, seed=0):
    # One jitted program compiles ~2.5x faster than op-by-op init; rbg keys hash in a single op.
    return jax.jit(field.init)(jax.random.key(seed, impl="rbg"), *inputs)


def _field(key):
    return make_field("nerf" if key == "nerf_hash" else key, bounds=BOUNDS, **TINY[key])


def _probe_points():
    """[N, 3]: random inside, the 8 box corners, face centres, just outside, far outside and ±1e6."""
    rng = np.random.default_rng(0)
    inside = LO + rng.uniform(size=(10, 3)) * (HI - LO)
    corners = np.array([[HI[i] if (c >> i) & 1 else LO[i] for i in range(3)] for c in range(8)])
    centre = (LO + HI) / 2
    faces = np.array([np.where(np.arange(3) == a, side[a], centre) for a in range(3) for side in (LO, HI)])
    outside = np.array([HI + 1e-3, LO - 0.5, [5.0, 0.0, 0.5], [1e6, -1e6, 1e6], [-1e6, 1e6, -1e6]])
    return np.concatenate([inside, corners, faces, outside]).astype(np.float32), 10 + 8 + 6


@pytest.mark.parametrize("key", list(TINY))
def test_field_contract(key):
    field = _field(key)
    pts, n_in = _probe_points()
    n = len(pts)
    dirs = np.random.default_rng(1).normal(size=(n, 3))
    dirs = jnp.asarray(dirs / np.linalg.norm(dirs, axis=-1, keepdims=True), jnp.float32)
    times = jnp.linspace(0.0, 1.0, n)[:, None]
    variables = _init(field, jnp.asarray(pts), dirs, times)

    @jax.jit
    def run(params, points):
        def total(params, points):
            rgb, density = field.apply({"params": params}, points, dirs, times)
            return jnp.sum(rgb) + jnp.sum(density), (rgb, density)

        return jax.value_and_grad(total, argnums=(0, 1), has_aux=True)(params, points)

    (_, (rgb, density)), (g_params, g_points) = run(variables["params"], jnp.asarray(pts))
    rgb, density = np.asarray(rgb), np.asarray(density)
    assert rgb.shape == (n, 3) and density.shape == (n,)
    assert np.isfinite(rgb).all() and (rgb >= 0).all() and (rgb <= 1).all()
    assert np.isfinite(density).all() and (density >= 0).all()
    assert (density[n_in:] == 0).all()  # outside the box the field is empty
    assert density[:n_in].max() > 0  # ... and not trivially empty inside
    assert all(np.isfinite(np.asarray(g)).all() for g in jax.tree.leaves(g_params))
    assert np.isfinite(np.asarray(g_points)).all()
    assert max(float(np.abs(np.asarray(g)).max()) for g in jax.tree.leaves(g_params)) > 0

    # leading batch dims are free and per-ray viewdirs broadcast over samples
    rgb2, density2 = jax.jit(field.apply)(
        variables, jnp.asarray(pts[:12]).reshape(3, 4, 3), dirs[:3, None, :], times[:12].reshape(3, 4, 1)
    )
    assert rgb2.shape == (3, 4, 3) and density2.shape == (3, 4)


def test_nerf_parameter_count_matches_paper_architecture():
    field = NeRFMLP(bounds=1.5)  # 8 × 256, skip after layer 4, γ(x) 63-d, γ(d) 27-d
    shapes = jax.eval_shape(lambda: field.init(jax.random.key(0), jnp.zeros((1, 3)), jnp.zeros((1, 3))))["params"]
    dense = lambda i, o: i * o + o  # noqa: E731
    expected = (
        dense(63, 256)
        + 4 * dense(256, 256)  # layers 1-4
        + dense(256 + 63, 256)  # layer 5 reads the skip concatenation
        + 2 * dense(256, 256)  # layers 6-7
        + dense(256, 1)  # density
        + dense(256, 256)  # feature
        + dense(256 + 27, 128)  # view branch
        + dense(128, 3)  # rgb
    )
    assert expected == 595_844 and _count(shapes) == expected
    trunk = shapes["trunk"]
    assert trunk["layer5"]["kernel"].shape == (256 + 63, 256)
    assert all(trunk[f"layer{i}"]["kernel"].shape == (256, 256) for i in (1, 2, 3, 4, 6, 7))


def test_nerf_skip_validation_and_encoders():
    with pytest.raises(ValueError, match="skip"):
        jax.eval_shape(NeRFMLP(depth=2, skips=(4,)).init, jax.random.key(0), jnp.zeros((1, 3)), jnp.zeros((1, 3)))
    with pytest.raises(ValueError, match="encoder"):
        jax.eval_shape(NeRFMLP(encoder="sinc").init, jax.random.key(0), jnp.zeros((1, 3)), jnp.zeros((1, 3)))
    raw = NeRFMLP(encoder="none", depth=2, width=4, skips=(0,), dir_freqs=0)
    shapes = jax.eval_shape(lambda: raw.init(jax.random.key(0), jnp.zeros((1, 3)), jnp.zeros((1, 3))))["params"]
    assert shapes["trunk"]["layer0"]["kernel"].shape == (3, 4) and shapes["trunk"]["layer1"]["kernel"].shape == (7, 4)
    assert shapes["view"]["kernel"].shape == (4 + 3, 128)


def test_tensorf_density_at_grid_point_is_hand_computed():
    field = TensoRFField(bounds=1.0, resolution=3, density_components=2, appearance_components=1, appearance_dim=2,
                         mlp_hidden=4)
    variables = _init(field, jnp.zeros((1, 3)), jnp.zeros((1, 3)))
    apply = jax.jit(field.apply)
    params = dict(variables["params"])
    planes = np.arange(3 * 3 * 3 * 2, dtype=np.float32).reshape(3, 3, 3, 2) / 50  # [mode, i, j, r]
    lines = (np.arange(3 * 3 * 2, dtype=np.float32).reshape(3, 3, 2) - 8) / 10  # [mode, k, r]
    params["density_planes"], params["density_lines"] = jnp.asarray(planes), jnp.asarray(lines)
    point = np.array([[0.0, 1.0, -1.0]], np.float32)  # vertices at −1, 0, 1 → grid (i, j, k) = (1, 2, 0)
    i, j, k = 1, 2, 0
    feature = sum(
        planes[0, i, j, r] * lines[0, k, r]  # plane xy · line z
        + planes[1, i, k, r] * lines[1, j, r]  # plane xz · line y
        + planes[2, j, k, r] * lines[2, i, r]  # plane yz · line x
        for r in range(2)
    )
    expected = 25.0 * np.log1p(np.exp(feature - 10.0))
    _, density = apply({"params": params}, jnp.asarray(point), jnp.asarray([[0.0, 0.0, 1.0]]))
    np.testing.assert_allclose(float(density[0]), expected, rtol=1e-5)
    # halfway between vertices along x only the two x-neighbours mix: linear in the plane-xy/xz and line-x values
    mid = np.array([[0.5, 1.0, -1.0]], np.float32)  # grid (1.5, 2, 0)
    f_mid = sum(
        (planes[0, 1, 2, r] + planes[0, 2, 2, r]) / 2 * lines[0, 0, r]
        + (planes[1, 1, 0, r] + planes[1, 2, 0, r]) / 2 * lines[1, 2, r]
        + planes[2, 2, 0, r] * (lines[2, 1, r] + lines[2, 2, r]) / 2
        for r in range(2)
    )
    _, density_mid = apply({"params": params}, jnp.asarray(mid), jnp.asarray([[0.0, 0.0, 1.0]]))
    np.testing.assert_allclose(float(density_mid[0]), 25.0 * np.log1p(np.exp(f_mid - 10.0)), rtol=1e-5)


def test_tensorf_regularizers():
    g, r = 4, 3
    const = {"density_planes": jnp.full((3, g, g, r), 0.7), "density_lines": jnp.full((3, g, r), -0.7),
             "appearance_planes": jnp.full((3, g, g, 2), 2.0)}
    assert float(tensorf_tv(const)) == 0.0 and float(tensorf_tv(const, "appearance")) == 0.0
    np.testing.assert_allclose(float(tensorf_l1(const)), 3 * (0.7 + 0.7), rtol=1e-6)  # Σ_modes mean|P| + mean|v|
    assert float(tensorf_l1({"density_planes": jnp.zeros((3, g, g, r)), "density_lines": jnp.zeros((3, g, r))})) == 0
    ramp = {"density_planes": jnp.broadcast_to(0.5 * jnp.arange(g)[None, :, None, None], (3, g, g, r))}
    np.testing.assert_allclose(float(tensorf_tv(ramp)), 0.25, rtol=1e-6)  # (Δi)² = 0.25, Δj = 0


def test_plenoxel_trilinear_exact_at_vertices_and_linear_between():
    rng = np.random.default_rng(0)
    grid = rng.normal(size=(4, 5, 3, 2)).astype(np.float32)
    ijk = np.stack(np.meshgrid(np.arange(4), np.arange(5), np.arange(3), indexing="ij"), -1).reshape(-1, 3)
    np.testing.assert_allclose(np.asarray(trilinear(jnp.asarray(grid), jnp.asarray(ijk, jnp.float32))),
                               grid.reshape(-1, 2), atol=1e-6)
    # edge midpoint = mean of its two vertices; a point a quarter into a cell along y
    u = jnp.asarray([[1.5, 2.0, 1.0], [3.0, 0.25, 2.0]])
    np.testing.assert_allclose(np.asarray(trilinear(jnp.asarray(grid), u)),
                               [(grid[1, 2, 1] + grid[2, 2, 1]) / 2, 0.75 * grid[3, 0, 2] + 0.25 * grid[3, 1, 2]],
                               atol=1e-6)
    # through the field: a density grid linear in the vertex coordinates is reproduced at any point
    field = PlenoxelField(bounds=BOUNDS, resolution=5, sh_degree=1)
    variables = _init(field, jnp.zeros((1, 3)), jnp.zeros((1, 3)))
    coef = np.array([0.3, 0.2, 0.1])
    lin = 1.0 + np.einsum("ijkd,d->ijk", np.stack(np.meshgrid(*[np.arange(5)] * 3, indexing="ij"), -1), coef)
    params = {"density": jnp.asarray(lin[..., None], jnp.float32), "sh": variables["params"]["sh"]}
    pts = LO + np.random.default_rng(1).uniform(size=(50, 3)) * (HI - LO)
    rgb, density = jax.jit(field.apply)(
        {"params": params}, jnp.asarray(pts, jnp.float32), jnp.asarray([[0.0, 0.0, 1.0]])
    )
    np.testing.assert_allclose(np.asarray(density), 1.0 + ((pts - LO) / (HI - LO) * 4) @ coef, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(rgb), 0.5)  # SH initialised to 0 → sigmoid(0)


def test_plenoxel_total_variation():
    const = jnp.full((4, 4, 4, 3), 2.5)
    assert float(total_variation(const)) == 0.0 and float(total_variation(const, squared=True)) == 0.0
    i, j, k = np.meshgrid(np.arange(4), np.arange(5), np.arange(6), indexing="ij")
    ramp = jnp.asarray(np.stack([0.3 * i + 0.4 * j - 1.2 * k, -0.6 * i], -1), jnp.float32)  # C = 2
    # per voxel: channel 0 √(0.09+0.16+1.44) = 1.3, channel 1 0.6 → 1.9; squared: 1.69 + 0.36 = 2.05
    np.testing.assert_allclose(float(total_variation(ramp)), 1.9, atol=1e-5)
    np.testing.assert_allclose(float(total_variation(ramp, squared=True)), 2.05, rtol=1e-5)
    params = {"density": ramp[..., :1], "sh": ramp[..., 1:]}
    np.testing.assert_allclose(float(plenoxel_tv(params, 2.0, 10.0)), 2.0 * 1.3 + 10.0 * 0.6, atol=1e-4)
    grad = jax.grad(total_variation)(const)
    assert np.isfinite(np.asarray(grad)).all()


def test_dnerf_is_canonical_at_t0_and_deforms_after():
    field = _field("dnerf")
    rng = np.random.default_rng(2)
    pts = jnp.asarray(LO + rng.uniform(size=(32, 3)) * (HI - LO), jnp.float32)
    dirs = jnp.broadcast_to(jnp.asarray([0.0, 0.6, 0.8]), (32, 3))
    variables = _init(field, pts, dirs, jnp.full((32, 1), 0.5), seed=3)
    apply = jax.jit(field.apply)
    canonical = make_field("nerf", bounds=BOUNDS, **TINY["dnerf"]["canonical_kwargs"])
    rgb_c, density_c = jax.jit(canonical.apply)({"params": variables["params"]["canonical"]}, pts, dirs)
    rgb0, density0 = apply(variables, pts, dirs, jnp.zeros((32, 1)))
    np.testing.assert_array_equal(np.asarray(rgb0), np.asarray(rgb_c))
    np.testing.assert_array_equal(np.asarray(density0), np.asarray(density_c))
    rgb1, density1 = apply(variables, pts, dirs, jnp.full((32, 1), 0.5))
    assert np.abs(np.asarray(rgb1) - np.asarray(rgb_c)).max() > 1e-4
    assert np.abs(np.asarray(density1) - np.asarray(density_c)).max() > 1e-4
    with pytest.raises(ValueError, match="times"):
        field.apply(variables, pts, dirs, None)
    # The default near-zero output init starts from Δx ≈ 0 (a static scene); Dense's default does not.
    near_zero = make_field("dnerf", bounds=BOUNDS, **{**TINY["dnerf"], "deformation_init": 1e-4})
    times = jnp.full((32, 1), 0.5)
    change = []
    for f in (near_zero, field):
        v = _init(f, pts, dirs, times, seed=3)
        _, d0 = f.apply(v, pts, dirs, jnp.zeros((32, 1)))
        _, d1 = f.apply(v, pts, dirs, times)
        change.append(float(jnp.abs(d1 - d0).max()))
    assert change[0] < 0.1 * change[1]


def _param_shapes(field):
    inputs = (jnp.zeros((2, 3)), jnp.zeros((2, 3)), jnp.zeros((2, 1)))
    return jax.eval_shape(field.init, jax.random.key(0), *inputs)["params"]


def test_dnerf_default_canonical_and_other_canonical_fields():
    field = make_field("dnerf", bounds=1.0, depth=2, width=8, skips=())
    shapes = _param_shapes(field)
    assert _count(shapes["canonical"]) == 595_844  # the paper's NeRF MLP
    field = make_field("dnerf", bounds=1.0, depth=2, width=8, skips=(), canonical="plenoxels",
                       canonical_kwargs={"resolution": 3})
    shapes = _param_shapes(field)
    assert shapes["canonical"]["sh"].shape == (3, 3, 3, 27)


def test_make_field_errors_list_valid_choices():
    with pytest.raises(ValueError) as err:
        make_field("mipnerf")
    assert all(name in str(err.value) for name in FIELDS)
    with pytest.raises(ValueError) as err:
        make_field("tensorf", bounds=1.0, grid_size=64)
    assert "grid_size" in str(err.value) and "resolution" in str(err.value) and "density_components" in str(err.value)
    with pytest.raises(ValueError, match="dnerf"):
        make_field("dnerf", canonical="dnerf")
    with pytest.raises(ValueError, match="canonical_kwargs"):
        make_field("dnerf", canonical_kwargs={"depth": 2})
    assert "canonical_kwargs" in field_options("dnerf") and "parent" not in field_options("nerf")
    assert isinstance(make_field("plenoxels", bounds=2.0, resolution=8), PlenoxelField)
