"""InceptionV3 (Szegedy et al. 2016, "Rethinking the Inception Architecture for Computer Vision").

NHWC, inference only (BatchNorm uses its running statistics, eps 1e-3; no dropout, no auxiliary
head). The model returns the 2048-d global-average-pooled features of Mixed_7c ("pool3", the FID
feature space of Heusel et al. 2017) and the classifier logits.

Three variants share every weight name and shape and differ only in pooling branches and the
classifier width:

- 'standard': TF-slim / `keras.applications.InceptionV3` semantics. The 3x3 stride-1 average pools
  of the A, C and E blocks divide by the number of unpadded pixels in the window (TF 'SAME').
- 'torchvision': `torchvision.models.inception_v3`, whose average pools count the zero padding
  (`count_include_pad=True`), a difference from the TF model its weights were ported from.
- 'fid': the 2015 TF graph used by the original FID code, as pytorch-fid ports it: 'standard'
  pools, except that Mixed_7c's pool branch is a 3x3 max pool, and 1008 logits.

Submodules are named as in torchvision (`Conv2d_1a_3x3`, `Mixed_5b/branch5x5_1/{conv,bn}`, `fc`),
so torchvision and pytorch-fid state dicts map 1:1 (`genvision_jax.pretrained.inception_v3`).
Inputs are RGB in [-1, 1] (the scaling Google's weights were trained with), at least 75x75; the
canonical size is 299x299.
"""

from __future__ import annotations

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from genvision_jax.nn import Conv

VARIANTS = ("standard", "torchvision", "fid")
DEFAULT_NUM_CLASSES = {"standard": 1000, "torchvision": 1000, "fid": 1008}
MIN_SIZE = 75  # smallest input whose Mixed_7a output is still >= 1x1
INPUT_SIZE = 299

# How a block's 3x3 stride-1 pool branch pools before its 1x1 conv.
_AVG_VALID = "avg_valid"  # average of the unpadded pixels (TF 'SAME')
_AVG_PADDED = "avg_padded"  # zero padding counted (torch count_include_pad=True)
_MAX = "max"


def _pool3x3(x: jax.Array, mode: str) -> jax.Array:
    pad = ((1, 1), (1, 1))
    if mode == _MAX:
        return nn.max_pool(x, (3, 3), strides=(1, 1), padding=pad)
    return nn.avg_pool(x, (3, 3), strides=(1, 1), padding=pad, count_include_pad=mode == _AVG_PADDED)


def _max_pool_s2(x: jax.Array) -> jax.Array:
    return nn.max_pool(x, (3, 3), strides=(2, 2))


class BasicConv2d(nn.Module):
    """Conv (no bias) + BatchNorm (running statistics, eps 1e-3) + ReLU, torch padding semantics."""

    features: int
    kernel_size: int | tuple[int, int]
    stride: int = 1
    padding: int | tuple[int, int] = 0
    impl: str = "auto"

    @nn.compact
    def __call__(self, x):
        x = Conv(self.features, self.kernel_size, self.stride, self.padding, use_bias=False,
                 impl=self.impl, name="conv")(x)
        x = nn.BatchNorm(use_running_average=True, epsilon=1e-3, name="bn")(x)
        return nn.relu(x)


class InceptionA(nn.Module):
    """35x35 block: 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | pool-1x1 -> 224 + pool_features channels."""

    pool_features: int
    pool: str
    impl: str = "auto"

    @nn.compact
    def __call__(self, x):
        conv = functools.partial(BasicConv2d, impl=self.impl)
        b1 = conv(64, 1, name="branch1x1")(x)
        b5 = conv(48, 1, name="branch5x5_1")(x)
        b5 = conv(64, 5, padding=2, name="branch5x5_2")(b5)
        b3 = conv(64, 1, name="branch3x3dbl_1")(x)
        b3 = conv(96, 3, padding=1, name="branch3x3dbl_2")(b3)
        b3 = conv(96, 3, padding=1, name="branch3x3dbl_3")(b3)
        bp = conv(self.pool_features, 1, name="branch_pool")(_pool3x3(x, self.pool))
        return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(nn.Module):
    """35x35 -> 17x17 reduction: 3x3/2 | 1x1-3x3-3x3/2 | maxpool/2."""

    impl: str = "auto"

    @nn.compact
    def __call__(self, x):
        conv = functools.partial(BasicConv2d, impl=self.impl)
        b3 = conv(384, 3, stride=2, name="branch3x3")(x)
        bd = conv(64, 1, name="branch3x3dbl_1")(x)
        bd = conv(96, 3, padding=1, name="branch3x3dbl_2")(bd)
        bd = conv(96, 3, stride=2, name="branch3x3dbl_3")(bd)
        return jnp.concatenate([b3, bd, _max_pool_s2(x)], axis=-1)


