"""Convolutional trunks of AlexNet, VGG16 and SqueezeNet 1.1 in torchvision's layer layout, NHWC.

Each returns the ReLU activations LPIPS reads (Zhang et al. 2018, "The Unreasonable Effectiveness
of Deep Features as a Perceptual Metric"), shallow to deep:

- AlexNet (Krizhevsky et al. 2012, torchvision's single-tower variant): relu1..relu5, channels
  64, 192, 384, 256, 256.
- VGG16 (Simonyan & Zisserman 2015, configuration D): relu1_2, relu2_2, relu3_3, relu4_3,
  relu5_3, channels 64, 128, 256, 512, 512.
- SqueezeNet 1.1 (Iandola et al. 2016): the first conv's ReLU and the outputs of fire modules
  3-4 (after a pool), 6-7 (after a pool), 9, 10, 11, 12; channels 64, 128, 256, 384, 384, 512, 512.

Submodule `features_<i>` is torchvision's `features[i]`, so `features.<i>.weight` keys map 1:1
(`genvision_jax.pretrained.torchvision_backbones`). Only the layers up to the last tap exist; the
ImageNet classifiers are not part of these modules. Inputs are what the weights were trained on
(ImageNet-normalised RGB); LPIPS's ScalingLayer supplies that from [-1, 1].
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from genvision_jax.models.recognizers import vgg
from genvision_jax.nn import Conv

NETS = ("alex", "vgg", "squeeze")
TAP_CHANNELS = {
    "alex": (64, 192, 384, 256, 256),
    "vgg": (64, 128, 256, 512, 512),
    "squeeze": (64, 128, 256, 384, 384, 512, 512),
}
# Smallest input side for which every tap is at least 1x1.
MIN_SIZE = {"alex": 31, "vgg": 16, "squeeze": 17}
# These trunks are frozen (LPIPS, perceptual losses: forward and input gradients, no weight
# gradients), where XLA's own convolutions win on CPU. VGG16 at 64x64, batch 8, 2 shared cores:
# compile 0.3 s vs 7.1 s for im2col, forward 0.48 s vs 0.61 s, input gradient 1.19 s vs 1.38 s.
DEFAULT_IMPL = "xla"


def max_pool(x: jax.Array, kernel: int, stride: int, ceil_mode: bool = False) -> jax.Array:
    """torch.nn.MaxPool2d(kernel, stride, ceil_mode) without padding, NHWC."""
    if not ceil_mode:
        return nn.max_pool(x, (kernel, kernel), (stride, stride))
    pads = []
    for size in x.shape[1:3]:
        out = -(-(size - kernel) // stride) + 1
        if (out - 1) * stride >= size:  # torch drops a window that would start past the input
            out -= 1
        pads.append((0, max(0, (out - 1) * stride + kernel - size)))
    return nn.max_pool(x, (kernel, kernel), (stride, stride), padding=pads)  # pads with -inf


class AlexNetFeatures(nn.Module):
    """x [N, H, W, 3] (H, W >= 31) -> 5 taps [N, h_i, w_i, c_i] (relu1..relu5)."""

    impl: str = DEFAULT_IMPL

    @nn.compact
    def __call__(self, x) -> tuple[jax.Array, ...]:
        def conv(x, features, kernel, stride, padding, index):
            return nn.relu(Conv(features, kernel, stride, padding, impl=self.impl,
                                name=f"features_{index}")(x))

        relu1 = conv(x, 64, 11, 4, 2, 0)
        relu2 = conv(max_pool(relu1, 3, 2), 192, 5, 1, 2, 3)
        relu3 = conv(max_pool(relu2, 3, 2), 384, 3, 1, 1, 6)
        relu4 = conv(relu3, 256, 3, 1, 1, 8)
        relu5 = conv(relu4, 256, 3, 1, 1, 10)
        return relu1, relu2, relu3, relu4, relu5


# VGG16's LPIPS taps: the last ReLU of each stage, torchvision features 3, 8, 15, 22, 29.
VGG16_TAPS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")


class VGG16Features(nn.Module):
    """x [N, H, W, 3] (H, W >= 16) -> 5 taps: the last ReLU of each stage (relu1_2 ... relu5_3).

    The layers are `vgg.vgg_stack`'s (the full VGG16/VGG19 with any taps is `vgg.VGG`); the params
    are the same 13 convs `features_<i>` as `vgg.VGG(16)`'s.
    """

    impl: str = DEFAULT_IMPL

    @nn.compact
    def __call__(self, x) -> tuple[jax.Array, ...]:
        indices = [vgg.tap_index(16, tap) for tap in VGG16_TAPS]
        outputs = vgg.vgg_stack(x, 16, indices, self.impl, what="LPIPS VGG16 trunk")
        return tuple(outputs[i] for i in indices)


class Fire(nn.Module):
    """SqueezeNet fire module: 1x1 squeeze, then [1x1 expand, 3x3 expand] concatenated, all ReLU."""

    squeeze_channels: int
    expand_channels: int
    impl: str = DEFAULT_IMPL

    @nn.compact
    def __call__(self, x):
        conv = functools.partial(Conv, impl=self.impl)
        s = nn.relu(conv(self.squeeze_channels, 1, name="squeeze")(x))
        e1 = nn.relu(conv(self.expand_channels, 1, name="expand1x1")(s))
        e3 = nn.relu(conv(self.expand_channels, 3, padding=1, name="expand3x3")(s))
        return jnp.concatenate([e1, e3], axis=-1)


class SqueezeNet11Features(nn.Module):
    """x [N, H, W, 3] (H, W >= 17) -> 7 taps (conv1 ReLU; fire 4, 7, 9, 10, 11, 12 outputs)."""

    impl: str = DEFAULT_IMPL

    @nn.compact
    def __call__(self, x) -> tuple[jax.Array, ...]:
        def fire(x, squeeze, expand, index):
            return Fire(squeeze, expand, self.impl, name=f"features_{index}")(x)

        relu1 = nn.relu(Conv(64, 3, 2, impl=self.impl, name="features_0")(x))
        x = max_pool(relu1, 3, 2, ceil_mode=True)
        relu2 = fire(fire(x, 16, 64, 3), 16, 64, 4)
        x = max_pool(relu2, 3, 2, ceil_mode=True)
        relu3 = fire(fire(x, 32, 128, 6), 32, 128, 7)
        x = max_pool(relu3, 3, 2, ceil_mode=True)
        relu4 = fire(x, 48, 192, 9)
        relu5 = fire(relu4, 48, 192, 10)
        relu6 = fire(relu5, 64, 256, 11)
        relu7 = fire(relu6, 64, 256, 12)
        return relu1, relu2, relu3, relu4, relu5, relu6, relu7


BACKBONES = {"alex": AlexNetFeatures, "vgg": VGG16Features, "squeeze": SqueezeNet11Features}


def check_net(net: str) -> str:
    if net not in NETS:
        raise ValueError(f"unknown backbone {net!r}; valid: {list(NETS)}")
    return net
