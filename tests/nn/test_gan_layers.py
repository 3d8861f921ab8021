"""Minibatch stddev and minibatch discrimination against hand numpy computations."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genvision_jax.nn import MinibatchDiscrimination, minibatch_stddev


def _key(seed=0):
    # rbg keys: eager init compiles the initializers once per param shape, and threefry's hash compiles
    # several times slower than rbg's single op on XLA:CPU (measured 3.7 s vs 0.5 s under load).
    return jax.random.key(seed, impl="rbg")


def _stddev_reference(x, group_size, eps=1e-8):
    """ProGAN's feature by loops: sample i is in group i mod M, M = N / min(group_size, N)."""
    n = x.shape[0]
    m = n // min(group_size, n)
    out = np.zeros(n)
    for i in range(n):
        members = x[[j for j in range(n) if j % m == i % m]].astype(np.float64)
        deviation = members - members.mean(axis=0)
        out[i] = np.sqrt((deviation ** 2).mean(axis=0) + eps).mean()
    return out


@pytest.mark.parametrize("shape, group_size", [((8, 3, 3, 2), 4), ((6, 5), 2), ((3, 4), 4)])
def test_minibatch_stddev_matches_numpy(shape, group_size):
    x = (np.random.default_rng(0).normal(size=shape) * np.arange(1, shape[-1] + 1)).astype(np.float32)
    y = np.asarray(minibatch_stddev(jnp.asarray(x), group_size))
    assert y.shape == shape[:-1] + (shape[-1] + 1,)
    np.testing.assert_array_equal(y[..., :-1], x)
    expected = _stddev_reference(x, group_size)
    np.testing.assert_allclose(y[..., -1], np.broadcast_to(expected.reshape((-1,) + (1,) * (x.ndim - 2)),
                                                             shape[:-1]), rtol=1e-5)
    assert len(np.unique(np.round(expected, 5))) == shape[0] // min(group_size, shape[0])  # one value per group


def test_minibatch_stddev_errors():
    with pytest.raises(ValueError, match="batch size 6 is not divisible by the group size 4"):
        minibatch_stddev(jnp.ones((6, 2)), 4)
    with pytest.raises(ValueError, match="group_size must be >= 1"):
        minibatch_stddev(jnp.ones((6, 2)), 0)


def _mbd_reference(f, t, num_kernels, kernel_dim):
    """o(x_i)_b = sum_j exp(-||M_ib - M_jb||_1) over all j (self included), by loops."""
    m = (f.astype(np.float64) @ t).reshape(len(f), num_kernels, kernel_dim)
    o = np.zeros((len(f), num_kernels))
    for i in range(len(f)):
        for j in range(len(f)):
            o[i] += np.exp(-np.abs(m[i] - m[j]).sum(axis=-1))
    return o


def test_minibatch_discrimination_matches_numpy():
    n, a, b, c = 5, 6, 3, 4
    rng = np.random.default_rng(1)
    f = rng.normal(size=(n, a)).astype(np.float32)
    layer = MinibatchDiscrimination(b, c)
    params = layer.init(_key(), jnp.asarray(f))
    assert params["params"]["kernel"].shape == (a, b * c)
    t = (0.3 * rng.normal(size=(a, b * c))).astype(np.float32)
    o = np.asarray(layer.apply({"params": {"kernel": t}}, jnp.asarray(f)))
    expected = _mbd_reference(f, t, b, c)
    np.testing.assert_allclose(o, expected, rtol=1e-5)
    assert 1.0 < expected.min() and expected.max() < n  # self term 1, others strictly between 0 and 1


def test_minibatch_discrimination_closed_forms_and_gradient():
    layer = MinibatchDiscrimination(4, 2)
    same = jnp.ones((6, 3))
    params = layer.init(_key(), same)
    np.testing.assert_allclose(layer.apply(params, same), 6.0)  # a collapsed batch: every distance 0
    f = jnp.asarray(np.random.default_rng(2).normal(size=(4, 3)), jnp.float32)
    grad = jax.grad(lambda f: jnp.sum(layer.apply(params, f)))(f)  # |0| of the self term must not give NaN
    assert np.isfinite(np.asarray(grad)).all() and np.abs(np.asarray(grad)).max() > 0
    with pytest.raises(ValueError, match=r"expects features \[N, A\], got shape \(2, 3, 4\)"):
        layer.init(_key(), jnp.ones((2, 3, 4)))
