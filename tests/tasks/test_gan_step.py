"""DCGAN + the shared GAN step: architecture facts, sharding invariance, no retracing, input errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genvision_jax.losses.gan import get_gan_loss, non_saturating
from genvision_jax.models.gan import DCGANDiscriminator, DCGANGenerator
from genvision_jax.train import make_mesh, make_optimizer, to_global_batch
from genvision_jax.tasks.gan import GANSetup, init_gan_state, make_gan_train_step, make_sampler
from genvision_jax.train.sharding import create_replicated
from genvision_jax.train.rng import root_key


def create_gan_state(setup, key, mesh):
    return create_replicated(lambda r: init_gan_state(setup, r), key, mesh)


def _count(tree):
    return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))


def test_dcgan_64_matches_reference_parameter_counts_and_shapes():
    # Parameter counts of the PyTorch DCGAN (nz=100, ngf=ndf=64, nc=3), BN affine params included:
    # G 3,576,704 and D 2,765,568 — computed independently from the layer list of the paper/seed.
    g, d = DCGANGenerator(64, 3, 100, 64), DCGANDiscriminator(64, 3, 64)
    gv = jax.eval_shape(lambda: g.init(jax.random.key(0), jnp.zeros((2, 100)), train=False))
    dv = jax.eval_shape(lambda: d.init(jax.random.key(0), jnp.zeros((2, 64, 64, 3)), train=False))
    assert _count(gv["params"]) == 3_576_704
    assert _count(dv["params"]) == 2_765_568
    out = jax.eval_shape(lambda v: g.apply(v, jnp.zeros((2, 100)), train=False), gv)
    assert out.shape == (2, 64, 64, 3)
    logits = jax.eval_shape(lambda v: d.apply(v, jnp.zeros((2, 64, 64, 3)), train=False), dv)
    assert logits.shape == (2,)


def test_dcgan_init_statistics_and_output_range():
    g = DCGANGenerator(32, 1, 100, 16)
    v = g.init(jax.random.key(0), jnp.zeros((1, 100)), train=False)
    k = np.asarray(v["params"]["convt1"]["kernel"])
    assert abs(k.std() - 0.02) < 0.002 and abs(k.mean()) < 0.002           # N(0, 0.02)
    s = np.asarray(v["params"]["bn0"]["scale"])
    assert abs(s.mean() - 1.0) < 0.01 and 0.01 < s.std() < 0.03             # N(1, 0.02)
    x, _ = g.apply(v, jax.random.normal(jax.random.key(1), (8, 100)), train=True, mutable=["batch_stats"])
    assert x.shape == (8, 32, 32, 1) and float(jnp.abs(x).max()) <= 1.0


def test_dcgan_rejects_wrong_shapes():
    g, d = DCGANGenerator(32, 1, 100, 8), DCGANDiscriminator(32, 1, 8)
    with pytest.raises(ValueError, match=r"expects z of shape \[N, 100\], got \(2, 64\)"):
        g.init(jax.random.key(0), jnp.zeros((2, 64)), train=False)
    with pytest.raises(ValueError, match=r"expects images of shape \[N, 32, 32, 1\], got \(2, 32, 32, 3\)"):
        d.init(jax.random.key(0), jnp.zeros((2, 32, 32, 3)), train=False)
    with pytest.raises(ValueError, match="power of two >= 8, got 48"):
        DCGANGenerator(48).init(jax.random.key(0), jnp.zeros((1, 100)), train=False)


def test_non_saturating_closed_form():
    r, f = jnp.array([0.0, 2.0]), jnp.array([-1.0, 3.0])
    d, g = non_saturating(r, f)
    sig = jax.nn.sigmoid
    np.testing.assert_allclose(d, -jnp.mean(jnp.log(sig(r))) - jnp.mean(jnp.log(1 - sig(f))), rtol=1e-6)
    np.testing.assert_allclose(g, -jnp.mean(jnp.log(sig(f))), rtol=1e-6)
    with pytest.raises(ValueError, match="unknown GAN loss 'wgan_typo'"):
        get_gan_loss("wgan_typo")


def _setup(size=16, ch=1):
    adam = {"name": "adam", "learning_rate": 2e-4, "b1": 0.5, "b2": 0.999}
    return GANSetup(DCGANGenerator(size, ch, 100, 8), DCGANDiscriminator(size, ch, 8), make_optimizer(adam),
                    make_optimizer(adam), non_saturating, 100, (size, size, ch), ema_decay=0.9)


def _run(n_devices, steps=3, batch=16):
    mesh = make_mesh(jax.devices()[:n_devices])
    setup = _setup()
    state = create_gan_state(setup, jax.random.key(0), mesh)
    step_fn = make_gan_train_step(setup, mesh)
    rng = np.random.default_rng(0)
    losses = []
    for _ in range(steps):
        x = rng.uniform(-1, 1, (batch, 16, 16, 1)).astype(np.float32)
        state, m = step_fn(state, to_global_batch({"image": x}, mesh), root_key(0))
        losses.append((float(m["d_loss"]), float(m["g_loss"])))
    return state, np.array(losses), step_fn


def test_train_step_same_on_1_and_8_devices_and_no_retrace():
    s1, l1, _ = _run(1)
    s8, l8, step8 = _run(8)
    assert step8._cache_size() == 1  # three calls, one trace
    np.testing.assert_allclose(l1, l8, atol=1e-5)
    for a, b in zip(jax.tree.leaves(s1), jax.tree.leaves(s8)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5)
    assert np.all(np.isfinite(l8)) and int(s8.step) == 3
    # Params moved, EMA lags behind them.
    s0 = create_gan_state(_setup(), jax.random.key(0), make_mesh(jax.devices()[:1]))
    dg = [float(np.abs(np.asarray(a) - np.asarray(b)).max()) for a, b in zip(jax.tree.leaves(s8.g_params), jax.tree.leaves(s0.g_params))]
    de = [float(np.abs(np.asarray(a) - np.asarray(b)).max()) for a, b in zip(jax.tree.leaves(s8.g_ema), jax.tree.leaves(s0.g_params))]
    assert min(dg) > 0 and max(de) < max(dg)


def test_train_step_rejects_bad_batches():
    mesh = make_mesh(jax.devices()[:1])
    setup = _setup()
    state = create_gan_state(setup, jax.random.key(0), mesh)
    step_fn = make_gan_train_step(setup, mesh)
    with pytest.raises(ValueError, match=r"batch\['image'\] must have shape \[N, 16, 16, 1\], got \(4, 16, 16, 3\)"):
        step_fn(state, {"image": jnp.zeros((4, 16, 16, 3))}, root_key(0))
    with pytest.raises(TypeError, match="got dtype uint8"):
        step_fn(state, {"image": jnp.zeros((4, 16, 16, 1), jnp.uint8)}, root_key(0))
    with pytest.raises(KeyError, match="GAN batch has no 'image' entry"):
        step_fn(state, {"img": jnp.zeros((4, 16, 16, 1))}, root_key(0))


def test_sampler_shapes_and_determinism():
    mesh = make_mesh()
    setup = _setup()
    state = create_gan_state(setup, jax.random.key(0), mesh)
    z = jax.random.normal(jax.random.key(3), (16, 100))
    a = make_sampler(setup, mesh)(state.g_ema, state.g_stats, z)
    b = make_sampler(setup, mesh)(state.g_ema, state.g_stats, z)
    assert a.shape == (16, 16, 16, 1)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
