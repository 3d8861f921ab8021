"""PSNR / SSIM / MS-SSIM: parity with skimage.metrics and scipy references, protocol options, errors."""

import jax
import numpy as np
import pytest
from scipy import ndimage
from skimage import data as skdata
from skimage import metrics as skm

from genvision_jax.metrics.image import ms_ssim, psnr, rgb_to_y, ssim

TOL = 1e-4


def _sk_ssim(a, b, data_range):
    kw = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=data_range)
    if a.ndim == 3 and a.shape[-1] > 1:
        return skm.structural_similarity(a, b, channel_axis=-1, **kw)
    return skm.structural_similarity(a.squeeze(-1) if a.ndim == 3 else a,
                                     b.squeeze(-1) if b.ndim == 3 else b, **kw)


def _degrade(image, rng, noise, blur, data_range=1.0):
    out = ndimage.gaussian_filter(image, sigma=(blur, blur, 0)) if blur else image
    return np.clip(out + rng.normal(0, noise * data_range, image.shape), 0, data_range)


def _real_pairs():
    """(reference, distorted) pairs from images that ship with scikit-image, float64 in [0, 1]."""
    rng = np.random.default_rng(7)
    astronaut = skdata.astronaut()[:256, :320].astype(np.float64) / 255
    coffee = skdata.coffee()[:256, :320].astype(np.float64) / 255
    camera = skdata.camera()[:256, :320, None].astype(np.float64) / 255
    rgb = np.stack([astronaut, coffee])
    rgb_d = np.stack([_degrade(astronaut, rng, 0.03, 1.0), _degrade(coffee, rng, 0.08, 0.0)])
    return (rgb, rgb_d), (camera[None], _degrade(camera, rng, 0.05, 0.7)[None])


@pytest.mark.parametrize("data_range", [1.0, 255.0])
@pytest.mark.parametrize("channels", [1, 3])
def test_psnr_ssim_match_skimage_on_random_images(data_range, channels):
    rng = np.random.default_rng(channels)
    x = rng.uniform(0, data_range, size=(3, 40, 48, channels))
    y = np.clip(x + rng.normal(0, 0.1 * data_range, x.shape), 0, data_range)
    y[2] = x[2] * 0.5 + 0.25 * data_range  # a contrast change, not only noise
    ours_p = np.asarray(psnr(x, y, data_range=data_range))
    ours_s = np.asarray(ssim(x, y, data_range=data_range))
    assert ours_p.shape == ours_s.shape == (3,)
    for i in range(3):
        assert ours_p[i] == pytest.approx(skm.peak_signal_noise_ratio(x[i], y[i], data_range=data_range),
                                          abs=TOL)
        assert ours_s[i] == pytest.approx(_sk_ssim(x[i], y[i], data_range), abs=TOL)


def test_psnr_ssim_match_skimage_on_real_images():
    for x, y in _real_pairs():
        ours_p, ours_s = np.asarray(psnr(x, y)), np.asarray(ssim(x, y))
        for i in range(len(x)):
            assert ours_p[i] == pytest.approx(skm.peak_signal_noise_ratio(x[i], y[i], data_range=1.0),
                                              abs=TOL)
            assert ours_s[i] == pytest.approx(_sk_ssim(x[i], y[i], 1.0), abs=TOL)
        assert 0.2 < ours_s.min() and ours_s.max() < 0.999  # distortions are visible, not total


def _bt601_y_255(rgb_255):
    """MATLAB rgb2ycbcr luma of 0..255 RGB (ITU-R BT.601 studio swing): 16 + (65.481 R' + ...)."""
    r, g, b = (rgb_255[..., i] / 255.0 for i in range(3))
    return 16.0 + 65.481 * r + 128.553 * g + 24.966 * b


@pytest.mark.parametrize("crop_border", [0, 4])
def test_crop_border_and_y_channel_match_reference(crop_border):
    (x, y), _ = _real_pairs()
    x255, y255 = x * 255.0, y * 255.0
    sl = slice(crop_border, -crop_border) if crop_border else slice(None)
    for test_y in (False, True):
        ours_p = np.asarray(psnr(x255, y255, data_range=255.0, crop_border=crop_border,
                                 test_y_channel=test_y))
        ours_s = np.asarray(ssim(x255, y255, data_range=255.0, crop_border=crop_border,
                                 test_y_channel=test_y))
        for i in range(len(x)):
            a, b = x255[i, sl, sl], y255[i, sl, sl]
            if test_y:
                a, b = _bt601_y_255(a), _bt601_y_255(b)
            assert ours_p[i] == pytest.approx(skm.peak_signal_noise_ratio(a, b, data_range=255.0),
                                              abs=TOL)
            assert ours_s[i] == pytest.approx(_sk_ssim(a, b, 255.0), abs=TOL)
    # The options change the number (else the parity above would not test them).
    assert abs(float(psnr(x, y, test_y_channel=True)[0]) - float(psnr(x, y)[0])) > 0.1
    assert abs(float(ssim(x, y, crop_border=32)[0]) - float(ssim(x, y)[0])) > 1e-3


def test_rgb_to_y_endpoints_and_weights():
    rgb = np.array([[0, 0, 0], [1, 1, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1]], np.float32)
    y = np.asarray(rgb_to_y(rgb))[:, 0] * 255
    np.testing.assert_allclose(y, [16, 235, 16 + 65.481, 16 + 128.553, 16 + 24.966], atol=1e-4)
    np.testing.assert_allclose(np.asarray(rgb_to_y(rgb * 255, data_range=255.0))[:, 0], y, atol=1e-3)


