"""Metrics benchmark: FID / KID / precision-recall of 10,000 vs 10,000 32x32 images with the digits
extractor, and the matrix square root of 2048x2048 covariances, ours vs `scipy.linalg.sqrtm`.

  python -m benchmarks.bench_metrics [--n 10000] [--dim 2048] [--out FILE]

FID streams features into float64 statistics (nothing of size n is kept); the benchmark reports
wall time per stage, the peak of host allocations tracked by `tracemalloc` (numpy buffers included;
XLA's own buffers are not) and the process's peak RSS (`resource.getrusage`) after each stage.
Images: the 1,797 `digits` images (train + test) cycled with random shifts of up to 2 px as "real";
another draw of shifts plus Gaussian noise (sigma 0.15) as "fake".
The square root: ours (`psd_sqrt`, symmetric eigendecomposition) vs scipy's general `sqrtm` (Schur
form) on one covariance, and Tr((S1 S2)^{1/2}) as FID needs it (`trace_sqrt_product`) vs
`trace(sqrtm(S1 @ S2))`, measured side by side in one process, with their disagreement.
"""

import argparse
import json
import os
import platform
import resource
import time
import tracemalloc

import jax
import numpy as np
import scipy
import scipy.linalg

from genvision_jax.data import get_source
from genvision_jax.data.transforms import ScaleImage
from genvision_jax.metrics import compute_fid, features_from_images, kid, prdc, stats_from_images
from genvision_jax.metrics.features import get_feature_extractor
from genvision_jax.metrics.fid import psd_sqrt, trace_sqrt_product


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _shifted_digits(n: int, seed: int, noise: float) -> np.ndarray:
    """n images [n, 32, 32, 1] in [-1, 1]: digits cycled, each rolled by up to 2 px, plus noise."""
    base = np.concatenate([np.stack([r["image"] for r in get_source("digits", s, image_size=32)])
                           for s in ("train", "test")])
    base = ScaleImage().map({"image": base})["image"]
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(base), n)
    shifts = rng.integers(-2, 3, (n, 2))
    out = np.stack([np.roll(base[i], tuple(s), axis=(0, 1)) for i, s in zip(idx, shifts)])
    if noise:
        out = out + rng.normal(0, noise, out.shape).astype(np.float32)
    return np.clip(out, -1, 1).astype(np.float32)


def _timed(fn):
    """(result, seconds, tracemalloc peak MB) of fn()."""
    tracemalloc.reset_peak()
    t = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - t
    return out, seconds, tracemalloc.get_traced_memory()[1] / 2**20


def bench_distribution_metrics(n: int, batch: int) -> dict:
    real, fake = _shifted_digits(n, 0, 0.0), _shifted_digits(n, 1, 0.15)
    start = time.perf_counter()
    extractor = get_feature_extractor("digits", batch_size=256)
    extractor(real[:256])  # load and compile, timed apart from the streamed FID
    setup_s = time.perf_counter() - start
    batches = lambda x: (x[i:i + batch] for i in range(0, len(x), batch))

    def fid():
        return compute_fid(stats_from_images(extractor, batches(real)),
                           stats_from_images(extractor, batches(fake)))

    tracemalloc.start()
    fid_res, fid_s, fid_peak = _timed(fid)
    rss_after_fid = _rss_mb()
    (real_f, fake_f), feat_s, _ = _timed(lambda: (features_from_images(extractor, batches(real)),
                                                  features_from_images(extractor, batches(fake))))
    kid_res, kid_s, kid_peak = _timed(lambda: kid(real_f, fake_f))
    pr_res, pr_s, pr_peak = _timed(lambda: prdc(real_f, fake_f, k=3))
    tracemalloc.stop()
    return {
        "n_real": n, "n_fake": n, "image_shape": [32, 32, 1], "stream_batch": batch,
        "feature_extractor": extractor.name, "weights_sha256": extractor.weights_sha256,
        "feature_dim": extractor.feature_dim, "devices": jax.device_count(),
        "extractor_load_and_compile_s": setup_s, "fid_end_to_end_s": setup_s + fid_s,
        "fid": {"value": fid_res["fid"], "wall_s": fid_s, "tracemalloc_peak_mb": fid_peak,
                "rss_peak_mb_after": rss_after_fid,
                "images_per_s": 2 * n / fid_s,
                "trace_imag": fid_res["sqrtm_info"]["trace_imag"],
                "note": "features extracted and streamed into float64 statistics; input images "
                        f"({2 * real.nbytes / 2**20:.0f} MB) were in memory before timing"},
        "features_buffered_s": feat_s,
        "kid": {"mean": kid_res["kid_mean"], "std": kid_res["kid_std"], "wall_s": kid_s,
                "tracemalloc_peak_mb": kid_peak, "subset_size": 1000, "num_subsets": 100},
        "prdc_k3": {**{k: pr_res[k] for k in ("precision", "recall", "density", "coverage")},
                    "wall_s": pr_s, "tracemalloc_peak_mb": pr_peak, "rss_peak_mb_after": _rss_mb(),
                    "block_size": 1024},
    }


