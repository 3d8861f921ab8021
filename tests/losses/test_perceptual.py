"""Perceptual losses: values against float64 numpy formulas on two backbones (VGG16 with random
weights, a pooling + fixed projection backbone computed in numpy too), the Gram normalisations'
factor, Gatys et al.'s form, zero at identity, precomputed targets, gradients under jit, LPIPS as a
special case, and input errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genvision_jax.losses import perceptual
from genvision_jax.metrics.lpips import SCALING_SCALE, SCALING_SHIFT, LPIPSNet
from genvision_jax.models.recognizers import vgg
from genvision_jax.models.recognizers.torchvision_backbones import VGG16Features
from genvision_jax.pretrained import torchvision_backbones

VGG_LAYERS = ("relu1_2", "conv2_2", "relu3_3")
POOL_LAYERS = ("p2", "p4")


def random_vgg_variables(seed):
    rng = np.random.default_rng(seed)

    def leaf(path, s):
        if path[-1].key == "bias":
            return jnp.asarray(rng.uniform(-0.1, 0.1, s.shape).astype(np.float32))
        return jnp.asarray(rng.normal(0, (2.0 / np.prod(s.shape[:3])) ** 0.5, s.shape).astype(np.float32))

    return jax.tree_util.tree_map_with_path(leaf, torchvision_backbones.vgg_abstract_params(16))


VGG_VARIABLES = random_vgg_variables(0)
_RNG = np.random.default_rng(1)
PROJ2 = _RNG.normal(size=(3, 8)).astype(np.float32)
PROJ4 = _RNG.normal(size=(3, 16)).astype(np.float32)


def _avg_pool(x, k):
    n, h, w, c = x.shape
    return x.reshape(n, h // k, k, w // k, k, c).mean(axis=(2, 4))


def pool_features(x):
    """The trivial backbone: k x k average pools, a fixed random channel projection, a ReLU."""
    return {"p2": jax.nn.relu(_avg_pool(x, 2) @ PROJ2), "p4": jax.nn.relu(_avg_pool(x, 4) @ PROJ4),
            "unused": x}


def pool_features_numpy(x):
    x = np.asarray(x, np.float64)
    return {"p2": np.maximum(_avg_pool(x, 2) @ PROJ2, 0), "p4": np.maximum(_avg_pool(x, 4) @ PROJ4, 0)}


# name -> (features_fn of the variables, variables, layers). Jitted functions below take the variables
# as an argument: closed over, they would become ~60 MB of constants in every compiled program.
BACKBONES = {
    "vgg16": (lambda v: vgg.VGG(16).features_fn(v, VGG_LAYERS), VGG_VARIABLES, VGG_LAYERS),
    "pool": (lambda v: pool_features, {}, POOL_LAYERS),
}


def numpy_features(name, x):
    if name == "pool":
        return pool_features_numpy(x)
    make_fn, variables, _ = BACKBONES[name]
    return {k: np.asarray(v, np.float64) for k, v in jax.jit(lambda v, a: make_fn(v)(a))(variables, x).items()}


def _images(n, size, seed):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (n, size, size, 3)).astype(np.float32)
    y = np.clip(x + rng.normal(0, 0.4, x.shape), -1, 1).astype(np.float32)
    return x, y


# ---- float64 numpy references, written from the papers' formulas ----

def ref_feature(fx, fy, layers, weights, distance):
    d = (lambda a: a ** 2) if distance == "mse" else np.abs
    return sum(w * d(fx[k] - fy[k]).reshape(len(fx[k]), -1).mean(1) for k, w in zip(layers, weights))


def ref_gram(f, normalize):
    n, h, w, c = f.shape
    F = f.reshape(n, h * w, c).transpose(0, 2, 1)  # [N, C, HW]
    return F @ F.transpose(0, 2, 1) / (c * h * w if normalize == "chw" else h * w)


def ref_style(fx, fy, layers, weights, normalize):
    return sum(w * ((ref_gram(fx[k], normalize) - ref_gram(fy[k], normalize)) ** 2).sum((1, 2))
               for k, w in zip(layers, weights))


def ref_lpips_like(fx, fy, layers, channel_weights):
    total = 0.0
    for k in layers:
        nx = fx[k] / (np.sqrt((fx[k] ** 2).sum(-1, keepdims=True)) + 1e-10)
        ny = fy[k] / (np.sqrt((fy[k] ** 2).sum(-1, keepdims=True)) + 1e-10)
        total = total + ((nx - ny) ** 2 * channel_weights[k]).sum(-1).mean((1, 2))
    return total


@pytest.mark.parametrize("backbone", ["vgg16", "pool"])
def test_losses_match_numpy(backbone):
    make_fn, variables, layers = BACKBONES[backbone]
    x, y = _images(3, 32, seed=2)
    fx, fy = numpy_features(backbone, x), numpy_features(backbone, y)
    weights = [0.5, 2.0, 1.5][:len(layers)]
    rng = np.random.default_rng(3)
    channel_w = {k: rng.uniform(0, 1, fx[k].shape[-1]).astype(np.float32) for k in layers}
    @jax.jit
    def jitted(v, a, b):
        fn = make_fn(v)
        return {"mse": perceptual.feature_loss(fn, a, b, layers, weights),
                "l1": perceptual.feature_loss(fn, a, b, layers, weights, distance="l1"),
                "style_chw": perceptual.style_loss(fn, a, b, layers, weights),
                "style_hw": perceptual.style_loss(fn, a, b, layers, weights, normalize="hw"),
                "lpips": perceptual.lpips_like(fn, a, b, layers, channel_w),
                "lpips_unweighted": perceptual.lpips_like(fn, a, b, layers),
                "mse_map": perceptual.feature_loss(fn, a, b, layers, dict(zip(layers, weights))),
                "mse_unweighted": perceptual.feature_loss(fn, a, b, layers)}

    ours = {k: np.asarray(v) for k, v in jitted(variables, x, y).items()}
    expected = {
        "mse": ref_feature(fx, fy, layers, weights, "mse"),
        "l1": ref_feature(fx, fy, layers, weights, "l1"),
        "style_chw": ref_style(fx, fy, layers, weights, "chw"),
        "style_hw": ref_style(fx, fy, layers, weights, "hw"),
        "lpips": ref_lpips_like(fx, fy, layers, channel_w),
        "lpips_unweighted": ref_lpips_like(fx, fy, layers, {k: 1.0 for k in layers}),
    }
    for key, value in expected.items():
        assert ours[key].shape == (3,) and ours[key].dtype == np.float32, key
        assert value.min() > 1e-6, key  # a non-trivial value
        np.testing.assert_allclose(ours[key], value, rtol=2e-5, err_msg=key)
    # Weights as a mapping are the same as a sequence; scaling one layer's weight changes the loss.
    np.testing.assert_allclose(ours["mse_map"], ours["mse"], rtol=1e-6)
    assert not np.allclose(ours["mse_unweighted"], ours["mse"], rtol=1e-3)


def test_gram_normalizations_differ_by_the_channel_count_and_match_gatys():
    f = jnp.asarray(np.random.default_rng(4).normal(size=(2, 5, 6, 7)).astype(np.float32))
    chw, hw = perceptual.gram_matrix(f, "chw"), perceptual.gram_matrix(f, "hw")
    assert chw.shape == (2, 7, 7)
    np.testing.assert_allclose(hw, 7 * chw, rtol=1e-6)
    np.testing.assert_allclose(hw, ref_gram(np.asarray(f, np.float64), "hw"), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(chw[0], chw[0].T, rtol=1e-6, atol=1e-8)  # symmetric (to float32 summation order)
    # The style loss scales by C^2 per layer between the two normalisations (one layer here).
    x, y = _images(2, 16, seed=5)
    loss_chw = perceptual.style_loss(pool_features, x, y, ["p4"], normalize="chw")
    loss_hw = perceptual.style_loss(pool_features, x, y, ["p4"], normalize="hw")
    np.testing.assert_allclose(loss_hw, 16 ** 2 * loss_chw, rtol=1e-5)
    # Gatys et al. 2016 eq. 4: E = 1/(4 N^2 M^2) sum (G - A)^2, unnormalised G, N = C, M = HW.
    fx, fy = pool_features_numpy(x)["p4"], pool_features_numpy(y)["p4"]
    n, h, w, c = fx.shape
    raw = lambda f: np.einsum("npc,npd->ncd", f.reshape(n, -1, c), f.reshape(n, -1, c))  # noqa: E731
    gatys = ((raw(fx) - raw(fy)) ** 2).sum((1, 2)) / (4 * c ** 2 * (h * w) ** 2)
    np.testing.assert_allclose(gatys, np.asarray(loss_chw) / 4, rtol=1e-5)
    with pytest.raises(ValueError, match=r"gram_matrix: unknown normalize 'c'; valid: \['chw', 'hw'\]"):
        perceptual.gram_matrix(f, "c")


@pytest.mark.parametrize("backbone", ["vgg16", "pool"])
def test_zero_at_identity_gradients_and_precomputed_targets(backbone):
    make_fn, variables, layers = BACKBONES[backbone]
    x, y = _images(2, 32, seed=6)

    @jax.jit  # one program for everything (op-by-op VGG calls would each compile)
    def evaluate(v, a, b):
        fn = make_fn(v)
        losses = {
            "feature": lambda a, t: perceptual.feature_loss(fn, a, t, layers),
            "feature_l1": lambda a, t: perceptual.feature_loss(fn, a, t, layers, distance="l1"),
            "style": lambda a, t: perceptual.style_loss(fn, a, t, layers),
            "lpips_like": lambda a, t: perceptual.lpips_like(fn, a, t, layers),
        }
        feats = perceptual.feature_targets(fn, b, layers)
        grams = perceptual.style_targets(fn, b, layers)
        targets = {name: grams if name == "style" else feats for name in losses}
        # Every loss's gradient from one batched backward pass (jacrev vmaps the VJP): one compile.
        grads = jax.jacrev(lambda z: jnp.stack([loss(z, targets[name]).sum()
                                                for name, loss in losses.items()]))(a)
        out = {}
        for grad, (name, loss) in zip(grads, losses.items()):
            step = 1e-2 / jnp.abs(grad).max()
            out[name] = {"identity": loss(a, a), "images": loss(a, b), "targets": loss(a, targets[name]),
                         "grad": grad, "stepped": loss(a - step * grad, targets[name])}
        return out, set(feats) == set(grams) == set(layers)

    results, same_keys = evaluate(variables, x, y)
    assert same_keys
    for name, r in results.items():
        np.testing.assert_array_equal(r["identity"], np.zeros(2, np.float32), err_msg=name)
        assert float(r["images"].min()) > 1e-6, name
        np.testing.assert_allclose(r["targets"], r["images"], rtol=1e-6, err_msg=name)
        grad = np.asarray(r["grad"])
        assert grad.shape == x.shape and np.isfinite(grad).all(), name
        assert np.abs(grad).max() > 0, name
        # A small step against the gradient lowers the loss: the gradient is the loss's.
        assert float(r["stepped"].sum()) < float(r["images"].sum()), name


def test_style_target_broadcasts_one_image_over_the_batch():
    fn, layers = pool_features, POOL_LAYERS
    x, _ = _images(3, 16, seed=7)
    style = _images(1, 24, seed=8)[0]  # another size: Gram matrices are [C, C]
    grams = perceptual.style_targets(fn, style, layers)
    assert grams["p2"].shape == (1, 8, 8)
    ours = perceptual.style_loss(fn, x, grams, layers)
    fx, fs = pool_features_numpy(x), pool_features_numpy(style)
    expected = sum(((ref_gram(fx[k], "chw") - ref_gram(fs[k], "chw")) ** 2).sum((1, 2)) for k in layers)
    np.testing.assert_allclose(ours, expected, rtol=2e-5)
    np.testing.assert_allclose(perceptual.style_loss(fn, x, style, layers), ours, rtol=1e-6)


def test_lpips_like_is_lpips_with_the_scaling_layer_and_heads():
    """LPIPS (v0.1, VGG) = lpips_like on the ScalingLayer'd VGG16 trunk with the heads as weights."""
    x, y = _images(2, 16, seed=9)
    rng = np.random.default_rng(10)
    params = {"net": VGG_VARIABLES["params"],
              **{f"lin{k}": {"kernel": jnp.asarray(rng.uniform(0, 1, (c, 1)).astype(np.float32))}
                 for k, c in enumerate((64, 128, 256, 512, 512))}}
    expected = jax.jit(LPIPSNet("vgg", "0.1").apply)({"params": params}, x, y)
    names = [f"tap{k}" for k in range(5)]
    shift, scale = jnp.asarray(SCALING_SHIFT), jnp.asarray(SCALING_SCALE)

    def ours_fn(params, a, b):
        def trunk(images):
            return dict(zip(names, VGG16Features().apply({"params": params["net"]}, (images - shift) / scale)))

        heads = {f"tap{k}": params[f"lin{k}"]["kernel"][:, 0] for k in range(5)}
        return perceptual.lpips_like(trunk, a, b, names, heads)

    ours = jax.jit(ours_fn)(params, x, y)
    assert float(expected.min()) > 0.01
    np.testing.assert_allclose(ours, expected, rtol=1e-5)


