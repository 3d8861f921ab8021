"""StyleGAN 2 generator weights from the two public layouts, into `StyleGANGenerator` variables, with nothing
in the files executed.

- rosinality's stylegan2-pytorch checkpoints (`torch.save({'g_ema': state_dict, 'latent_avg': ..., ...})`,
  also what its `convert_weight.py` writes from the official TF pickles): keys `style.{1..8}.*` (mapping),
  `input.input`, `conv1.*`, `to_rgb1.*`, `convs.{i}.*`, `to_rgbs.{i}.*`, `noises.noise_{i}`. Read with the
  project's restricted PyTorch reader (the `torch.load(weights_only=True)` contract: tensors, dicts and
  plain values; an argparse Namespace of training options is read as a record).
- NVlabs' stylegan2-ada-pytorch / stylegan3 network pickles (`network-snapshot-*.pkl`): a pickle whose
  networks are `torch_utils.persistence` objects (their class source code is inside the pickle and is
  normally exec'd on load) with tensors pickled through `torch.storage._load_from_bytes`. The restricted
  unpickler here maps exactly those names to inert records — the class source is never compiled, no class
  of the file is constructed — and refuses every other global. Keys of `G_ema`: `mapping.fc{i}.*`,
  `mapping.w_avg`, `synthesis.b{res}.{const, conv0, conv1, torgb}.*`.

Both layouts store the up-convs in transposed-conv form; `genvision_jax.nn.stylegan` computes the same
operation from the same kernel (tested against the formula), so every kernel only changes axis order.
`load(path)` -> (variables, info) where info gives the architecture (resolution, z/w dims, mapping depth,
channels per resolution) to build the matching `StyleGANGenerator`.
"""

from __future__ import annotations

import math
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from genvision_jax.pretrained import torch_files

# ------------------------------------------------------------------------------------------------ reading


class _Persistent(torch_files._Record):  # noqa: SLF001  (a record of the file's object, never the object)
    class_name = "object"


def _reconstruct_persistent_obj(meta):
    """NVlabs' persistence hook: returns an inert record of the object's state; `meta['module_src']` (the
    class's source code) is ignored, never compiled."""
    if not isinstance(meta, dict) or meta.get("type") != "class" or not isinstance(meta.get("state"), dict):
        raise pickle.UnpicklingError("unexpected persistent object metadata")
    rec = _Persistent()
    rec.class_name = str(meta.get("class_name", "object"))
    rec.attributes = meta["state"]
    return rec


class _EasyDict(dict):
    """dnnlib.util.EasyDict as data."""


def _load_storage_from_bytes(data):
    """torch.storage._load_from_bytes: the bytes are a whole torch.save file holding one storage."""
    if not isinstance(data, bytes):
        raise pickle.UnpicklingError("a pickled storage must be bytes")
    obj = torch_files.load_bytes(data, "pickled storage")
    storage = obj.storage if isinstance(obj, torch_files._Tensor) else obj  # noqa: SLF001
    if not isinstance(storage, torch_files._Storage):  # noqa: SLF001
        raise pickle.UnpicklingError("a pickled storage holds no storage")
    return storage


_PKL_NAMES = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
    ("dnnlib.util", "EasyDict"): _EasyDict,
    ("torch.storage", "_load_from_bytes"): _load_storage_from_bytes,
}


class _NetworkUnpickler(torch_files.RestrictedUnpickler):
    """The PyTorch reader's unpickler plus the three names of NVlabs' pickles."""

    def find_class(self, module, name):
        if (module, name) in _PKL_NAMES:
            return _PKL_NAMES[(module, name)]
        return super().find_class(module, name)


