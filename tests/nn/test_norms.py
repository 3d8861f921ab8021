"""Normalizations: spectral norm against numpy SVD, each norm's defining statistic, conditional BN by hand."""

import flax.linen as fnn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genvision_jax.nn import (
    NORMS,
    ConditionalBatchNorm,
    Conv,
    check_labels,
    make_conditional_norm,
    make_norm,
    spectral_norm,
    wrap_weights,
)

EPS = 1e-5


def _key(seed=0):
    # rbg keys: eager init compiles the initializers once per param shape, and threefry's hash compiles
    # several times slower than rbg's single op on XLA:CPU (measured 3.7 s vs 0.5 s under load).
    return jax.random.key(seed, impl="rbg")


class SNDense(fnn.Module):
    features: int
    n_steps: int = 1

    @fnn.compact
    def __call__(self, x, *, train):
        layer = fnn.Dense(self.features, use_bias=False, name="fc")
        return spectral_norm(layer, train=train, n_steps=self.n_steps)(x)


class SNConv(fnn.Module):
    features: int
    kernel: int
    n_steps: int = 1

    @fnn.compact
    def __call__(self, x, *, train):
        layer = Conv(self.features, self.kernel, use_bias=False, name="conv")
        return spectral_norm(layer, train=train, n_steps=self.n_steps)(x)


def _train_call(module, variables, x):
    """One train-mode call; returns the variables with the updated power-iteration state."""
    _, mut = module.apply(variables, x, train=True, mutable=["batch_stats"])
    return {"params": variables["params"], "batch_stats": mut["batch_stats"]}


def _top_singular_value(matrix):
    return float(np.linalg.svd(np.asarray(matrix, np.float64), compute_uv=False)[0])


def test_spectral_norm_dense_converges_to_unit_spectral_norm():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(12, 7)).astype(np.float32)
    module, eye = SNDense(7, n_steps=100), jnp.eye(12)
    variables = module.init(_key(), eye, train=False)
    assert variables["params"]["fc"]["kernel"].shape == (12, 7)  # params stay where the layer put them
    assert set(variables["batch_stats"]["fc_sn"]) == {"fc/kernel/u", "fc/kernel/sigma"}
    variables = {"params": {"fc": {"kernel": jnp.asarray(w)}}, "batch_stats": variables["batch_stats"]}
    # One iteration from a random u underestimates sigma(W), so W/sigma_hat has norm visibly > 1.
    assert _top_singular_value(SNDense(7).apply(variables, eye, train=False)) > 1.01
    variables = _train_call(module, variables, eye)  # 100 power iterations
    normalized = SNDense(7).apply(variables, eye, train=False)  # identity input: the normalized kernel
    assert abs(_top_singular_value(normalized) - 1.0) < 1e-3
    sigma = float(variables["batch_stats"]["fc_sn"]["fc/kernel/sigma"])
    assert abs(sigma / _top_singular_value(w) - 1.0) < 1e-3


def test_spectral_norm_conv_kernel_reshaped_converges():
    k, cin, cout = 3, 4, 5
    w = np.random.default_rng(1).normal(size=(k, k, cin, cout)).astype(np.float32)
    module = SNConv(cout, k, n_steps=100)
    # One-hot k×k×cin images: a valid k×k conv maps image t to row t of the kernel reshaped [k*k*cin, cout].
    one_hot = jnp.eye(k * k * cin).reshape(k * k * cin, k, k, cin)
    variables = module.init(_key(), one_hot, train=False)
    variables = {"params": {"conv": {"kernel": jnp.asarray(w)}}, "batch_stats": variables["batch_stats"]}
    variables = _train_call(module, variables, one_hot)
    normalized = SNConv(cout, k).apply(variables, one_hot, train=False).reshape(k * k * cin, cout)
    np.testing.assert_allclose(normalized * variables["batch_stats"]["conv_sn"]["conv/kernel/sigma"],
                               w.reshape(-1, cout), rtol=1e-5, atol=1e-5)
    assert abs(_top_singular_value(normalized) - 1.0) < 1e-3


