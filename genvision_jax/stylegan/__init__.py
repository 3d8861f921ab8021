"""`python -m genvision_jax.stylegan generate|mix|truncation|interpolate` (genvision_jax.tasks.stylegan_tools)."""
