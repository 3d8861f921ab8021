"""GAN architectures. Generators: `G(z, y=None, *, train)`; discriminators: `D(x, y=None, *, train)` -> logits [N]."""

from genvision_jax.models.gan.dcgan import DCGANDiscriminator, DCGANGenerator
from genvision_jax.models.gan.mlp import MLPDiscriminator, MLPGenerator
from genvision_jax.models.gan.resnet import ResNetDiscriminator, ResNetGenerator

__all__ = [
    "DCGANDiscriminator",
    "DCGANGenerator",
    "MLPDiscriminator",
    "MLPGenerator",
    "ResNetDiscriminator",
    "ResNetGenerator",
]
