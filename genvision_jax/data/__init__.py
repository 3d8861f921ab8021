"""Data: embedded TFDS datasets (`datasets/`), TFDS catalog sources, local scene folders, transforms and
grain pipelines.

    source = get_source("shapes", "train", image_size=64)      # len, source[i] -> dict of numpy
    batches = make_pipeline(source, batch_size=64, seed=0,
                            transforms=[transforms.RandomFlip(), transforms.ScaleImage()])

Names are imported on first use (PEP 562), so `import genvision_jax.data` stays cheap (grain
alone takes seconds to import) and render worker processes start fast.
"""

import importlib
from typing import TYPE_CHECKING

_EXPORTS = {
    "get_source": "sources", "Source": "sources", "Subset": "sources", "default_data_dir": "sources", "dataset_names": "sources",
    "make_pipeline": "pipeline", "DataIterator": "pipeline",
}
_SUBMODULES = ("datasets", "face_drawing", "mot_synthetic", "nerf_folders", "pipeline", "scenes", "shape_drawing", "sources",
               "transforms", "views")
__all__ = sorted([*_EXPORTS, *_SUBMODULES])

if TYPE_CHECKING:
    from genvision_jax.data import (datasets, mot_synthetic, nerf_folders, pipeline, scenes, shape_drawing, sources,
                                    transforms, views)
    from genvision_jax.data.pipeline import DataIterator, make_pipeline
    from genvision_jax.data.sources import Source, Subset, dataset_names, default_data_dir, get_source


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
