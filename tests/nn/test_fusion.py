"""fusion_barrier: returns its input exactly, differentiates as the identity, and survives compilation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genvision_jax.nn import fusion_barrier


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.int32, jnp.uint32])
def test_value_is_the_input(dtype):
    x = (jnp.arange(24).reshape(4, 6) * 3 - 5).astype(dtype)
    np.testing.assert_array_equal(jax.jit(fusion_barrier)(x), x)


def test_nan_first_element_keeps_values():
    x = jnp.asarray([jnp.nan, 1.5, -2.0, 0.0])
    np.testing.assert_array_equal(jax.jit(fusion_barrier)(x), x)


def test_gradient_is_identity():
    x = jnp.linspace(-1.0, 1.0, 7)
    g = jax.grad(lambda v: jnp.sum(jnp.sin(fusion_barrier(v * 2.0))))(x)
    np.testing.assert_allclose(g, 2.0 * jnp.cos(2.0 * x), rtol=1e-6)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.int32])
def test_compiled_program_keeps_the_boundary(dtype):
    """The reason it exists: XLA:CPU drops lax.optimization_barrier before fusion, but keeps the cond."""
    table = jnp.ones((100, 2))

    def gather(x):
        index = fusion_barrier((x * 7).astype(dtype)) % 100
        return table[index.astype(jnp.int32)]

    text = jax.jit(gather).lower(jnp.arange(8, dtype=dtype)).compile().as_text()
    assert "conditional" in text


def test_empty_and_bool():
    assert fusion_barrier(jnp.zeros((0, 3))).shape == (0, 3)
    with pytest.raises(TypeError, match="bool"):
        fusion_barrier(jnp.ones(3, bool))


def test_hash_encoding_materialises_its_gather_operands():
    """Without the barriers XLA re-ran the ray sampling for every gathered table value (3x slower)."""
    from genvision_jax.models.fields import HashEncoding

    enc = HashEncoding(1.0, 4, 2, 10, 4, 32)
    x = jnp.linspace(-0.9, 0.9, 48).reshape(16, 3)
    params = enc.init(jax.random.key(0), x)
    text = jax.jit(lambda p, v: enc.apply(p, v * 0.5)).lower(params, x).compile().as_text()
    assert text.count("conditional(") >= 2  # the points and the table indices
