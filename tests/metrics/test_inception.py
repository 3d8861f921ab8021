"""InceptionV3: architecture parity with keras.applications (JAX backend), the resize protocols vs
torch / PIL, and the FeatureExtractor built from a weights file."""

import os
import re

os.environ.setdefault("KERAS_BACKEND", "jax")  # before keras is imported anywhere

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from flax import traverse_util  # noqa: E402
from PIL import Image  # noqa: E402

from genvision_jax.metrics.extractors.inception import (  # noqa: E402
    load_inception_extractor,
    resize_clean,
    resize_legacy,
)
from genvision_jax.models.recognizers.inception_v3 import InceptionV3  # noqa: E402
from genvision_jax.pretrained import inception_v3 as converter  # noqa: E402
from genvision_jax.pretrained.state_dict import file_sha256, torch_source  # noqa: E402

# Conv+BN units in the order keras.applications.InceptionV3 creates them (= torchvision's
# definition order), as (block, unit) names.
_BLOCK_UNITS = {
    "A": ["branch1x1", "branch5x5_1", "branch5x5_2", "branch3x3dbl_1", "branch3x3dbl_2",
          "branch3x3dbl_3", "branch_pool"],
    "B": ["branch3x3", "branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3"],
    "C": ["branch1x1", "branch7x7_1", "branch7x7_2", "branch7x7_3", "branch7x7dbl_1",
          "branch7x7dbl_2", "branch7x7dbl_3", "branch7x7dbl_4", "branch7x7dbl_5", "branch_pool"],
    "D": ["branch3x3_1", "branch3x3_2", "branch7x7x3_1", "branch7x7x3_2", "branch7x7x3_3",
          "branch7x7x3_4"],
    "E": ["branch1x1", "branch3x3_1", "branch3x3_2a", "branch3x3_2b", "branch3x3dbl_1",
          "branch3x3dbl_2", "branch3x3dbl_3a", "branch3x3dbl_3b", "branch_pool"],
}
_BLOCKS = [("Mixed_5b", "A"), ("Mixed_5c", "A"), ("Mixed_5d", "A"), ("Mixed_6a", "B"),
           ("Mixed_6b", "C"), ("Mixed_6c", "C"), ("Mixed_6d", "C"), ("Mixed_6e", "C"),
           ("Mixed_7a", "D"), ("Mixed_7b", "E"), ("Mixed_7c", "E")]
UNITS = ([(n,) for n in ["Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "Conv2d_3b_1x1",
                         "Conv2d_4a_3x3"]]
         + [(block, unit) for block, kind in _BLOCKS for unit in _BLOCK_UNITS[kind]])


