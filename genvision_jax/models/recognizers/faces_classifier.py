"""The 32x32x3 synthetic-faces classifier: a `ConvClassifier` over the 6 hair colours with the attribute
regression of its recipe during training, shipped weights.

Its 128-d penultimate features define FID/KID/precision-recall on `synthetic_faces` at 32x32
(`genvision_jax.metrics.load_faces_extractor`). Trained by
`python -m experiments.domain_classifier.main --config experiments/domain_classifier/configs/default.py:synthetic_faces`
(`genvision_jax.tasks.classifier`).
"""

from genvision_jax.models.recognizers import conv_classifier
from genvision_jax.models.recognizers.conv_classifier import (  # noqa: F401  (re-exported)
    FEATURE_LAYER, WEIGHTS_DIR, accuracy, file_sha256, predict)

NAME = "synthetic_faces_classifier_32"
INPUT_SPEC = {"height": 32, "width": 32, "channels": 3, "low": -1.0, "high": 1.0, "dtype": "float32"}


def load_pretrained(weights_dir=None):
    """(model, params, info) of the shipped synthetic-faces weights; see `conv_classifier.load_pretrained`."""
    return conv_classifier.load_pretrained(NAME, weights_dir)
