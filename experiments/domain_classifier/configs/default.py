"""The domain classifiers whose features are the FID/KID/PR extractors of the embedded datasets.

Variants: digits, shapes and synthetic_faces (the recipes of the shipped `genvision_jax/weights/*_classifier_32.*`:
same seed, same bytes), tiny (CI smoke).

  python -m experiments.domain_classifier.main --config experiments/domain_classifier/configs/default.py:digits \
      --workdir DIR          # DIR/digits_classifier_32.msgpack + .json
"""

import ml_collections

from genvision_jax.train.config import run_config


def get_config(variant: str = "digits") -> ml_collections.ConfigDict:
    c = run_config("classifier", num_steps=600, log_every=100, checkpoint_every=200, keep_checkpoints=2)
    c.dataset = "digits"             # digits | shapes | synthetic_faces (genvision_jax.tasks.classifier.RECIPES)
    c.batch_size = 64                # global
    c.learning_rate = 2e-3           # Adam, cosine decay to 0 over num_steps
    c.augment = True                 # the dataset recipe's augmentation (digits: shifts and rotations)
    c.aux_weight = 0.0               # shapes: weight of the attribute regression on the features
    c.architecture = ml_collections.ConfigDict(dict(num_classes=10, widths=(16, 32, 64, 64), feature_dim=128,
                                                    num_groups=8))
    if variant == "digits":
        pass
    elif variant == "shapes":
        # 60,000 images that already vary in position, size, rotation and colour: no augmentation; the
        # features must also carry colours, size and position, so a linear head regresses them.
        c.dataset = "shapes"
        c.num_steps = 2400
        c.checkpoint_every = 800
        c.augment = False
        c.aux_weight = 1.0
        c.architecture.num_classes = 6
    elif variant == "synthetic_faces":
        # 40,000 faces (2,000 identities) that vary in pose, expression, accessories, lighting and colours: no
        # augmentation; class = hair colour, the other attributes regressed by a linear head on the features.
        c.dataset = "synthetic_faces"
        c.num_steps = 6000
        c.checkpoint_every = 2000
        c.augment = False
        c.aux_weight = 1.0
        c.architecture.num_classes = 6
    elif variant == "tiny":
        c.num_steps = 6
        c.batch_size = 16
        c.log_every = c.checkpoint_every = 2
        c.architecture.widths = (8, 8, 8, 8)
        c.architecture.feature_dim = 16
    else:
        raise ValueError(f"unknown variant {variant!r}; choose digits, shapes, synthetic_faces or tiny")
    return c
