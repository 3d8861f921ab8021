"""Constant-velocity Kalman filters for boxes: SORT's and DeepSORT's state, numpy and batched JAX paths.

The filter math is written once over an array module `xp` (numpy or jax.numpy) and for any number of
leading batch dimensions, so
  - the numpy path filters all tracks of a frame with a few stacked matrix products (what the trackers
    use: for tens of tracks the per-call overhead of a jitted function exceeds the work), and
  - `BatchedKalman` jits `jax.vmap` of the single-track functions for large track counts.
Predict and update follow filterpy's `KalmanFilter` exactly (update in Joseph form,
P = (I - KH) P (I - KH)^T + K R K^T), which the tests check to 1e-9 in float64.

Motion models:
  `SortMotion`     state (cx, cy, s, r, vcx, vcy, vs), s = area, r = w / h (constant), fixed noise
                   (Bewley et al. 2016, "Simple Online and Realtime Tracking", reference code settings).
  `DeepSortMotion` state (cx, cy, a, h, vcx, vcy, va, vh), a = w / h, noise proportional to the box
                   height h (Wojke et al. 2017, "Simple Online and Realtime Tracking with a Deep
                   Association Metric"; std weights 1/20 for positions, 1/160 for velocities). ByteTrack
                   (Zhang et al. 2022) uses the same filter.
Mahalanobis gating uses the 0.95 quantile of the chi-square distribution (`CHI2_95[dof]`).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.stats

from genvision_jax.tracking import boxes as box_ops

# 0.95 quantiles of chi-square with 1..4 degrees of freedom (9.4877 for 4: the full xyah/xysr gate).
CHI2_95 = {dof: float(scipy.stats.chi2.ppf(0.95, dof)) for dof in range(1, 5)}


def _transpose(m):
    return m.swapaxes(-1, -2)


def _diag(xp, variances):
    """[..., d] variances -> [..., d, d] diagonal matrices."""
    d = variances.shape[-1]
    return xp.eye(d, dtype=variances.dtype) * variances[..., None, :]


def kalman_predict(mean, cov, F, Q):
    """x <- F x, P <- F P F^T + Q. mean [..., dx], cov [..., dx, dx], F [dx, dx], Q [..., dx, dx]."""
    return mean @ _transpose(F), F @ cov @ _transpose(F) + Q


def kalman_project(mean, cov, H, R):
    """Measurement-space mean [..., dz] and innovation covariance S = H P H^T + R [..., dz, dz]."""
    return mean @ _transpose(H), H @ cov @ _transpose(H) + R


def kalman_update(xp, mean, cov, z, H, R):
    """Posterior after measuring z [..., dz]: K = P H^T S^-1, x <- x + K (z - H x),
    P <- (I - K H) P (I - K H)^T + K R K^T (Joseph form: symmetric and PSD up to rounding)."""
    PHt = cov @ _transpose(H)
    S = H @ PHt + R
    K = _transpose(xp.linalg.solve(S, _transpose(PHt)))  # S symmetric: S^-1 (P H^T)^T = K^T
    innovation = z - mean @ _transpose(H)
    mean = mean + (K @ innovation[..., None])[..., 0]
    I_KH = xp.eye(cov.shape[-1], dtype=cov.dtype) - K @ H
    cov = I_KH @ cov @ _transpose(I_KH) + K @ R @ _transpose(K)
    return mean, cov


def squared_mahalanobis(xp, mean, cov, z, H, R):
    """d^2 [..., M] of measurements z [M, dz] under each track's predicted measurement distribution.

    mean [..., dx], cov [..., dx, dx]. DeepSORT's gating distance: compare with CHI2_95[dz].
    """
    z_mean, S = kalman_project(mean, cov, H, R)
    diff_t = _transpose(z - z_mean[..., None, :])  # [..., dz, M]
    return xp.sum(diff_t * xp.linalg.solve(S, diff_t), axis=-2)


# ------------------------------------------------------------------------------------------------
# Motion models
# ------------------------------------------------------------------------------------------------


def _constant_velocity(dim_z: int, dim_x: int) -> tuple[np.ndarray, np.ndarray]:
    """F [dx, dx] adding each velocity (the last dx - dz entries) to its position, and H = [I | 0]."""
    F = np.eye(dim_x)
    for i in range(dim_x - dim_z):
        F[i, dim_z + i] = 1.0
    return F, np.eye(dim_z, dim_x)


class SortMotion:
    """SORT's filter: state (cx, cy, s, r, vcx, vcy, vs), measurement (cx, cy, s, r).

    Noise as in the reference implementation: R = diag(1, 1, 10, 10); P0 = 10 I with another 1000x on
    the unobserved velocities; Q = I with 0.01 on the velocities and 1e-4 on the area velocity.
    """

    dim_x, dim_z, box_format = 7, 4, "xysr"
    F, H = _constant_velocity(4, 7)
    R = np.diag([1.0, 1.0, 10.0, 10.0])
    P0 = np.diag([10.0] * 4 + [10_000.0] * 3)
    Q = np.diag([1.0] * 4 + [0.01, 0.01, 1e-4])

    def initiate(self, xp, z):
        """z [..., 4] -> mean [..., 7] (zero velocity), cov [..., 7, 7]."""
        zeros = xp.zeros(z.shape[:-1] + (3,), dtype=z.dtype)
        cov = xp.zeros(z.shape[:-1] + (7, 7), dtype=z.dtype) + xp.asarray(self.P0, z.dtype)
        return xp.concatenate([z, zeros], axis=-1), cov

    def predict(self, xp, mean, cov):
        # The area must not go negative: SORT zeroes the area velocity when the step would do that.
        shrink_past_zero = (mean[..., 2] + mean[..., 6]) <= 0
        mean = xp.where(shrink_past_zero[..., None] & (xp.arange(7) == 6), 0.0, mean)
        return kalman_predict(mean, cov, xp.asarray(self.F, mean.dtype), xp.asarray(self.Q, mean.dtype))

    def measurement_noise(self, xp, mean):
        return xp.zeros(mean.shape[:-1] + (4, 4), mean.dtype) + xp.asarray(self.R, mean.dtype)

    def update(self, xp, mean, cov, z):
        return kalman_update(xp, mean, cov, z, xp.asarray(self.H, mean.dtype), self.measurement_noise(xp, mean))

    def to_measurement(self, xyxy: np.ndarray) -> np.ndarray:
        return box_ops.xyxy_to_xysr(xyxy)

    def to_xyxy(self, mean: np.ndarray) -> np.ndarray:
        return box_ops.xysr_to_xyxy(mean[..., :4])


@dataclasses.dataclass(frozen=True)
class DeepSortMotion:
    """DeepSORT's filter: state (cx, cy, a, h, vcx, vcy, va, vh), measurement (cx, cy, a, h).

    Standard deviations scale with the box height h: positions `std_weight_position` h, velocities
    `std_weight_velocity` h; the aspect ratio a has fixed noise (process 1e-2, measurement 1e-1,
    its velocity 1e-5). At initiation positions get 2x and velocities 10x the process values.
    """

    std_weight_position: float = 1.0 / 20
    std_weight_velocity: float = 1.0 / 160
    dim_x, dim_z, box_format = 8, 4, "xyah"
    F, H = _constant_velocity(4, 8)

    def _std(self, xp, h, position_scale: float, velocity_scale: float, aspect_std: float):
        """std [..., 8] from height h [...]: (p, p, aspect_std, p, v, v, 1e-5 * velocity_scale, v)."""
        wp, wv = position_scale * self.std_weight_position, velocity_scale * self.std_weight_velocity
        per_h = xp.asarray([wp, wp, 0.0, wp, wv, wv, 0.0, wv], h.dtype)
        fixed = xp.asarray([0.0, 0.0, aspect_std, 0.0, 0.0, 0.0, 1e-5 * velocity_scale, 0.0], h.dtype)
        return h[..., None] * per_h + fixed

    def initiate(self, xp, z):
        std = self._std(xp, z[..., 3], 2.0, 10.0, 1e-2)
        zeros = xp.zeros(z.shape[:-1] + (4,), dtype=z.dtype)
        return xp.concatenate([z, zeros], axis=-1), _diag(xp, std * std)

    def process_noise(self, xp, mean):
        std = self._std(xp, mean[..., 3], 1.0, 1.0, 1e-2)
        return _diag(xp, std * std)

    def measurement_noise(self, xp, mean):
        std = self._std(xp, mean[..., 3], 1.0, 0.0, 1e-1)[..., :4]
        return _diag(xp, std * std)

    def predict(self, xp, mean, cov):
        # Q is evaluated at the state before the step, as in DeepSORT.
        return kalman_predict(mean, cov, xp.asarray(self.F, mean.dtype), self.process_noise(xp, mean))

    def update(self, xp, mean, cov, z):
        return kalman_update(xp, mean, cov, z, xp.asarray(self.H, mean.dtype), self.measurement_noise(xp, mean))

    def to_measurement(self, xyxy: np.ndarray) -> np.ndarray:
        return box_ops.xyxy_to_xyah(xyxy)

    def to_xyxy(self, mean: np.ndarray) -> np.ndarray:
        return box_ops.xyah_to_xyxy(mean[..., :4])


MotionModel = SortMotion | DeepSortMotion


def gating_distance(model: MotionModel, mean: np.ndarray, cov: np.ndarray, z: np.ndarray,
                    only_position: bool = False) -> np.ndarray:
    """Squared Mahalanobis distances [N, M] of measurements z [M, 4] to N tracks (numpy path).

    With `only_position` only (cx, cy) are compared (gate CHI2_95[2]), else all four (CHI2_95[4]).
    """
    H = model.H
    R = model.measurement_noise(np, mean)
    if only_position:
        H, R, z = H[:2], R[..., :2, :2], z[..., :2]
    if len(mean) == 0 or len(z) == 0:
        return np.zeros((len(mean), len(z)))
    return squared_mahalanobis(np, mean, cov, z, H, R)


class BatchedKalman:
    """Jitted, vmapped predict/update over N tracks for a motion model (the JAX path).

    predict(mean [N, dx], cov [N, dx, dx]) -> (mean, cov); update(mean, cov, z [N, dz]) -> (mean, cov).
    Computes in the dtype of its inputs (float64 under `jax.enable_x64`).
    """

    def __init__(self, model: MotionModel):
        import jax  # pylint: disable=g-import-not-at-top
        import jax.numpy as jnp  # pylint: disable=g-import-not-at-top

        self.model = model
        self.predict = jax.jit(jax.vmap(lambda m, c: model.predict(jnp, m, c)))
        self.update = jax.jit(jax.vmap(lambda m, c, z: model.update(jnp, m, c, z)))
        self.initiate = jax.jit(jax.vmap(lambda z: model.initiate(jnp, z)))
