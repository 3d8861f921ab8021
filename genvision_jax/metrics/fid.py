"""Fréchet Inception Distance (FID) and the streaming feature statistics it is computed from.

FID (Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
Equilibrium", eq. 6) is the Fréchet (2-Wasserstein) distance between two Gaussians fitted to the
features of real and generated images:

    d² = ||mu1 - mu2||² + Tr(S1 + S2 - 2 (S1 S2)^{1/2}).

All host-side statistics are float64 numpy; the feature extractor (see `features.py`) is the only
part that runs in JAX. A FID number is only comparable with another one computed under the same
protocol (extractor and weights, image size, sample counts), so `compute_fid` returns the protocol
with the value.
"""

from __future__ import annotations

import json
import os
from typing import Any, Mapping

import numpy as np
import scipy.linalg

STATS_FORMAT = "genvision_jax.FeatureStats/1"

# Metadata keys that must agree between two sets of statistics for a distance between them to mean
# anything: features from different networks or image sizes live in different spaces.
PROTOCOL_KEYS = ("feature_extractor", "weights_sha256", "image_size", "feature_dim", "resize")


class FeatureStats:
    """Streaming mean and covariance of feature vectors, accumulated in float64 on the host.

    Holds the count n, the mean and the sum of outer products of centred features
    M2 = sum_i (x_i - mean)(x_i - mean)^T. Batches and whole accumulators are combined with the
    pairwise update of Chan, Golub & LeVeque (1979, "Updating formulae and a pairwise algorithm for
    computing sample variances"), which is exact in exact arithmetic and, unlike raw sums
    sum x x^T, does not lose digits to cancellation when |mean| >> std. Memory is O(d²),
    independent of how many features were seen.

    `meta` is a JSON-serialisable dict describing how the features were made (extractor name,
    weights sha256, image size, dataset, ...); it is saved with the statistics.
    """

    def __init__(self, dim: int, meta: Mapping[str, Any] | None = None):
        if dim <= 0:
            raise ValueError(f"feature dim must be positive, got {dim}")
        self.dim = int(dim)
        self.meta = dict(meta or {})
        self.count = 0
        self._mean = np.zeros(self.dim, np.float64)
        self._m2 = np.zeros((self.dim, self.dim), np.float64)

    # -- accumulation ---------------------------------------------------------------------------

    def update(self, features) -> "FeatureStats":
        """Adds a batch of features [n, d] (any float dtype; converted to float64). Returns self."""
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"expected features of shape [n, {self.dim}], got {x.shape}")
        if x.shape[0] == 0:
            return self
        if not np.all(np.isfinite(x)):
            raise ValueError("features contain NaN or Inf")
        batch_mean = x.mean(axis=0)
        centred = x - batch_mean
        self._combine(x.shape[0], batch_mean, centred.T @ centred)
        return self

    def merge(self, other: "FeatureStats") -> "FeatureStats":
        """Returns new statistics equal to those of the union of both feature sets."""
        if other.dim != self.dim:
            raise ValueError(f"cannot merge statistics of dim {self.dim} and {other.dim}")
        _check_compatible(self.meta, other.meta)
        out = self.copy()
        out._combine(other.count, other._mean, other._m2)
        return out

    def _combine(self, n_b: int, mean_b: np.ndarray, m2_b: np.ndarray) -> None:
        if n_b == 0:
            return
        n_a = self.count
        n = n_a + n_b
        delta = mean_b - self._mean
        self._mean = self._mean + delta * (n_b / n)
        self._m2 = self._m2 + m2_b + np.outer(delta, delta) * (n_a * n_b / n)
        self.count = n

    def copy(self) -> "FeatureStats":
        out = FeatureStats(self.dim, self.meta)
        out.count, out._mean, out._m2 = self.count, self._mean.copy(), self._m2.copy()
        return out

    # -- results --------------------------------------------------------------------------------

    @property
    def mean(self) -> np.ndarray:
        """Sample mean [d], float64."""
        if self.count == 0:
            raise ValueError("no features accumulated")
        return self._mean.copy()

    @property
    def cov(self) -> np.ndarray:
        """Unbiased sample covariance [d, d] (divides by n - 1, as np.cov), float64."""
        if self.count < 2:
            raise ValueError(f"covariance needs at least 2 features, have {self.count}")
        m2 = 0.5 * (self._m2 + self._m2.T)  # exact symmetry despite rounding in the updates
        return m2 / (self.count - 1)

    # -- persistence ----------------------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> None:
        """Writes an .npz (no pickled objects) holding the statistics and their metadata."""
        np.savez(
            path,
            format=np.array(STATS_FORMAT),
            meta_json=np.array(json.dumps(self.meta, sort_keys=True)),
            count=np.array(self.count, np.int64),
            mean=self._mean,
            m2=self._m2,
        )

    @classmethod
    def load(cls, path: str | os.PathLike) -> "FeatureStats":
        with np.load(path, allow_pickle=False) as f:
            fmt = str(f["format"])
            if fmt != STATS_FORMAT:
                raise ValueError(f"{path}: unsupported statistics format {fmt!r}, expected {STATS_FORMAT!r}")
            mean = f["mean"]
            out = cls(mean.shape[0], json.loads(str(f["meta_json"])))
            out.count = int(f["count"])
            out._mean = mean.astype(np.float64)
            out._m2 = f["m2"].astype(np.float64)
        return out

    def __repr__(self) -> str:
        return f"FeatureStats(dim={self.dim}, count={self.count}, meta={self.meta})"


