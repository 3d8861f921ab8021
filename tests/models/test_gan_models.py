"""GAN architectures: every D/G × norm × conditioning builds, has the right shapes and sows features;
projection and minibatch features act as defined; ResNet parameter counts at SNGAN's CIFAR-10 widths."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genvision_jax.models.gan import (
    DCGANDiscriminator,
    DCGANGenerator,
    MLPDiscriminator,
    MLPGenerator,
    ResNetDiscriminator,
    ResNetGenerator,
)
from genvision_jax.nn import NORMS

N, K = 4, 3  # batch, classes of the conditional variants


def _key(seed=0):
    # rbg keys: eager init compiles the initializers once per param shape, and threefry's hash compiles
    # several times slower than rbg's single op on XLA:CPU (measured 3.7 s vs 0.5 s under load).
    return jax.random.key(seed, impl="rbg")


def _count(tree):
    return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))


def _discriminator(arch, **options):
    """(module, input x, features per sample F) for a tiny D of each architecture."""
    if arch == "dcgan":  # 16×16: conv 1→4 (8×8) → conv 4→8 (4×4): phi = 4·4·(8 [+1 with minibatch std])
        d = DCGANDiscriminator(16, 1, 4, **options)
        return d, jnp.linspace(-1, 1, N * 16 * 16).reshape(N, 16, 16, 1), 16 * (8 + d.minibatch_std)
    if arch == "resnet":  # 16×16: optimized block down to 8×8, two blocks at 8×8, sum pool: phi = 8
        return ResNetDiscriminator(16, 3, 8, **options), jnp.linspace(-1, 1, N * 16 * 16 * 3).reshape(N, 16, 16, 3), 8
    return MLPDiscriminator(hidden=(16, 8), **options), jnp.linspace(-2, 2, N * 2).reshape(N, 2), 8


def _labels(num_classes):
    return jnp.arange(N) % num_classes if num_classes else None


def _run(d, x, y):
    variables = d.init(_key(), x, y, train=False)
    logits, mut = d.apply(variables, x, y, train=True, mutable=["batch_stats", "intermediates"])
    return variables, logits, mut


ARCH_NORMS = [(a, n) for a in ("dcgan", "resnet", "mlp") for n in NORMS if not (a == "mlp" and n == "instance")]


@pytest.mark.parametrize("num_classes", [0, K])
@pytest.mark.parametrize("arch, norm", ARCH_NORMS)
def test_discriminator_builds_and_sows_features(arch, norm, num_classes):
    d, x, features = _discriminator(arch, norm=norm, num_classes=num_classes)
    variables, logits, mut = _run(d, x, _labels(num_classes))
    assert logits.shape == (N,) and logits.dtype == jnp.float32 and np.isfinite(np.asarray(logits)).all()
    (phi,) = mut["intermediates"]["features"]
    assert phi.shape == (N, features)
    if num_classes:
        assert variables["params"]["embed_y"]["embedding"].shape == (num_classes, features)
    else:
        assert "embed_y" not in variables["params"]
    stats = jax.tree_util.tree_flatten_with_path(variables.get("batch_stats", {}))[0]
    names = [jax.tree_util.keystr(path) for path, _ in stats]
    assert (norm == "batch") == any("'mean'" in n for n in names)  # BN running statistics
    assert (norm == "spectral") == any("/u'" in n for n in names)  # power-iteration vectors


@pytest.mark.parametrize("arch", ["dcgan", "resnet", "mlp"])
def test_minibatch_features_couple_the_batch(arch):
    d_plain, x, _ = _discriminator(arch, norm="none")
    x_other = x.at[1:].multiply(-10.0)  # sample 0 unchanged, the rest of its batch very different
    for options in (dict(minibatch_std=True), dict(minibatch_discrimination=6, minibatch_kernel_dim=3)):
        d, _, features = _discriminator(arch, norm="none", **options)
        variables, logits, mut = _run(d, x, None)
        assert mut["intermediates"]["features"][0].shape == (N, features)
        changed = d.apply(variables, x_other, train=True, mutable=["batch_stats"])[0]
        assert abs(float(changed[0] - logits[0])) > 1e-6, options
        if "minibatch_discrimination" in options:
            assert variables["params"]["minibatch_discrimination"]["kernel"].shape == (features, 6 * 3)
    # Without them (and without batch norm) a sample's logit depends only on that sample.
    variables, logits, _ = _run(d_plain, x, None)
    changed = d_plain.apply(variables, x_other, train=True, mutable=["batch_stats"])[0]
    np.testing.assert_allclose(changed[0], logits[0], rtol=1e-5)


def test_projection_adds_class_embedding_inner_product():
    d, x, _ = _discriminator("mlp", norm="none", num_classes=K)
    y_a, y_b = jnp.array([0, 1, 2, 0]), jnp.array([2, 2, 1, 1])
    variables, logits_a, mut = _run(d, x, y_a)
    _, logits_b, _ = _run(d, x, y_b)
    phi, embed = mut["intermediates"]["features"][0], variables["params"]["embed_y"]["embedding"]
    expected = jnp.sum((embed[y_a] - embed[y_b]) * phi, axis=-1)  # Miyato & Koyama eq. 3: psi(phi) cancels
    np.testing.assert_allclose(logits_a - logits_b, expected, rtol=1e-5, atol=1e-6)
    assert np.abs(np.asarray(expected)).min() > 1e-4


@pytest.mark.parametrize("norm", ["spectral", "batch"])
def test_discriminator_state_updates_only_when_training(norm):
    d, x, _ = _discriminator("resnet", norm=norm)
    variables = d.init(_key(), x, train=False)
    _, frozen = d.apply(variables, x, train=False, mutable=["batch_stats"])
    _, updated = d.apply(variables, x, train=True, mutable=["batch_stats"])
    before, after_eval, after_train = (jax.tree.leaves(v["batch_stats"]) for v in (variables, frozen, updated))
    for a, b in zip(before, after_eval):
        np.testing.assert_array_equal(a, b)
    assert any(not np.allclose(a, c) for a, c in zip(before, after_train))


GENERATORS = {
    "dcgan": (lambda k: DCGANGenerator(16, 3, 8, 4, num_classes=k), (N, 16, 16, 3), 8),
    "resnet": (lambda k: ResNetGenerator(16, 1, 8, 8, num_classes=k), (N, 16, 16, 1), 8),
    "mlp": (lambda k: MLPGenerator(8, hidden=(16, 16), num_classes=k), (N, 2), 8),
}


@pytest.mark.parametrize("num_classes", [0, K])
@pytest.mark.parametrize("arch", GENERATORS)
def test_generator_builds_and_conditions_on_labels(arch, num_classes):
    make, shape, latent = GENERATORS[arch]
    g = make(num_classes)
    z = jnp.linspace(-2, 2, N * latent).reshape(N, latent)
    y = _labels(num_classes)
    variables = g.init(_key(), z, y, train=False)

    def apply(v, z, y):
        return g.apply(v, z, y, train=True, mutable=["batch_stats"])[0]

    out = apply(variables, z, y)
    assert out.shape == shape and np.isfinite(np.asarray(out)).all()
    if arch != "mlp":
        assert float(jnp.abs(out).max()) <= 1.0  # tanh images
    if num_classes:
        if arch != "mlp":  # class-conditional BN starts as plain BN (gamma 1, beta 0): give classes their own
            params = jax.tree_util.tree_map_with_path(
                lambda p, a: a + jax.random.normal(_key(2), a.shape) * 0.1
                if "embedding" in jax.tree_util.keystr(p) else a, variables["params"])
            variables = {**variables, "params": params}
        other = apply(variables, z, (y + 1) % num_classes)
        assert np.abs(np.asarray(other) - np.asarray(apply(variables, z, y))).max() > 1e-4


def test_resnet_parameter_counts_at_sngan_cifar10_widths():
    # G (z 128, F = 256, 3 up-blocks, every conv with bias, BN scale + bias):
    #   fc_in 128·4096 + 4096                                         =   528,384
    #   per block: 2 BN 2·(2·256) + 2 conv3×3 2·(9·256·256 + 256)
    #              + shortcut 1×1 (256·256 + 256) = 1,024 + 1,180,160 + 65,792 = 1,246,976; × 3 = 3,740,928
    #   norm_out 2·256 + conv_out 9·256·3 + 3                         =     7,427
    #   total                                                         = 4,276,739
    # Conditional (10 classes): 7 BNs lose 2·256 affine params each and gain 2·10·256 embeddings:
    #   4,276,739 − 7·512 + 7·5,120                                   = 4,308,995
    # D (F = 128; optimized block, down block, 2 plain blocks at 8×8 with identity shortcuts):
    #   block1: conv3×3 3→128 (9·3·128 + 128 = 3,584) + conv3×3 128→128 (147,456 + 128 = 147,584)
    #           + shortcut 1×1 3→128 (384 + 128 = 512)                =   151,680
    #   block2: 2 · 147,584 + shortcut 128·128 + 128 = 16,512         =   311,680
    #   block3, block4: 2 · 147,584 each                              =   590,336
    #   fc_out 128 + 1                                                =       129
    #   total                                                         = 1,053,825; projection: + 10·128 = 1,055,105
    for num_classes, g_count, d_count in ((0, 4_276_739, 1_053_825), (10, 4_308_995, 1_055_105)):
        g, d = ResNetGenerator(32, 3, 128, 256, num_classes), ResNetDiscriminator(32, 3, 128, num_classes=num_classes)
        y = jnp.zeros((2,), jnp.int32) if num_classes else None
        gv = jax.eval_shape(lambda: g.init(jax.random.key(0), jnp.zeros((2, 128)), y, train=False))
        dv = jax.eval_shape(lambda: d.init(jax.random.key(0), jnp.zeros((2, 32, 32, 3)), y, train=False))
        assert _count(gv["params"]) == g_count
        assert _count(dv["params"]) == d_count
        assert jax.eval_shape(lambda v: g.apply(v, jnp.zeros((2, 128)), y, train=False), gv).shape == (2, 32, 32, 3)


def test_dcgan_discriminator_without_affine_norm_gets_biases():
    # 16×16, 1 channel, f = 4: conv0 16·1·4, conv1 16·4·8, conv2 16·8·1 kernels (+ 4, 8, 1 biases for
    # 'none' / 'spectral'; + BN 2·8 for 'batch', + instance / layer norm 2·8).
    kernels = 16 * 4 + 16 * 4 * 8 + 16 * 8
    expected = {"batch": kernels + 16, "instance": kernels + 16, "layer": kernels + 16,
                "none": kernels + 13, "spectral": kernels + 13}
    for norm, count in expected.items():
        d = DCGANDiscriminator(16, 1, 4, norm=norm)
        assert _count(jax.eval_shape(lambda: d.init(jax.random.key(0), jnp.zeros((2, 16, 16, 1)), train=False))
                      ["params"]) == count, norm


def test_architecture_errors():
    key, x16, x2 = jax.random.key(0), jnp.zeros((N, 16, 16, 1)), jnp.zeros((N, 2))
    with pytest.raises(ValueError, match="unknown normalization 'group'"):
        DCGANDiscriminator(16, 1, 4, norm="group").init(key, x16, train=False)
    with pytest.raises(ValueError, match="MLPDiscriminator: instance norm needs spatial axes"):
        MLPDiscriminator(norm="instance").init(key, x2, train=False)
    with pytest.raises(ValueError, match=r"class-conditional \(num_classes=3\) and needs labels"):
        ResNetDiscriminator(16, 1, 8, num_classes=3).init(key, x16, train=False)
    with pytest.raises(ValueError, match="DCGANGenerator is unconditional"):
        DCGANGenerator(16, 1, 8, 4).init(key, jnp.zeros((N, 8)), jnp.zeros(N, jnp.int32), train=False)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\), got values in \[0, 5\]"):
        MLPGenerator(8, num_classes=3).init(key, jnp.zeros((N, 8)), jnp.array([0, 1, 5, 2]), train=False)
    with pytest.raises(ValueError, match="image_size must be a power of two >= 16, got 8"):
        ResNetDiscriminator(8, 1, 8).init(key, jnp.zeros((N, 8, 8, 1)), train=False)
    with pytest.raises(ValueError, match=r"expects x of shape \[N, 2\], got \(4, 3\)"):
        MLPDiscriminator().init(key, jnp.zeros((N, 3)), train=False)
    with pytest.raises(ValueError, match="minibatch_discrimination must be >= 0"):
        MLPDiscriminator(minibatch_discrimination=-1).init(key, x2, train=False)
    with pytest.raises(ValueError, match="unknown activation 'gelu'"):
        MLPGenerator(8, activation="gelu").init(key, jnp.zeros((N, 8)), train=False)
    with pytest.raises(ValueError, match="hidden widths must be a non-empty sequence"):
        MLPDiscriminator(hidden=()).init(key, x2, train=False)
