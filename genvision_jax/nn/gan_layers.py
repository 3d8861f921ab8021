"""Discriminator layers against mode collapse: features that let D look at the whole minibatch.

- `minibatch_stddev` (Karras et al. 2018, "Progressive Growing of GANs", §3): one extra feature, the
  standard deviation of each feature over a group of samples, averaged over features and positions.
- `MinibatchDiscrimination` (Salimans et al. 2016, "Improved Techniques for Training GANs", §3.2):
  B learned kernels measuring how close each sample is to the others of its minibatch.

Both couple the samples of a batch, so D must see real and fake samples in separate batches (as the
GAN trainer does).
"""

from __future__ import annotations

from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

Array = jax.Array


def minibatch_stddev(x: Array, group_size: int = 4, epsilon: float = 1e-8) -> Array:
    """x [N, ..., C] -> [N, ..., C + 1]: x with the group's mean standard deviation appended as a channel.

    Groups are strided as in ProGAN/StyleGAN: with G = min(group_size, N) and M = N / G, sample i is in
    group i mod M. Per group: std = sqrt(mean over the group of squared deviations + epsilon) for each
    feature and position, then its mean over all of them, a scalar replicated over the group's
    samples and positions. N must be divisible by G.
    """
    if x.ndim < 2:
        raise ValueError(f"minibatch_stddev expects [N, ..., C], got shape {tuple(x.shape)}")
    if group_size < 1:
        raise ValueError(f"minibatch_stddev group_size must be >= 1, got {group_size}")
    n = x.shape[0]
    g = min(group_size, n)
    if n % g:
        raise ValueError(f"minibatch_stddev: batch size {n} is not divisible by the group size {g}")
    groups = x.astype(jnp.float32).reshape(g, n // g, *x.shape[1:])
    std = jnp.sqrt(jnp.var(groups, axis=0) + epsilon)  # [M, ...]
    per_group = jnp.mean(std.reshape(n // g, -1), axis=1)  # [M]
    per_sample = jnp.tile(per_group, g)  # [N]; sample i gets group i mod M
    feature = jnp.broadcast_to(per_sample.reshape((n,) + (1,) * (x.ndim - 1)), x.shape[:-1] + (1,))
    return jnp.concatenate([x, feature.astype(x.dtype)], axis=-1)


class MinibatchDiscrimination(nn.Module):
    """f [N, A] -> o [N, B]: o(x_i)_b = sum_j exp(-||M_{i,b} - M_{j,b}||_1), M_i = f(x_i) T in R^{B x C}.

    The sum runs over the whole minibatch j = 1..N including j = i (so every o >= 1), as the paper's
    formula does. Param 'kernel' is T reshaped to [A, B*C]. The caller concatenates o to f for D's
    next layer (the paper's layout).
    """

    num_kernels: int  # B
    kernel_dim: int = 5  # C
    kernel_init: Callable = nn.initializers.normal(0.05)

    @nn.compact
    def __call__(self, f: Array) -> Array:
        if self.num_kernels < 1 or self.kernel_dim < 1:
            raise ValueError(f"MinibatchDiscrimination needs num_kernels >= 1 and kernel_dim >= 1, got "
                             f"{self.num_kernels} and {self.kernel_dim}")
        if f.ndim != 2:
            raise ValueError(f"MinibatchDiscrimination expects features [N, A], got shape {tuple(f.shape)}")
        t = self.param("kernel", self.kernel_init, (f.shape[1], self.num_kernels * self.kernel_dim))
        m = jnp.dot(f.astype(jnp.float32), t).reshape(f.shape[0], self.num_kernels, self.kernel_dim)
        l1 = jnp.sum(jnp.abs(m[:, None] - m[None, :]), axis=-1)  # [N, N, B]
        return jnp.sum(jnp.exp(-l1), axis=1)
