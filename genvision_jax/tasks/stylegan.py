"""The StyleGAN family's state, step and recipe (Karras et al. 2019, 2020; Karras et al. 2020b, "Training
Generative Adversarial Networks with Limited Data").

One step, on one batch of reals and one set of latents:
1. G forward once (`jax.vjp`): z (and a second z for style mixing) -> mapping -> ws, mixed at a random
   crossover with probability `mixing_prob` -> synthesis with random noise (RNG stream 'noise');
   w_avg moves toward the batch mean of w (EMA, β = `w_avg_beta`).
2. D update: non-saturating logistic loss (or any GAN-zoo loss) on augment(real), augment(fake); lazy R1
   every `r1_every` D steps, γ/2 · E||∇D(augment(x))||² times the interval (Karras et al. 2020 App. B).
3. G update through the updated D, reusing the step-1 forward's pullback; lazy path-length
   regularization every `pl_every` steps on its own batch of B / `pl_batch_shrink` latents:
   J_w^T y with y ~ N(0, I)/√(H·W), a = ‖J_w^T y‖₂ averaged over the ws, the running mean ā ← ā +
   decay·(E[a] − ā) (kept in the state), penalty `pl_weight` · interval · E[(a − ā)²] (eq. 4).
4. G EMA with the official half-life `ema_kimg` (thousands of images) ramped up as
   min(ema_kimg·1000, `ema_rampup` · images seen): β = 0.5^(B / half-life).
5. ADA (`ada_target` > 0): p ← max(0, p + sign(r_t − target) · B·interval / (ada_kimg·1000)) every
   `ada_interval` steps, r_t = E[sign(D(augment(real)))] over the interval; p and the running sums
   are in the state, so a resumed run continues with the same p. `ada_p` > 0 with ada_target 0 is
   the fixed-p option.

Lazy regularization also changes Adam's hyperparameters: with c = k / (k + 1) the learning rate is
multiplied by c and β's raised to the power c (the paper's mb_ratio), done in `lazy_adam_config`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

import flax
import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh

from genvision_jax.errors import ConfigError
from genvision_jax.losses.gan import GANLoss, get_gan_loss
from genvision_jax.losses.penalties import r1
from genvision_jax.metrics import ppl
from genvision_jax.models.gan.stylegan import StyleGANDiscriminator, StyleGANGenerator, mix_styles
from genvision_jax.nn.ada import ADA_DEFAULT_STRENGTHS, ada_augment, ada_pipe
from genvision_jax.train.rng import stream_key
from genvision_jax.train.sharding import constrain_batch, replicated_sharding


@flax.struct.dataclass
class StyleGANState:
    step: jax.Array
    g_params: Any
    g_vars: Any        # non-trained generator variables: w_avg, the const noise maps
    d_params: Any
    g_opt: Any
    d_opt: Any
    g_ema: Any
    pl_mean: jax.Array
    ada_p: jax.Array
    ada_sum: jax.Array     # Σ sign(D(real)) over the current ADA interval
    ada_count: jax.Array   # number of reals summed


@dataclasses.dataclass(frozen=True)
class StyleGANSetup:
    generator: StyleGANGenerator
    discriminator: StyleGANDiscriminator
    g_tx: optax.GradientTransformation
    d_tx: optax.GradientTransformation
    loss: GANLoss
    batch_size: int                 # global batch, for the EMA and ADA speeds
    mixing_prob: float = 0.9
    r1_gamma: float = 10.0
    r1_every: int = 16
    pl_weight: float = 2.0
    pl_every: int = 4
    pl_decay: float = 0.01
    pl_batch_shrink: int = 2
    ema_kimg: float = 10.0
    ema_rampup: float = 0.05        # 0 = no ramp-up
    ada_target: float = 0.0         # > 0: adaptive p toward this r_t (paper 0.6)
    ada_p: float = 0.0              # initial / fixed p
    ada_interval: int = 4
    ada_kimg: float = 500.0
    ada_strengths: tuple = ()       # (name, weight) pairs of the augmentation pipe; () = 'bgc'

    def __post_init__(self):
        for name in ("r1_every", "pl_every", "pl_batch_shrink", "ada_interval"):
            if getattr(self, name) < 1:
                raise ConfigError(f"stylegan.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("r1_gamma", "pl_weight", "ema_kimg", "ema_rampup", "ada_target", "ada_kimg"):
            if getattr(self, name) < 0:
                raise ConfigError(f"stylegan.{name} must be >= 0, got {getattr(self, name)}")
        if not 0 <= self.mixing_prob <= 1 or not 0 <= self.ada_p <= 1 or not 0 < self.pl_decay <= 1:
            raise ConfigError(f"stylegan.mixing_prob and ada_p must be in [0, 1] and pl_decay in (0, 1], got "
                              f"{self.mixing_prob}, {self.ada_p}, {self.pl_decay}")

    @property
    def latent_dim(self) -> int:
        return self.generator.z_dim

    @property
    def image_shape(self) -> tuple[int, int, int]:
        g = self.generator
        return (g.resolution, g.resolution, g.channels)

    @property
    def uses_ada(self) -> bool:
        return self.ada_target > 0 or self.ada_p > 0


def lazy_adam_config(opt: Mapping[str, Any], every: int) -> dict[str, Any]:
    """Adam settings for a network regularized every `every` steps: lr·c, β^c with c = k / (k + 1)."""
    opt = dict(opt)
    if every <= 1 or opt.get("name", "adam") not in ("adam", "adamw"):
        return opt
    c = every / (every + 1)
    opt["learning_rate"] = opt["learning_rate"] * c
    opt["b1"] = opt.get("b1", 0.9) ** c
    opt["b2"] = opt.get("b2", 0.999) ** c
    return opt


def init_stylegan_state(setup: StyleGANSetup, rng: jax.Array) -> StyleGANState:
    kg, kd, kn = jax.random.split(rng, 3)
    z = jnp.zeros((1, setup.latent_dim))
    g_vars = setup.generator.init({"params": kg, "noise": kn}, z)
    d_params = setup.discriminator.init(kd, jnp.zeros((1, *setup.image_shape)))["params"]
    g_params = g_vars["params"]
    rest = {k: v for k, v in g_vars.items() if k != "params"}
    def zero():
        return jnp.zeros((), jnp.float32)

    return StyleGANState(step=jnp.zeros((), jnp.int32), g_params=g_params, g_vars=rest, d_params=d_params,
                         g_opt=setup.g_tx.init(g_params), d_opt=setup.d_tx.init(d_params),
                         g_ema=jax.tree.map(jnp.copy, g_params), pl_mean=zero(),
                         ada_p=jnp.full((), setup.ada_p, jnp.float32), ada_sum=zero(), ada_count=zero())


def _ema_beta(setup: StyleGANSetup, step: jax.Array) -> jax.Array:
    half_life = jnp.asarray(setup.ema_kimg * 1000.0, jnp.float32)
    if setup.ema_rampup > 0:
        half_life = jnp.minimum(half_life, (step + 1).astype(jnp.float32) * setup.batch_size * setup.ema_rampup)
    return 0.5 ** (setup.batch_size / jnp.maximum(half_life, 1e-8))


def path_lengths(synthesis: Callable[[jax.Array], jax.Array], ws: jax.Array, key: jax.Array) -> jax.Array:
    """Per-sample path lengths a = ‖J_wᵀ y‖₂ [B] (Karras et al. 2020 eq. 4), y ~ N(0, I) / √(H·W) over the
    images [B, H, W, C] = synthesis(ws [B, L, D]); the squared norm is summed over D and averaged over the L
    style vectors (as the official code), so one w broadcast to every layer gets the length of its Jacobian."""
    images, vjp = jax.vjp(synthesis, ws)
    h, w = images.shape[1:3]
    y = jax.random.normal(key, images.shape, images.dtype) / jnp.sqrt(float(h * w))
    (jw,) = vjp(y)
    return jnp.sqrt(jnp.mean(jnp.sum(jnp.square(jw), axis=2), axis=1))


def pl_mean_update(pl_mean: jax.Array, lengths: jax.Array, decay: float) -> jax.Array:
    """ā ← ā + decay · (E[a] − ā), with no gradient through the mean."""
    return pl_mean + decay * (jnp.mean(jax.lax.stop_gradient(lengths)) - pl_mean)


def stylegan_step_fn(setup: StyleGANSetup, mesh: Mesh | None = None) -> Callable:
    """The pure `step(state, batch, root_key) -> (state, metrics)` (see the module docstring)."""
    G, D, loss = setup.generator, setup.discriminator, setup.loss
    constrain = (lambda x: x) if mesh is None else (lambda x: constrain_batch(x, mesh))
    n_ws = G.num_ws
    strengths = setup.ada_strengths or ADA_DEFAULT_STRENGTHS

    def g_vars_with(params, g_vars):
        return {"params": params, **g_vars}

    def mapped_ws(params, g_vars, z, z2, key, update):
        """ws [B, L, D] with style mixing; update=True also returns the new w_avg collection."""
        variables = g_vars_with(params, g_vars)
        ws, mut = G.apply(variables, z, method=G.mapping, update_w_avg=update, mutable=["w_avg"])
        if setup.mixing_prob > 0:
            ws2 = G.apply(variables, z2, method=G.mapping)
            k_cut, k_use = jax.random.split(key)
            cut = jax.random.randint(k_cut, (z.shape[0],), 1, n_ws)
            cut = jnp.where(jax.random.uniform(k_use, (z.shape[0],)) < setup.mixing_prob, cut, n_ws)
            ws = mix_styles(ws, ws2, cut)
        return ws, mut["w_avg"]

    def synth(params, g_vars, ws, key):
        return G.apply(g_vars_with(params, g_vars), ws, method=G.synthesis, rngs={"noise": key})

    def augment(x, p, key):
        return ada_augment(x, p, key, strengths) if setup.uses_ada else x

    def step(state: StyleGANState, batch: dict, root: jax.Array):
        real = batch["image"]
        if real.ndim != 4 or tuple(real.shape[1:]) != setup.image_shape:
            raise ValueError(f"batch['image'] must have shape [N, {', '.join(map(str, setup.image_shape))}], "
                             f"got {tuple(real.shape)}")
        b = real.shape[0]
        keys = {name: stream_key(root, name, state.step) for name in
                ("noise", "mixing", "d_update", "g_update", "path_length")}
        kz, kz2, kmix = jax.random.split(keys["mixing"], 3)
        z = constrain(jax.random.normal(kz, (b, setup.latent_dim), real.dtype))
        z2 = constrain(jax.random.normal(kz2, (b, setup.latent_dim), real.dtype))

        # 1. One G forward; its pullback serves the G update.
        def g_forward(params):
            ws, w_avg = mapped_ws(params, state.g_vars, z, z2, kmix, update=True)
            return synth(params, state.g_vars, ws, keys["noise"]), w_avg

        fake, g_pullback, w_avg = jax.vjp(g_forward, state.g_params, has_aux=True)

        # 2. D update with lazy R1 on augmented reals.
        k_aug_real, k_aug_fake, k_aug_g = jax.random.split(keys["d_update"], 3)
        real_aug = augment(real, state.ada_p, k_aug_real)
        fake_aug = augment(jax.lax.stop_gradient(fake), state.ada_p, k_aug_fake)

        def d_objective(p):
            real_logits = D.apply({"params": p}, real_aug)
            fake_logits = D.apply({"params": p}, fake_aug)
            d_loss, _ = loss(real_logits, fake_logits)
            pen = jnp.zeros((), jnp.float32)
            if setup.r1_gamma > 0:
                def d_fn(v):
                    return D.apply({"params": p}, v)
                pen = jax.lax.cond(state.step % setup.r1_every == 0,
                                   lambda: setup.r1_every * r1(d_fn, real_aug, real_aug, k_aug_real),
                                   lambda: jnp.zeros((), jnp.float32))
            return d_loss + setup.r1_gamma * pen, (d_loss, pen, real_logits, fake_logits)

        d_grads, (d_loss, r1_pen, real_logits, fake_logits) = jax.grad(d_objective, has_aux=True)(state.d_params)
        d_updates, d_opt = setup.d_tx.update(d_grads, state.d_opt, state.d_params)
        d_params = optax.apply_updates(state.d_params, d_updates)

        # 3. G update through the updated D, plus lazy path-length regularization.
        def g_objective(images):
            fake_logits_g = D.apply({"params": d_params}, augment(images, state.ada_p, k_aug_g))
            _, g_loss = loss(jnp.zeros_like(fake_logits_g), fake_logits_g)
            return g_loss

        g_loss, dfake = jax.value_and_grad(g_objective)(fake)
        (g_grads,) = g_pullback(dfake)

        pl_mean, pl_pen, pl_len = state.pl_mean, jnp.zeros((), jnp.float32), jnp.zeros((), jnp.float32)
        if setup.pl_weight > 0:
            pb = max(1, b // setup.pl_batch_shrink)
            kp1, kp2, kpm, kpn, kpy = jax.random.split(keys["path_length"], 5)

            def pl_terms(params):
                zp1 = jax.random.normal(kp1, (pb, setup.latent_dim), real.dtype)
                zp2 = jax.random.normal(kp2, (pb, setup.latent_dim), real.dtype)
                ws, _ = mapped_ws(params, state.g_vars, zp1, zp2, kpm, update=False)
                lengths = path_lengths(lambda v: synth(params, state.g_vars, v, kpn), ws, kpy)
                new_mean = pl_mean_update(state.pl_mean, lengths, setup.pl_decay)
                pen = jnp.mean(jnp.square(lengths - new_mean))
                return setup.pl_weight * setup.pl_every * pen, (new_mean, pen, jnp.mean(lengths))

            def with_pl():
                grads, aux = jax.grad(pl_terms, has_aux=True)(state.g_params)
                return grads, aux

            def without_pl():
                return (jax.tree.map(jnp.zeros_like, state.g_params),
                        (state.pl_mean, jnp.zeros((), jnp.float32), jnp.zeros((), jnp.float32)))

            pl_grads, (pl_mean, pl_pen, pl_len) = jax.lax.cond(state.step % setup.pl_every == 0, with_pl, without_pl)
            g_grads = jax.tree.map(jnp.add, g_grads, pl_grads)

        g_updates, g_opt = setup.g_tx.update(g_grads, state.g_opt, state.g_params)
        g_params = optax.apply_updates(state.g_params, g_updates)
        beta = _ema_beta(setup, state.step)
        g_ema = jax.tree.map(lambda e, p: p + beta * (e - p), state.g_ema, g_params)

        # 5. ADA's p from the sign of D on the (augmented) reals.
        ada_p, ada_sum, ada_count = state.ada_p, state.ada_sum, state.ada_count
        r_signs = jnp.sum(jnp.sign(real_logits))
        if setup.ada_target > 0:
            ada_sum, ada_count = ada_sum + r_signs, ada_count + b
            due = (state.step + 1) % setup.ada_interval == 0
            r_t = ada_sum / jnp.maximum(ada_count, 1.0)
            adjust = jnp.sign(r_t - setup.ada_target) * (setup.batch_size * setup.ada_interval) / (
                setup.ada_kimg * 1000.0)
            ada_p = jnp.where(due, jnp.clip(ada_p + adjust, 0.0, 1.0), ada_p)
            ada_sum, ada_count = jnp.where(due, 0.0, ada_sum), jnp.where(due, 0.0, ada_count)

        new_state = StyleGANState(step=state.step + 1, g_params=g_params, g_vars={**state.g_vars, "w_avg": w_avg},
                                  d_params=d_params, g_opt=g_opt, d_opt=d_opt, g_ema=g_ema, pl_mean=pl_mean,
                                  ada_p=ada_p, ada_sum=ada_sum, ada_count=ada_count)
        metrics = {"d_loss": d_loss, "g_loss": g_loss, "r1": r1_pen, "pl_penalty": pl_pen, "pl_length": pl_len,
                   "pl_mean": pl_mean, "d_real_logit": jnp.mean(real_logits), "d_fake_logit": jnp.mean(fake_logits),
                   "r_t": r_signs / b, "ada_p": ada_p, "d_grad_norm": optax.tree.norm(d_grads),
                   "g_grad_norm": optax.tree.norm(g_grads)}
        return new_state, metrics

    return step


def make_stylegan_train_step(setup: StyleGANSetup, mesh: Mesh) -> Callable:
    replicated = replicated_sharding(mesh)
    return jax.jit(stylegan_step_fn(setup, mesh), donate_argnums=0, out_shardings=(replicated, replicated))


def make_generate(setup: StyleGANSetup, mesh: Mesh | None = None) -> Callable:
    """Jitted `generate(params, g_vars, z, noise_key, psi=1.0, cutoff=None, noise_mode='random',
    noise_strength=1.0)` -> images [B, R, R, C]; psi a scalar or per-layer [num_ws] array."""
    G = setup.generator

    def generate(params, g_vars, z, noise_key, psi, cutoff, noise_mode, noise_strength):
        if mesh is not None:
            z = constrain_batch(z, mesh)
        variables = {"params": params, **g_vars}
        ws = G.apply(variables, z, method=G.mapping, psi=psi, cutoff=cutoff)
        return G.apply(variables, ws, noise_mode, noise_strength, method=G.synthesis, rngs={"noise": noise_key})

    jitted = jax.jit(generate, static_argnames=("cutoff", "noise_mode"))
    n_layers = G.num_conv_layers

    def call(params, g_vars, z, noise_key, psi=1.0, cutoff=None, noise_mode="random", noise_strength=1.0):
        # Per-layer noise strengths as an array argument: every noise setting runs the same compiled program.
        strengths = jnp.broadcast_to(jnp.asarray(noise_strength, jnp.float32), (n_layers,))
        return jitted(params, g_vars, z, noise_key, psi, cutoff, noise_mode, strengths)

    return call


def make_ppl_distances(setup: StyleGANSetup, distance: Callable[[jax.Array, jax.Array], jax.Array], *,
                       space: str = "w", sampling: str = "end", crop: bool = False,
                       epsilon: float = ppl.EPSILON) -> Callable:
    """Jitted `distances(params, g_vars, key, n) -> [n]` perceptual distances of image pairs ε apart along
    random latent paths (Karras et al. 2019 §4.2; the official metric's choices): z1, z2 ~ N(0, I), t ~ U(0, 1)
    for 'full' paths or 0 for 'end'; in W the paths lerp between mapping(z1) and mapping(z2) (no truncation),
    in Z they slerp between z1 and z2 before the mapping; both images use the same constant noise maps;
    optionally the face crop. `distance(x, y)` takes images in [-1, 1] and returns [n] (not yet / ε²)."""
    if space not in ppl.SPACES or sampling not in ppl.SAMPLINGS:
        raise ConfigError(f"PPL space must be one of {ppl.SPACES} and sampling one of {ppl.SAMPLINGS}, got "
                          f"{space!r}, {sampling!r}")
    G = setup.generator

    def distances(params, g_vars, key, n: int):
        variables = {"params": params, **g_vars}
        kt, k1, k2 = jax.random.split(key, 3)
        t = jax.random.uniform(kt, (n,)) * (1.0 if sampling == "full" else 0.0)
        z1 = jax.random.normal(k1, (n, setup.latent_dim))
        z2 = jax.random.normal(k2, (n, setup.latent_dim))
        if space == "w":
            w1, w2 = (G.apply(variables, z, method=G.mapping) for z in (z1, z2))
            ws = jnp.concatenate([ppl.lerp(w1, w2, t), ppl.lerp(w1, w2, t + epsilon)])
        else:
            zs = jnp.concatenate([ppl.slerp(z1, z2, t), ppl.slerp(z1, z2, t + epsilon)])
            ws = G.apply(variables, zs, method=G.mapping)
        images = G.apply(variables, ws, "const", method=G.synthesis)
        if crop:
            images = ppl.face_crop(images)
        return distance(images[:n], images[n:])

    return jax.jit(distances, static_argnames="n")


RECIPE_DEFAULTS = {
    "loss": "non_saturating", "mixing_prob": 0.9, "r1_gamma": 10.0, "r1_every": 16, "pl_weight": 2.0,
    "pl_every": 4, "pl_decay": 0.01, "pl_batch_shrink": 2, "ema_kimg": 10.0, "ema_rampup": 0.05,
    "ada_target": 0.0, "ada_p": 0.0, "ada_interval": 4, "ada_kimg": 500.0, "ada_pipe": "bgc",
}


def recipe_from_config(recipe: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(recipe) - set(RECIPE_DEFAULTS))
    if unknown:
        raise ConfigError(f"unknown StyleGAN recipe key(s) {unknown}; valid keys: {sorted(RECIPE_DEFAULTS)}")
    r = {**RECIPE_DEFAULTS, **dict(recipe)}
    try:
        strengths = ada_pipe(r.pop("ada_pipe"))
        r["loss"] = get_gan_loss(r["loss"])
    except ValueError as e:
        raise ConfigError(f"stylegan recipe: {e}") from None
    r["ada_strengths"] = strengths
    return r
