"""StyleGAN 2 weights in rosinality's `.pt` layout and NVlabs' `.pkl` layout load into our generator and give the
images of an independent PyTorch implementation (benchmarks/torch_stylegan2.py) with the same weights; the
pickle reader runs nothing from the file."""

import argparse
import collections
import math
import pickle
import sys
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from benchmarks.torch_stylegan2 import Generator as TorchGenerator
from genvision_jax.models.gan.stylegan import StyleGANGenerator
from genvision_jax.pretrained import stylegan2

SIZE, DIM, MLP, BASE, CMAX = 16, 8, 2, 64, 8


def _torch_generator(seed=0):
    torch.manual_seed(seed)
    g = TorchGenerator(SIZE, DIM, MLP, BASE, CMAX)
    with torch.no_grad():  # non-zero noise strengths and biases, so their mapping is tested too
        for name, p in g.named_parameters():
            if name.endswith(("noise.weight", "activate.bias", "to_rgb1.bias")) or ".bias" in name:
                p.copy_(torch.randn_like(p) * 0.3)
    return g.eval()


def _ours(info):
    return StyleGANGenerator(info["resolution"], 3, info["z_dim"], info["w_dim"], info["mapping_layers"], 0.01,
                             info["channel_base"], info["channel_max"])


def _compare(g, variables, info):
    z = torch.randn(3, DIM, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        w_ref = g.mapping(z).numpy()
        ws = torch.randn(3, g.num_ws, DIM, generator=torch.Generator().manual_seed(2))
        img_ref = g.synthesis(ws, "const").numpy().transpose(0, 2, 3, 1)
    G = _ours(info)
    w = G.apply(variables, jnp.asarray(z.numpy()), method=G.mapping)
    np.testing.assert_allclose(np.asarray(w[:, 0]), w_ref, rtol=1e-4, atol=1e-5)
    img = G.apply(variables, jnp.asarray(ws.numpy()), "const", method=G.synthesis)
    assert img.shape == img_ref.shape == (3, SIZE, SIZE, 3)
    np.testing.assert_allclose(np.asarray(img), img_ref, rtol=1e-4, atol=1e-4)


def test_rosinality_checkpoint_gives_the_reference_images(tmp_path):
    g = _torch_generator()
    path = tmp_path / "sg2.pt"
    latent_avg = torch.randn(DIM)
    torch.save({"g_ema": g.state_dict(), "latent_avg": latent_avg, "args": argparse.Namespace(size=SIZE)}, path)
    variables, info = stylegan2.load(path)
    assert (info["layout"], info["resolution"], info["mapping_layers"], info["channel_base"], info["channel_max"]) \
        == ("rosinality", SIZE, MLP, BASE, CMAX)
    np.testing.assert_array_equal(variables["w_avg"]["value"], latent_avg.numpy())
    _compare(g, variables, info)


def _official_state_dict(g) -> dict:
    """The torch generator's weights under NVlabs' G_ema names and shapes."""
    sd, out = g.state_dict(), {}
    for i in range(MLP):
        out[f"mapping.fc{i}.weight"], out[f"mapping.fc{i}.bias"] = sd[f"style.{i + 1}.weight"], sd[f"style.{i + 1}.bias"]
    out["mapping.w_avg"] = torch.randn(DIM)
    out["synthesis.b4.const"] = sd["input.input"][0]

    def layer(ours, theirs, noise):
        out[f"{ours}.weight"] = sd[f"{theirs}.conv.weight"][0]
        out[f"{ours}.affine.weight"] = sd[f"{theirs}.conv.modulation.weight"]
        out[f"{ours}.affine.bias"] = sd[f"{theirs}.conv.modulation.bias"]
        if noise is not None:
            out[f"{ours}.bias"] = sd[f"{theirs}.activate.bias"]
            out[f"{ours}.noise_strength"] = sd[f"{theirs}.noise.weight"][0]
            out[f"{ours}.noise_const"] = sd[f"noises.noise_{noise}"][0, 0]
        else:
            out[f"{ours}.bias"] = sd[f"{theirs}.bias"].reshape(-1)

    layer("synthesis.b4.conv1", "conv1", 0)
    layer("synthesis.b4.torgb", "to_rgb1", None)
    for k in range(int(math.log2(SIZE)) - 2):
        r = 8 * 2 ** k
        layer(f"synthesis.b{r}.conv0", f"convs.{2 * k}", 2 * k + 1)
        layer(f"synthesis.b{r}.conv1", f"convs.{2 * k + 1}", 2 * k + 2)
        layer(f"synthesis.b{r}.torgb", f"to_rgbs.{k}", None)
    return out


_CALLED = []


class _Persistent:
    """Pickles like a `torch_utils.persistence` object: a reduce to `_reconstruct_persistent_obj(meta)` with the
    class source in meta (here source that would record a call if it were ever run)."""

    def __init__(self, class_name, params=None, buffers=None, modules=None):
        self.meta = dict(type="class", version=6, class_name=class_name,
                         module_src="import tests; raise SystemExit('the class source was executed')",
                         state={"training": False, "_parameters": collections.OrderedDict(params or {}),
                                "_buffers": collections.OrderedDict(buffers or {}),
                                "_modules": collections.OrderedDict(modules or {}), "init_kwargs": {"w_dim": DIM}})

    def __reduce__(self):
        return _reconstruct_persistent_obj, (self.meta,)


def _reconstruct_persistent_obj(meta):
    _CALLED.append(meta)
    raise AssertionError("not called when reading")


def _nest(flat: dict) -> _Persistent:
    """Official module tree from dotted names (parameters vs buffers as the official modules hold them)."""
    tree: dict = {}
    for key, value in flat.items():
        *path, leaf = key.split(".")
        node = tree
        for part in path:
            node = node.setdefault(part, {})
        node[leaf] = value
    buffers = {"w_avg", "noise_const", "resample_filter"}

    def build(name, node):
        params = {k: torch.nn.Parameter(v.clone()) for k, v in node.items() if torch.is_tensor(v) and k not in buffers}
        bufs = {k: v.clone() for k, v in node.items() if torch.is_tensor(v) and k in buffers}
        mods = {k: build(k, v) for k, v in node.items() if isinstance(v, dict)}
        return _Persistent(name, params, bufs, mods)

    return build("Generator", tree)


def _write_network_pickle(path, sd):
    fake = types.ModuleType("torch_utils.persistence")
    fake._reconstruct_persistent_obj = _reconstruct_persistent_obj
    _reconstruct_persistent_obj.__module__, _reconstruct_persistent_obj.__qualname__ = \
        "torch_utils.persistence", "_reconstruct_persistent_obj"
    saved = {k: sys.modules.get(k) for k in ("torch_utils", "torch_utils.persistence")}
    sys.modules["torch_utils"], sys.modules["torch_utils.persistence"] = types.ModuleType("torch_utils"), fake
    try:
        g_ema = _nest(sd)
        data = {"G": g_ema, "D": _nest({"b4.fc.weight": torch.randn(2, 2)}), "G_ema": g_ema, "augment_pipe": None,
                "training_set_kwargs": {"resolution": SIZE}}
        path.write_bytes(pickle.dumps(data, protocol=4))
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


def test_nvlabs_pickle_gives_the_reference_images_without_running_its_code(tmp_path):
    g = _torch_generator(seed=3)
    sd = _official_state_dict(g)
    path = tmp_path / "network-snapshot-000000.pkl"
    _write_network_pickle(path, sd)
    assert b"the class source was executed" in path.read_bytes()  # the source is in the file ...
    variables, info = stylegan2.load(path)
    assert not _CALLED  # ... and neither it nor the file's reconstruct function ran
    assert (info["layout"], info["resolution"], info["channel_base"]) == ("nvlabs", SIZE, BASE)
    np.testing.assert_array_equal(variables["w_avg"]["value"], sd["mapping.w_avg"].numpy())
    _compare(g, variables, info)


def test_a_pickle_that_names_anything_else_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            import os
            return os.system, ("echo pwned > " + str(tmp_path / "pwned"),)

    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"G_ema": Evil()}))
    with pytest.raises(ValueError, match="refusing to load (posix|os).system"):
        stylegan2.load(path)
    assert not (tmp_path / "pwned").exists()


def test_generator_built_from_the_loaded_info_runs_under_jit(tmp_path):
    g = _torch_generator(seed=5)
    path = tmp_path / "sg2.pt"
    torch.save({"g_ema": g.state_dict()}, path)
    variables, info = stylegan2.load(path)
    assert not info["has_w_avg"]
    G = _ours(info)
    img = jax.jit(lambda v, z: G.apply(v, z, noise_mode="const"))(variables, jnp.ones((2, DIM)))
    assert img.shape == (2, SIZE, SIZE, 3) and np.isfinite(np.asarray(img)).all()
