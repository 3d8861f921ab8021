"""genvision_jax: generative and recognition models of computer vision in JAX/Flax."""

__version__ = "0.1.0"
