"""Gradient penalties against analytic values: linear critic (WGAN-GP, DRAGAN), quadratic D (R1/R2), lazy k."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genvision_jax.losses.penalties import get_penalty, lazy_penalty, penalty_names

KEY = jax.random.key(0)


def _batch(n=6, shape=(4, 4, 2), seed=0):
    rng = np.random.default_rng(seed)
    return (jnp.asarray(rng.normal(size=(n, *shape)), jnp.float32),
            jnp.asarray(rng.normal(size=(n, *shape)), jnp.float32))


@pytest.mark.parametrize("name", ["wgan_gp", "dragan"])
def test_linear_critic_penalty_is_analytic(name):
    # D(x) = <w, x> + b has ∇D = w everywhere, so the penalty is (||w|| - 1)² wherever it is evaluated.
    real, fake = _batch()
    w = jax.random.normal(jax.random.key(1), real.shape[1:]) * 0.3
    d_fn = lambda x: jnp.sum(x * w, axis=(1, 2, 3)) + 0.7  # noqa: E731
    expected = (float(jnp.linalg.norm(w)) - 1.0) ** 2
    np.testing.assert_allclose(float(get_penalty(name)(d_fn, real, fake, KEY)), expected, rtol=1e-5)


def test_r1_and_r2_of_quadratic_discriminator():
    # D(x) = ½ xᵀAx per sample (A symmetric) has ∇D = Ax, so R1 = ½ mean ||A x_i||² on real, R2 on fake.
    real, fake = _batch(shape=(5,))
    rng = np.random.default_rng(3)
    m = rng.normal(size=(5, 5))
    a = jnp.asarray(m + m.T, jnp.float32)
    d_fn = lambda x: 0.5 * jnp.einsum("ni,ij,nj->n", x, a, x)  # noqa: E731
    r1 = 0.5 * np.mean(np.sum((np.asarray(real) @ np.asarray(a)) ** 2, axis=1))
    r2 = 0.5 * np.mean(np.sum((np.asarray(fake) @ np.asarray(a)) ** 2, axis=1))
    np.testing.assert_allclose(float(get_penalty("r1")(d_fn, real, fake, KEY)), r1, rtol=1e-5)
    np.testing.assert_allclose(float(get_penalty("r2")(d_fn, real, fake, KEY)), r2, rtol=1e-5)


def test_wgan_gp_uses_interpolates_between_real_and_fake():
    # D(x) = ½||x||²: ∇D(x̂) = x̂, so the penalty depends on where x̂ lies; recompute it with the same ε.
    real, fake = _batch(shape=(3,))
    d_fn = lambda x: 0.5 * jnp.sum(x ** 2, axis=1)  # noqa: E731
    eps = np.asarray(jax.random.uniform(KEY, (real.shape[0], 1)))
    x_hat = eps * np.asarray(real) + (1 - eps) * np.asarray(fake)
    expected = np.mean((np.linalg.norm(x_hat, axis=1) - 1.0) ** 2)
    np.testing.assert_allclose(float(get_penalty("wgan_gp")(d_fn, real, fake, KEY)), expected, rtol=1e-5)


def test_penalty_is_differentiable_in_discriminator_params():
    real, fake = _batch(shape=(3,))
    def pen(w):
        return get_penalty("wgan_gp")(lambda x: jnp.tanh(x @ w).sum(axis=1), real, fake, KEY)
    g = jax.grad(pen)(jnp.ones((3, 2)) * 0.5)
    assert g.shape == (3, 2) and np.all(np.isfinite(np.asarray(g))) and float(jnp.abs(g).sum()) > 0


@pytest.mark.parametrize("every", [1, 4])
def test_lazy_regularization_scales_by_k_and_skips_other_steps(every):
    real, fake = _batch(shape=(3,))
    d_fn = lambda x: 0.5 * jnp.sum(x ** 2, axis=1)  # noqa: E731
    base = float(get_penalty("r1")(d_fn, real, fake, KEY))
    lazy = jax.jit(lambda s: lazy_penalty(get_penalty("r1"), every, s)(d_fn, real, fake, KEY))
    values = [float(lazy(jnp.asarray(s))) for s in range(8)]
    expected = [every * base if s % every == 0 else 0.0 for s in range(8)]
    np.testing.assert_allclose(values, expected, rtol=1e-6)


def test_none_and_unknown():
    real, fake = _batch()
    assert float(get_penalty("none")(lambda x: x.sum(axis=(1, 2, 3)), real, fake, KEY)) == 0.0
    assert set(penalty_names()) == {"none", "wgan_gp", "r1", "r2", "dragan"}
    with pytest.raises(ValueError, match="unknown gradient penalty 'gp'"):
        get_penalty("gp")
    with pytest.raises(ValueError, match="interval must be >= 1"):
        lazy_penalty(get_penalty("r1"), 0, jnp.asarray(0))
