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
    monkeypatch.setitem(sys.modules, "torch", None)  # as if torch were not installed
    with pytest.raises(ImportError, match=r"needs PyTorch .* convert the file to \.npz"):
        read_state_dict(tmp_path / "w.pth")
