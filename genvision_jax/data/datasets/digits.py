"""`digits`: scikit-learn's 1,797 handwritten digits as a TFDS builder at 8x8, 16x16 and 32x32."""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image

from genvision_jax.data import sources

IMAGE_SIZES = (8, 16, 32)
DEFAULT_IMAGE_SIZE = 32
NUM_TEST_PER_CLASS = 30  # 300 test images, 1,497 train.
SPLIT_SEED = 0


def stratified_split(labels: np.ndarray, num_test_per_class: int, seed: int):
    """Seeded stratified split -> (train_indices, test_indices), each sorted ascending.

    Per class, indices are ordered by `default_rng(seed).random(n)` (a plain uniform stream, stable
    across NumPy versions) and the first `num_test_per_class` go to test.
    """
    rng = np.random.default_rng(seed)
    test = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        order = np.argsort(rng.random(len(members)), kind="stable")
        test.append(members[order[:num_test_per_class]])
    test = np.sort(np.concatenate(test))
    train = np.setdiff1d(np.arange(len(labels)), test)
    return train, test


def to_uint8_image(digit: np.ndarray, image_size: int) -> np.ndarray:
    """[8, 8] values 0..16 -> uint8 [image_size, image_size, 1], 0..255 (PIL bicubic)."""
    pixels = np.rint(np.asarray(digit, np.float64) * (255.0 / 16.0)).astype(np.uint8)
    image = Image.fromarray(pixels)  # Mode "L".
    if image_size != 8:
        image = image.resize((image_size, image_size), Image.Resampling.BICUBIC)
    return np.asarray(image)[..., None]


@dataclasses.dataclass(eq=False)
class DigitsConfig(tfds.core.BuilderConfig):
    image_size: int = DEFAULT_IMAGE_SIZE


class Digits(sources.LocalCodePath, tfds.core.GeneratorBasedBuilder):
    """scikit-learn's handwritten digits (UCI optdigits test set), grayscale, 10 classes.

    Source: `sklearn.datasets.load_digits()` — the 1,797 8x8 images of the test set (13 writers) of
    the UCI "Optical Recognition of Handwritten Digits" data, shipped inside scikit-learn, so nothing
    is downloaded. Each 8x8 value (0..16) counts the ink pixels of a 4x4 block of the original 32x32
    binary scan.

    Configs: `8x8` (no resampling), `16x16`, `32x32` (default). Images are uint8 0..255, 1 channel:
    the 8x8 values are scaled by 255/16 and rounded, then upsampled with PIL bicubic (a = -0.5) on
    the uint8 image. Bicubic makes strokes a smooth (C1) pen trace: nearest-neighbour would give 4x4
    blocks whose edges are an artefact a generator has to learn, bilinear leaves kinks along the 8x8
    grid, Lanczos rings more; bicubic's small overshoot at sharp edges is clipped to 0..255. The 4x4 block
    mean of a 32x32 image correlates with its 8x8 original at r = 0.991 on average (min 0.984 over
    the test split).

    Splits (seeded, stratified, identical for every config): `test` = 30 images per class (300),
    chosen per class by `stratified_split(labels, 30, seed=0)`; `train` = the other 1,497. Records
    are stored in ascending sklearn order (no shuffling at write time); the pipeline shuffles.

    Features: `image` uint8 [S, S, 1] (a uint8 Tensor, see `sources`); `label` int64 0..9; `index`
    int64, the row in `load_digits()` (to compare with the original). Deterministic: the same bytes
    every time.
    """

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    BUILDER_CONFIGS = [DigitsConfig(name=f"{s}x{s}", image_size=s) for s in IMAGE_SIZES]
    DEFAULT_CONFIG_NAME = f"{DEFAULT_IMAGE_SIZE}x{DEFAULT_IMAGE_SIZE}"

    def _info(self) -> tfds.core.DatasetInfo:
        size = self.builder_config.image_size
        return tfds.core.DatasetInfo(
            builder=self,
            description=self.__doc__,
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Tensor(shape=(size, size, 1), dtype=np.uint8,
                                              encoding="zlib"),
                "label": tfds.features.ClassLabel(names=[str(d) for d in range(10)]),
                "index": tfds.features.Scalar(np.int64, doc="Row in sklearn load_digits()."),
            }),
            supervised_keys=("image", "label"),
            homepage="https://archive.ics.uci.edu/dataset/80",
            disable_shuffling=True,
            citation=(
                "@misc{optdigits, author={Alpaydin, E. and Kaynak, C.}, title={Optical Recognition of"
                " Handwritten Digits}, year={1998}, howpublished={UCI Machine Learning Repository}}"
            ),
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # Nothing to download.
        from sklearn.datasets import load_digits  # pylint: disable=g-import-not-at-top

        data = load_digits()
        train, test = stratified_split(data.target, NUM_TEST_PER_CLASS, SPLIT_SEED)
        return {
            "train": self._generate_examples(data.images, data.target, train),
            "test": self._generate_examples(data.images, data.target, test),
        }

    def _generate_examples(self, images, labels, indices):
        size = self.builder_config.image_size
        for i in indices:
            yield int(i), {
                "image": to_uint8_image(images[i], size),
                "label": int(labels[i]),
                "index": int(i),
            }


@sources.register_dataset("digits")
def make_builder(data_dir: str, **config) -> Digits:
    """Builder for `get_source('digits', ..., image_size=8|16|32)`."""
    sources.check_config_keys("digits", config, ("image_size",))
    image_size = config.get("image_size", DEFAULT_IMAGE_SIZE)
    sources.check_choice("digits", "image_size", image_size, IMAGE_SIZES)
    return Digits(data_dir=data_dir, config=f"{image_size}x{image_size}", file_format="array_record")
