"""`shapes`: procedurally generated, anti-aliased geometric shapes with all their attributes."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import subprocess
import sys
import tempfile

import numpy as np
import tensorflow_datasets as tfds

from genvision_jax.data import sources
from genvision_jax.data.shape_drawing import (  # noqa: F401  (re-exported)
    ROTATION_PERIOD, SHAPES, SIZE_RANGE, background_image, render, sample_attributes)

IMAGE_SIZES = (32, 64)
DEFAULT_IMAGE_SIZE = 64
NUM_TRAIN, NUM_TEST = 60_000, 10_000
WORKERS_ENV = "GENVISION_DATA_WORKERS"
_PARALLEL_MIN_EXAMPLES = 4_000  # Below this, starting worker processes costs more than it saves.


def num_workers() -> int:
    """Render processes used for large splits: `$GENVISION_DATA_WORKERS`, else the usable cores (<= 8)."""
    value = os.environ.get(WORKERS_ENV)
    return max(1, int(value) if value else min(8, len(os.sched_getaffinity(0))))


def render_in_workers(module: str, args: list[str], image_size: int, num: int, workers: int):
    """Yields the images of examples 0..num-1, rendered by `workers` fresh Python processes running
    `python -m module *args w num workers` (each dataset's drawing module has such a `__main__`).

    Worker w renders indices w, w + workers, ... and streams the raw uint8 pixels through its stdout;
    they are read back in index order. Fresh interpreters, not multiprocessing: 'fork' is unsafe
    once JAX or grain threads run, and 'spawn' re-imports the caller's `__main__`.
    """
    shape = (image_size, image_size, 3)
    nbytes = int(np.prod(shape))
    env = dict(os.environ)
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    with contextlib.ExitStack() as stack:
        procs = []
        for w in range(workers):
            err = stack.enter_context(tempfile.TemporaryFile())
            cmd = [sys.executable, "-m", module, *args, str(w), str(num), str(workers)]
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, env=env)
            stack.callback(proc.kill)  # No-op once it has exited; stops it if we exit early.
            stack.callback(proc.stdout.close)
            procs.append((proc, err))
        for index in range(num):
            proc, err = procs[index % workers]
            pixels = proc.stdout.read(nbytes)
            if len(pixels) != nbytes:
                proc.wait()
                err.seek(0)
                raise RuntimeError(f"render worker {proc.args} died (exit {proc.returncode}):\n"
                                   + err.read().decode(errors="replace")[-4000:])
            yield np.frombuffer(pixels, np.uint8).reshape(shape)


@dataclasses.dataclass(eq=False)
class ShapesConfig(tfds.core.BuilderConfig):
    image_size: int = DEFAULT_IMAGE_SIZE
    num_train: int = NUM_TRAIN
    num_test: int = NUM_TEST


class Shapes(sources.LocalCodePath, tfds.core.GeneratorBasedBuilder):
    """Procedural images of one geometric shape on a plain or gradient background, RGB.

    Classes (`label`): circle, square, triangle, star (5 points, inner radius 0.45), hexagon,
    ellipse (axis ratio 0.5); `label = index % 6`, so classes are exactly balanced.

    Per example, from `numpy.random.default_rng([1234, split, index])` (split 0 train, 1 test;
    see `sample_attributes`), all stored as features:
      - `size` float32: circumradius / image side, uniform in [0.15, 0.40];
      - `center` float32 [2]: (x, y) / image side (x right, y down), uniform in [size, 1 - size]
        so the shape lies inside the image;
      - `rotation` float32: degrees counter-clockwise, uniform in [0, symmetry period) (square 90,
        triangle 120, star 72, hexagon 60, ellipse 180; circle 0), so each image has one angle;
      - `background`, `background_end` uint8 [3]: gradient end colours (uniform RGB); with
        probability 1/2 the background is flat (`background_end == background`,
        `gradient_angle` 0), otherwise `gradient_angle` float32 (degrees, uniform in [0, 360)) is the
        direction in which the colour goes from `background` to `background_end`, corner to corner
        (see `background_image`);
      - `color` uint8 [3]: fill colour, uniform RGB, redrawn until its distance to every background
        colour is >= 96.
    `image` uint8 [S, S, 3] is `render(attributes, S)`: the polygon (circle/ellipse: 64 vertices)
    drawn with PIL at 4x resolution, box-filtered to a coverage alpha (anti-aliasing) and blended
    over the background; fully covered pixels have exactly `color`. Stored as a uint8 Tensor (see
    `sources`). The same index has the same attributes at 32x32 and 64x64 (paired resolutions);
    `render` with edited attributes makes paired data for attribute editing and translation.

    Configs: `32x32`, `64x64` (default); splits `train` 60,000 and `test` 10,000 (other counts via
    `num_train`/`num_test`, stored under their own config name). Records are in index order.
    Deterministic: the same bytes every time. Large splits render in `num_workers()` processes.
    """

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    BUILDER_CONFIGS = [ShapesConfig(name=f"{s}x{s}", image_size=s) for s in IMAGE_SIZES]
    DEFAULT_CONFIG_NAME = f"{DEFAULT_IMAGE_SIZE}x{DEFAULT_IMAGE_SIZE}"

    def _info(self) -> tfds.core.DatasetInfo:
        size = self.builder_config.image_size

        def rgb(doc):
            return tfds.features.Tensor(shape=(3,), dtype=np.uint8, doc=doc)

        def scalar(doc):
            return tfds.features.Scalar(np.float32, doc=doc)

        return tfds.core.DatasetInfo(
            builder=self,
            description=self.__doc__,
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Tensor(shape=(size, size, 3), dtype=np.uint8,
                                              encoding="zlib"),
                "label": tfds.features.ClassLabel(names=SHAPES),
                "color": rgb("Fill colour."),
                "background": rgb("Background colour (gradient start)."),
                "background_end": rgb("Gradient end colour (== background if flat)."),
                "gradient_angle": scalar("Gradient direction, degrees (x right, y down)."),
                "size": scalar("Circumradius / image side."),
                "center": tfds.features.Tensor(shape=(2,), dtype=np.float32,
                                               doc="(x, y) / image side."),
                "rotation": scalar("Degrees counter-clockwise."),
            }),
            supervised_keys=("image", "label"),
            disable_shuffling=True,
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # Nothing to download.
        cfg = self.builder_config
        return {"train": self._generate_examples("train", cfg.num_train),
                "test": self._generate_examples("test", cfg.num_test)}

    def _generate_examples(self, split: str, num: int):
        size = self.builder_config.image_size
        workers = num_workers() if num >= _PARALLEL_MIN_EXAMPLES else 1
        if workers > 1:  # Examples depend only on their index, so rendering shards freely.
            for index, image in enumerate(render_in_workers(
                    "genvision_jax.data.shape_drawing", [split, str(size)], size, num, workers)):
                yield index, {"image": image, **sample_attributes(split, index)}
        else:
            for index in range(num):
                attributes = sample_attributes(split, index)
                yield index, {"image": render(attributes, size), **attributes}


@sources.register_dataset("shapes")
def make_builder(data_dir: str, **config) -> Shapes:
    """Builder for `get_source('shapes', ..., image_size=32|64, num_train=, num_test=)`."""
    sources.check_config_keys("shapes", config, ("image_size", "num_train", "num_test"))
    image_size = config.get("image_size", DEFAULT_IMAGE_SIZE)
    sources.check_choice("shapes", "image_size", image_size, IMAGE_SIZES)
    num_train = sources.check_count("shapes", "num_train", config.get("num_train", NUM_TRAIN))
    num_test = sources.check_count("shapes", "num_test", config.get("num_test", NUM_TEST))
    name = f"{image_size}x{image_size}"
    if (num_train, num_test) == (NUM_TRAIN, NUM_TEST):
        builder_config = name
    else:
        builder_config = ShapesConfig(name=f"{name}_train{num_train}_test{num_test}",
                                      image_size=image_size, num_train=num_train, num_test=num_test)
    return Shapes(data_dir=data_dir, config=builder_config, file_format="array_record")
