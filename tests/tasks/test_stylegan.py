"""StyleGAN's recipe pieces against closed forms: R1 and path length on analytic networks, the path-length
running mean, truncation and style mixing, ADA's identity at p = 0 and its invertible geometry, and one step
of the StyleGAN trainer's update."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genvision_jax.losses.penalties import lazy_penalty, r1
from genvision_jax.models.gan.stylegan import StyleGANGenerator, mix_styles, num_ws, truncate
from genvision_jax.nn import ada
from genvision_jax.tasks.stylegan import lazy_adam_config, path_lengths, pl_mean_update


def test_r1_closed_form_on_analytic_discriminators():
    x = jax.random.normal(jax.random.key(0), (5, 4, 4, 3))
    a = jax.random.normal(jax.random.key(1), (4, 4, 3))
    # Linear D(x) = <a, x>: ∇D = a for every sample, R1 (unweighted, ½E‖∇D‖²) = ½‖a‖².
    linear = lambda v: jnp.sum(v * a, axis=(1, 2, 3))  # noqa: E731
    np.testing.assert_allclose(float(r1(linear, x, x, None)), 0.5 * float(jnp.sum(a ** 2)), rtol=1e-5)
    # Quadratic D(x) = c/2 ‖x‖²: ∇D = c x, R1 = ½ c² E‖x‖².
    quad = lambda v: 1.5 * jnp.sum(v ** 2, axis=(1, 2, 3))  # noqa: E731
    want = 0.5 * 9.0 * float(jnp.mean(jnp.sum(x ** 2, axis=(1, 2, 3))))
    np.testing.assert_allclose(float(r1(quad, x, x, None)), want, rtol=1e-5)
    # Lazy: every k-th step, times k; zero otherwise.
    for step, factor in ((0, 16.0), (3, 0.0), (32, 16.0)):
        got = lazy_penalty(r1, 16, jnp.asarray(step))(linear, x, x, None)
        np.testing.assert_allclose(float(got), factor * 0.5 * float(jnp.sum(a ** 2)), rtol=1e-5)


def test_path_length_closed_form_on_a_linear_generator():
    """g(ws) = Σ_l A_l w_l: J_{w_l}ᵀ y = A_lᵀ y, so a = sqrt(mean_l ‖A_lᵀ y‖²) with y the same N(0, I)/√(HW)."""
    b, layers, d, h, w, c = 3, 4, 6, 5, 5, 2
    A = jax.random.normal(jax.random.key(2), (layers, d, h * w * c))
    ws = jax.random.normal(jax.random.key(3), (b, layers, d))

    def synthesis(v):
        return jnp.einsum("bld,ldp->bp", v, A).reshape(b, h, w, c)

    key = jax.random.key(4)
    got = path_lengths(synthesis, ws, key)
    y = (jax.random.normal(key, (b, h, w, c)) / jnp.sqrt(float(h * w))).reshape(b, -1)
    jt = jnp.einsum("ldp,bp->bld", A, y)
    want = jnp.sqrt(jnp.mean(jnp.sum(jt ** 2, axis=2), axis=1))
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5)
    # E[a²] over y is ‖A‖_F² / (L·HW) per layer-average: check the scale with many draws.
    many = jnp.concatenate([path_lengths(synthesis, ws, jax.random.key(i)) for i in range(200)])
    expected = float(jnp.sum(A ** 2)) / (layers * h * w)
    np.testing.assert_allclose(float(jnp.mean(many ** 2)), expected, rtol=0.05)


def test_pl_running_mean_follows_its_decay():
    mean, decay, target = jnp.zeros(()), 0.01, 2.5
    for n in range(1, 301):
        mean = pl_mean_update(mean, jnp.full((8,), target), decay)
        if n in (1, 10, 300):
            np.testing.assert_allclose(float(mean), target * (1 - (1 - decay) ** n), rtol=1e-5)
    # No gradient flows through the mean into the lengths.
    g = jax.grad(lambda l: pl_mean_update(jnp.zeros(()), l, decay))(jnp.ones((4,)))
    assert float(jnp.abs(g).sum()) == 0.0


def test_lazy_adam_config():
    got = lazy_adam_config({"name": "adam", "learning_rate": 0.0025, "b1": 0.0, "b2": 0.99}, 16)
    c = 16 / 17
    np.testing.assert_allclose([got["learning_rate"], got["b1"], got["b2"]], [0.0025 * c, 0.0, 0.99 ** c])
    assert lazy_adam_config({"name": "adam", "learning_rate": 1.0}, 1)["learning_rate"] == 1.0


def _tiny_generator(**kw):
    return StyleGANGenerator(16, z_dim=8, w_dim=8, mapping_layers=2, channel_base=64, channel_max=8, **kw)


def test_truncation_and_mixing():
    w_avg = jnp.arange(4.0)
    ws = jax.random.normal(jax.random.key(5), (2, 6, 4))
    np.testing.assert_allclose(np.asarray(truncate(ws, w_avg, 0.0)), np.broadcast_to(w_avg, ws.shape))
    np.testing.assert_allclose(np.asarray(truncate(ws, w_avg, 1.0)), np.asarray(ws), rtol=1e-6)
    cut = np.asarray(truncate(ws, w_avg, 0.0, cutoff=2))
    np.testing.assert_allclose(cut[:, :2], np.broadcast_to(w_avg, (2, 2, 4)))
    np.testing.assert_allclose(cut[:, 2:], np.asarray(ws[:, 2:]), rtol=1e-6)
    psi = jnp.array([0.0, 0.5, 1.0, 1.0, 1.0, 0.2])  # layer-adaptive
    got = np.asarray(truncate(ws, w_avg, psi))
    np.testing.assert_allclose(got[:, 1], np.asarray(w_avg + 0.5 * (ws[:, 1] - w_avg)), rtol=1e-6)
    ws2 = ws + 10.0
    mixed = np.asarray(mix_styles(ws, ws2, jnp.array([3, 6])))
    np.testing.assert_array_equal(mixed[0, :3], np.asarray(ws[0, :3]))
    np.testing.assert_array_equal(mixed[0, 3:], np.asarray(ws2[0, 3:]))
    np.testing.assert_array_equal(mixed[1], np.asarray(ws[1]))
    # Through the generator: ψ = 0 maps every z to w_avg (all samples equal with constant noise).
    G = _tiny_generator()
    assert G.num_ws == num_ws(16) == 6
    z = jax.random.normal(jax.random.key(6), (3, 8))
    v = jax.jit(G.init)({"params": jax.random.key(7), "noise": jax.random.key(8)}, z)
    v = {**v, "w_avg": {"value": jnp.full((8,), 0.3)}}
    ws_t = G.apply(v, z, method=G.mapping, psi=0.0)
    np.testing.assert_allclose(np.asarray(ws_t), 0.3, rtol=1e-6)
    imgs = jax.jit(lambda v, z: G.apply(v, z, psi=0.0, noise_mode="const"))(v, z)
    np.testing.assert_allclose(np.asarray(imgs[0]), np.asarray(imgs[2]), atol=1e-5)


def test_w_avg_is_an_ema_of_the_batch_mean():
    G = _tiny_generator(w_avg_beta=0.9)
    z = jax.random.normal(jax.random.key(9), (4, 8))
    v = jax.jit(G.init)({"params": jax.random.key(10), "noise": jax.random.key(11)}, z)
    ws, mut = G.apply(v, z, method=G.mapping, update_w_avg=True, mutable=["w_avg"])
    w_mean = np.asarray(ws[:, 0].mean(0))
    np.testing.assert_allclose(np.asarray(mut["w_avg"]["value"]), 0.1 * w_mean, rtol=1e-5, atol=1e-7)


def test_ada_p0_identity_blit_permutation_and_invertible_geometry():
    x = jax.random.uniform(jax.random.key(12), (6, 16, 16, 3)) * 2 - 1
    same = ada.ada_augment(x, 0.0, jax.random.key(13), ada.ada_pipe("bgcc"))
    np.testing.assert_array_equal(np.asarray(same), np.asarray(x))
    # Flips and 90° rotations move whole pixels: the multiset of values per image is unchanged.
    blit = ada.ada_augment(x, 1.0, jax.random.key(14), ada.ada_pipe("xflip,rotate90"))
    np.testing.assert_array_equal(np.sort(np.asarray(blit).reshape(6, -1), 1), np.sort(np.asarray(x).reshape(6, -1), 1))
    assert not np.array_equal(np.asarray(blit), np.asarray(x))
    # Geometric matrices are invertible; warping by G then by G⁻¹ recovers the image's centre.
    g = ada.geometric_matrices(jax.random.key(15), 6, (16, 16), jnp.asarray(1.0), ada.ada_pipe("rotate,scale"))
    assert np.all(np.abs(np.linalg.det(np.asarray(g))) > 1e-3)
    smooth = jax.image.resize(jax.random.uniform(jax.random.key(16), (6, 4, 4, 3)), (6, 16, 16, 3), "linear")
    back = ada.warp(ada.warp(smooth, jnp.linalg.inv(g)), g)
    centre = slice(6, 10)
    err = np.abs(np.asarray(back)[:, centre, centre] - np.asarray(smooth)[:, centre, centre])
    assert err.mean() < 0.01 and err.max() < 0.1  # two bilinear resamplings smooth a little
    # Colour matrices are invertible (luma flip and hue are rotations/reflections; the others scale).
    cm = ada.color_matrices(jax.random.key(17), 6, jnp.asarray(1.0), ada.ada_pipe("color"))
    assert np.all(np.abs(np.linalg.det(np.asarray(cm))) > 1e-4)
    # Differentiable in the images.
    grad = jax.grad(lambda v: jnp.sum(ada.ada_augment(v, 0.7, jax.random.key(18)) ** 2))(x)
    assert np.isfinite(np.asarray(grad)).all() and float(jnp.abs(grad).sum()) > 0
    with pytest.raises(ValueError, match="unknown ADA pipe"):
        ada.ada_pipe("xflop")


def test_bfloat16_highest_resolutions_stay_close_to_float32():
    """Mixed precision: the top resolution's layers in bfloat16 (clamped) change the image by bfloat16 rounding,
    not more; the discriminator likewise."""
    from genvision_jax.models.gan.stylegan import StyleGANDiscriminator

    z = jax.random.normal(jax.random.key(20), (4, 8))
    f32 = _tiny_generator()
    # Jitted: op by op, every one of the many small ops would compile on its own (minutes on this CPU).
    v = jax.jit(f32.init)({"params": jax.random.key(21), "noise": jax.random.key(22)}, z)
    mixed = _tiny_generator(num_bf16_res=1, conv_clamp=256.0)
    a = jax.jit(lambda v, z: f32.apply(v, z, noise_mode="const"))(v, z)
    b = jax.jit(lambda v, z: mixed.apply(v, z, noise_mode="const"))(v, z)
    assert b.dtype == jnp.float32
    scale = float(jnp.abs(a).max())
    assert 0 < float(jnp.abs(a - b).max()) < 0.05 * scale
    D32, D16 = StyleGANDiscriminator(16, 3, 64, 8), StyleGANDiscriminator(16, 3, 64, 8, num_bf16_res=1)
    x = jax.random.normal(jax.random.key(23), (4, 16, 16, 3))
    dv = jax.jit(D32.init)(jax.random.key(24), x)
    la, lb = jax.jit(D32.apply)(dv, x), jax.jit(D16.apply)(dv, x)
    assert lb.dtype == jnp.float32 and float(jnp.abs(la - lb).max()) < 0.05 * float(jnp.abs(la).max()) + 1e-3
