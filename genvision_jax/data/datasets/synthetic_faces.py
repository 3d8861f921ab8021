"""`synthetic_faces`: procedurally drawn faces with their identity and every nuisance attribute."""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow_datasets as tfds

from genvision_jax.data import face_drawing as fd
from genvision_jax.data import sources
from genvision_jax.data.datasets.shapes import num_workers, render_in_workers

IMAGE_SIZES = (16, 32, 64, 128)
DEFAULT_IMAGE_SIZE = 64
NUM_TRAIN_IDENTITIES, NUM_TEST_IDENTITIES, IMAGES_PER_IDENTITY = 2_000, 500, 20
_PARALLEL_MIN_EXAMPLES = 2_000


@dataclasses.dataclass(eq=False)
class SyntheticFacesConfig(tfds.core.BuilderConfig):
    image_size: int = DEFAULT_IMAGE_SIZE
    num_train_identities: int = NUM_TRAIN_IDENTITIES
    num_test_identities: int = NUM_TEST_IDENTITIES
    images_per_identity: int = IMAGES_PER_IDENTITY


class SyntheticFaces(sources.LocalCodePath, tfds.core.GeneratorBasedBuilder):
    """Procedural RGB faces (`genvision_jax.data.face_drawing`), split by identity.

    Record `i` of a split is picture `i % images_per_identity` of identity `i // images_per_identity`;
    train and test identities are disjoint (drawn from different seeds). Stored per record:
      - identity: `identity` (int, the split's identity index), `identity_vector` float32 [12] in
        [0, 1] (face width, elongation, jaw, eye spacing/size/height, brow thickness, nose
        length/width, mouth width, lip thickness, skin jitter; `face_drawing.IDENTITY_FIELDS`),
        `skin_tone` (6 groups) and `eye_color` (5) — the same for every picture of the identity;
      - nuisances: `yaw` (±35°), `pitch` (±15°), `roll` (±10°), `smile` (-0.3 frown … 1, teeth above
        0.6), `light_angle` (°), `light_strength` (0…0.35), `age` (0…1: forehead lines and folds above
        0.4, graying above 0.6), `hair_style` (bald, short, fringe, long, side_part), `hair_color`
        (black, brown, blond, red, gray, blue), `glasses` (p 0.25), `hat` (p 0.15) or `mask` (p 0.12,
        never both), `background`/`background_end`/`gradient_angle` (flat or linear gradient),
        `shirt_color`, `accessory_color` (hat/mask), `offset` (face centre shift, ±0.03 of the side),
        `scale` (0.94…1.06), `image_index`.
    `render(attributes, size)` redraws any record (or an edited one: paired data for attribute editing).
    The same record has the same attributes at every size.

    Configs `16x16` (tests), `32x32`, `64x64` (default), `128x128`: 2,000 train and 500 test identities x 20 pictures
    (40,000 / 10,000 records); other counts via `num_train_identities`, `num_test_identities`,
    `images_per_identity`, stored under their own config name. Deterministic: the same bytes every time.
    """

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    BUILDER_CONFIGS = [SyntheticFacesConfig(name=f"{s}x{s}", image_size=s) for s in IMAGE_SIZES]
    DEFAULT_CONFIG_NAME = f"{DEFAULT_IMAGE_SIZE}x{DEFAULT_IMAGE_SIZE}"

    def _info(self) -> tfds.core.DatasetInfo:
        size = self.builder_config.image_size

        def rgb(doc):
            return tfds.features.Tensor(shape=(3,), dtype=np.uint8, doc=doc)

        def scalar(doc):
            return tfds.features.Scalar(np.float32, doc=doc)

        def flag(doc):
            return tfds.features.ClassLabel(names=("no", "yes"), doc=doc)

        return tfds.core.DatasetInfo(
            builder=self,
            description=self.__doc__,
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Tensor(shape=(size, size, 3), dtype=np.uint8, encoding="zlib"),
                "identity": tfds.features.Scalar(np.int64, doc="Identity index within the split."),
                "image_index": tfds.features.Scalar(np.int64, doc="Picture index within the identity."),
                "identity_vector": tfds.features.Tensor(shape=(len(fd.IDENTITY_FIELDS),), dtype=np.float32,
                                                        doc="Identity geometry in [0, 1]: " +
                                                        ", ".join(fd.IDENTITY_FIELDS)),
                "skin_tone": tfds.features.ClassLabel(names=fd.SKIN_TONES),
                "eye_color": tfds.features.ClassLabel(names=fd.EYE_COLORS),
                "yaw": scalar("Degrees."), "pitch": scalar("Degrees."), "roll": scalar("Degrees."),
                "smile": scalar("-0.3 (frown) .. 1 (open smile)."),
                "light_angle": scalar("Degrees."), "light_strength": scalar("0 .. 0.35."),
                "age": scalar("0 .. 1."),
                "hair_style": tfds.features.ClassLabel(names=fd.HAIR_STYLES),
                "hair_color": tfds.features.ClassLabel(names=fd.HAIR_COLORS),
                "glasses": flag("Glasses."), "hat": flag("Hat."), "mask": flag("Face mask."),
                "background": rgb("Background colour (gradient start)."),
                "background_end": rgb("Gradient end colour (== background if flat)."),
                "gradient_angle": scalar("Gradient direction, degrees."),
                "shirt_color": rgb("Shirt colour."), "accessory_color": rgb("Hat / mask colour."),
                "offset": tfds.features.Tensor(shape=(2,), dtype=np.float32, doc="Face centre shift / side."),
                "scale": scalar("Face scale."),
            }),
            supervised_keys=("image", "identity"),
            disable_shuffling=True,
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # Nothing to download.
        cfg = self.builder_config
        return {"train": self._generate_examples("train", cfg.num_train_identities),
                "test": self._generate_examples("test", cfg.num_test_identities)}

    def _generate_examples(self, split: str, identities: int):
        size, per = self.builder_config.image_size, self.builder_config.images_per_identity
        num = identities * per
        workers = num_workers() if num >= _PARALLEL_MIN_EXAMPLES else 1
        if workers > 1:  # Records depend only on their index, so rendering shards freely.
            images = render_in_workers("genvision_jax.data.face_drawing", [split, str(size), str(per)], size, num,
                                       workers)
            for index, image in enumerate(images):
                yield index, {"image": image, **fd.sample_attributes(split, index // per, index % per)}
        else:
            for index in range(num):
                attributes = fd.sample_attributes(split, index // per, index % per)
                yield index, {"image": fd.render(attributes, size), **attributes}


_KEYS = ("image_size", "num_train_identities", "num_test_identities", "images_per_identity")


@sources.register_dataset("synthetic_faces")
def make_builder(data_dir: str, **config) -> SyntheticFaces:
    """Builder for `get_source('synthetic_faces', ..., image_size=16|32|64|128, num_train_identities=,
    num_test_identities=, images_per_identity=)`."""
    sources.check_config_keys("synthetic_faces", config, _KEYS)
    image_size = config.get("image_size", DEFAULT_IMAGE_SIZE)
    sources.check_choice("synthetic_faces", "image_size", image_size, IMAGE_SIZES)
    defaults = (NUM_TRAIN_IDENTITIES, NUM_TEST_IDENTITIES, IMAGES_PER_IDENTITY)
    counts = tuple(sources.check_count("synthetic_faces", k, config.get(k, d)) for k, d in zip(_KEYS[1:], defaults))
    name = f"{image_size}x{image_size}"
    if counts == defaults:
        builder_config = name
    else:
        builder_config = SyntheticFacesConfig(name=f"{name}_ids{counts[0]}_{counts[1]}_per{counts[2]}",
                                              image_size=image_size, num_train_identities=counts[0],
                                              num_test_identities=counts[1], images_per_identity=counts[2])
    return SyntheticFaces(data_dir=data_dir, config=builder_config, file_format="array_record")
