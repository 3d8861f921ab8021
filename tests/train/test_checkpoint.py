"""Checkpointer: exact round trip into sharded targets, keep-last-N, corrupt-latest fallback."""

import logging
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genvision_jax.train import Checkpointer, make_mesh, replicated_sharding
from genvision_jax.train.checkpoint import CheckpointError


def _state(mesh, scale):
    s = {"w": jnp.arange(12.0).reshape(3, 4) * scale, "step": jnp.array(int(scale), jnp.int32),
         "nested": [jnp.ones(5) * scale]}
    return jax.device_put(s, replicated_sharding(mesh))


def _abstract(mesh):
    s = _state(mesh, 1.0)
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), s)


def test_round_trip_keep_last_n(tmp_path):
    mesh = make_mesh()
    ck = Checkpointer(tmp_path / "ckpt", max_to_keep=2)
    for step in (1, 2, 3):
        ck.save(step, _state(mesh, step), data_state={"pos": step * 10}, config={"lr": 0.1})
    assert ck.all_steps() == [2, 3]
    assert sorted(p.stem for p in (tmp_path / "ckpt" / "manifests").glob("*.json")) == ["2", "3"]
    step, state, data, cfg = ck.restore_latest(_abstract(mesh))
    assert step == 3 and data == {"pos": 30} and cfg == {"lr": 0.1}
    np.testing.assert_array_equal(state["w"], np.arange(12.0).reshape(3, 4) * 3)
    assert isinstance(state["nested"], list)
    assert state["w"].sharding == replicated_sharding(mesh)
    assert int(state["step"]) == 3 and state["step"].dtype == jnp.int32


def _largest_file(step_dir):
    return max((p for p in step_dir.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)


@pytest.mark.parametrize("damage", ["truncate", "delete_dir", "flip_byte", "no_manifest_flip_byte"])
def test_corrupt_latest_falls_back_with_warning(tmp_path, caplog, damage):
    mesh = make_mesh()
    ck = Checkpointer(tmp_path / "ckpt", max_to_keep=3)
    for step in (1, 2):
        ck.save(step, _state(mesh, step), data_state={"pos": step})
    ck.close()
    latest = tmp_path / "ckpt" / "2"
    if damage == "truncate":
        f = _largest_file(latest)
        f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    elif damage == "delete_dir":
        shutil.rmtree(latest)
    else:
        if damage == "no_manifest_flip_byte":  # the fingerprints saved with the state catch it
            (tmp_path / "ckpt" / "manifests" / "2.json").unlink()
        for f in (p for p in (latest / "state").rglob("*") if p.is_file() and p.parent.name == "d"):
            b = bytearray(f.read_bytes())  # every data file, so the arrays' bytes are hit for sure
            b[len(b) // 2] ^= 0xFF
            f.write_bytes(bytes(b))
    ck = Checkpointer(tmp_path / "ckpt", max_to_keep=3)
    with caplog.at_level(logging.WARNING):
        step, state, data, _ = ck.restore_latest(_abstract(mesh))
    assert step == 1 and data == {"pos": 1}
    np.testing.assert_array_equal(state["w"], np.arange(12.0).reshape(3, 4))
    assert "checkpoint at step 2" in caplog.text
    if damage != "delete_dir":
        assert "unusable" in caplog.text
        assert [p.name.split("-")[0] for p in (tmp_path / "ckpt" / "corrupt").iterdir()] == ["2"]
    # Training can save step 2 again after the fallback.
    ck.save(2, _state(mesh, 5.0), data_state={"pos": 5})
    assert ck.restore_latest(_abstract(mesh))[0] == 2


def test_no_checkpoint_returns_none(tmp_path):
    assert Checkpointer(tmp_path / "empty").restore_latest(_abstract(make_mesh())) is None


def test_intact_checkpoint_of_another_model_raises_instead_of_being_discarded(tmp_path):
    mesh = make_mesh()
    ck = Checkpointer(tmp_path / "ckpt")
    ck.save(1, _state(mesh, 1.0))
    other = _abstract(mesh)
    other["w"] = jax.ShapeDtypeStruct((4, 4), other["w"].dtype, sharding=other["w"].sharding)
    with pytest.raises(CheckpointError, match="step 1 .* is intact but does not fit"):
        ck.restore_latest(other)
    assert ck.all_steps() == [1] and not (tmp_path / "ckpt" / "corrupt").exists()


def test_fingerprints_see_every_element_and_dtype():
    from genvision_jax.train.checkpoint import state_record

    base = {"f": jnp.arange(6.0), "i": jnp.arange(4, dtype=jnp.int32), "b": jnp.array([True, False]),
            "h": jnp.ones(3, jnp.bfloat16)}
    record = state_record(base)
    assert record["['f']"]["shape"] == [6] and record["['h']"]["dtype"] == "bfloat16"
    for key, changed in (("f", base["f"].at[5].set(5.0000005)), ("i", base["i"].at[0].set(1)),
                         ("b", jnp.array([True, True])), ("h", base["h"].at[1].set(2.0))):
        other = state_record({**base, key: changed})
        assert other[f"['{key}']"]["fingerprint"] != record[f"['{key}']"]["fingerprint"], key
        assert all(other[k] == record[k] for k in record if k != f"['{key}']")
    # Swapping two elements changes it too (positions are weighted).
    assert state_record({**base, "f": base["f"][::-1]})["['f']"] != record["['f']"]
