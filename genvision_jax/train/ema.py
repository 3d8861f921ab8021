"""Exponential moving average of parameters (Polyak averaging; used for G in GANs since ProGAN)."""

import jax


def ema_update(ema_params, params, decay: float):
    """ema ← decay · ema + (1 − decay) · params, leaf by leaf. `decay` may be traced."""
    return jax.tree.map(lambda e, p: e + (1.0 - decay) * (p - e), ema_params, params)
