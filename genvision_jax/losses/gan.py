"""GAN objectives with one signature: `loss(real_logits, fake_logits) -> (d_loss, g_loss)`.

Logits are the discriminator's raw outputs, shape [N] (or [N, ...], averaged). In a D-then-G step the
trainer takes `d_loss` from D(x), D(G(z)) and `g_loss` from the updated D; `real_logits` may be a
stop-gradient value for the G update (only relativistic losses read it there). An ablation over
objectives is then a config string (`get_gan_loss(name)`), as in compare_gan (Kurach et al. 2019,
"A Large-Scale Study on Regularization and Normalization in GANs").

`real_label` < 1 gives one-sided label smoothing (Salimans et al. 2016, "Improved Techniques for
Training GANs", §3.4): only the real target of the D loss is softened; the fake target stays 0. It is
defined for the losses with a target (minimax, non-saturating, LSGAN, relativistic); WGAN and hinge
have no target, and asking for smoothing there is an error rather than a silent no-op.
"""

import dataclasses
import functools
from typing import Callable

import jax
import jax.numpy as jnp

from genvision_jax.errors import UnknownNameError

LossFn = Callable[..., tuple[jax.Array, jax.Array]]


@dataclasses.dataclass(frozen=True)
class GANLoss:
    """A named objective: `loss(real_logits, fake_logits) -> (d_loss, g_loss)`.

    `g_uses_real_logits`: the G loss reads D(x) too (relativistic losses), so a trainer must give it
    the real logits of the current D in the G update; for the others it may pass zeros.
    """

    name: str
    fn: LossFn
    real_label: float = 1.0
    g_uses_real_logits: bool = False

    def __call__(self, real_logits: jax.Array, fake_logits: jax.Array) -> tuple[jax.Array, jax.Array]:
        return self.fn(real_logits, fake_logits, real_label=self.real_label)


def _bce_with_target(logits: jax.Array, target: float) -> jax.Array:
    """Mean of −t log σ(l) − (1 − t) log(1 − σ(l)), via softplus (log σ(l) = −softplus(−l))."""
    return jnp.mean(target * jax.nn.softplus(-logits) + (1.0 - target) * jax.nn.softplus(logits))


def _check_real_label(real_label: float) -> None:
    if not 0.0 < real_label <= 1.0:
        raise ValueError(f"real_label (one-sided label smoothing) must be in (0, 1], got {real_label}")


def minimax(real_logits: jax.Array, fake_logits: jax.Array, *, real_label: float = 1.0):
    """Goodfellow et al. 2014, the original (saturating) game.

    d_loss = −E[log σ(D(x))] − E[log(1 − σ(D(G(z))))],  g_loss = E[log(1 − σ(D(G(z))))] = −E[softplus(D(G(z)))].
    """
    _check_real_label(real_label)
    d_loss = _bce_with_target(real_logits, real_label) + _bce_with_target(fake_logits, 0.0)
    g_loss = -jnp.mean(jax.nn.softplus(fake_logits))
    return d_loss, g_loss


def non_saturating(real_logits: jax.Array, fake_logits: jax.Array, *, real_label: float = 1.0):
    """Goodfellow et al. 2014, with the non-saturating G objective.

    d_loss = −E[log σ(D(x))] − E[log(1 − σ(D(G(z))))],  g_loss = −E[log σ(D(G(z)))],
    written with log-sigmoids of logits (log σ(t) = −softplus(−t), log(1 − σ(t)) = −softplus(t)).
    """
    _check_real_label(real_label)
    d_loss = _bce_with_target(real_logits, real_label) + _bce_with_target(fake_logits, 0.0)
    g_loss = jnp.mean(jax.nn.softplus(-fake_logits))
    return d_loss, g_loss


def least_squares(real_logits: jax.Array, fake_logits: jax.Array, *, real_label: float = 1.0):
    """LSGAN, Mao et al. 2017, eq. (2) with a = 0, b = c = 1 (b = real_label when smoothing).

    d_loss = ½E[(D(x) − b)²] + ½E[D(G(z))²],  g_loss = ½E[(D(G(z)) − 1)²].
    """
    _check_real_label(real_label)
    d_loss = 0.5 * jnp.mean((real_logits - real_label) ** 2) + 0.5 * jnp.mean(fake_logits ** 2)
    g_loss = 0.5 * jnp.mean((fake_logits - 1.0) ** 2)
    return d_loss, g_loss


