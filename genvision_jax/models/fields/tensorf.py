"""TensoRF with the vector-matrix (VM) decomposition, Chen et al. 2022, "TensoRF: Tensorial Radiance
Fields", §4 (eqs. 3-5) and the official code's defaults.

Three modes pair a plane over two axes with a line along the third: (plane xy, line z), (plane xz,
line y), (plane yz, line x). With grid coordinates of a point:
    density feature   f_σ(x) = Σ_modes Σ_{r<R_σ} P^m_{σ,r}(x_a, x_b) · v^m_{σ,r}(x_c)
    density           σ = density_scale · softplus(f_σ + density_shift)      (shift −10, as the code)
    appearance        A(x) = [P^m_{c,r} · v^m_{c,r}]_{m, r<R_c}  (3·R_c values) → B (3R_c × P, no bias)
    colour            MLP([B·A, d, PE(B·A, 2), PE(d, 2)]) → 128 → 128 → 3 → sigmoid  (the code's MLP_Fea)
Planes are sampled bilinearly, lines linearly, on vertices spaced evenly over the box (grid_sample
with align_corners=True): vertex i of `resolution` lies at lo + i·(hi − lo)/(resolution − 1).
Parameters (channel-last for gathers): density_planes [3, G, G, R_σ], density_lines [3, G, R_σ], and
likewise appearance_*; initialised 0.1·N(0, 1) as the code.

`density_scale` folds TensoRF's `distance_scale = 25` (which multiplies σ·δ in its alpha) into the
field, so every field meets the same volume renderer. Grid upsampling (128³ → 300³ in the paper) and
the alpha-mask bounding-box shrinking are trainer operations on these parameters.

Regularizers (functions of the field's `params`): `tensorf_l1` (L1 of the density components, weight
8e-5 → 4e-5 in the code's configs) and `tensorf_tv` (TV of the planes).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from genvision_jax.models.fields.common import Bounds, check_field_inputs, grid_corners, to_unit_cube, zero_outside
from genvision_jax.nn.fusion import fusion_barrier
from genvision_jax.models.fields.encoding import positional_encoding

PLANE_AXES = ((0, 1), (0, 2), (1, 2))  # mode m: plane over these axes ...
LINE_AXIS = (2, 1, 0)  # ... times a line along this one


def sample_vm(planes: jax.Array, lines: jax.Array, u: jax.Array) -> jax.Array:
    """Per-mode, per-component products P·v at grid coordinates.

    planes [3, G, G, R], lines [3, G, R], u [..., 3] continuous vertex coordinates in [0, G−1]
    → [..., 3, R] with entry (m, r) = P^m_r(u_a, u_b) · v^m_r(u_c) (bilinear × linear interpolation).
    """
    g = planes.shape[1]
    mode = np.arange(3)
    uv = u[..., np.array(PLANE_AXES)]  # [..., 3, 2]
    corners, w = grid_corners(uv, g)  # [..., 3, 4, 2], [..., 3, 4]
    corners = fusion_barrier(corners)  # computed once, not per gathered value (nn/fusion.py)
    plane_vals = planes[mode[:, None], corners[..., 0], corners[..., 1]]  # [..., 3, 4, R]
    plane_vals = jnp.einsum("...mc,...mcr->...mr", w, plane_vals)
    lcorners, lw = grid_corners(u[..., np.array(LINE_AXIS)][..., None], g)  # [..., 3, 2, 1], [..., 3, 2]
    line_vals = lines[mode[:, None], lcorners[..., 0]]  # [..., 3, 2, R]
    line_vals = jnp.einsum("...mc,...mcr->...mr", lw, line_vals)
    return plane_vals * line_vals


class TensoRFField(nn.Module):
    """points [..., 3], viewdirs [..., 3], times (ignored) → (rgb [..., 3] ∈ [0,1], density [...] ≥ 0)."""

    bounds: Bounds = 1.0
    resolution: int = 128
    density_components: int = 16
    appearance_components: int = 48
    appearance_dim: int = 27
    mlp_hidden: int = 128
    view_freqs: int = 2
    feature_freqs: int = 2
    density_shift: float = -10.0
    density_scale: float = 25.0
    init_scale: float = 0.1

    def _grid(self, name: str, components: int, plane: bool) -> jax.Array:
        g = self.resolution
        shape = (3, g, g, components) if plane else (3, g, components)
        return self.param(name, nn.initializers.normal(self.init_scale), shape, jnp.float32)

    def grid_coords(self, points: jax.Array) -> jax.Array:
        """World points → continuous vertex coordinates [..., 3] in [0, G−1] (clamped by the sampler)."""
        return to_unit_cube(points, self.bounds) * (self.resolution - 1)

    @nn.compact
    def __call__(self, points: jax.Array, viewdirs: jax.Array, times: jax.Array | None = None):
        del times  # static scene
        viewdirs = check_field_inputs(points, viewdirs, None, "TensoRFField")
        if self.resolution < 2:
            raise ValueError(f"TensoRFField: resolution must be ≥ 2, got {self.resolution}")
        u = self.grid_coords(points)

        sigma_feature = sample_vm(
            self._grid("density_planes", self.density_components, True),
            self._grid("density_lines", self.density_components, False),
            u,
        ).sum(axis=(-2, -1))
        density = self.density_scale * jax.nn.softplus(sigma_feature + self.density_shift)

        app = sample_vm(
            self._grid("appearance_planes", self.appearance_components, True),
            self._grid("appearance_lines", self.appearance_components, False),
            u,
        )
        feat = nn.Dense(self.appearance_dim, use_bias=False, name="basis")(app.reshape(*app.shape[:-2], -1))
        h = jnp.concatenate(
            [positional_encoding(feat, self.feature_freqs), positional_encoding(viewdirs, self.view_freqs)], axis=-1
        )
        h = nn.relu(nn.Dense(self.mlp_hidden, name="mlp0")(h))
        h = nn.relu(nn.Dense(self.mlp_hidden, name="mlp1")(h))
        rgb = nn.sigmoid(nn.Dense(3, name="mlp_out")(h))
        return rgb, zero_outside(density, points, self.bounds)


def plane_tv(planes: jax.Array) -> jax.Array:
    """Σ over the two plane axes of the mean squared neighbour difference; planes [3, G, G, R] → scalar."""
    di = jnp.diff(planes, axis=1)
    dj = jnp.diff(planes, axis=2)
    return jnp.mean(di**2) + jnp.mean(dj**2)


def tensorf_tv(params, which: str = "density") -> jax.Array:
    """TV regularizer of a TensoRFField's planes (`which` = 'density' or 'appearance'), from its params."""
    if which not in ("density", "appearance"):
        raise ValueError(f"tensorf_tv: which must be 'density' or 'appearance', got {which!r}")
    return plane_tv(params[f"{which}_planes"])


def tensorf_l1(params) -> jax.Array:
    """L1 sparsity of the density components: Σ_modes mean|plane| + mean|line| (as the code's density_L1)."""
    planes, lines = params["density_planes"], params["density_lines"]
    return 3.0 * (jnp.mean(jnp.abs(planes)) + jnp.mean(jnp.abs(lines)))
