"""Building blocks shared by model families."""

from genvision_jax.nn.conv import Conv, ConvTranspose, DepthwiseConv, depthwise_conv2d
from genvision_jax.nn.fusion import fusion_barrier
from genvision_jax.nn.gan_layers import MinibatchDiscrimination, minibatch_stddev
from genvision_jax.nn.norms import (
    NORMS,
    ConditionalBatchNorm,
    check_labels,
    check_norm,
    make_conditional_norm,
    make_norm,
    spectral_norm,
    wrap_weights,
)

__all__ = [
    "NORMS",
    "ConditionalBatchNorm",
    "Conv",
    "ConvTranspose",
    "DepthwiseConv",
    "MinibatchDiscrimination",
    "check_labels",
    "check_norm",
    "depthwise_conv2d",
    "fusion_barrier",
    "make_conditional_norm",
    "make_norm",
    "minibatch_stddev",
    "spectral_norm",
    "wrap_weights",
]
