"""The compare_gan matrix: one jitted training step per loss x penalty x D normalization.

Each combination is its own XLA program (2-8 s to compile on 2 cores even for a tiny 8x8 DCGAN), so
`make test` runs a 30-program cover of every *pair* of factors: all 6 x 5 (loss, penalty) pairs, with
the norm chosen as (loss index + penalty index) mod 5, which also puts every norm with every loss and
penalty. `make test-full` (GENVISION_TEST_FULL=1) runs the whole 150-program product.
"""

import functools
import itertools
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from genvision_jax.losses.gan import gan_loss_names, get_gan_loss
from genvision_jax.losses.penalties import get_penalty, penalty_names
from genvision_jax.models.gan import DCGANDiscriminator, DCGANGenerator
from genvision_jax.nn.norms import NORMS
from genvision_jax.tasks.gan import GANSetup, gan_step_fn, init_gan_state
from genvision_jax.train.rng import root_key

FULL = list(itertools.product(gan_loss_names(), penalty_names(), NORMS))
PAIRWISE = [(loss, pen, NORMS[(i + j) % len(NORMS)])
            for i, loss in enumerate(gan_loss_names()) for j, pen in enumerate(penalty_names())]
MATRIX = FULL if os.environ.get("GENVISION_TEST_FULL") == "1" else PAIRWISE


def test_pairwise_cover_contains_every_pair_of_factors():
    assert len(FULL) == 6 * 5 * 5 and len(PAIRWISE) == 30
    for a, b in [(0, 1), (0, 2), (1, 2)]:
        full_pairs = {(c[a], c[b]) for c in FULL}
        assert {(c[a], c[b]) for c in PAIRWISE} == full_pairs


def _setup(loss, penalty, norm):
    return GANSetup(DCGANGenerator(8, 1, 4, 2), DCGANDiscriminator(8, 1, 2, norm=norm), optax.adam(1e-2),
                    optax.adam(1e-2), get_gan_loss(loss), 4, (8, 8, 1),
                    penalty=None if penalty == "none" else get_penalty(penalty),
                    penalty_weight=0.0 if penalty == "none" else 1.0)


@functools.lru_cache(maxsize=None)
def _initial_state(norm):
    """The initial state depends only on the networks (the norm), not on the loss or penalty: compiled
    once per norm and shared by that norm's 30 combinations (the init program costs as much as a step's)."""
    setup = _setup("non_saturating", "none", norm)
    return jax.jit(lambda k: init_gan_state(setup, k))(jax.random.key(0))  # one compile, not op by op


@pytest.mark.parametrize("loss,penalty,norm", MATRIX)
def test_one_jitted_step(loss, penalty, norm):
    setup = _setup(loss, penalty, norm)
    state = _initial_state(norm)
    x = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (4, 8, 8, 1)), jnp.float32)
    new, metrics = jax.jit(gan_step_fn(setup))(state, {"image": x}, root_key(0))
    for name, value in metrics.items():
        assert np.isfinite(float(value)), f"{name} = {value}"
    if penalty != "none":
        assert float(metrics["penalty"]) > 0.0
    for before, after in [(state.g_params, new.g_params), (state.d_params, new.d_params)]:
        leaves = zip(jax.tree.leaves(before), jax.tree.leaves(after))
        assert all(np.all(np.isfinite(np.asarray(b))) for _, b in leaves)
        assert any(not np.array_equal(a, b) for a, b in zip(jax.tree.leaves(before), jax.tree.leaves(after)))
