"""`mixture2d`: 2-D Gaussian mixtures of the GAN mode-collapse literature as a TFDS builder."""

from __future__ import annotations

import dataclasses
import itertools
from typing import NamedTuple

import numpy as np
import tensorflow_datasets as tfds

from genvision_jax.data import sources


class Mixture(NamedTuple):
    centers: np.ndarray  # float32 [K, 2]
    std: float  # Isotropic standard deviation of every mode.


_ring_angles = 2 * np.pi * np.arange(8) / 8
MIXTURES = {
    # 8 modes on a circle of radius 2, std 0.02 (unrolled GAN, VEEGAN, PacGAN).
    "ring8": Mixture(
        centers=(2.0 * np.stack([np.cos(_ring_angles), np.sin(_ring_angles)], 1)).astype(
            np.float32),
        std=0.02),
    # 5x5 grid at {-4, -2, 0, 2, 4}^2, std 0.05 (VEEGAN, PacGAN); mode 5 * i + j = (x_i, y_j).
    "grid25": Mixture(
        centers=np.array(list(itertools.product([-4, -2, 0, 2, 4], repeat=2)), np.float32),
        std=0.05),
}
DEFAULT_MIXTURE = "ring8"
NUM_TRAIN, NUM_TEST = 100_000, 10_000
SEED = 2_024
_SPLIT_IDS = {"train": 0, "test": 1}


def sample(mixture: Mixture, num: int, seed) -> tuple[np.ndarray, np.ndarray]:
    """`num` points -> (points float32 [num, 2], modes int64 [num]); equal-weight modes.

    Uses only `Generator.random` (stable across NumPy versions): mode = floor(K u0), and the
    Gaussian offset by Box-Muller from (u1, u2).
    """
    u = np.random.default_rng(seed).random((num, 3))
    k = len(mixture.centers)
    modes = np.minimum((u[:, 0] * k).astype(np.int64), k - 1)
    radius = np.sqrt(-2.0 * np.log1p(-u[:, 1]))  # 1 - u1 in (0, 1].
    angle = 2.0 * np.pi * u[:, 2]
    noise = np.stack([radius * np.cos(angle), radius * np.sin(angle)], 1)
    points = mixture.centers[modes].astype(np.float64) + mixture.std * noise
    return points.astype(np.float32), modes


@dataclasses.dataclass(eq=False)
class Mixture2dConfig(tfds.core.BuilderConfig):
    mixture: str = DEFAULT_MIXTURE
    num_train: int = NUM_TRAIN
    num_test: int = NUM_TEST


class Mixture2d(sources.LocalCodePath, tfds.core.GeneratorBasedBuilder):
    """Points from equal-weight isotropic 2-D Gaussian mixtures, for mode-collapse studies.

    Configs (the standard values of the unrolled GAN [Metz et al. 2017], VEEGAN [Srivastava et al.
    2017] and PacGAN [Lin et al. 2018] experiments):
      - `ring8`: 8 modes at 2 (cos 2πk/8, sin 2πk/8), k = 0..7 (radius 2), std 0.02.
      - `grid25`: 25 modes at {-4, -2, 0, 2, 4}^2 (mode 5i + j = (x_i, y_j)), std 0.05.
    The centers and std are `MIXTURES[name]` here and the dataset metadata (`source.metadata`:
    `centers` float32 [K, 2], `std`, `mixture`).

    Splits: `train` 100,000 and `test` 10,000 points (other counts via `num_train`/`num_test`, stored
    under their own config name). Each split is drawn by `sample(mixture, n, seed=[2024, split])`,
    split = 0 train / 1 test: mode uniform, offset by Box-Muller; deterministic.

    Features: `point` float32 [2]; `label` int64, the mode index.
    """

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    BUILDER_CONFIGS = [Mixture2dConfig(name=name, mixture=name) for name in MIXTURES]
    DEFAULT_CONFIG_NAME = DEFAULT_MIXTURE

    def _info(self) -> tfds.core.DatasetInfo:
        cfg = self.builder_config
        mixture = MIXTURES[cfg.mixture]
        return tfds.core.DatasetInfo(
            builder=self,
            description=self.__doc__,
            features=tfds.features.FeaturesDict({
                "point": tfds.features.Tensor(shape=(2,), dtype=np.float32),
                "label": tfds.features.ClassLabel(num_classes=len(mixture.centers)),
            }),
            supervised_keys=("point", "label"),
            disable_shuffling=True,
            metadata=tfds.core.MetadataDict(
                mixture=cfg.mixture, centers=mixture.centers.tolist(), std=mixture.std),
            citation="Metz et al., Unrolled Generative Adversarial Networks, ICLR 2017.",
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # Nothing to download.
        cfg = self.builder_config
        return {
            "train": self._generate_examples("train", cfg.num_train),
            "test": self._generate_examples("test", cfg.num_test),
        }

    def _generate_examples(self, split: str, num: int):
        points, modes = sample(MIXTURES[self.builder_config.mixture], num, [SEED, _SPLIT_IDS[split]])
        for i in range(num):
            yield i, {"point": points[i], "label": int(modes[i])}


@sources.register_dataset("mixture2d")
def make_builder(data_dir: str, **config) -> Mixture2d:
    """Builder for `get_source('mixture2d', ..., mixture='ring8'|'grid25', num_train=, num_test=)`."""
    sources.check_config_keys("mixture2d", config, ("mixture", "num_train", "num_test"))
    mixture = config.get("mixture", DEFAULT_MIXTURE)
    sources.check_choice("mixture2d", "mixture", mixture, tuple(MIXTURES))
    num_train = sources.check_count("mixture2d", "num_train", config.get("num_train", NUM_TRAIN))
    num_test = sources.check_count("mixture2d", "num_test", config.get("num_test", NUM_TEST))
    if (num_train, num_test) == (NUM_TRAIN, NUM_TEST):
        builder_config = mixture
    else:
        builder_config = Mixture2dConfig(
            name=f"{mixture}_train{num_train}_test{num_test}", mixture=mixture,
            num_train=num_train, num_test=num_test)
    return Mixture2d(data_dir=data_dir, config=builder_config, file_format="array_record")
