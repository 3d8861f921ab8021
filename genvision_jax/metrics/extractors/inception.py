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

The network sees 2 * (v / 255) - 1 for pixel values v in 0..255 ([-1, 1] inputs as given), as in
pytorch-fid. Use the 'fid' variant with pytorch-fid's `pt_inception-2015-12-05-*.pth` for numbers
comparable with published FIDs.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
from PIL import Image

from genvision_jax.metrics.features import FEATURE_EXTRACTORS, FeatureExtractor, InputSpec
from genvision_jax.models.recognizers.inception_v3 import INPUT_SIZE, InceptionV3, check_variant
from genvision_jax.pretrained import inception_v3 as inception_weights
from genvision_jax.pretrained.state_dict import file_sha256

RESIZES = ("legacy", "clean")
OUTPUTS = ("pool3", "logits")


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

    `input_spec` describes the network input (299x299x3 in [-1, 1]). With resize='legacy' the
    jitted batch function resizes; with 'clean' `__call__` resizes each batch on the host first,
    and `apply_fn` / `batch_features` take 299x299 images.
    """

    def validate(self, images) -> np.ndarray:
        shape = tuple(np.shape(images))
        if len(shape) != 4 or shape[-1] != 3 or min(shape[1:3]) < 1:
            raise ValueError(f"{self.name} expects RGB images [N, H, W, 3] of any size (resized to "
                             f"{INPUT_SIZE}x{INPUT_SIZE}, '{self.resize}') in [-1, 1]; got shape "
                             f"{shape} (repeat gray images to 3 channels)")
        # The base class checks dtype and range against a spec of this batch's size.
        sized = dataclasses.replace(
            self, input_spec=dataclasses.replace(self.input_spec, height=shape[1], width=shape[2]))
        return FeatureExtractor.validate(sized, images)

    def __call__(self, images) -> np.ndarray:
        if self.resize != "clean":
            return super().__call__(images)
        x = self.validate(images)
        # Resize one batch at a time so at most one batch of 299x299 images is held on the host.
        parts = [super(InceptionFeatureExtractor, self).__call__(resize_clean(x[i:i + self.batch_size]))
                 for i in range(0, x.shape[0], self.batch_size)]
        return np.concatenate(parts) if parts else np.zeros((0, self.feature_dim), np.float32)


def load_inception_extractor(path, *, output: str = "pool3", resize: str = "legacy",
                             batch_size: int = 64, variant: str = "fid") -> FeatureExtractor:
    """InceptionV3 `output` ('pool3' [N, 2048] or 'logits' [N, 1008]) from a local weights file.

    path: pytorch-fid's `pt_inception-2015-12-05-*.pth` (variant 'fid'), torchvision's
    `inception_v3_google-*.pth` (variant 'torchvision'), or an .npz with the same keys.
    resize: 'legacy' (JAX bilinear, pytorch-fid) or 'clean' (host PIL bicubic, clean-fid).
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
        if images.shape[1:3] != (INPUT_SIZE, INPUT_SIZE):
            if clean:
                raise ValueError(f"with resize='clean' images are resized on the host in __call__; "
                                 f"the batch function takes {INPUT_SIZE}x{INPUT_SIZE} images, got "
                                 f"shape {tuple(images.shape)}")
            images = resize_legacy(images)
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
    """'inception:PATH[:legacy|clean]': InceptionV3 pool3 features (or logits) from a local weights file;
    resize default 'legacy', the TF / pytorch-fid protocol most published FIDs use."""
    path, resize = argument or "", "legacy"
    for mode in RESIZES:
        if path.endswith(f":{mode}"):
            path, resize = path[:-len(mode) - 1], mode
    if not path:
        raise ValueError("the inception extractor needs a local weights file: 'inception:PATH[:legacy|clean]' "
                         "(e.g. a pytorch-fid pt_inception-2015-12-05-*.pth or a converted .npz)")
    return load_inception_extractor(path, output="pool3" if output == "features" else "logits", resize=resize,
                                    batch_size=batch_size)