def _covariance(d: int, n: int, seed: int) -> np.ndarray:
    """Sample covariance [d, d] of n correlated Gaussian samples (eigenvalues spread like CNN
    features': a decaying spectrum), float64."""
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(d, d)) * np.logspace(0, -3, d)[None, :]
    x = rng.normal(size=(n, d)) @ mix.T
    x -= x.mean(0)
    return x.T @ x / (n - 1)


def bench_sqrtm(d: int) -> dict:
    s1, s2 = _covariance(d, 2 * d, 0), _covariance(d, 2 * d, 1)
    (ours_root, _), ours_s, _ = _timed(lambda: psd_sqrt(s1))
    scipy_root, scipy_s, _ = _timed(lambda: scipy.linalg.sqrtm(s1))
    norm = np.linalg.norm(s1)
    (tr_ours, info), tr_ours_s, _ = _timed(lambda: trace_sqrt_product(s1, s2))
    covmean, tr_scipy_s, _ = _timed(lambda: scipy.linalg.sqrtm(s1 @ s2))
    tr_scipy = float(np.trace(covmean.real))
    return {
        "dim": d, "samples_per_covariance": 2 * d,
        "sqrtm_single": {
            "ours_s": ours_s, "scipy_s": scipy_s, "speedup": scipy_s / ours_s,
            "ours_residual_rel": float(np.linalg.norm(ours_root @ ours_root - s1) / norm),
            "scipy_residual_rel": float(np.linalg.norm(scipy_root @ scipy_root - s1) / norm),
            "scipy_max_imag": float(np.abs(np.imag(scipy_root)).max()),
        },
        "trace_sqrt_product": {
            "ours_s": tr_ours_s, "scipy_s": tr_scipy_s, "speedup": tr_scipy_s / tr_ours_s,
            "ours": tr_ours, "scipy": tr_scipy, "rel_diff": abs(tr_ours - tr_scipy) / tr_scipy,
            "ours_trace_imag": info["trace_imag"],
            "scipy_trace_imag": float(abs(np.trace(covmean).imag)),
            "scipy_max_imag": float(np.abs(np.imag(covmean)).max()),
        },
    }


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--batch", type=int, default=1000, help="images per streamed batch")
    p.add_argument("--dim", type=int, default=2048)
    p.add_argument("--out", default="benchmarks/results/metrics_fid10k_digits_sqrtm2048.json")
    args = p.parse_args()
    result = {
        "benchmark": "metrics",
        "distribution_metrics": bench_distribution_metrics(args.n, args.batch),
        "sqrtm": bench_sqrtm(args.dim),
        "host": {"cpu_count": os.cpu_count(), "machine": platform.machine(),
                 "load_avg_1min_at_end": os.getloadavg()[0]},
        "versions": {"jax": jax.__version__, "numpy": np.__version__, "scipy": scipy.__version__},
    }
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
