"""Trains the 32x32 digits classifier: `train_classifier --dataset=digits` under its original name.

    python -m genvision_jax.models.recognizers.train_digits_classifier --out_dir genvision_jax/weights --seed 0

Same flags, recipe and result as `train_classifier.py` with `--dataset=digits` (which made the
shipped `digits_classifier_32.*`).
"""

import sys

from absl import app

from genvision_jax.models.recognizers import train_classifier
from genvision_jax.models.recognizers.train_classifier import (  # noqa: F401  (re-exported)
    affine_warp, random_affine)


def load_split(split: str):
    """The whole digits split at 32x32: (images float32 [N, 32, 32, 1] in [-1, 1], labels, name)."""
    return train_classifier.load_split("digits", split)


if __name__ == "__main__":
    app.run(train_classifier.main, argv=[sys.argv[0], "--dataset=digits", *sys.argv[1:]])
