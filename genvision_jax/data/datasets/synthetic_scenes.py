"""The `synthetic_scenes` TFDS builder: views of the ray tracer's procedural scenes, with exact alpha and depth.

`get_source('synthetic_scenes', split, scene=..., image_size=..., ...)` reads one record per view;
`load_split` stacks a split into the arrays a NeRF trainer wants (`genvision_jax.data.views`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import tensorflow_datasets as tfds

from genvision_jax.data import sources
from genvision_jax.data.scenes import (BACKGROUNDS, CAMERA_RADIUS, FOV_X, SCENES, near_far, render_view,
                                       split_cameras)
from genvision_jax.data.views import stack_views
from genvision_jax.errors import ConfigError
from genvision_jax.rendering import cameras

DEFAULT_SCENE, DEFAULT_IMAGE_SIZE, DEFAULT_BACKGROUND = "spheres", 64, "white"
IMAGE_SIZE_RANGE = (8, 512)
NUM_TRAIN, NUM_VAL, NUM_TEST = 100, 10, 20


@dataclasses.dataclass(eq=False)
class SyntheticScenesConfig(tfds.core.BuilderConfig):
    scene: str = DEFAULT_SCENE
    image_size: int = DEFAULT_IMAGE_SIZE
    background: str = DEFAULT_BACKGROUND
    num_train: int = NUM_TRAIN
    num_val: int = NUM_VAL
    num_test: int = NUM_TEST


class SyntheticScenes(sources.LocalCodePath, tfds.core.GeneratorBasedBuilder):
    """Views of procedural 3-D scenes ray-traced analytically, with exact alpha and depth.

    The NeRF-synthetic setting (Mildenhall et al. 2020) at small scale: square images of a scene
    inside the ball of radius ~2.3 around the origin, seen by cameras at distance 4 looking at the
    origin with NeRF's Blender field of view (camera_angle_x 0.6911), z up. Scenes (`SCENES`):
    `spheres` (default; three spheres, one glossy, one checkered, and a striped box on a checkered
    floor, two lights with shadows), `transparent` (plus a translucent floating sphere: fractional
    alpha where only it is hit) and `dynamic` (objects move with time t in [0, 1], for D-NeRF).

    Splits (see `split_cameras`): `train` (100 views) and `val` (10) from random cameras on the
    band of elevations 10..70 degrees with random times, `test` (20) a turntable at 30 degrees with
    times evenly spaced over [0, 1]; deterministic (the same bytes every build). Every scene gets
    times, so a time-conditioned model can also run on a static scene.

    Features (one record per view):
      - `image` uint8 [S, S, 3]: colour composited over the background (white or black, config);
      - `alpha` float32 [S, S]: 1 where an opaque surface is hit, 0 on background, the opacity of
        the translucent surfaces where only those are hit;
      - `depth` float32 [S, S]: z-depth (t along `cameras.pixel_rays` directions) of the first
        surface hit, 0 on background;
      - `c2w` float32 [4, 4] camera-to-world (OpenGL: x right, y up, looking along -z);
      - `intrinsics` float32 [4]: (fx, fy, cx, cy) in pixels;
      - `time` float32 in [0, 1].
    Metadata: `near`, `far` (bounds on the depth of every surface in every view), `scene`,
    `background`, `camera_radius`, `fov_x`, `image_size`.

    Configs: `scene` in `SCENES`, `image_size` 8..512 (default 64), `background` white|black,
    `num_train`/`num_val`/`num_test`; each combination is stored under its own config name.
    """

    VERSION = tfds.core.Version("1.1.0")
    RELEASE_NOTES = {"1.0.0": "Initial release.", "1.1.0": "Training view 0 at time 0 (D-NeRF pins t = 0)."}
    BUILDER_CONFIGS = [SyntheticScenesConfig(name=name, scene=name) for name in SCENES]
    DEFAULT_CONFIG_NAME = DEFAULT_SCENE

    def _info(self) -> tfds.core.DatasetInfo:
        cfg = self.builder_config
        s = cfg.image_size
        near, far = near_far(cfg.scene)
        return tfds.core.DatasetInfo(
            builder=self,
            description=self.__doc__,
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Tensor(shape=(s, s, 3), dtype=np.uint8, encoding="zlib"),
                "alpha": tfds.features.Tensor(shape=(s, s), dtype=np.float32, encoding="zlib"),
                "depth": tfds.features.Tensor(shape=(s, s), dtype=np.float32, encoding="zlib",
                                              doc="z-depth of the first surface; 0 on background."),
                "c2w": tfds.features.Tensor(shape=(4, 4), dtype=np.float32,
                                            doc="Camera-to-world, OpenGL convention."),
                "intrinsics": tfds.features.Tensor(shape=(4,), dtype=np.float32,
                                                   doc="(fx, fy, cx, cy) in pixels."),
                "time": tfds.features.Scalar(np.float32, doc="Time in [0, 1]."),
            }),
            disable_shuffling=True,
            metadata=tfds.core.MetadataDict(
                scene=cfg.scene, background=cfg.background, near=near, far=far,
                camera_radius=CAMERA_RADIUS, fov_x=FOV_X, image_size=s),
            citation="Mildenhall et al., NeRF: Representing Scenes as Neural Radiance Fields for "
                     "View Synthesis, ECCV 2020.",
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # Nothing to download.
        cfg = self.builder_config
        return {"train": self._generate_examples("train", cfg.num_train),
                "val": self._generate_examples("val", cfg.num_val),
                "test": self._generate_examples("test", cfg.num_test)}

    def _generate_examples(self, split: str, num: int):
        cfg = self.builder_config
        c2w, times = split_cameras(split, num)
        intrinsics = cameras.Intrinsics.from_fov(cfg.image_size, cfg.image_size, FOV_X)
        for i in range(num):
            view = render_view(cfg.scene, c2w[i], intrinsics, float(times[i]), cfg.background)
            yield i, {"image": np.round(view["rgb"] * 255.0).astype(np.uint8),
                      "alpha": view["alpha"], "depth": view["depth"], "c2w": c2w[i],
                      "intrinsics": intrinsics.as_array(), "time": times[i]}


_CONFIG_KEYS = ("scene", "image_size", "background", "num_train", "num_val", "num_test")


@sources.register_dataset("synthetic_scenes", splits=("train", "val", "test"))
def make_builder(data_dir: str, **config) -> SyntheticScenes:
    """Builder for `get_source('synthetic_scenes', split, scene=, image_size=, background=,
    num_train=, num_val=, num_test=)`."""
    name = "synthetic_scenes"
    sources.check_config_keys(name, config, _CONFIG_KEYS)
    scene = config.get("scene", DEFAULT_SCENE)
    sources.check_choice(name, "scene", scene, tuple(SCENES))
    image_size = config.get("image_size", DEFAULT_IMAGE_SIZE)
    low, high = IMAGE_SIZE_RANGE
    if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) or not (
            low <= image_size <= high):
        raise ConfigError(f"{name}: image_size must be an integer in [{low}, {high}], "
                         f"got {image_size!r}")
    background = config.get("background", DEFAULT_BACKGROUND)
    sources.check_choice(name, "background", background, tuple(BACKGROUNDS))
    counts = tuple(sources.check_count(name, key, config.get(key, default)) for key, default in
                   (("num_train", NUM_TRAIN), ("num_val", NUM_VAL), ("num_test", NUM_TEST)))
    image_size = int(image_size)
    if (image_size, background, counts) == (DEFAULT_IMAGE_SIZE, DEFAULT_BACKGROUND,
                                            (NUM_TRAIN, NUM_VAL, NUM_TEST)):
        builder_config = scene
    else:
        builder_config = SyntheticScenesConfig(
            name=f"{scene}_{image_size}px_{background}_train{counts[0]}_val{counts[1]}"
                 f"_test{counts[2]}",
            scene=scene, image_size=image_size, background=background, num_train=counts[0],
            num_val=counts[1], num_test=counts[2])
    return SyntheticScenes(data_dir=data_dir, config=builder_config, file_format="array_record")




def load_split(name: str = "synthetic_scenes", split: str = "train", *, data_dir: str | None = None,
               **config) -> dict[str, Any]:
    """All views of a split of an embedded scene dataset, stacked (prepared on first use; the format
    of `genvision_jax.data.views`).

    Args:
        name: the dataset (`'synthetic_scenes'`).
        split: 'train', 'val' or 'test' (TFDS slicing allowed).
        data_dir, **config: as `sources.get_source` (scene, image_size, background, num_*).

    Returns:
        `images` float32 [N, H, W, 3] in [0, 1] (composited over `background`), `alphas` float32
        [N, H, W], `depths` float32 [N, H, W] (z-depth, 0 on background; absent for real data),
        `c2w` float32 [N, 4, 4] (OpenGL), `intrinsics` float32 [N, 4] (fx, fy, cx, cy), `times`
        float32 [N], `height`, `width` ints, `near`, `far` floats (depth bounds for ray sampling),
        `background` ('white'/'black', or None when images are not composited).
    """
    source = sources.get_source(name, split, data_dir=data_dir, **config)
    records = source.__getitems__(range(len(source)))

    def stack(key):
        return np.stack([r[key] for r in records])

    return stack_views(stack("image").astype(np.float32) / 255.0, stack("alpha"), stack("depth"),
                  stack("c2w"), stack("intrinsics"), stack("time"), source.metadata["near"],
                  source.metadata["far"], source.metadata["background"])
