"""Discriminator gradient penalties with one signature, chosen by config (compare_gan's penalty_lib).

`penalty(d_fn, real, fake, key) -> scalar`, where `d_fn(x[N, ...]) -> logits[N]` is the discriminator
with its current params bound (and labels, for conditional models), `real` and `fake` are batches of the
same shape and `key` is a PRNG key for the interpolation/perturbation noise. The returned value is the
unweighted penalty; the trainer multiplies it by the configured weight (λ or γ) and adds it to the D
loss. Gradients are taken with respect to D's input, per sample, so the penalty is differentiable in
D's params (double backprop).

Lazy regularization (Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN",
§4 / appendix B) evaluates a penalty only every k-th D step and multiplies it by k so its expected
contribution is unchanged: `lazy_penalty`.
"""

from typing import Callable

import jax
import jax.numpy as jnp

from genvision_jax.errors import UnknownNameError

DFn = Callable[[jax.Array], jax.Array]
Penalty = Callable[[DFn, jax.Array, jax.Array, jax.Array], jax.Array]


def _input_grad_sq_norms(d_fn: DFn, x: jax.Array) -> jax.Array:
    """Per-sample squared norms ||∂D/∂x_i||² [N], from the gradient of Σ_i D(x_i).

    Exact when D treats samples independently. With batch-coupled layers (train-mode batch norm,
    minibatch features) it includes the cross-sample terms, as every common implementation does;
    Gulrajani et al. recommend layer norm in the critic for that reason.
    """
    grads = jax.grad(lambda v: jnp.sum(d_fn(v)))(x)
    return jnp.sum(jnp.square(grads.reshape(grads.shape[0], -1)), axis=1)


def _per_sample_uniform(key: jax.Array, x: jax.Array) -> jax.Array:
    return jax.random.uniform(key, (x.shape[0],) + (1,) * (x.ndim - 1), x.dtype)


def no_penalty(d_fn: DFn, real: jax.Array, fake: jax.Array, key: jax.Array) -> jax.Array:
    return jnp.zeros((), real.dtype)


def wgan_gp(d_fn: DFn, real: jax.Array, fake: jax.Array, key: jax.Array) -> jax.Array:
    """Gulrajani et al. 2017, "Improved Training of Wasserstein GANs", Algorithm 1 (λ = 10 there).

    E[(||∇D(x̂)||₂ − 1)²] with x̂ = εx + (1 − ε)G(z), ε ~ U(0, 1) per sample.
    """
    eps = _per_sample_uniform(key, real)
    x_hat = eps * real + (1.0 - eps) * fake
    norms = jnp.sqrt(_input_grad_sq_norms(d_fn, x_hat) + 1e-12)
    return jnp.mean(jnp.square(norms - 1.0))


def r1(d_fn: DFn, real: jax.Array, fake: jax.Array, key: jax.Array) -> jax.Array:
    """Mescheder et al. 2018, "Which Training Methods for GANs do actually Converge?", eq. (9).

    R1 = (γ/2) E_x[||∇D(x)||²] on real data; this returns ½E[||∇D(x)||²], so the weight is γ.
    """
    return 0.5 * jnp.mean(_input_grad_sq_norms(d_fn, real))


def r2(d_fn: DFn, real: jax.Array, fake: jax.Array, key: jax.Array) -> jax.Array:
    """Mescheder et al. 2018, eq. (10): the same as R1 on generated samples; returns ½E[||∇D(G(z))||²]."""
    return 0.5 * jnp.mean(_input_grad_sq_norms(d_fn, fake))


def dragan(d_fn: DFn, real: jax.Array, fake: jax.Array, key: jax.Array, *, c: float = 0.5) -> jax.Array:
    """Kodali et al. 2017, "On Convergence and Stability of GANs" (DRAGAN; λ = 10 there).

    E[(||∇D(x̂)||₂ − 1)²] around the data: x_p = x + c·std(x)·u with u ~ U(0, 1) elementwise, and
    x̂ = αx + (1 − α)x_p, α ~ U(0, 1) per sample (the perturbation scheme of the authors' code, c = 0.5).
    """
    k_noise, k_alpha = jax.random.split(key)
    perturbed = real + c * jnp.std(real) * jax.random.uniform(k_noise, real.shape, real.dtype)
    alpha = _per_sample_uniform(k_alpha, real)
    x_hat = alpha * real + (1.0 - alpha) * perturbed
    norms = jnp.sqrt(_input_grad_sq_norms(d_fn, x_hat) + 1e-12)
    return jnp.mean(jnp.square(norms - 1.0))


_PENALTIES: dict[str, Penalty] = {"none": no_penalty, "wgan_gp": wgan_gp, "r1": r1, "r2": r2, "dragan": dragan}


def penalty_names() -> list[str]:
    return sorted(_PENALTIES)


def get_penalty(name: str) -> Penalty:
    if name not in _PENALTIES:
        raise UnknownNameError(f"unknown gradient penalty {name!r}; choose one of {sorted(_PENALTIES)}")
    return _PENALTIES[name]


def lazy_penalty(penalty: Penalty, every: int, step: jax.Array) -> Penalty:
    """`penalty` evaluated only when `step % every == 0`, multiplied by `every` (0 otherwise).

    The branch not taken is not executed (lax.cond), which is where lazy regularization saves time.
    """
    if every < 1:
        raise ValueError(f"lazy regularization interval must be >= 1, got {every}")
    if every == 1:
        return penalty

    def lazy(d_fn, real, fake, key):
        return jax.lax.cond(step % every == 0,
                            lambda: every * penalty(d_fn, real, fake, key),
                            lambda: jnp.zeros((), real.dtype))
    return lazy
