"""The recipe options of the shared GAN step (n_critic, clipping, penalties, lazy k, feature matching,
instance noise, unrolled D, conditioning) on tiny 2-D models that follow the G/D interface."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from genvision_jax.losses.gan import get_gan_loss
from genvision_jax.losses.penalties import get_penalty
from genvision_jax.tasks.gan import GANSetup, gan_step_fn, init_gan_state, make_sampler
from genvision_jax.train.rng import root_key, stream_key


class TinyG(nn.Module):
    num_classes: int = 0

    @nn.compact
    def __call__(self, z, y=None, *, train):
        if self.num_classes:
            z = jnp.concatenate([z, nn.Embed(self.num_classes, 4)(y)], axis=-1)
        return nn.Dense(2)(nn.relu(nn.Dense(16)(z)))


class TinyD(nn.Module):
    num_classes: int = 0

    @nn.compact
    def __call__(self, x, y=None, *, train):
        h = nn.relu(nn.Dense(16)(x))
        self.sow("intermediates", "features", h)
        logit = nn.Dense(1)(h)[:, 0]
        if self.num_classes:
            logit = logit + jnp.sum(nn.Embed(self.num_classes, 16)(y) * h, axis=-1)
        return logit


def _setup(**kw):
    num_classes = kw.get("num_classes", 0)
    base = dict(generator=TinyG(num_classes), discriminator=TinyD(num_classes), g_tx=optax.adam(1e-2),
                d_tx=optax.adam(1e-2), loss=get_gan_loss("ns"), latent_dim=3, data_shape=(2,), data_key="point")
    base.update(kw)
    return GANSetup(**base)


def _batch(n=8, seed=0, labels=False):
    rng = np.random.default_rng(seed)
    b = {"point": jnp.asarray(rng.normal(size=(n, 2)), jnp.float32)}
    if labels:
        b["label"] = jnp.asarray(rng.integers(0, 3, n))
    return b


def _run(setup, steps=3, n=8):
    state = init_gan_state(setup, jax.random.key(0))
    step = jax.jit(gan_step_fn(setup))
    metrics = []
    for i in range(steps):
        state, m = step(state, _batch(n, i, labels=setup.num_classes > 0), root_key(0))
        metrics.append(jax.device_get(m))
    return state, metrics


RECIPES = {
    "plain": {},
    "n_critic": dict(n_critic=2),
    "clip": dict(loss=get_gan_loss("wgan"), d_clip=0.01, n_critic=2),
    "wgan_gp": dict(loss=get_gan_loss("wgan"), penalty=get_penalty("wgan_gp"), penalty_weight=10.0),
    "r1_lazy": dict(penalty=get_penalty("r1"), penalty_weight=1.0, penalty_every=2),
    "feature_matching": dict(feature_matching=True),
    "instance_noise": dict(instance_noise=0.5, instance_noise_anneal_steps=2),
    "unrolled": dict(unrolled_steps=3),
    "ragan": dict(loss=get_gan_loss("ragan")),
    "conditional": dict(num_classes=3),
    "smoothing": dict(loss=get_gan_loss("ns", real_label=0.9)),
}


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_recipe_step_is_finite_and_updates_both_players(name):
    setup = _setup(**RECIPES[name])
    state0 = init_gan_state(setup, jax.random.key(0))
    state, metrics = _run(setup)
    for m in metrics:
        assert all(np.isfinite(v) for v in m.values()), m
    for a, b in [(state0.g_params, state.g_params), (state0.d_params, state.d_params)]:
        assert any(not np.allclose(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))
    assert int(state.step) == 3


def test_n_critic_takes_n_d_updates_per_step():
    state, _ = _run(_setup(n_critic=3, d_tx=optax.chain(optax.scale_by_adam(), optax.scale(-1e-2))), steps=2, n=6)
    assert int(state.d_opt[0].count) == 6 and int(state.g_opt[0].count) == 2


def test_batch_must_split_into_n_critic_slices():
    setup = _setup(n_critic=3)
    with pytest.raises(ValueError, match="multiple of n_critic=3"):
        gan_step_fn(setup)(init_gan_state(setup, jax.random.key(0)), _batch(8), root_key(0))


def test_weight_clipping_bounds_every_d_param():
    state, _ = _run(_setup(**RECIPES["clip"]))
    assert max(float(jnp.abs(w).max()) for w in jax.tree.leaves(state.d_params)) <= 0.01 + 1e-7


def test_lazy_penalty_is_zero_on_skipped_steps_and_k_scaled_on_others():
    # step 0 (D iteration 0) is a penalty step, step 1 is skipped with k = 2.
    _, metrics = _run(_setup(**RECIPES["r1_lazy"]), steps=2)
    assert metrics[0]["penalty"] > 0 and metrics[1]["penalty"] == 0.0


def test_unrolling_through_a_frozen_d_equals_no_unrolling():
    # With a zero-learning-rate D, the k unrolled copies equal D itself, so G's update must not change;
    # with a learning D the surrogate gradient differs (Metz et al. 2017).
    frozen = dict(d_tx=optax.sgd(0.0))
    g_plain = _run(_setup(**frozen), steps=1)[0].g_params
    g_unrolled = _run(_setup(unrolled_steps=3, **frozen), steps=1)[0].g_params
    for a, b in zip(jax.tree.leaves(g_plain), jax.tree.leaves(g_unrolled)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    learning = dict(d_tx=optax.sgd(0.5))
    g_plain = _run(_setup(**learning), steps=1)[0].g_params
    g_unrolled = _run(_setup(unrolled_steps=3, **learning), steps=1)[0].g_params
    assert any(not np.allclose(a, b) for a, b in zip(jax.tree.leaves(g_plain), jax.tree.leaves(g_unrolled)))


def test_feature_matching_loss_is_the_distance_of_mean_features():
    setup = _setup(feature_matching=True)
    state = init_gan_state(setup, jax.random.key(0))
    batch = _batch()
    new_state, m = jax.jit(gan_step_fn(setup))(state, batch, root_key(0))
    # Recompute with the updated D on the same real batch and the same fakes (G before its update).
    d = setup.discriminator
    feats = lambda x: d.apply({"params": new_state.d_params}, x, train=True, mutable=["intermediates"])[1][  # noqa: E731
        "intermediates"]["features"][0]
    sampler = make_sampler(setup, None)
    z = jax.random.normal(stream_key(root_key(0), "noise", 0), (1, 8, 3)).reshape(8, 3)
    fake = sampler(state.g_params, state.g_stats, z)
    expected = float(jnp.sum((feats(batch["point"]).mean(0) - feats(fake).mean(0)) ** 2))
    np.testing.assert_allclose(float(m["g_loss"]), expected, rtol=1e-5)


def test_vmapped_over_seeds_equals_separate_runs():
    setup = _setup(n_critic=2, penalty=get_penalty("wgan_gp"), penalty_weight=1.0)
    step = gan_step_fn(setup)
    roots = jnp.stack([root_key(s) for s in (0, 1)])
    states = jax.vmap(lambda k: init_gan_state(setup, k))(jax.random.split(jax.random.key(0), 2))
    batch = _batch()
    v_states, _ = jax.jit(jax.vmap(step, in_axes=(0, None, 0)))(states, batch, roots)
    for i in range(2):
        s_i = jax.tree.map(lambda x: x[i], states)
        one, _ = jax.jit(step)(s_i, batch, roots[i])
        for a, b in zip(jax.tree.leaves(one.g_params), jax.tree.leaves(jax.tree.map(lambda x: x[i], v_states.g_params))):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_conditional_setup_needs_labels():
    setup = _setup(num_classes=3)
    with pytest.raises(KeyError, match="needs a 'label' entry"):
        gan_step_fn(setup)(init_gan_state(setup, jax.random.key(0)), _batch(), root_key(0))
    with pytest.raises(ValueError, match="needs labels y"):
        make_sampler(setup, None)(init_gan_state(setup, jax.random.key(0)).g_params, {}, jnp.zeros((2, 3)))


def test_invalid_recipe_values_are_named():
    with pytest.raises(ValueError, match="n_critic must be >= 1"):
        _setup(n_critic=0)
    with pytest.raises(ValueError, match="penalty_weight > 0 needs a penalty"):
        _setup(penalty_weight=1.0)