def _check_compatible(meta_a: Mapping[str, Any], meta_b: Mapping[str, Any]) -> None:
    for key in PROTOCOL_KEYS:
        if key in meta_a and key in meta_b and meta_a[key] != meta_b[key]:
            raise ValueError(
                f"feature statistics come from different protocols: {key}={meta_a[key]!r} vs {meta_b[key]!r}")


def _symmetric_eigh(sigma: np.ndarray, eigvals_only: bool = False):
    # LAPACK's divide-and-conquer driver: ~2x faster than numpy's eigh on 2048x2048 here.
    sigma = np.asarray(sigma, np.float64)
    return scipy.linalg.eigh(0.5 * (sigma + sigma.T), driver="evd", eigvals_only=eigvals_only,
                             check_finite=False)


def psd_sqrt(sigma: np.ndarray) -> tuple[np.ndarray, float]:
    """Symmetric PSD square root [d, d] via eigh, float64.

    Returns (root, most negative eigenvalue before clipping to 0, or 0.0 if none). Unlike a general
    `scipy.linalg.sqrtm` (Schur form, complex arithmetic), the result is real and symmetric by
    construction, and singular matrices need no regularizing offset.
    """
    w, v = _symmetric_eigh(sigma)
    root = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
    return 0.5 * (root + root.T), min(float(w.min()), 0.0)


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> tuple[float, dict]:
    """Tr((S1 S2)^{1/2}) for symmetric PSD S1, S2, without a general (non-symmetric) sqrtm.

    Write S1 = H H^T with H = V_r W_r^{1/2} [d, r] from the eigenpairs of S1 above the numerical
    rank tolerance (d · eps · max eigenvalue, as `numpy.linalg.matrix_rank`). S1 S2 = H (H^T S2) and
    H^T S2 H share their non-zero eigenvalues (AB and BA do), so with lambda_i the eigenvalues of
    the symmetric PSD [r, r] matrix H^T S2 H, Tr((S1 S2)^{1/2}) = sum_i sqrt(lambda_i). Two symmetric
    eigendecompositions, no epsilon offset for singular covariances (fewer samples than
    dimensions). Working in the range of S1 matters: an eigenvalue that is 0 in exact arithmetic
    comes out of an eigensolver as ±eps·||.||, whose square root would add sqrt(eps)·||S|| per
    null direction; so a distribution's distance to itself is ~1e-13·||S|| rather than ~1e-8·d·||S||.

    Rounding can leave some lambda_i slightly negative. They are clipped to 0; `info['trace_imag']`
    = sum_i sqrt(-lambda_i) over those is the imaginary part that the principal square root of the
    computed product would have had (what pytorch-fid discards from `scipy.linalg.sqrtm`), and
    `info['trace_imag_rel']` is that relative to the real trace. A residual that is not tiny
    relative to the trace means the covariances are not PSD (bad statistics), not a numerical issue.
    """
    w, v = _symmetric_eigh(sigma1)
    keep = w > max(float(w.max()), 0.0) * len(w) * np.finfo(np.float64).eps
    half = v[:, keep] * np.sqrt(w[keep])  # [d, r], S1 = half @ half.T on its numerical range
    lam = _symmetric_eigh(half.T @ sigma2 @ half, eigvals_only=True) if keep.any() else np.zeros(1)
    negative = lam < 0
    trace = float(np.sum(np.sqrt(np.where(negative, 0.0, lam))))
    trace_imag = float(np.sum(np.sqrt(-lam[negative])))
    info = {
        "method": "eigh(H^T S2 H), S1 = H H^T on its numerical range",
        "offset": 0.0,
        "rank_sigma1": int(keep.sum()),
        "min_eig_sigma1": min(float(w.min()), 0.0),
        "min_eig_product": float(min(lam.min(), 0.0)),
        "n_eig_clipped": int(np.sum(negative)),
        "trace_imag": trace_imag,
        "trace_imag_rel": trace_imag / trace if trace > 0 else 0.0,
    }
    return trace, info


