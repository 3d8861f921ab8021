"""Unit tests of the training substrate pieces: RNG streams, sharding, optimizers, EMA, loop guards."""

import json
import zlib

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from genvision_jax.train import ema_update, make_mesh, make_optimizer, stream_key, to_global_batch
from genvision_jax.train.loop import MetricBuffer, NonFiniteError, check_finite_tree, is_due
from genvision_jax.train.rng import root_key, stream_id
from genvision_jax.train.sharding import check_global_batch_size, constrain_batch, gather_to_host
from genvision_jax.train.writers import MetricWriter, image_grid, save_image_grid


def test_stream_keys_are_distinct_and_reproducible():
    root = root_key(0)
    a = jax.random.normal(stream_key(root, "noise", 3), (4,))
    b = jax.random.normal(stream_key(root, "noise", 3), (4,))
    c = jax.random.normal(stream_key(root, "noise", 4), (4,))
    d = jax.random.normal(stream_key(root, "dropout", 3), (4,))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c) and not np.allclose(a, d)
    # Stable across processes: crc32 of the name, not Python's salted hash().
    assert stream_id("noise") == zlib.crc32(b"noise") & 0x7FFFFFFF
    # A traced step gives the same key as a Python int step.
    traced = jax.jit(lambda s: jax.random.normal(stream_key(root, "noise", s), (4,)))(3)
    np.testing.assert_array_equal(a, traced)


def test_random_tensor_is_independent_of_device_count():
    root = root_key(1)
    out = []
    for n in (1, 8):
        mesh = make_mesh(jax.devices()[:n])
        f = jax.jit(lambda r: constrain_batch(jax.random.normal(stream_key(r, "noise", 0), (16, 3)), mesh))
        y = f(root)
        assert len(y.sharding.device_set) == n
        out.append(np.asarray(y))
    np.testing.assert_array_equal(out[0], out[1])


def test_global_batch_is_sharded_along_data():
    mesh = make_mesh()
    x = np.arange(16 * 2, dtype=np.float32).reshape(16, 2)
    g = to_global_batch({"x": x}, mesh)["x"]
    assert g.shape == (16, 2)
    assert {s.data.shape for s in g.addressable_shards} == {(2, 2)}
    np.testing.assert_array_equal(gather_to_host(g), x)
    with pytest.raises(ValueError, match="batch_size=12 must be a positive multiple of the device count 8"):
        check_global_batch_size(12, mesh)
    assert check_global_batch_size(16, mesh) == 16


def test_optimizer_factory_matches_optax_and_rejects_unknown_keys():
    params = {"w": jnp.array([1.0, -2.0, 3.0])}
    grads = {"w": jnp.array([0.5, 0.1, -0.3])}
    ours = make_optimizer({"name": "adam", "learning_rate": 2e-4, "b1": 0.5, "b2": 0.999})
    ref = optax.adam(2e-4, b1=0.5, b2=0.999)
    u1, _ = ours.update(grads, ours.init(params), params)
    u2, _ = ref.update(grads, ref.init(params), params)
    np.testing.assert_allclose(u1["w"], u2["w"], rtol=1e-7)
    with pytest.raises(KeyError, match="learning_rte"):
        make_optimizer({"name": "adam", "learning_rte": 1e-3})
    with pytest.raises(ValueError, match="'adamm'"):
        make_optimizer({"name": "adamm", "learning_rate": 1e-3})
    # Warmup then cosine: lr is 0 at step 0, peak at warmup end, `end_value` at the end.
    sched_opt = make_optimizer({"name": "sgd", "learning_rate": 1.0, "schedule": "cosine", "warmup_steps": 10,
                                "decay_steps": 100, "end_value": 0.1})
    state = sched_opt.init(params)
    u, state = sched_opt.update(grads, state, params)
    np.testing.assert_allclose(u["w"], 0.0, atol=1e-12)


