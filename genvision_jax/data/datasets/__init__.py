"""The embedded datasets, TFDS builders generated offline: each module registers its builder with
`genvision_jax.data.sources.register_dataset`, and `get_source(name, ...)` finds it there."""