def read_network_pickle(path) -> dict[str, Any]:
    """{name: record or value} of an NVlabs network pickle ('G', 'D', 'G_ema', 'augment_pipe',
    'training_set_kwargs', ...), read without running anything from the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"network pickle not found: {path}")
    try:
        with open(path, "rb") as f:
            obj = _NetworkUnpickler(f, str(path)).load()
    except (pickle.UnpicklingError, EOFError, ValueError, zipfile.BadZipFile) as err:
        raise ValueError(f"{path}: cannot read this network pickle: {err}") from err
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a dict of networks, got {type(obj).__name__}")
    return obj


def module_state_dict(record, source: str) -> dict[str, np.ndarray]:
    """The state dict (parameters and buffers, dotted names) of a torch module record from a pickle."""
    out: dict[str, np.ndarray] = {}

    def walk(rec, prefix):
        attrs = rec.attributes
        for kind in ("_parameters", "_buffers"):
            for name, value in (attrs.get(kind) or {}).items():
                if value is not None:
                    out[prefix + name] = value.array(source)
        for name, child in (attrs.get("_modules") or {}).items():
            if child is not None:
                walk(child, f"{prefix}{name}.")

    if not isinstance(record, torch_files._Record):  # noqa: SLF001
        raise ValueError(f"{source}: expected a network, got {type(record).__name__}")
    walk(record, "")
    return out


# ------------------------------------------------------------------------------------------------ converting


def _dense(weight, bias):
    """torch Linear [out, in] (+ bias) -> our EqualizedDense; both store weights and biases at the same scale
    (weights ~ N(0, 1/lr_mul²), the runtime gain lr_mul/sqrt(in); bias stored raw, x lr_mul at run time)."""
    return {"kernel": np.ascontiguousarray(weight.T), "bias": bias}


def _conv_kernel(w):
    """[out, in, k, k] or rosinality's [1, out, in, k, k] -> [k, k, in, out]."""
    w = w[0] if w.ndim == 5 else w
    return np.ascontiguousarray(w.transpose(2, 3, 1, 0))


def _noise_map(x):
    """[1, 1, H, W] or [H, W] -> [1, H, W, 1]."""
    return x.reshape(1, x.shape[-2], x.shape[-1], 1)


def _official_layout(sd: dict) -> tuple[dict, dict, dict]:
    """params, noise_const, info from NVlabs' G_ema keys."""
    fcs = sorted(int(m.group(1)) for k in sd if (m := re.fullmatch(r"mapping\.fc(\d+)\.weight", k)))
    res = sorted(int(m.group(1)) for k in sd if (m := re.fullmatch(r"synthesis\.b(\d+)\.torgb\.weight", k)))
    params: dict = {"map_net": {f"fc{i}": _dense(sd[f"mapping.fc{i}.weight"], sd[f"mapping.fc{i}.bias"])
                                for i in fcs}, "synth": {}}
    noise: dict = {}
    s = params["synth"]
    s["const"] = np.ascontiguousarray(sd["synthesis.b4.const"].transpose(1, 2, 0))
    for r in res:
        for layer in ("conv0", "conv1") if r > 4 else ("conv1",):
            p = f"synthesis.b{r}.{layer}."
            ours = f"b{r}_{layer}" if r > 4 else "b4_conv"
            s[ours] = {"affine": _dense(sd[p + "affine.weight"], sd[p + "affine.bias"]),
                       "kernel": _conv_kernel(sd[p + "weight"]), "bias": sd[p + "bias"],
                       "noise": {"strength": sd[p + "noise_strength"].reshape(1)}}
            noise[ours] = {"noise": {"map": _noise_map(sd[p + "noise_const"])}}
        p = f"synthesis.b{r}.torgb."
        s[f"b{r}_torgb"] = {"conv": {"affine": _dense(sd[p + "affine.weight"], sd[p + "affine.bias"]),
                                     "kernel": _conv_kernel(sd[p + "weight"]), "bias": sd[p + "bias"]}}
    info = {"layout": "nvlabs", "resolution": res[-1], "z_dim": sd["mapping.fc0.weight"].shape[1],
            "w_dim": sd[f"mapping.fc{fcs[-1]}.weight"].shape[0], "mapping_layers": len(fcs),
            "channels": {r: int(sd[f"synthesis.b{r}.torgb.weight"].shape[1]) for r in res},
            "w_avg": sd["mapping.w_avg"]}
    return params, noise, info