def _ms_ssim_reference(x, y, weights=(0.0448, 0.2856, 0.3001, 0.2363, 0.1333)):
    """Independent MS-SSIM of one HWC float64 image pair in [0, 1]: scipy Gaussian filtering
    (truncated at 5 taps each side, as skimage does), valid region, 2x2 block means."""
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    per_channel = []
    for ch in range(x.shape[-1]):
        a, b, result = x[..., ch], y[..., ch], 1.0
        for j, w in enumerate(weights):
            f = lambda v: ndimage.gaussian_filter(v, 1.5, truncate=3.5, mode="reflect")[5:-5, 5:-5]
            mu_a, mu_b = f(a), f(b)
            va, vb, cov = f(a * a) - mu_a ** 2, f(b * b) - mu_b ** 2, f(a * b) - mu_a * mu_b
            cs = (2 * cov + c2) / (va + vb + c2)
            lum = (2 * mu_a * mu_b + c1) / (mu_a ** 2 + mu_b ** 2 + c1)
            value = (lum * cs).mean() if j == len(weights) - 1 else cs.mean()
            result *= max(value, 0.0) ** w
            h, wd = a.shape[0] // 2 * 2, a.shape[1] // 2 * 2
            a = a[:h, :wd].reshape(h // 2, 2, wd // 2, 2).mean((1, 3))
            b = b[:h, :wd].reshape(h // 2, 2, wd // 2, 2).mean((1, 3))
        per_channel.append(result)
    return float(np.mean(per_channel))


def test_ms_ssim_matches_reference_identity_and_degrades_monotonically():
    rng = np.random.default_rng(3)
    ref = skdata.astronaut()[:200, :240].astype(np.float64) / 255  # 200 -> 100 -> 50 -> 25 -> 12
    noisy = [_degrade(ref, rng, s, 0.0) for s in (0.02, 0.05, 0.1, 0.2)]
    batch_x = np.stack([ref] * 5)
    batch_y = np.stack([ref] + noisy)
    ours = np.asarray(ms_ssim(batch_x, batch_y))
    assert ours[0] == pytest.approx(1.0, abs=1e-6)
    assert np.all(np.diff(ours) < 0), ours
    for i in range(1, 5):
        assert ours[i] == pytest.approx(_ms_ssim_reference(batch_x[i], batch_y[i]), abs=TOL)
    # One scale with weight 1 is SSIM itself.
    np.testing.assert_allclose(np.asarray(ms_ssim(batch_x, batch_y, weights=(1.0,))),
                               np.asarray(ssim(batch_x, batch_y)), atol=1e-6)


def test_metrics_are_jittable_and_psnr_of_equal_images_is_inf():
    rng = np.random.default_rng(5)
    x = rng.uniform(0, 1, (2, 32, 32, 3)).astype(np.float32)
    y = np.clip(x + rng.normal(0, 0.05, x.shape), 0, 1).astype(np.float32)
    jitted = jax.jit(lambda a, b: (psnr(a, b, crop_border=2, test_y_channel=True),
                                   ssim(a, b, crop_border=2, test_y_channel=True)))
    jp, js = jitted(x, y)
    np.testing.assert_allclose(jp, psnr(x, y, crop_border=2, test_y_channel=True), rtol=1e-6)
    np.testing.assert_allclose(js, ssim(x, y, crop_border=2, test_y_channel=True), rtol=1e-6)
    assert np.isinf(np.asarray(psnr(x, x))).all()
    np.testing.assert_allclose(np.asarray(ssim(x, x)), 1.0, atol=1e-6)


@pytest.mark.parametrize("call, match", [
    (lambda x: psnr(x, x[:, :-1]), r"psnr: x and y must have the same shape"),
    (lambda x: ssim(x[0], x[0]), r"ssim: x must be a batch of images \[N, H, W, C\]"),
    (lambda x: psnr((x * 255).astype(np.uint8), x), r"psnr: x must be floating point; got dtype uint8"),
    (lambda x: psnr(x * 255, x * 255), r"values span \[0\.\d+, 25\d\.?\d*\], wider than data_range=1"),
    (lambda x: ssim(x - 0.5, x - 0.5, test_y_channel=True),
     r"test_y_channel needs RGB values in \[0, data_range=1\]"),
    (lambda x: psnr(x[..., :1], x[..., :1], test_y_channel=True), r"test_y_channel needs RGB images"),
    (lambda x: ssim(x, x, crop_border=12), r"smaller than the 11 pixels"),
    (lambda x: ssim(x, x, win_size=10), r"win_size must be a positive odd int"),
    (lambda x: ms_ssim(x, x), r"ms_ssim: images of 32x32 .* smaller than the 176 pixels"),
    (lambda x: psnr(x, x, data_range=0), r"data_range must be positive"),
    (lambda x: psnr(x, x, crop_border=-1), r"crop_border must be a non-negative int"),
    (lambda x: psnr(np.where(x > 0.5, np.nan, x), x), r"NaN or Inf"),
])
def test_bad_inputs_raise_clear_errors(call, match):
    x = np.random.default_rng(0).uniform(0, 1, (2, 32, 32, 3)).astype(np.float32)
    with pytest.raises(ValueError, match=match):
        call(x)