def wasserstein(real_logits: jax.Array, fake_logits: jax.Array, *, real_label: float = 1.0):
    """WGAN, Arjovsky et al. 2017: the critic maximizes E[D(x)] − E[D(G(z))].

    d_loss = E[D(G(z))] − E[D(x)],  g_loss = −E[D(G(z))]. The Lipschitz constraint comes from the
    trainer (weight clipping, `d_clip`) or a penalty (WGAN-GP), not from the loss.
    """
    if real_label != 1.0:
        raise ValueError("label smoothing is undefined for the wasserstein loss (it has no target)")
    return jnp.mean(fake_logits) - jnp.mean(real_logits), -jnp.mean(fake_logits)


def hinge(real_logits: jax.Array, fake_logits: jax.Array, *, real_label: float = 1.0):
    """Hinge loss, Lim & Ye 2017 ("Geometric GAN"); Miyato et al. 2018 (SNGAN), eq. (16)–(17).

    d_loss = E[relu(1 − D(x))] + E[relu(1 + D(G(z)))],  g_loss = −E[D(G(z))].
    """
    if real_label != 1.0:
        raise ValueError("label smoothing is undefined for the hinge loss (it has no target)")
    d_loss = jnp.mean(jax.nn.relu(1.0 - real_logits)) + jnp.mean(jax.nn.relu(1.0 + fake_logits))
    return d_loss, -jnp.mean(fake_logits)


def relativistic_average(real_logits: jax.Array, fake_logits: jax.Array, *, real_label: float = 1.0):
    """RaSGAN, Jolicoeur-Martineau 2018 ("The relativistic discriminator"), eq. for RaSGAN; used by ESRGAN.

    With D̃(x) = C(x) − E[C(G(z))] and D̃(G(z)) = C(G(z)) − E[C(x)]:
    d_loss = −E[log σ(D̃(x))] − E[log(1 − σ(D̃(G(z))))],
    g_loss = −E[log σ(D̃(G(z)))] − E[log(1 − σ(D̃(x)))]  (the real term matters for G because D̃(x)
    depends on the fakes through E[C(G(z))]).
    """
    _check_real_label(real_label)
    real_rel = real_logits - jnp.mean(fake_logits)
    fake_rel = fake_logits - jnp.mean(real_logits)
    d_loss = _bce_with_target(real_rel, real_label) + _bce_with_target(fake_rel, 0.0)
    g_loss = _bce_with_target(fake_rel, 1.0) + _bce_with_target(real_rel, 0.0)
    return d_loss, g_loss


_LOSSES: dict[str, Callable] = {
    "minimax": minimax,
    "non_saturating": non_saturating,
    "least_squares": least_squares,
    "wasserstein": wasserstein,
    "hinge": hinge,
    "relativistic_average": relativistic_average,
}
# The G loss of these reads D(x) (GANLoss.g_uses_real_logits).
_G_USES_REAL_LOGITS = frozenset({"relativistic_average"})
# Short names used in configs and tables (compare_gan / StudioGAN spellings).
_ALIASES = {"ns": "non_saturating", "lsgan": "least_squares", "wgan": "wasserstein", "ragan": "relativistic_average"}


def gan_loss_names() -> list[str]:
    return sorted(_LOSSES)


def get_gan_loss(name: str, *, real_label: float = 1.0) -> GANLoss:
    """The loss registered as `name` (or an alias such as 'ns', 'lsgan', 'wgan', 'ragan')."""
    key = _ALIASES.get(name, name)
    if key not in _LOSSES:
        raise UnknownNameError(f"unknown GAN loss {name!r}; choose one of {sorted(_LOSSES)} or aliases "
                               f"{sorted(_ALIASES)}")
    return _named_loss(key, float(real_label))


@functools.lru_cache(maxsize=None)
def _named_loss(key: str, real_label: float) -> GANLoss:
    fn = _LOSSES[key]
    if real_label != 1.0:
        fn(jnp.zeros(1), jnp.zeros(1), real_label=real_label)  # raises for losses without a target
    return GANLoss(key, fn, real_label, g_uses_real_logits=key in _G_USES_REAL_LOGITS)
