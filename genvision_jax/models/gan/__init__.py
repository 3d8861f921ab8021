"""GAN architectures."""

from genvision_jax.models.gan.dcgan import DCGANDiscriminator, DCGANGenerator

__all__ = ["DCGANDiscriminator", "DCGANGenerator"]