def test_standard_variant_matches_keras_applications(monkeypatch):
    keras = pytest.importorskip("keras")
    assert keras.backend.backend() == "jax", "keras was imported before KERAS_BACKEND=jax was set"
    rng = np.random.default_rng(0)

    # Keras' default Glorot initialiser compiles one JAX program per kernel shape (~40 s for this
    # model); the same distribution drawn with numpy builds the model in ~3 s.
    def glorot_uniform(self, shape, dtype=None):
        receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
        limit = np.sqrt(6.0 / (shape[-2] * receptive + shape[-1] * receptive))
        return rng.uniform(-limit, limit, shape).astype("float32")

    monkeypatch.setattr(keras.initializers.GlorotUniform, "__call__", glorot_uniform)
    size = 107  # >= 75; every pool branch sees borders, Mixed_7c runs at 2x2
    ref = keras.applications.InceptionV3(weights=None, input_shape=(size, size, 3),
                                         classifier_activation=None)

    def creation_order(layer):
        match = re.search(r"_(\d+)$", layer.name)
        return int(match.group(1)) if match else 0

    convs = sorted((l for l in ref.layers if isinstance(l, keras.layers.Conv2D)), key=creation_order)
    bns = sorted((l for l in ref.layers if isinstance(l, keras.layers.BatchNormalization)),
                 key=creation_order)
    assert len(convs) == len(bns) == len(UNITS) == 94
    params, stats = {}, {}
    for unit, conv, bn in zip(UNITS, convs, bns):
        c = conv.get_weights()[0].shape[-1]
        # Keras' BN has no scale (gamma = 1); random beta and moving statistics make BN matter.
        bn.set_weights([rng.normal(0, 0.2, c), rng.normal(0, 0.2, c), rng.uniform(0.5, 1.5, c)])
        beta, mean, var = bn.get_weights()
        params[unit + ("conv", "kernel")] = conv.get_weights()[0]
        params[unit + ("bn", "scale")] = np.ones_like(beta)
        params[unit + ("bn", "bias")] = beta
        stats[unit + ("bn", "mean")], stats[unit + ("bn", "var")] = mean, var
    params[("fc", "kernel")], params[("fc", "bias")] = ref.get_layer("predictions").get_weights()
    variables = {"params": traverse_util.unflatten_dict(params),
                 "batch_stats": traverse_util.unflatten_dict(stats)}
    expected = converter.abstract_variables("standard")
    assert (jax.tree.map(lambda a: tuple(a.shape), variables)
            == jax.tree.map(lambda a: tuple(a.shape), expected))

    x = rng.uniform(-1, 1, (2, size, size, 3)).astype(np.float32)
    both = keras.Model(ref.input, [ref.get_layer("avg_pool").output, ref.output])
    ref_pool3, ref_logits = both.predict(x, verbose=0)
    ours = jax.jit(InceptionV3("standard").apply)(variables, x)
    assert np.abs(ref_pool3).max() > 0.1
    np.testing.assert_allclose(ours["pool3"], ref_pool3, atol=1e-4)
    np.testing.assert_allclose(ours["logits"], ref_logits, atol=1e-4)


@pytest.mark.parametrize("size", [32, 64, 480])  # up- and downsampling
def test_legacy_resize_matches_torch_bilinear(size):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(size).uniform(-1, 1, (2, size, size + 8, 3)).astype(np.float32)
    ours = np.asarray(jax.jit(resize_legacy)(x))
    ref = torch.nn.functional.interpolate(torch.from_numpy(x).permute(0, 3, 1, 2), size=(299, 299),
                                          mode="bilinear", align_corners=False)
    np.testing.assert_allclose(ours, ref.permute(0, 2, 3, 1).numpy(), atol=2e-6)


def test_clean_resize_matches_pil_bicubic_of_uint8_images():
    # A smooth image inside [30, 225]: PIL's uint8 path rounds (and would clip bicubic overshoot)
    # between its two passes, so only smooth content can be compared to the float path.
    rows, cols = np.meshgrid(np.linspace(0, 3, 40), np.linspace(0, 4, 56), indexing="ij")
    pixels = np.stack([127.5 + 95 * np.sin(rows + phase) * np.cos(cols - phase)
                       for phase in (0.0, 0.7, 1.9)], axis=-1)
    pixels = np.stack([pixels, pixels[::-1]]).round().astype(np.uint8)
    ours = resize_clean(pixels.astype(np.float32) / 127.5 - 1.0)
    assert ours.shape == (2, 299, 299, 3) and ours.min() >= -1.0 and ours.max() <= 1.0
    for image, out in zip(pixels, ours):
        # PIL's uint8 RGB path runs the same bicubic filter in fixed point, rounding per pass.
        pil = np.asarray(Image.fromarray(image).resize((299, 299), Image.Resampling.BICUBIC), np.float32)
        diff = np.abs((out + 1.0) * 127.5 - pil)
        assert diff.max() <= 1.5 and diff.mean() < 0.5
    # Downsampling is antialiased: a pixel-level checkerboard averages to grey, unlike bilinear.
    board = np.where(np.indices((640, 640)).sum(0) % 2 == 0, 1.0, -1.0).astype(np.float32)
    board = np.repeat(board[None, ..., None], 3, axis=-1)
    assert np.abs(resize_clean(board)[:, 8:-8, 8:-8]).max() < 1e-3
    assert np.abs(np.asarray(resize_legacy(board))).max() > 0.5


