"""EfficientNet-Lite, NHWC, inference only: Tan & Le 2019, "EfficientNet: Rethinking Model Scaling for
Convolutional Neural Networks", as modified for the Lite models of the authors' TensorFlow release
(tensorflow/tpu, models/official/efficientnet/lite, 2020).

The EfficientNet-B0 trunk (Tan & Le 2019, Table 1) of mobile inverted bottlenecks (MBConv, Sandler et
al. 2018) in seven block groups, with the Lite changes that make it friendly to integer accelerators:

- no squeeze-and-excitation, and ReLU6 instead of swish everywhere;
- the stem (32 channels) and the head (1280 channels) are not width-scaled, and the first and last
  block groups are not depth-scaled, for every variant.

Block groups (repeats, kernel, stride, expansion, input -> output channels before width scaling):

    stage1  1 x k3 s1 e1  32 -> 16      stage5  3 x k5 s1 e6  80 -> 112
    stage2  2 x k3 s2 e6  16 -> 24      stage6  4 x k5 s2 e6 112 -> 192
    stage3  2 x k5 s2 e6  24 -> 40      stage7  1 x k3 s1 e6 192 -> 320
    stage4  3 x k3 s2 e6  40 -> 80

Variants lite0..lite4 scale width by 1.0, 1.0, 1.1, 1.2, 1.4 and depth by 1.0, 1.1, 1.2, 1.4, 1.8, at
resolutions 224, 240, 260, 280, 300 (channels rounded to multiples of 8, never more than 10 % down;
repeats rounded up). Every conv uses TF 'SAME' padding (for stride 2, the extra row and column are
padded at the bottom and right), BatchNorm uses its running statistics with eps 1e-3; dropout and
drop-connect are training-only and absent. A block adds its input back when its stride is 1 and its
input and output widths agree.

Inputs are RGB in [-1, 1] (the project's convention); the module normalises them as the ImageNet
weights expect: (x01 - mean) / std with x01 = (x + 1) / 2, mean (0.485, 0.456, 0.406) and std
(0.229, 0.224, 0.225). Any H, W >= 1 works (padding is computed from the actual input, as TF does);
the canonical size is `resolution(variant)`. (efficientnet-lite-pytorch fixes its padding for that
canonical size, so at other sizes it may pad differently from this model and from TF.)

Submodules are named after the lukemelas EfficientNet-PyTorch state-dict keys without the leading
underscore, blocks numbered globally (`conv_stem`, `bn0`, `blocks_<i>/{expand_conv, bn0,
depthwise_conv, bn1, project_conv, bn2}`, `conv_head`, `bn1`, `fc`), so those files map 1:1
(`genvision_jax.pretrained.efficientnet_lite`).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from genvision_jax.nn import DepthwiseConv

# (width coefficient, depth coefficient, resolution) of each variant.
VARIANTS = {
    "lite0": (1.0, 1.0, 224),
    "lite1": (1.0, 1.1, 240),
    "lite2": (1.1, 1.2, 260),
    "lite3": (1.2, 1.4, 280),
    "lite4": (1.4, 1.8, 300),
}
# Per block group: (repeats, kernel, stride, expansion, input channels, output channels), unscaled.
STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # RGB, of x01 = (x + 1) / 2
IMAGENET_STD = (0.229, 0.224, 0.225)
STEM_FEATURES = 32
HEAD_FEATURES = 1280
DIVISOR = 8
BN_EPS = 1e-3
NUM_CLASSES = 1000
TAPS = ("stem", *(f"stage{i}" for i in range(1, len(STAGES) + 1)), "head", "pool", "logits")


class BlockConfig(NamedTuple):
    kernel: int
    stride: int
    expansion: int
    in_features: int
    out_features: int


def check_variant(variant: str) -> str:
    if variant not in VARIANTS:
        raise ValueError(f"unknown EfficientNet-Lite variant {variant!r}; valid: {list(VARIANTS)}")
    return variant


def resolution(variant: str) -> int:
    """The input size the variant was trained at (224 for lite0)."""
    return VARIANTS[check_variant(variant)][2]


def round_features(features: int, width: float) -> int:
    """Channels after width scaling: nearest multiple of 8 (at least 8), bumped up one multiple when
    rounding lost more than 10 %."""
    scaled = features * width
    rounded = max(DIVISOR, int(scaled + DIVISOR / 2) // DIVISOR * DIVISOR)
    return rounded + DIVISOR if rounded < 0.9 * scaled else rounded


def stage_configs(variant: str) -> tuple[tuple[BlockConfig, ...], ...]:
    """The blocks of every group, in order (the first block of a group carries its stride)."""
    width, depth, _ = VARIANTS[check_variant(variant)]
    last = len(STAGES) - 1
    stages = []
    for i, (repeats, kernel, stride, expansion, cin, cout) in enumerate(STAGES):
        fixed = i in (0, last)  # Lite: the first and last groups keep their depth
        repeats = repeats if fixed else int(math.ceil(depth * repeats))
        cin = STEM_FEATURES if i == 0 else round_features(cin, width)  # the stem is not scaled
        cout = round_features(cout, width)
        blocks = [BlockConfig(kernel, stride, expansion, cin, cout)]
        blocks += [BlockConfig(kernel, 1, expansion, cout, cout)] * (repeats - 1)
        stages.append(tuple(blocks))
    return tuple(stages)


def tap_features(variant: str = "lite0", num_classes: int = NUM_CLASSES) -> dict[str, int]:
    """Channels of every tap: {'stem': 32, 'stage1': 16, ..., 'stage7': 320, 'head': 1280, ...}."""
    stages = stage_configs(variant)
    out = {"stem": STEM_FEATURES}
    out.update({f"stage{i}": blocks[-1].out_features for i, blocks in enumerate(stages, 1)})
    out.update(head=HEAD_FEATURES, pool=HEAD_FEATURES)
    if num_classes:
        out["logits"] = num_classes
    return out


def _bn(name: str) -> nn.BatchNorm:
    return nn.BatchNorm(use_running_average=True, epsilon=BN_EPS, name=name)


class MBConv(nn.Module):
    """Mobile inverted bottleneck without squeeze-excitation: 1x1 expand (skipped for expansion 1),
    kxk depthwise (carries the stride), 1x1 linear projection; each conv bias-free and followed by
    BatchNorm, ReLU6 after the first two; identity shortcut when shapes allow."""

    config: BlockConfig

    @nn.compact
    def __call__(self, x):
        c = self.config
        hidden = c.in_features * c.expansion
        y = x
        if c.expansion != 1:
            y = nn.Conv(hidden, (1, 1), use_bias=False, name="expand_conv")(y)
            y = jax.nn.relu6(_bn("bn0")(y))
        y = DepthwiseConv(c.kernel, c.stride, "SAME", use_bias=False, name="depthwise_conv")(y)
        y = jax.nn.relu6(_bn("bn1")(y))
        y = nn.Conv(c.out_features, (1, 1), use_bias=False, name="project_conv")(y)
        y = _bn("bn2")(y)
        if c.stride == 1 and c.in_features == c.out_features:
            y = y + x
        return y


class EfficientNetLite(nn.Module):
    """x [N, H, W, 3] in [-1, 1] -> taps {'stem', 'stage1'..'stage7', 'head': [N, h, w, C],
    'pool': [N, 1280], 'logits': [N, num_classes]}.

    Channels are `tap_features(variant)`; for lite0 at 224x224: stem 32 @112, stage1 16 @112,
    stage2 24 @56, stage3 40 @28, stage4 80 @14, stage5 112 @14, stage6 192 @7, stage7 320 @7,
    head 1280 @7 (after BatchNorm and ReLU6), pool 1280 (spatial mean of head), logits 1000
    (ImageNet-1k, before softmax). `num_classes` 0 drops the classifier (no 'logits').
    Use with `apply({'params': ..., 'batch_stats': ...}, x)`.
    """

    variant: str = "lite0"
    num_classes: int = NUM_CLASSES

    @nn.compact
    def __call__(self, x) -> dict[str, Any]:
        stages = stage_configs(self.variant)
        if x.ndim != 4 or x.shape[-1] != 3:
            raise ValueError(f"EfficientNetLite expects RGB images [N, H, W, 3] in [-1, 1]; got shape {tuple(x.shape)}")
        mean = jnp.asarray(IMAGENET_MEAN, x.dtype)
        std = jnp.asarray(IMAGENET_STD, x.dtype)
        x = ((x + 1.0) / 2.0 - mean) / std
        taps = {}
        x = nn.Conv(STEM_FEATURES, (3, 3), strides=2, padding="SAME", use_bias=False, name="conv_stem")(x)
        x = taps["stem"] = jax.nn.relu6(_bn("bn0")(x))
        index = 0
        for i, blocks in enumerate(stages, 1):
            for config in blocks:
                x = MBConv(config, name=f"blocks_{index}")(x)
                index += 1
            taps[f"stage{i}"] = x
        x = nn.Conv(HEAD_FEATURES, (1, 1), use_bias=False, name="conv_head")(x)
        x = taps["head"] = jax.nn.relu6(_bn("bn1")(x))
        taps["pool"] = jnp.mean(x, axis=(1, 2))
        if self.num_classes:
            taps["logits"] = nn.Dense(self.num_classes, name="fc")(taps["pool"])
        return taps


def features_fn(variables, taps, variant: str = "lite0", num_classes: int = NUM_CLASSES):
    """`images [N, H, W, 3] in [-1, 1] -> {tap: features}`: EfficientNet-Lite as a backbone for
    `genvision_jax.losses.perceptual` (feature, Gram and LPIPS-like losses over named taps).

    taps: any of `TAPS` ('stem', 'stage1'..'stage7', 'head', 'pool', 'logits'). The whole network runs
    (XLA drops what no requested tap needs). As for any closure under `jax.jit`, the variables become
    constants of the compiled program; in a jitted training step pass them as an argument and build
    the function inside.
    """
    taps = tuple(taps)
    unknown = [t for t in taps if t not in TAPS or (t == "logits" and not num_classes)]
    if unknown:
        raise ValueError(f"unknown EfficientNet-Lite tap(s) {unknown}; valid: {list(TAPS)}")
    model = EfficientNetLite(check_variant(variant), num_classes)

    def fn(images):
        out = model.apply(variables, images)
        return {t: out[t] for t in taps}

    return fn