def test_spectral_norm_updates_state_only_in_training():
    module, x = SNDense(3), jnp.ones((2, 6))
    variables = module.init(_key(), x, train=False)
    _, frozen = module.apply(variables, x, train=False, mutable=["batch_stats"])
    for a, b in zip(jax.tree.leaves(variables["batch_stats"]), jax.tree.leaves(frozen["batch_stats"])):
        np.testing.assert_array_equal(a, b)
    updated = _train_call(module, variables, x)
    u0, u1 = (v["batch_stats"]["fc_sn"]["fc/kernel/u"] for v in (variables, updated))
    assert not np.allclose(u0, u1)
    np.testing.assert_allclose(np.linalg.norm(u1), 1.0, rtol=1e-5)  # power iteration keeps u unit-norm
    # The state carries the iteration across calls (as across train steps): 3 calls = 3 iterations in one.
    for _ in range(2):
        updated = _train_call(module, updated, x)
    at_once = _train_call(SNDense(3, n_steps=3), variables, x)
    np.testing.assert_allclose(updated["batch_stats"]["fc_sn"]["fc/kernel/u"],
                               at_once["batch_stats"]["fc_sn"]["fc/kernel/u"], rtol=1e-5, atol=1e-6)


def test_wrap_weights_wraps_only_for_spectral():
    class Probe(fnn.Module):
        kind: str

        @fnn.compact
        def __call__(self, x):
            layer = fnn.Dense(2, name="fc")
            return wrap_weights(layer, self.kind, train=True) is layer

    for kind in NORMS:
        assert Probe(kind).init_with_output(_key(), jnp.ones((1, 3)))[0] == (kind != "spectral")
    with pytest.raises(ValueError, match="unknown normalization 'group'"):
        wrap_weights(fnn.Dense(2, name="fc"), "group", train=True)


class Normed(fnn.Module):
    kind: str

    @fnn.compact
    def __call__(self, x, *, train):
        return make_norm(self.kind, train=train, name="norm")(x)


def _shifted_scaled(shape, seed):
    """Data whose channels have clearly different means and scales."""
    c = shape[-1]
    x = np.random.default_rng(seed).normal(size=shape) * np.arange(1, c + 1) + np.linspace(-3, 5, c)
    return x.astype(np.float32)


def _normalize(x, axes):
    return (x - x.mean(axis=axes, keepdims=True)) / np.sqrt(x.var(axis=axes, keepdims=True) + EPS)


def test_batch_norm_statistics_running_averages_and_eval_mode():
    x = _shifted_scaled((4, 5, 6, 3), 0)
    module = Normed("batch")
    variables = module.init(_key(), x, train=False)
    y, mut = module.apply(variables, x, train=True, mutable=["batch_stats"])
    np.testing.assert_allclose(y, _normalize(x, (0, 1, 2)), atol=1e-4)  # per channel over N, H, W
    assert np.abs(np.asarray(y).mean(axis=(1, 2))).max() > 0.1  # not per sample
    stats = mut["batch_stats"]["norm"]
    np.testing.assert_allclose(stats["mean"], 0.1 * x.mean(axis=(0, 1, 2)), rtol=1e-4)  # momentum 0.9 from 0
    np.testing.assert_allclose(stats["var"], 0.9 + 0.1 * x.var(axis=(0, 1, 2)), rtol=1e-4)  # ... from 1
    y_eval = module.apply({"params": variables["params"], "batch_stats": mut["batch_stats"]}, x, train=False)
    np.testing.assert_allclose(y_eval, (x - stats["mean"]) / np.sqrt(stats["var"] + EPS), atol=1e-4)


def test_instance_norm_statistics():
    x = _shifted_scaled((3, 5, 4, 2), 1)
    y = Normed("instance").init_with_output(_key(), x, train=True)[0]
    np.testing.assert_allclose(y, _normalize(x, (1, 2)), atol=1e-4)  # per sample and channel over H, W
    with pytest.raises(ValueError, match=r"instance norm needs feature maps \[N, H, W, C\], got shape \(3, 2\)"):
        Normed("instance").init(_key(), x[:, 0, 0], train=True)


