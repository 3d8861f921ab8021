"""Feature extractors, each registered in `genvision_jax.metrics.features.FEATURE_EXTRACTORS` by the
module that defines it (found on the first lookup): `classifiers` (the shipped digits and shapes
domain classifiers), `inception` (InceptionV3 from a local weights file)."""
