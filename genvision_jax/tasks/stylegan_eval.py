"""The StyleGAN family's evaluations beyond FID: perceptual path length, FID/precision/recall per truncation ψ
and per noise strength, stochastic-variation maps, inference-time style mixing and the mixing consistency of
which layers control which attributes.

Attribute probes (the attribute classifier that mixing consistency, and later InterFaceGAN-style editing,
need): ridge regressions from the domain classifier's 128-d features to the dataset's generating attributes,
fitted on the real training split and scored (R²) on the real test split; the probes and their scores are
part of every protocol that uses them. For `synthetic_faces`: yaw, pitch, roll, smile, age, glasses, hat,
mask, skin tone, light (two components), hair colour (one-hot, 6), background and shirt colours.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from genvision_jax.data import get_source
from genvision_jax.data.transforms import ScaleImage
from genvision_jax.errors import ConfigError
from genvision_jax.metrics import ppl
from genvision_jax.metrics.features import get_feature_extractor
from genvision_jax.models.gan.stylegan import mix_styles
from genvision_jax.tasks.stylegan import StyleGANSetup, make_ppl_distances

# Attribute name -> (records -> [N] or [N, k] float targets); groups of columns are reported as one attribute.
_HAIR = 6


def _face_targets(records) -> dict[str, np.ndarray]:
    def col(key, fn=float):
        return np.asarray([fn(r[key]) for r in records], np.float64)

    light = np.deg2rad(col("light_angle"))
    strength = col("light_strength")
    return {
        "yaw": col("yaw"), "pitch": col("pitch"), "roll": col("roll"), "smile": col("smile"), "age": col("age"),
        "glasses": col("glasses"), "hat": col("hat"), "mask": col("mask"), "skin_tone": col("skin_tone"),
        "light": np.stack([strength * np.cos(light), strength * np.sin(light)], 1),
        "hair_color": np.eye(_HAIR)[col("hair_color", int).astype(int)],
        "background": np.stack([np.asarray(r["background"], np.float64) for r in records]) / 255.0,
        "shirt_color": np.stack([np.asarray(r["shirt_color"], np.float64) for r in records]) / 255.0,
    }


ATTRIBUTE_TARGETS = {"synthetic_faces": _face_targets}


@dataclasses.dataclass
class AttributeProbes:
    """Linear probes features [N, F] -> attributes; `predict(features)` -> {name: [N, k]}."""

    names: tuple[str, ...]
    slices: dict[str, slice]
    weights: np.ndarray          # [F + 1, K] (last row: bias)
    test_r2: dict[str, float]
    protocol: dict

    def predict(self, features: np.ndarray) -> dict[str, np.ndarray]:
        x = np.concatenate([np.asarray(features, np.float64), np.ones((len(features), 1))], 1)
        y = x @ self.weights
        return {n: y[:, self.slices[n]] for n in self.names}


def _split_arrays(dataset: str, split: str, image_size: int, limit: int, options: dict):
    source = get_source(dataset, split, image_size=image_size, **options)
    n = min(limit, len(source))
    records = source.__getitems__(range(n))
    images = ScaleImage().map({"image": np.stack([np.asarray(r["image"], np.uint8) for r in records])})["image"]
    targets = ATTRIBUTE_TARGETS[dataset](records)
    return images, targets


@functools.lru_cache(maxsize=4)
def fit_attribute_probes(dataset: str, extractor: str, image_size: int, num_train: int = 10_000,
                         num_test: int = 2_000, ridge: float = 1e-2, options: tuple = ()) -> AttributeProbes:
    """Ridge probes from the extractor's features to the dataset's attributes (closed form, λ = `ridge`·N)."""
    if dataset not in ATTRIBUTE_TARGETS:
        raise ConfigError(f"no attribute probes for dataset {dataset!r}; have {sorted(ATTRIBUTE_TARGETS)}")
    feats = get_feature_extractor(extractor)
    tr_x, tr_t = _split_arrays(dataset, "train", image_size, num_train, dict(options))
    te_x, te_t = _split_arrays(dataset, "test", image_size, num_test, dict(options))
    names = tuple(tr_t)
    cols, slices, start = [], {}, 0
    for n in names:
        v = tr_t[n].reshape(len(tr_x), -1)
        slices[n] = slice(start, start + v.shape[1])
        start += v.shape[1]
        cols.append(v)
    y = np.concatenate(cols, 1)
    f = np.asarray(feats(tr_x), np.float64)
    x = np.concatenate([f, np.ones((len(f), 1))], 1)
    reg = ridge * len(f) * np.eye(x.shape[1])
    reg[-1, -1] = 0.0  # no penalty on the bias
    w = np.linalg.solve(x.T @ x + reg, x.T @ y)
    probes = AttributeProbes(names, slices, w, {}, {})
    pred = probes.predict(np.asarray(feats(te_x), np.float64))
    r2 = {}
    for n in names:
        t = te_t[n].reshape(len(te_x), -1)
        r2[n] = float(1.0 - np.sum((pred[n] - t) ** 2) / max(np.sum((t - t.mean(0)) ** 2), 1e-12))
    probes.test_r2 = r2
    probes.protocol = {"features": feats.name, "weights_sha256": feats.weights_sha256, "fit": "ridge regression",
                       "ridge_lambda_per_sample": ridge, "train_images": len(tr_x), "test_images": len(te_x),
                       "test_r2": r2}
    return probes


def mixing_consistency(features: Callable[[np.ndarray], np.ndarray], probes: AttributeProbes,
                       images_a: np.ndarray, images_b: np.ndarray, images_mix: np.ndarray) -> dict[str, float]:
    """Per attribute, the share of the mixed image's attribute that follows source A: the least-squares slope
    of (pred(mix) − pred(B)) on (pred(A) − pred(B)) over the pairs and the attribute's columns (1: the
    layers taken from A control it; 0: B's layers do)."""
    pa, pb, pm = (probes.predict(features(x)) for x in (images_a, images_b, images_mix))
    out = {}
    for n in probes.names:
        d = (pa[n] - pb[n]).ravel()
        out[n] = float(np.dot((pm[n] - pb[n]).ravel(), d) / max(np.dot(d, d), 1e-12))
    return out