def test_perceptual_errors():
    fn, layers = pool_features, POOL_LAYERS
    x, y = _images(2, 16, seed=11)
    with pytest.raises(ValueError, match=r"feature_loss: features_fn\(x\) has no \['relu3_3'\]; it has "
                                         r"\['p2', 'p4', 'unused'\]"):
        perceptual.feature_loss(fn, x, y, ["p2", "relu3_3"])
    with pytest.raises(ValueError, match=r"layers must be a non-empty sequence .* got 'p2'"):
        perceptual.style_loss(fn, x, y, "p2")
    with pytest.raises(ValueError, match=r"lpips_like: 1 weights for 2 layers \['p2', 'p4'\]"):
        perceptual.lpips_like(fn, x, y, layers, [1.0])
    with pytest.raises(ValueError, match=r"weights must have one entry per layer .* missing \['p4'\], "
                                         r"not a layer \['p8'\]"):
        perceptual.feature_loss(fn, x, y, layers, {"p2": 1.0, "p8": 1.0})
    with pytest.raises(ValueError, match=r"unknown distance 'l2'; valid: \['mse', 'l1'\]"):
        perceptual.feature_loss(fn, x, y, layers, distance="l2")
    with pytest.raises(ValueError, match=r"layer 'p2' of x is \(2, 8, 8, 8\) but of y \(2, 4, 4, 8\)"):
        perceptual.feature_loss(fn, x, y[:, :8, :8], layers)
    with pytest.raises(ValueError, match=r"y must be images \[N, H, W, 3\] in \[-1, 1\]; got shape "
                                         r"\(2, 16, 16\)"):
        perceptual.lpips_like(fn, x, y[..., 0], layers)
    with pytest.raises(ValueError, match=r"layer 'p4' has 16 channels; its weight must be a scalar or "
                                         r"\[16\], got shape \(8,\)"):
        perceptual.lpips_like(fn, x, y, layers, {"p2": np.ones(8), "p4": np.ones(8)})
    grams = perceptual.style_targets(fn, y, ["p2"])
    with pytest.raises(ValueError, match=r"style_loss: the precomputed y targets \(style_targets\) have "
                                         r"no \['p4'\]; they have \['p2'\]"):
        perceptual.style_loss(fn, x, grams, layers)