def _write_random_weights(path, seed=0):
    """A random FID-variant weights .npz in pytorch-fid's key names and torch layouts."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for path_, leaf in traverse_util.flatten_dict(converter.abstract_variables("fid")).items():
        shape, torch_shape = tuple(leaf.shape), tuple(leaf.shape)
        if path_[-1] == "kernel":  # torch layouts: conv [Cout, Cin, kh, kw], linear [out, in]
            torch_shape = (shape[3], shape[2], shape[0], shape[1]) if len(shape) == 4 else shape[::-1]
            value = rng.normal(0, np.sqrt(2.0 / np.prod(shape[:-1])), torch_shape)
        elif path_[-1] in ("scale", "var"):
            value = rng.uniform(0.5, 1.5, shape)
        else:
            value = rng.normal(0, 0.2, shape)
        arrays[torch_source(path_, shape)[0]] = value.astype(np.float32)
    np.savez(path, **arrays)


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("inception") / "fid_inception.npz"
    _write_random_weights(path)
    return path


def test_extractor_legacy_and_clean_resize(weights_file):
    path = weights_file
    images = np.random.default_rng(2).uniform(-1, 1, (3, 48, 40, 3)).astype(np.float32)
    legacy = load_inception_extractor(path, output="pool3", resize="legacy", batch_size=8)
    clean = load_inception_extractor(path, output="pool3", resize="clean", batch_size=8)
    feats_legacy, feats_clean = legacy(images), clean(images)
    assert feats_legacy.shape == feats_clean.shape == (3, 2048)

    # References: the network on explicitly resized images. The clean extractor passes 299x299
    # images through unchanged (PIL resizes to the same size as a copy), so it serves as the
    # network, with the program it already compiled; the network and the weight conversion have
    # their own parity tests.
    for ours, resized in ((feats_legacy, np.asarray(resize_legacy(images))),
                          (feats_clean, resize_clean(images))):
        expected = clean(resized)
        np.testing.assert_allclose(ours, expected, atol=1e-4 * np.abs(expected).max())
    assert np.abs(feats_legacy - feats_clean).max() > 1e-3 * np.abs(feats_clean).max()
    logits = load_inception_extractor(path, output="logits", resize="clean")
    assert logits.feature_dim == 1008 and legacy.feature_dim == 2048
    protocol = clean.protocol()
    assert protocol["resize"] == "clean" and legacy.protocol()["resize"] == "legacy"
    assert protocol["feature_extractor"] == "inception_v3_fid/pool3"
    assert logits.protocol()["feature_extractor"] == "inception_v3_fid/logits"
    assert protocol["weights_sha256"] == file_sha256(path)
    assert protocol["image_size"] == [299, 299]


@pytest.mark.parametrize("images, match", [
    (np.zeros((2, 32, 32, 2), np.float32), r"expects RGB \(or gray, repeated to RGB\) images \[N, H, W, 3\|1\]"),
    (np.zeros((2, 32, 32, 3), np.uint8), r"got dtype uint8"),
    (np.full((2, 32, 32, 3), 1.5, np.float32), r"got values in \[1.5, 1.5\]"),
])
def test_extractor_input_errors(weights_file, images, match):
    extractor = load_inception_extractor(weights_file)
    with pytest.raises(ValueError, match=match):
        extractor(images)


def test_load_inception_extractor_argument_errors(weights_file, tmp_path):
    path = weights_file
    with pytest.raises(ValueError, match=r"unknown resize 'bicubic'; valid: \['legacy', 'clean', 'tf1'\]"):
        load_inception_extractor(path, resize="bicubic")
    with pytest.raises(ValueError, match=r"unknown output 'pool2'"):
        load_inception_extractor(path, output="pool2")
    with pytest.raises(FileNotFoundError, match=r"weights file not found"):
        load_inception_extractor(tmp_path / "missing.pth")
    with pytest.raises(ValueError, match=r"InceptionV3 expects RGB images .* H, W >= 75"):
        InceptionV3().init(jax.random.key(0), np.zeros((1, 64, 64, 3), np.float32))
