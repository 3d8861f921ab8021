"""Radiance fields with one interface, so a trainer swaps them by config:

    field = make_field(name, bounds=..., **options)
    field.apply(variables, points [..., 3], viewdirs [..., 3], times [..., 1] | None)
        -> (rgb [..., 3] in [0, 1], density [...] ≥ 0; exactly 0 outside the scene box)

names: 'nerf' (NeRFMLP), 'instant_ngp' (InstantNGPField), 'tensorf' (TensoRFField), 'plenoxels'
(PlenoxelField), 'dnerf' (DNeRFField; `canonical` may be another field name, with `canonical_kwargs`).
Regularizers are functions of the params (tensorf_l1/tensorf_tv, plenoxel_tv) or of rendered
quantities (freenerf_mask, occlusion_loss, depth_smoothness_loss). The scene box and the occupancy
grid are parameter-free and live in `genvision_jax.rendering` (box, occupancy).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn

from genvision_jax.errors import UnknownNameError

from genvision_jax.models.fields.common import Bounds, box, inside_box, to_unit_cube
from genvision_jax.models.fields.dnerf import DNeRFField
from genvision_jax.models.fields.encoding import (
    FourierEncoding,
    HashEncoding,
    hash_grid_index,
    hash_grid_layout,
    positional_encoding,
    spatial_hash,
    spherical_harmonics,
)
from genvision_jax.models.fields.hash_grid import InstantNGPField
from genvision_jax.models.fields.nerf import NeRFMLP, SkipMLP
from genvision_jax.models.fields.plenoxels import PlenoxelField, plenoxel_tv, total_variation
from genvision_jax.models.fields.regularizers import depth_smoothness_loss, freenerf_mask, occlusion_loss
from genvision_jax.models.fields.tensorf import TensoRFField, tensorf_l1, tensorf_tv

FIELDS: dict[str, type[nn.Module]] = {
    "nerf": NeRFMLP,
    "instant_ngp": InstantNGPField,
    "tensorf": TensoRFField,
    "plenoxels": PlenoxelField,
    "dnerf": DNeRFField,
}


def field_options(name: str) -> list[str]:
    """The keyword arguments `make_field(name, ...)` accepts."""
    cls = _field_class(name)
    options = [f.name for f in dataclasses.fields(cls) if f.name not in ("parent", "name")]
    return options + ["canonical_kwargs"] if cls is DNeRFField else options


def _field_class(name: str) -> type[nn.Module]:
    if name not in FIELDS:
        raise UnknownNameError(f"unknown field {name!r}; valid fields: {sorted(FIELDS)}")
    return FIELDS[name]


def make_field(name: str, **kwargs: Any) -> nn.Module:
    """Build a field by name; unknown names or options raise a ValueError listing the valid ones.

    For 'dnerf', `canonical` may be a field name (any but 'dnerf') built with `canonical_kwargs` and the
    D-NeRF field's bounds."""
    cls = _field_class(name)
    valid = field_options(name)
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        raise ValueError(f"make_field({name!r}): unknown option(s) {unknown}; valid options: {valid}")
    if cls is DNeRFField:
        canonical_kwargs = kwargs.pop("canonical_kwargs", None) or {}
        canonical = kwargs.get("canonical")
        if isinstance(canonical, str):
            if canonical == "dnerf":
                raise ValueError("make_field('dnerf'): the canonical field cannot itself be 'dnerf'")
            canonical_kwargs = {"bounds": kwargs.get("bounds", 1.0), **canonical_kwargs}
            kwargs["canonical"] = make_field(canonical, **canonical_kwargs)
        elif canonical_kwargs:
            raise ValueError("make_field('dnerf'): canonical_kwargs need canonical given as a field name")
    return cls(**kwargs)


__all__ = [
    "Bounds",
    "DNeRFField",
    "FIELDS",
    "FourierEncoding",
    "HashEncoding",
    "InstantNGPField",
    "NeRFMLP",
    "PlenoxelField",
    "SkipMLP",
    "TensoRFField",
    "box",
    "depth_smoothness_loss",
    "field_options",
    "freenerf_mask",
    "hash_grid_index",
    "hash_grid_layout",
    "inside_box",
    "make_field",
    "occlusion_loss",
    "plenoxel_tv",
    "positional_encoding",
    "spatial_hash",
    "spherical_harmonics",
    "tensorf_l1",
    "tensorf_tv",
    "to_unit_cube",
    "total_variation",
]