@pytest.mark.parametrize("shape", [(3, 4, 5, 2), (6, 7)])
def test_layer_norm_statistics(shape):
    x = _shifted_scaled(shape, 2)
    (y, variables) = Normed("layer").init_with_output(_key(), x, train=True)
    axes = tuple(range(1, x.ndim))
    np.testing.assert_allclose(y, _normalize(x, axes), atol=1e-4)  # per sample over all other axes
    assert variables["params"]["norm"]["scale"].shape == (shape[-1],)  # affine per channel
    if x.ndim == 4:
        assert np.abs(np.asarray(y).mean(axis=(1, 2))).max() > 0.1  # not per channel


@pytest.mark.parametrize("kind", ["spectral", "none"])
def test_weight_or_no_norm_leaves_activations_alone(kind):
    x = _shifted_scaled((2, 3, 3, 2), 3)
    y, variables = Normed(kind).init_with_output(_key(), x, train=True)
    np.testing.assert_array_equal(y, x)
    assert not variables


def test_conditional_batch_norm_equals_bn_then_per_class_affine():
    k, c = 3, 4
    x = _shifted_scaled((6, 2, 3, c), 4)
    y = jnp.array([0, 1, 2, 2, 1, 0])
    module = ConditionalBatchNorm(k)
    variables = module.init(_key(), x, y, train=False)
    rng = np.random.default_rng(5)
    gamma, beta = rng.normal(size=(k, c)).astype(np.float32), rng.normal(size=(k, c)).astype(np.float32)
    params = {"scale": {"embedding": gamma}, "bias": {"embedding": beta}}
    out, _ = module.apply({"params": params, "batch_stats": variables["batch_stats"]}, x, y, train=True,
                          mutable=["batch_stats"])
    expected = _normalize(x, (0, 1, 2)) * gamma[y][:, None, None] + beta[y][:, None, None]
    np.testing.assert_allclose(out, expected, atol=1e-4)
    # Same images, other labels: other affine parameters.
    out_other, _ = module.apply({"params": params, "batch_stats": variables["batch_stats"]}, x, (y + 1) % k,
                                train=True, mutable=["batch_stats"])
    assert np.abs(np.asarray(out_other) - np.asarray(out)).min(axis=(1, 2, 3)).min() > 0


def test_make_conditional_norm_is_plain_batch_norm_without_classes():
    class G(fnn.Module):
        num_classes: int

        @fnn.compact
        def __call__(self, x, y):
            return make_conditional_norm(self.num_classes, train=True, name="bn")(x, y)

    x = _shifted_scaled((4, 2, 2, 3), 6)
    v0 = G(0).init(_key(), x, None)
    assert jax.tree.map(jnp.shape, v0["params"]) == {"bn": {"bias": (3,), "scale": (3,)}}
    v5 = G(5).init(_key(), x, jnp.arange(4))
    assert jax.tree.map(jnp.shape, v5["params"]) == {"bn": {"bias": {"embedding": (5, 3)},
                                                            "scale": {"embedding": (5, 3)}}}


def test_label_and_kind_errors():
    with pytest.raises(ValueError, match="unknown normalization 'batchnorm'"):
        make_norm("batchnorm", train=True)
    with pytest.raises(ValueError, match=r"needs labels y of shape \[N\]"):
        check_labels(None, 4, 3, "M")
    with pytest.raises(ValueError, match="unconditional .* but was given labels"):
        check_labels(jnp.zeros(4, jnp.int32), 4, 0, "M")
    with pytest.raises(ValueError, match=r"must have shape \[4\].*got \(4, 1\)"):
        check_labels(jnp.zeros((4, 1), jnp.int32), 4, 3, "M")
    with pytest.raises(TypeError, match="must be integers, got dtype float32"):
        check_labels(jnp.zeros(4), 4, 3, "M")
    with pytest.raises(ValueError, match=r"must be in \[0, 3\), got values in \[0, 3\]"):
        check_labels(jnp.arange(4), 4, 3, "M")
    check_labels(jnp.arange(4), 4, 4, "M")
    # Under jit the range cannot be checked, but shape and dtype still are.
    jax.jit(lambda y: check_labels(y, 4, 3, "M") or y)(jnp.arange(4))
