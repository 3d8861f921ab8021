"""Perceptual losses on the features of a frozen backbone: feature (content) loss, Gram (style) loss
and an LPIPS-like distance.

A backbone is any function `features_fn(images [N, H, W, 3] in [-1, 1]) -> Mapping[str, Array]`
returning named taps [N, h, w, c] (channels last), e.g. `genvision_jax.models.recognizers.vgg.VGG(16)
.features_fn(variables, ["relu2_2", "relu3_3"])`; this module never imports a model. `layers` names
the taps a loss reads (each must be in the mapping); `weights` gives each layer a factor (a mapping
layer -> weight, a sequence aligned with `layers`, or None for 1 each).

Every loss returns one value per example, [N] (take `.mean()` for a training objective), is jit-able
and differentiable with respect to x. The target `y` is either images (run through `features_fn`
here) or targets computed once beforehand: `feature_targets(features_fn, y, layers)` for
`feature_loss` / `lpips_like`, `style_targets(features_fn, y, layers, normalize)` (Gram matrices)
for `style_loss`. A target batch of 1 (one style image) broadcasts over x's batch.

- `feature_loss`: Johnson et al. 2016, "Perceptual Losses for Real-Time Style Transfer and
  Super-Resolution", eq. 2: l_feat^j = ||phi_j(x) - phi_j(y)||_2^2 / (C_j H_j W_j), i.e. the mean
  squared difference over a tap ('mse'), or the mean absolute difference ('l1'); weighted sum over
  layers.
- `gram_matrix`, `style_loss`: Gatys et al. 2016, "Image Style Transfer Using Convolutional Neural
  Networks", eq. 3-5, with Johnson et al.'s normalised Gram: G = F F^T / (C H W) for F the [C, H*W]
  features ('chw'), or F F^T / (H W), the mean over positions of f f^T ('hw'; C times larger). The
  style loss is the squared Frobenius norm ||G(x) - G(y)||_F^2 per layer (Johnson et al. eq. 3);
  Gatys et al.'s E_l = 1 / (4 C^2 (HW)^2) sum (G - A)^2 with unnormalised G is exactly 1/4 of it
  with normalize='chw'.
- `lpips_like`: Zhang et al. 2018, "The Unreasonable Effectiveness of Deep Features as a Perceptual
  Metric", eq. 1: each tap is divided by its L2 norm over channels, the squared difference is
  weighted per channel (w_l [C], default 1: the paper's un-learned baseline), summed over channels,
  averaged over space and summed over layers. With LPIPS's ScalingLayer inside the backbone and its
  learned heads as weights this is LPIPS itself (`genvision_jax.metrics.lpips`).
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp

Array = jax.Array
FeaturesFn = Callable[[Array], Mapping[str, Array]]
Weights = Mapping[str, object] | Sequence[object] | None

DISTANCES = ("mse", "l1")
GRAM_NORMALIZATIONS = ("chw", "hw")
# LPIPS's epsilon in the channel norm; the squared norm is floored at _TINY so the gradient of the
# square root stays finite where a tap is exactly zero over all channels (a dead ReLU position).
_NORM_EPS = 1e-10
_TINY = 1e-30


def _check_layers(layers, what: str) -> tuple[str, ...]:
    if isinstance(layers, str) or not isinstance(layers, Sequence) or not layers:
        raise ValueError(f"{what}: layers must be a non-empty sequence of tap names, e.g. "
                         f"['relu2_2']; got {layers!r}")
    return tuple(str(layer) for layer in layers)


def _layer_weights(weights: Weights, layers: tuple[str, ...], what: str) -> dict[str, object]:
    if weights is None:
        return {layer: 1.0 for layer in layers}
    if isinstance(weights, Mapping):
        missing = [layer for layer in layers if layer not in weights]
        extra = sorted(str(k) for k in weights if k not in layers)
        if missing or extra:
            raise ValueError(f"{what}: weights must have one entry per layer {list(layers)}; "
                             f"missing {missing}, not a layer {extra}")
        return {layer: weights[layer] for layer in layers}
    weights = list(weights)
    if len(weights) != len(layers):
        raise ValueError(f"{what}: {len(weights)} weights for {len(layers)} layers {list(layers)}")
    return dict(zip(layers, weights))


def _taps(features: Mapping[str, Array], layers: tuple[str, ...], what: str, source: str) -> dict:
    if not isinstance(features, Mapping):
        raise ValueError(f"{what}: {source} must be a mapping of tap names to arrays; got "
                         f"{type(features).__name__}")
    missing = [layer for layer in layers if layer not in features]
    if missing:
        raise ValueError(f"{what}: {source} has no {missing}; it has {sorted(map(str, features))}")
    out = {}
    for layer in layers:
        f = features[layer]
        if jnp.ndim(f) != 4:
            raise ValueError(f"{what}: {source} tap {layer!r} must be [N, h, w, c]; got shape "
                             f"{tuple(jnp.shape(f))}")
        out[layer] = f
    return out


def _check_images(x, what: str, name: str):
    if jnp.ndim(x) != 4 or jnp.shape(x)[-1] != 3:
        raise ValueError(f"{what}: {name} must be images [N, H, W, 3] in [-1, 1]; got shape "
                         f"{tuple(jnp.shape(x))}")


def _features(features_fn: FeaturesFn, images, layers, what: str, name: str) -> dict:
    _check_images(images, what, name)
    return _taps(features_fn(images), layers, what, f"features_fn({name})")


def _pair(features_fn, x, y, layers, what: str, y_targets: str):
    """(x's taps, y's taps or precomputed targets)."""
    fx = _features(features_fn, x, layers, what, "x")
    if isinstance(y, Mapping):
        fy = _taps(y, layers, what, f"the precomputed y targets ({y_targets})")
    else:
        fy = _features(features_fn, y, layers, what, "y")
    return fx, fy


def _check_target_shape(layer: str, a, b, what: str):
    a_shape, b_shape = tuple(jnp.shape(a)), tuple(jnp.shape(b))
    if a_shape[1:] != b_shape[1:] or b_shape[0] not in (1, a_shape[0]):
        raise ValueError(f"{what}: layer {layer!r} of x is {a_shape} but of y {b_shape} (y must "
                         "match x, or have batch 1 to broadcast)")


def feature_targets(features_fn: FeaturesFn, y: Array, layers: Sequence[str]) -> dict[str, Array]:
    """The taps `layers` of target images y, to pass as `y` to `feature_loss` / `lpips_like`."""
    layers = _check_layers(layers, "feature_targets")
    return _features(features_fn, y, layers, "feature_targets", "y")


def feature_loss(features_fn: FeaturesFn, x: Array, y: Array | Mapping[str, Array],
                 layers: Sequence[str], weights: Weights = None, distance: str = "mse") -> Array:
    """Feature reconstruction (content / perceptual) loss [N] (Johnson et al. 2016, eq. 2).

    sum_l w_l * mean_{h,w,c} d(phi_l(x) - phi_l(y)), d = square ('mse') or abs ('l1').
    y: target images [N or 1, H, W, 3], or `feature_targets(features_fn, y, layers)`.
    """
    what = "feature_loss"
    if distance not in DISTANCES:
        raise ValueError(f"{what}: unknown distance {distance!r}; valid: {list(DISTANCES)}")
    layers = _check_layers(layers, what)
    w = _layer_weights(weights, layers, what)
    fx, fy = _pair(features_fn, x, y, layers, what, "feature_targets")
    total = 0.0
    for layer in layers:
        _check_target_shape(layer, fx[layer], fy[layer], what)
        diff = fx[layer] - fy[layer]
        d = jnp.square(diff) if distance == "mse" else jnp.abs(diff)
        total = total + w[layer] * jnp.mean(d, axis=(1, 2, 3))
    return total


def gram_matrix(f: Array, normalize: str = "chw") -> Array:
    """Gram matrices [N, C, C] of features f [N, H, W, C]: sum over positions of f f^T, divided by
    C*H*W ('chw', Johnson et al. 2016) or by H*W ('hw', the mean over positions; C times 'chw')."""
    if normalize not in GRAM_NORMALIZATIONS:
        raise ValueError(f"gram_matrix: unknown normalize {normalize!r}; valid: "
                         f"{list(GRAM_NORMALIZATIONS)}")
    if jnp.ndim(f) != 4:
        raise ValueError(f"gram_matrix: features must be [N, H, W, C]; got shape {tuple(jnp.shape(f))}")
    n, h, w, c = f.shape
    flat = f.reshape(n, h * w, c)
    gram = jnp.einsum("npc,npd->ncd", flat, flat, precision=jax.lax.Precision.HIGHEST)
    return gram / (h * w * (c if normalize == "chw" else 1))


def style_targets(features_fn: FeaturesFn, y: Array, layers: Sequence[str],
                  normalize: str = "chw") -> dict[str, Array]:
    """Gram matrices {layer: [N, C, C]} of style images y, to pass as `y` to `style_loss` (with the
    same `normalize`)."""
    layers = _check_layers(layers, "style_targets")
    feats = _features(features_fn, y, layers, "style_targets", "y")
    return {layer: gram_matrix(feats[layer], normalize) for layer in layers}


def style_loss(features_fn: FeaturesFn, x: Array, y: Array | Mapping[str, Array],
               layers: Sequence[str], weights: Weights = None, normalize: str = "chw") -> Array:
    """Gram (style) loss [N]: sum_l w_l * ||G_l(x) - G_l(y)||_F^2 (Gatys et al. 2016; Johnson et al.
    2016, eq. 3). y: style images [N or 1, H', W', 3] (any size: Gram matrices are [C, C]), or
    `style_targets(features_fn, y, layers, normalize)`."""
    what = "style_loss"
    layers = _check_layers(layers, what)
    w = _layer_weights(weights, layers, what)
    fx = _features(features_fn, x, layers, what, "x")
    if isinstance(y, Mapping):
        gy = dict(y)
        missing = [layer for layer in layers if layer not in gy]
        if missing:
            raise ValueError(f"{what}: the precomputed y targets (style_targets) have no {missing}; "
                             f"they have {sorted(map(str, gy))}")
    else:
        gy = style_targets(features_fn, y, layers, normalize)
    total = 0.0
    for layer in layers:
        gx = gram_matrix(fx[layer], normalize)
        g = gy[layer]
        if jnp.ndim(g) != 3 or tuple(jnp.shape(g))[1:] != gx.shape[1:] or jnp.shape(g)[0] not in (1, gx.shape[0]):
            raise ValueError(f"{what}: layer {layer!r}: x's Gram matrices are {gx.shape} but y's "
                             f"{tuple(jnp.shape(g))} (y must match x, or have batch 1 to broadcast)")
        total = total + w[layer] * jnp.sum(jnp.square(gx - g), axis=(1, 2))
    return total


def unit_normalize(f: Array) -> Array:
    """f / (||f||_2 over channels + 1e-10), as LPIPS normalises each tap [N, h, w, c]."""
    norm = jnp.sqrt(jnp.maximum(jnp.sum(jnp.square(f), axis=-1, keepdims=True), _TINY))
    return f / (norm + _NORM_EPS)


def lpips_like(features_fn: FeaturesFn, x: Array, y: Array | Mapping[str, Array],
               layers: Sequence[str], weights: Weights = None) -> Array:
    """LPIPS-style distance [N] (Zhang et al. 2018, eq. 1):
    sum_l mean_{h,w} sum_c w_lc (f̂_l(x) - f̂_l(y))_c^2, f̂ = channel-unit-normalised taps.

    weights: per layer, a scalar or a non-negative vector [C_l] (LPIPS's linear head); None: 1.
    y: target images [N or 1, H, W, 3], or `feature_targets(features_fn, y, layers)` (raw taps; the
    normalisation happens here).
    """
    what = "lpips_like"
    layers = _check_layers(layers, what)
    w = _layer_weights(weights, layers, what)
    fx, fy = _pair(features_fn, x, y, layers, what, "feature_targets")
    total = 0.0
    for layer in layers:
        _check_target_shape(layer, fx[layer], fy[layer], what)
        c = fx[layer].shape[-1]
        wl = jnp.asarray(w[layer], fx[layer].dtype)
        if wl.ndim > 1 or (wl.ndim == 1 and wl.shape[0] != c):
            raise ValueError(f"{what}: layer {layer!r} has {c} channels; its weight must be a scalar "
                             f"or [{c}], got shape {tuple(wl.shape)}")
        sq = jnp.square(unit_normalize(fx[layer]) - unit_normalize(fy[layer]))
        total = total + jnp.sum(jnp.mean(sq, axis=(1, 2)) * wl, axis=-1)
    return total