class InceptionC(nn.Module):
    """17x17 block with factorised 7x7 convs (1x7 then 7x1) of `channels_7x7` -> 768 channels."""

    channels_7x7: int
    pool: str
    impl: str = "auto"

    @nn.compact
    def __call__(self, x):
        conv = functools.partial(BasicConv2d, impl=self.impl)
        c7 = self.channels_7x7
        row, col = dict(kernel_size=(1, 7), padding=(0, 3)), dict(kernel_size=(7, 1), padding=(3, 0))
        b1 = conv(192, 1, name="branch1x1")(x)
        b7 = conv(c7, 1, name="branch7x7_1")(x)
        b7 = conv(c7, **row, name="branch7x7_2")(b7)
        b7 = conv(192, **col, name="branch7x7_3")(b7)
        bd = conv(c7, 1, name="branch7x7dbl_1")(x)
        bd = conv(c7, **col, name="branch7x7dbl_2")(bd)
        bd = conv(c7, **row, name="branch7x7dbl_3")(bd)
        bd = conv(c7, **col, name="branch7x7dbl_4")(bd)
        bd = conv(192, **row, name="branch7x7dbl_5")(bd)
        bp = conv(192, 1, name="branch_pool")(_pool3x3(x, self.pool))
        return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(nn.Module):
    """17x17 -> 8x8 reduction: 1x1-3x3/2 | 1x1-1x7-7x1-3x3/2 | maxpool/2."""

    impl: str = "auto"

    @nn.compact
    def __call__(self, x):
        conv = functools.partial(BasicConv2d, impl=self.impl)
        b3 = conv(192, 1, name="branch3x3_1")(x)
        b3 = conv(320, 3, stride=2, name="branch3x3_2")(b3)
        b7 = conv(192, 1, name="branch7x7x3_1")(x)
        b7 = conv(192, (1, 7), padding=(0, 3), name="branch7x7x3_2")(b7)
        b7 = conv(192, (7, 1), padding=(3, 0), name="branch7x7x3_3")(b7)
        b7 = conv(192, 3, stride=2, name="branch7x7x3_4")(b7)
        return jnp.concatenate([b3, b7, _max_pool_s2(x)], axis=-1)


class InceptionE(nn.Module):
    """8x8 block with split 1x3 / 3x1 outputs -> 2048 channels."""

    pool: str
    impl: str = "auto"

    @nn.compact
    def __call__(self, x):
        conv = functools.partial(BasicConv2d, impl=self.impl)
        row, col = dict(kernel_size=(1, 3), padding=(0, 1)), dict(kernel_size=(3, 1), padding=(1, 0))
        b1 = conv(320, 1, name="branch1x1")(x)
        b3 = conv(384, 1, name="branch3x3_1")(x)
        b3 = jnp.concatenate([conv(384, **row, name="branch3x3_2a")(b3),
                              conv(384, **col, name="branch3x3_2b")(b3)], axis=-1)
        bd = conv(448, 1, name="branch3x3dbl_1")(x)
        bd = conv(384, 3, padding=1, name="branch3x3dbl_2")(bd)
        bd = jnp.concatenate([conv(384, **row, name="branch3x3dbl_3a")(bd),
                              conv(384, **col, name="branch3x3dbl_3b")(bd)], axis=-1)
        bp = conv(192, 1, name="branch_pool")(_pool3x3(x, self.pool))
        return jnp.concatenate([b1, b3, bd, bp], axis=-1)


def check_variant(variant: str) -> str:
    if variant not in VARIANTS:
        raise ValueError(f"unknown InceptionV3 variant {variant!r}; valid: {list(VARIANTS)}")
    return variant


class InceptionV3(nn.Module):
    """x [N, H, W, 3] in [-1, 1] (H, W >= 75) -> {'pool3': [N, 2048], 'logits': [N, num_classes]}.

    `num_classes` None means the variant's default (1000, or 1008 for 'fid'); 0 means no classifier
    (only 'pool3' is returned), as for weight files that carry the feature trunk alone. Use with
    `apply({'params': ..., 'batch_stats': ...}, x)`.
    """

    variant: str = "standard"
    num_classes: int | None = None
    # Inference only: XLA's own convolutions beat im2col here (299x299, batch 8, fid variant, 2
    # shared cores: compile 4.3 s vs 15.9 s, forward 2.9 s vs 3.7 s), unlike the fwd+bwd case
    # `Conv`'s "auto" was measured on.
    impl: str = "xla"

    @nn.compact
    def __call__(self, x) -> dict[str, Any]:
        variant = check_variant(self.variant)
        if x.ndim != 4 or x.shape[-1] != 3 or min(x.shape[1:3]) < MIN_SIZE:
            raise ValueError(f"InceptionV3 expects RGB images [N, H, W, 3] with H, W >= {MIN_SIZE}; "
                             f"got shape {tuple(x.shape)}")
        pool = _AVG_PADDED if variant == "torchvision" else _AVG_VALID
        last_pool = _MAX if variant == "fid" else pool
        num_classes = self.num_classes or DEFAULT_NUM_CLASSES[variant]
        conv = functools.partial(BasicConv2d, impl=self.impl)
        x = conv(32, 3, stride=2, name="Conv2d_1a_3x3")(x)
        x = conv(32, 3, name="Conv2d_2a_3x3")(x)
        x = conv(64, 3, padding=1, name="Conv2d_2b_3x3")(x)
        x = _max_pool_s2(x)
        x = conv(80, 1, name="Conv2d_3b_1x1")(x)
        x = conv(192, 3, name="Conv2d_4a_3x3")(x)
        x = _max_pool_s2(x)
        for name, pool_features in (("Mixed_5b", 32), ("Mixed_5c", 64), ("Mixed_5d", 64)):
            x = InceptionA(pool_features, pool, self.impl, name=name)(x)
        x = InceptionB(self.impl, name="Mixed_6a")(x)
        for name, c7 in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)):
            x = InceptionC(c7, pool, self.impl, name=name)(x)
        x = InceptionD(self.impl, name="Mixed_7a")(x)
        x = InceptionE(pool, self.impl, name="Mixed_7b")(x)
        x = InceptionE(last_pool, self.impl, name="Mixed_7c")(x)
        pool3 = jnp.mean(x, axis=(1, 2))
        if self.num_classes == 0:
            return {"pool3": pool3}
        return {"pool3": pool3, "logits": nn.Dense(num_classes, name="fc")(pool3)}
