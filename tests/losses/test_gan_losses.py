"""Each GAN loss on known logits equals its formula (written here with probabilities, not softplus)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genvision_jax.losses.gan import gan_loss_names, get_gan_loss

R = np.array([0.3, 2.0, -1.5, 0.0])
F = np.array([-1.0, 3.0, 0.5, -0.2])
sig = lambda t: 1.0 / (1.0 + np.exp(-t))  # noqa: E731


def _expected(name, r, f, t=1.0):
    if name == "minimax":
        return (-np.mean(t * np.log(sig(r)) + (1 - t) * np.log(1 - sig(r))) - np.mean(np.log(1 - sig(f))),
                np.mean(np.log(1 - sig(f))))
    if name == "non_saturating":
        return (-np.mean(t * np.log(sig(r)) + (1 - t) * np.log(1 - sig(r))) - np.mean(np.log(1 - sig(f))),
                -np.mean(np.log(sig(f))))
    if name == "least_squares":
        return 0.5 * np.mean((r - t) ** 2) + 0.5 * np.mean(f ** 2), 0.5 * np.mean((f - 1) ** 2)
    if name == "wasserstein":
        return np.mean(f) - np.mean(r), -np.mean(f)
    if name == "hinge":
        return np.mean(np.maximum(0, 1 - r)) + np.mean(np.maximum(0, 1 + f)), -np.mean(f)
    if name == "relativistic_average":
        dr, df = r - f.mean(), f - r.mean()
        d = -np.mean(t * np.log(sig(dr)) + (1 - t) * np.log(1 - sig(dr))) - np.mean(np.log(1 - sig(df)))
        g = -np.mean(np.log(sig(df))) - np.mean(np.log(1 - sig(dr)))
        return d, g
    raise AssertionError(name)


@pytest.mark.parametrize("name", gan_loss_names())
def test_loss_equals_formula(name):
    d, g = get_gan_loss(name)(jnp.asarray(R), jnp.asarray(F))
    ed, eg = _expected(name, R, F)
    np.testing.assert_allclose([float(d), float(g)], [ed, eg], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["minimax", "non_saturating", "least_squares", "relativistic_average"])
def test_one_sided_label_smoothing_changes_only_the_real_target(name):
    d, g = get_gan_loss(name, real_label=0.9)(jnp.asarray(R), jnp.asarray(F))
    ed, eg = _expected(name, R, F, t=0.9)
    np.testing.assert_allclose([float(d), float(g)], [ed, eg], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["wasserstein", "hinge"])
def test_label_smoothing_is_refused_where_undefined(name):
    with pytest.raises(ValueError, match="label smoothing is undefined"):
        get_gan_loss(name, real_label=0.9)


def test_aliases_and_unknown_names():
    assert get_gan_loss("wgan") is get_gan_loss("wasserstein")
    with pytest.raises(ValueError, match="unknown GAN loss 'wgan_typo'"):
        get_gan_loss("wgan_typo")
    with pytest.raises(ValueError, match=r"must be in \(0, 1\]"):
        get_gan_loss("ns", real_label=1.5)


def test_saturation_the_reason_for_non_saturating():
    # Goodfellow et al. §3: when D confidently rejects fakes (logit -> -inf), the minimax G gradient
    # vanishes while the non-saturating one does not.
    f = jnp.array([-10.0])
    g_mm = jax.grad(lambda t: get_gan_loss("minimax")(jnp.zeros(1), t)[1])(f)
    g_ns = jax.grad(lambda t: get_gan_loss("ns")(jnp.zeros(1), t)[1])(f)
    assert abs(float(g_mm[0])) < 1e-4 and abs(float(g_ns[0])) > 0.99
