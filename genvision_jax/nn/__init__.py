"""Building blocks shared by model families."""

from genvision_jax.nn.conv import Conv, ConvTranspose

__all__ = ["Conv", "ConvTranspose"]