def layer_groups(resolution: int, style: str = "modulated") -> dict[str, tuple[int, int]]:
    """Coarse / middle / fine style-vector ranges [start, stop) by the resolution of the convs that read them
    (StyleGAN's grouping: coarse 4²–8², middle 16²–32², fine 64² and up; at R ≤ 32 the top resolution is
    fine). StyleGAN 2's first conv at 2^j reads w_{2j−5} (w_0 at 4²), StyleGAN 1's w_{2j−4}."""
    k = int(round(np.log2(resolution)))
    first = {2 ** j: (0 if j == 2 else 2 * j - 5) if style == "modulated" else 2 * j - 4 for j in range(2, k + 1)}
    n_ws = 2 * k - 2

    def group(res):
        return "coarse" if res <= 8 else "fine" if res >= 64 or res == resolution else "middle"

    out = {}
    for name in ("coarse", "middle", "fine"):
        members = [first[r] for r in first if group(r) == name]
        out[name] = (min(members), min(members)) if members else None
    stops = sorted({a for v in out.values() if v for a in (v[0],)} | {n_ws})
    for name, v in out.items():
        if v is not None:
            out[name] = (v[0], next(s for s in stops if s > v[0]))
    last = 0
    for name in ("coarse", "middle", "fine"):  # an empty group is the empty range where it would start
        out[name] = out[name] or (last, last)
        last = out[name][1]
    return out