def frechet_distance(mu1, sigma1, mu2, sigma2) -> tuple[float, dict]:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2), in float64.

    d² = ||mu1 - mu2||² + Tr(S1) + Tr(S2) - 2 Tr((S1 S2)^{1/2})   (Heusel et al. 2017, eq. 6;
    Dowson & Landau 1982 for the Gaussian 2-Wasserstein distance). Returns (d², info), where info
    describes the matrix square root (method, offset applied, clipped negative eigenvalues).
    The value is clamped at 0 (rounding can make it a tiny negative number for equal inputs);
    the unclamped value is in info['raw'].
    """
    mu1 = np.atleast_1d(np.asarray(mu1, np.float64))
    mu2 = np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1 = np.atleast_2d(np.asarray(sigma1, np.float64))
    sigma2 = np.atleast_2d(np.asarray(sigma2, np.float64))
    d = mu1.shape[0]
    for name, arr, shape in (("mu1", mu1, (d,)), ("mu2", mu2, (d,)),
                             ("sigma1", sigma1, (d, d)), ("sigma2", sigma2, (d, d))):
        if arr.shape != shape:
            raise ValueError(f"{name} has shape {arr.shape}, expected {shape}")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} contains NaN or Inf")
    sigma1 = 0.5 * (sigma1 + sigma1.T)
    sigma2 = 0.5 * (sigma2 + sigma2.T)
    diff = mu1 - mu2
    tr_covmean, info = trace_sqrt_product(sigma1, sigma2)
    raw = float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean)
    info["raw"] = raw
    return max(raw, 0.0), info


def compute_fid(real_stats: FeatureStats, fake_stats: FeatureStats,
                protocol: Mapping[str, Any] | None = None) -> dict:
    """FID between two sets of feature statistics, with the protocol that produced the number.

    `protocol` is merged over the metadata shared by both statistics (extractor name, weights
    sha256, image size, ...); sample counts and feature dim are always filled in from the stats.
    Raises if the two statistics were made under different protocols.
    Returns {'fid': float, 'protocol': dict, 'sqrtm_info': dict}.
    """
    if real_stats.dim != fake_stats.dim:
        raise ValueError(f"feature dims differ: real {real_stats.dim} vs fake {fake_stats.dim}")
    _check_compatible(real_stats.meta, fake_stats.meta)
    value, info = frechet_distance(real_stats.mean, real_stats.cov, fake_stats.mean, fake_stats.cov)
    shared = {k: v for k, v in real_stats.meta.items()
              if k in PROTOCOL_KEYS and fake_stats.meta.get(k) == v}
    full_protocol = {
        "metric": "fid",
        **shared,
        **dict(protocol or {}),
        "feature_dim": real_stats.dim,
        "n_real": real_stats.count,
        "n_fake": fake_stats.count,
        "real_meta": dict(real_stats.meta),
        "fake_meta": dict(fake_stats.meta),
    }
    return {"fid": value, "protocol": full_protocol, "sqrtm_info": info}
