"""Generic checkpoint reading and conversion: formats, layouts, and errors that name every problem."""

import hashlib
import sys

import jax
import numpy as np
import pytest

from genvision_jax.pretrained.state_dict import (
    convert,
    file_sha256,
    read_state_dict,
    torch_source,
)


def _target():
    return {"params": {"conv": {"kernel": jax.ShapeDtypeStruct((3, 3, 2, 4), np.float32),
                                "bias": jax.ShapeDtypeStruct((4,), np.float32)},
                       "fc": {"kernel": jax.ShapeDtypeStruct((4, 5), np.float32)},
                       "bn": {"scale": jax.ShapeDtypeStruct((4,), np.float32)}},
            "batch_stats": {"bn": {"mean": jax.ShapeDtypeStruct((4,), np.float32),
                                   "var": jax.ShapeDtypeStruct((4,), np.float32)}}}


def _source(seed=0):
    rng = np.random.default_rng(seed)
    return {"conv.weight": rng.normal(size=(4, 2, 3, 3)).astype(np.float32),
            "conv.bias": rng.normal(size=4).astype(np.float32),
            "fc.weight": rng.normal(size=(5, 4)).astype(np.float32),
            "bn.weight": rng.normal(size=4).astype(np.float32),
            "bn.running_mean": rng.normal(size=4).astype(np.float32),
            "bn.running_var": rng.uniform(1, 2, size=4).astype(np.float32)}


def test_convert_maps_torch_layouts():
    src = _source()
    out = convert(src, _target(), torch_source)
    # conv: torch [Cout, Cin, kh, kw] -> [kh, kw, Cin, Cout]; the tap (i, j) from input c to output o.
    assert out["params"]["conv"]["kernel"][1, 2, 1, 3] == src["conv.weight"][3, 1, 1, 2]
    np.testing.assert_array_equal(out["params"]["fc"]["kernel"], src["fc.weight"].T)
    np.testing.assert_array_equal(out["params"]["bn"]["scale"], src["bn.weight"])
    np.testing.assert_array_equal(out["batch_stats"]["bn"]["var"], src["bn.running_var"])
    assert out["params"]["conv"]["kernel"].dtype == np.float32


def test_convert_reports_every_problem_at_once():
    src = _source()
    del src["conv.bias"]
    src["fc.weight"] = src["fc.weight"][:3]
    src["head.weight"] = np.zeros(2, np.float32)
    src["bn.num_batches_tracked"] = np.zeros((), np.float32)
    with pytest.raises(ValueError) as err:
        convert(src, _target(), torch_source, what="toy weights")
    message = str(err.value)
    assert message.startswith("toy weights do not match the architecture")
    assert "1 missing keys: conv.bias (for params/conv/bias)" in message
    assert "2 unexpected keys: bn.num_batches_tracked; head.weight" in message
    assert "1 shape mismatches: fc.weight: (3, 4) -> (4, 3), expected (4, 5)" in message
    # Keys the caller declares irrelevant are allowed to stay unused.
    src = {**_source(), "bn.num_batches_tracked": np.zeros((), np.float32)}
    convert(src, _target(), torch_source, ignore=lambda k: k.endswith("num_batches_tracked"))


def test_torch_source_rejects_unknown_leaves():
    with pytest.raises(ValueError, match=r"no torch equivalent for the Flax variable params/emb/embedding"):
        torch_source(("params", "emb", "embedding"), (3, 4))


def test_read_npz_and_sha256(tmp_path):
    src = _source()
    np.savez(tmp_path / "w.npz", **src)
    back = read_state_dict(tmp_path / "w.npz")
    assert sorted(back) == sorted(src)
    np.testing.assert_array_equal(back["conv.weight"], src["conv.weight"])
    assert file_sha256(tmp_path / "w.npz") == hashlib.sha256((tmp_path / "w.npz").read_bytes()).hexdigest()