def _rosinality_layout(sd: dict, latent_avg) -> tuple[dict, dict, dict]:
    """params, noise_const, info from rosinality's `g_ema` keys."""
    styles = sorted(int(m.group(1)) for k in sd if (m := re.fullmatch(r"style\.(\d+)\.weight", k)))
    n_blocks = len([k for k in sd if re.fullmatch(r"to_rgbs\.\d+\.bias", k)])
    params: dict = {"map_net": {f"fc{i}": _dense(sd[f"style.{j}.weight"], sd[f"style.{j}.bias"])
                                for i, j in enumerate(styles)}, "synth": {}}
    s, noise = params["synth"], {}
    s["const"] = np.ascontiguousarray(sd["input.input"][0].transpose(1, 2, 0))

    def styled(prefix):
        return {"affine": _dense(sd[prefix + "conv.modulation.weight"], sd[prefix + "conv.modulation.bias"]),
                "kernel": _conv_kernel(sd[prefix + "conv.weight"]), "bias": sd[prefix + "activate.bias"],
                "noise": {"strength": sd[prefix + "noise.weight"].reshape(1)}}

    def rgb(prefix):
        return {"conv": {"affine": _dense(sd[prefix + "conv.modulation.weight"], sd[prefix + "conv.modulation.bias"]),
                         "kernel": _conv_kernel(sd[prefix + "conv.weight"]), "bias": sd[prefix + "bias"].reshape(-1)}}

    s["b4_conv"], s["b4_torgb"] = styled("conv1."), rgb("to_rgb1.")
    noise["b4_conv"] = {"noise": {"map": _noise_map(sd["noises.noise_0"])}}
    channels = {4: int(sd["to_rgb1.conv.weight"].shape[2])}
    for i in range(n_blocks):
        r = 8 * 2 ** i
        for j, layer in enumerate(("conv0", "conv1")):
            s[f"b{r}_{layer}"] = styled(f"convs.{2 * i + j}.")
            noise[f"b{r}_{layer}"] = {"noise": {"map": _noise_map(sd[f"noises.noise_{2 * i + j + 1}"])}}
        s[f"b{r}_torgb"] = rgb(f"to_rgbs.{i}.")
        channels[r] = int(sd[f"to_rgbs.{i}.conv.weight"].shape[2])
    resolution = 4 * 2 ** n_blocks
    w_avg = None if latent_avg is None else np.asarray(latent_avg, np.float32).reshape(-1)
    info = {"layout": "rosinality", "resolution": resolution, "z_dim": sd[f"style.{styles[0]}.weight"].shape[1],
            "w_dim": sd[f"style.{styles[-1]}.weight"].shape[0], "mapping_layers": len(styles), "channels": channels,
            "w_avg": w_avg}
    return params, noise, info


def channel_settings(channels: dict[int, int]) -> tuple[int, int]:
    """(channel_base, channel_max) with min(base / res, max) = channels[res] at every resolution, or an
    error when no such pair exists (then the file's widths are not StyleGAN 2's rule)."""
    cmax = max(channels.values())
    top = max(channels)
    base = channels[top] * top
    for r, c in channels.items():
        if min(base // r, cmax) != c:
            raise ValueError(f"channels per resolution {dict(sorted(channels.items()))} do not follow "
                             f"min(base / res, max) for any base")
    return base, cmax


def load(path) -> tuple[dict, dict]:
    """(variables for `StyleGANGenerator`, info) from a rosinality `.pt` or an NVlabs `.pkl` (G_ema).

    info: layout, resolution, z_dim, w_dim, mapping_layers, channel_base, channel_max (to build the
    generator: `StyleGANGenerator(resolution, 3, z_dim, w_dim, mapping_layers, 0.01, channel_base,
    channel_max)`)."""
    path = Path(path)
    if path.suffix == ".pkl":
        nets = read_network_pickle(path)
        if "G_ema" not in nets:
            raise ValueError(f"{path}: no 'G_ema' network (keys: {sorted(nets)[:10]})")
        params, noise, info = _official_layout(module_state_dict(nets["G_ema"], str(path)))
    else:
        tree = torch_files.read_torch_tree(path)
        if not isinstance(tree, dict) or "g_ema" not in tree:
            raise ValueError(f"{path}: expected rosinality's checkpoint dict with 'g_ema'")
        sd = torch_files.tensors_of(tree["g_ema"], str(path))
        latent = tree.get("latent_avg")
        params, noise, info = _rosinality_layout(sd, None if latent is None else latent.array(str(path)))
    info["channel_base"], info["channel_max"] = channel_settings(info["channels"])
    w_avg = info.pop("w_avg")
    variables = {"params": _as_f32(params), "noise_const": {"synth": _as_f32(noise)},
                 "w_avg": {"value": np.zeros((info["w_dim"],), np.float32) if w_avg is None
                           else np.asarray(w_avg, np.float32)}}
    info["has_w_avg"] = w_avg is not None
    info["num_ws"] = 2 * int(round(math.log2(info["resolution"]))) - 2
    return variables, info


def _as_f32(tree):
    if isinstance(tree, dict):
        return {k: _as_f32(v) for k, v in tree.items()}
    return np.asarray(tree, np.float32)