def make_mixed_generate(setup: StyleGANSetup) -> Callable:
    """Jitted `(params, g_vars, z1, z2, crossover [B], noise_key, psi) -> images`: layers < crossover from z1."""
    G = setup.generator

    def generate(params, g_vars, z1, z2, cross, key, psi=1.0):
        v = {"params": params, **g_vars}
        ws = mix_styles(G.apply(v, z1, method=G.mapping, psi=psi), G.apply(v, z2, method=G.mapping, psi=psi), cross)
        return G.apply(v, ws, "random", method=G.synthesis, rngs={"noise": key})

    return jax.jit(generate)


def make_group_mix_generate(setup: StyleGANSetup) -> Callable:
    """Jitted `(params, g_vars, wa, wb, start, stop, noise_key) -> images`: ws[start:stop] from wa, the rest
    from wb (both [B, L, D]), with constant noise."""
    G = setup.generator

    def generate(params, g_vars, wa, wb, start, stop, key):
        layers = jnp.arange(wa.shape[1])[None, :, None]
        ws = jnp.where((layers >= start) & (layers < stop), wa, wb)
        return G.apply({"params": params, **g_vars}, ws, "const", method=G.synthesis, rngs={"noise": key})

    return jax.jit(generate)


def ppl_score(setup: StyleGANSetup, params, g_vars, key: jax.Array, *, num_samples: int, batch_size: int,
              space: str, sampling: str, crop: bool, distance: str, size: int,
              epsilon: float = ppl.EPSILON) -> dict[str, Any]:
    """PPL of the generator (`metrics.ppl`) over `num_samples` pairs."""
    dist_fn, dist_protocol = _distance(distance, size)
    fn = make_ppl_distances(setup, dist_fn, space=space, sampling=sampling, crop=crop, epsilon=epsilon)
    d = [np.asarray(fn(params, g_vars, jax.random.fold_in(key, i), n=min(batch_size, num_samples - i * batch_size)))
         for i in range(-(-num_samples // batch_size))]
    return ppl.ppl_from_distances(np.concatenate(d), epsilon, {
        "space": space, "sampling": sampling, "crop": crop, "noise": "const", "psi": 1.0, **dist_protocol})


@functools.lru_cache(maxsize=4)
def _distance(name: str, size: int):
    try:
        return ppl.perceptual_distance(name, size)
    except ValueError as e:
        raise ConfigError(f"eval.ppl_distance: {e}") from None


def stochastic_variation(images: np.ndarray) -> np.ndarray:
    """[draws, N, H, W, C] images of the same latents under different noise -> per-pixel std over the draws,
    averaged over channels [N, H, W] (StyleGAN Fig. 4's variation maps)."""
    return np.asarray(images, np.float64).std(axis=0, ddof=1).mean(-1)


def noise_strengths_for(spec: str | float, num_layers: int, groups: dict[str, tuple[int, int]]) -> list[float]:
    """Per-conv-layer noise multipliers for an inference setting: a number (global α) or
    'coarse_only' / 'fine_only' / 'fine_x2' (SG-style per-layer scaling by resolution group).

    Conv layers are mapped to groups through the style vector they read (StyleGAN 2: layer i reads w_i;
    StyleGAN 1: layer i reads w_i as well)."""
    if isinstance(spec, (int, float)):
        return [float(spec)] * num_layers
    # Conv layer i reads style vector w_i in both generators (StyleGAN 2's ToRGBs take no noise).
    group_of = [next(g for g, (a, b) in groups.items() if a <= i < b) for i in range(num_layers)]
    table = {"coarse_only": {"coarse": 1.0, "middle": 1.0, "fine": 0.0},
             "fine_only": {"coarse": 0.0, "middle": 0.0, "fine": 1.0},
             "fine_x2": {"coarse": 1.0, "middle": 1.0, "fine": 2.0}}
    if spec not in table:
        raise ConfigError(f"unknown noise setting {spec!r}; use a number or one of {sorted(table)}")
    return [table[spec][g] for g in group_of]


def as_float_or_name(value: str) -> float | str:
    try:
        return float(value)
    except ValueError:
        return value


def group_crossovers(groups: dict[str, tuple[int, int]]) -> Sequence[int]:
    return [groups["coarse"][1], groups["middle"][1]]