def test_ema_update_closed_form():
    ema = {"a": jnp.array(1.0)}
    for _ in range(3):
        ema = ema_update(ema, {"a": jnp.array(0.0)}, 0.9)
    np.testing.assert_allclose(ema["a"], 0.9 ** 3, rtol=1e-6)


def test_metric_buffer_names_first_nonfinite_step_and_quantity():
    buf = MetricBuffer()
    buf.add(1, {"d_loss": jnp.array(1.0), "g_loss": jnp.array(2.0)})
    buf.add(2, {"d_loss": jnp.array(3.0), "g_loss": jnp.array(4.0)})
    assert buf.flush() == {"d_loss": 2.0, "g_loss": 3.0}
    buf.add(3, {"d_loss": jnp.array(1.0), "g_loss": jnp.array(2.0)})
    buf.add(4, {"d_loss": jnp.array(1.0), "g_loss": jnp.array(jnp.inf)})
    buf.add(5, {"d_loss": jnp.array(jnp.nan), "g_loss": jnp.array(jnp.nan)})
    with pytest.raises(NonFiniteError, match="non-finite g_loss = inf at step 4") as e:
        buf.flush()
    assert e.value.step == 4
    with pytest.raises(NonFiniteError, match=r"state\['b'\]\[1\]"):
        check_finite_tree({"a": jnp.ones(3), "b": [jnp.ones(2), jnp.array([1.0, jnp.nan])]}, "state", 7)
    check_finite_tree({"a": jnp.ones(3), "i": jnp.array([1, 2])}, "state", 7)
    assert [s for s in range(1, 11) if is_due(s, 4, 10)] == [4, 8, 10]


def test_writers(tmp_path):
    imgs = np.linspace(-1, 1, 5 * 4 * 4).reshape(5, 4, 4, 1)
    grid = image_grid(imgs, nrow=3, pad=1)
    assert grid.shape == (2 * 5 + 1, 3 * 5 + 1, 3) and grid.dtype == np.uint8
    assert grid[1, 1, 0] == 0 and grid[1 + 5 + 3, 1 + 5 + 3, 0] == 255  # first pixel -1 → 0; last of image 5 → 255
    save_image_grid(imgs, tmp_path / "g.png", scale=2)
    with pytest.raises(ValueError, match=r"\[N,H,W,1\|3\]"):
        image_grid(np.zeros((2, 4, 4)))
    w = MetricWriter(tmp_path)
    for s in (1, 2, 3):
        w.write_scalars(s, {"loss": s * 1.5})
    w.close()
    # A resume at step 2 drops the rows logged after the checkpoint.
    w = MetricWriter(tmp_path, resume_step=2)
    w.close()
    rows = [json.loads(l) for l in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert rows == [{"step": 1, "loss": 1.5}, {"step": 2, "loss": 3.0}]
    assert list((tmp_path / "tb").glob("events.*"))


def test_lr_multipliers_scale_the_matching_parameter_groups_only():
    params = {"coarse": {"grid": jnp.ones(3), "mlp0": {"kernel": jnp.ones(3)}, "basis": {"kernel": jnp.ones(2)}}}
    grads = jax.tree.map(lambda x: 0.5 * x, params)
    plain = make_optimizer({"name": "adam", "learning_rate": 2e-2})
    scaled = make_optimizer({"name": "adam", "learning_rate": 2e-2, "lr_multipliers": {"mlp": 0.05, "basis": 0.1}})
    u_plain, _ = plain.update(grads, plain.init(params), params)
    u_scaled, _ = scaled.update(grads, scaled.init(params), params)
    np.testing.assert_allclose(u_scaled["coarse"]["grid"], u_plain["coarse"]["grid"])
    np.testing.assert_allclose(u_scaled["coarse"]["mlp0"]["kernel"], 0.05 * u_plain["coarse"]["mlp0"]["kernel"], rtol=1e-6)
    np.testing.assert_allclose(u_scaled["coarse"]["basis"]["kernel"], 0.1 * u_plain["coarse"]["basis"]["kernel"], rtol=1e-6)