def test_read_torch_files(tmp_path):
    torch = pytest.importorskip("torch")
    src = {k: torch.from_numpy(v) for k, v in _source().items()}
    torch.save({"state_dict": {**src, "fc.weight": src["fc.weight"].half()}, "epoch": 3},
               tmp_path / "ckpt.pth")
    back = read_state_dict(tmp_path / "ckpt.pth")  # unwrapped; half -> float32
    assert back["fc.weight"].dtype == np.float32
    np.testing.assert_allclose(back["fc.weight"], src["fc.weight"].numpy(), atol=1e-2)
    torch.save({"conv.weight": src["conv.weight"], "note": "hello"}, tmp_path / "mixed.pth")
    with pytest.raises(ValueError, match=r"entry 'note' is a str, not a tensor"):
        read_state_dict(tmp_path / "mixed.pth")
    torch.save([src["conv.weight"]], tmp_path / "list.pth")
    with pytest.raises(ValueError, match=r"expected a state dict .* got list"):
        read_state_dict(tmp_path / "list.pth")


def test_read_errors(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match=r"weights file not found: .*nothing\.pth"):
        read_state_dict(tmp_path / "nothing.pth")
    (tmp_path / "w.ckpt").write_bytes(b"\0")
    with pytest.raises(ValueError, match=r"unsupported weights format '\.ckpt'"):
        read_state_dict(tmp_path / "w.ckpt")
    (tmp_path / "w.pth").write_bytes(b"\0")
    monkeypatch.setitem(sys.modules, "torch", None)  # torch is not needed to read torch files
    with pytest.raises(ValueError, match=r"w\.pth: cannot read this PyTorch file"):
        read_state_dict(tmp_path / "w.pth")


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_torch_files_are_read_without_torch_and_equal_torch_load(tmp_path, monkeypatch, zip_format):
    """Both torch.save formats (zip since 1.6, the legacy pickle stream before), views with strides and
    offsets, integer tensors and nn.Parameters: our reader equals torch.load, with torch hidden."""
    torch = pytest.importorskip("torch")
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    saved = {"w": torch.randn(5, 3, generator=torch.Generator().manual_seed(0)),
             "transposed": base.t(), "sliced": base[1:, 2:5], "steps": torch.arange(7, dtype=torch.int64),
             "param": torch.nn.Parameter(torch.ones(2, 2)), "half": torch.randn(3).half()}
    path = tmp_path / "sd.pth"
    torch.save({"state_dict": saved}, path, _use_new_zipfile_serialization=zip_format)
    reference = {k: v.detach().numpy() for k, v in torch.load(path, weights_only=True)["state_dict"].items()}
    monkeypatch.setitem(sys.modules, "torch", None)
    from genvision_jax.pretrained.torch_files import read_torch_state_dict

    ours = read_torch_state_dict(path)
    assert sorted(ours) == sorted(reference)
    for key, value in reference.items():
        assert ours[key].dtype == value.dtype and ours[key].shape == value.shape, key
        np.testing.assert_array_equal(ours[key], value)
    assert read_state_dict(path)["steps"].dtype == np.float32  # the converters' view: float32


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_torch_file_reader_refuses_code_and_non_tensors(tmp_path, zip_format):
    torch = pytest.importorskip("torch")
    from genvision_jax.pretrained.torch_files import read_torch_state_dict

    class Evil:
        def __reduce__(self):
            import os
            return (os.system, ("echo should-not-run",))

    path = tmp_path / "evil.pth"
    torch.save({"w": torch.ones(2), "x": Evil()}, path, _use_new_zipfile_serialization=zip_format)
    with pytest.raises(ValueError, match=r"evil\.pth: .*refusing to load (posix|os)\.system"):
        read_torch_state_dict(path)
    torch.save({"w": torch.ones(2), "n": 3}, path, _use_new_zipfile_serialization=zip_format)
    with pytest.raises(ValueError, match=r"entry 'n' is a int, not a tensor"):
        read_torch_state_dict(path)
