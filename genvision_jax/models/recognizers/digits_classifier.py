"""The 32x32x1 digits classifier: `ConvClassifier` in its default configuration, shipped weights.

Its 128-d penultimate features define FID/KID/precision-recall on the `digits` dataset
(`genvision_jax.metrics.load_digits_extractor`). Trained by
`python -m experiments.domain_classifier.main --config experiments/domain_classifier/configs/default.py:digits`
(`genvision_jax.tasks.classifier`).
"""

from genvision_jax.models.recognizers import conv_classifier
from genvision_jax.models.recognizers.conv_classifier import (  # noqa: F401  (re-exported)
    FEATURE_LAYER, WEIGHTS_DIR, accuracy, file_sha256, predict)

NAME = "digits_classifier_32"
INPUT_SPEC = {"height": 32, "width": 32, "channels": 1, "low": -1.0, "high": 1.0, "dtype": "float32"}

# The digits configuration is ConvClassifier's default (10 classes, widths 16-32-64-64).
DigitsClassifier = conv_classifier.ConvClassifier


def load_pretrained(weights_dir=None):
    """(model, params, info) of the shipped digits weights; see `conv_classifier.load_pretrained`."""
    return conv_classifier.load_pretrained(NAME, weights_dir)
