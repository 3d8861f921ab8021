"""get_source: catalog loader, errors, data dir, and preparation under a lock."""

import os
import pickle
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow_datasets as tfds

from genvision_jax.data import get_source, sources
from genvision_jax.errors import ConfigError
from genvision_jax.data.datasets import mixture2d


class GvTinyCatalog(sources.LocalCodePath, tfds.core.GeneratorBasedBuilder):
    """A catalog-like dataset (PNG `Image`, `ClassLabel`, `Text` id, as cifar10 has)."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds.features.FeaturesDict({
                "id": tfds.features.Text(),
                "image": tfds.features.Image(shape=(4, 4, 3)),
                "label": tfds.features.ClassLabel(names=["a", "b", "c"]),
            }),
            disable_shuffling=True,
        )

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples("train", 10),
                "test": self._generate_examples("test", 4)}

    def _generate_examples(self, split, num):
        import io  # pylint: disable=g-import-not-at-top
        from PIL import Image  # pylint: disable=g-import-not-at-top
        for i in range(num):
            png = io.BytesIO()
            Image.fromarray(np.full((4, 4, 3), 10 * i, np.uint8)).save(png, format="png")
            yield i, {"id": f"{split}_{i}", "image": png.getvalue(), "label": i % 3}


@pytest.fixture(scope="module")
def catalog_dir(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("catalog"))
    GvTinyCatalog(data_dir=directory, file_format="array_record").download_and_prepare()
    return directory


def test_catalog_dataset_reads(catalog_dir):
    source = get_source("tfds:gv_tiny_catalog", "train", data_dir=catalog_dir)
    assert len(source) == 10 and source.name == "gv_tiny_catalog/1.0.0"
    record = source[7]
    assert record["image"].shape == (4, 4, 3) and record["image"].dtype == np.uint8
    assert np.all(record["image"] == 70)
    assert record["label"] == 1 and record["label"].dtype == np.int64
    assert record["id"] == b"train_7"
    assert len(get_source("tfds:gv_tiny_catalog", "test", data_dir=catalog_dir)) == 4


def test_catalog_wrong_split_and_config(catalog_dir):
    with pytest.raises(ValueError, match=r"'validation'.*\['test', 'train'\]"):
        get_source("tfds:gv_tiny_catalog", "validation", data_dir=catalog_dir)
    with pytest.raises(ConfigError, match="image_size"):
        get_source("tfds:gv_tiny_catalog", "train", data_dir=catalog_dir, image_size=32)


def test_missing_catalog_dataset_error_names_dataset_and_dirs(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError) as error:
        get_source("tfds:mnist", "train", data_dir=str(tmp_path))
    message = str(error.value)
    assert "'mnist'" in message and str(tmp_path) in message
    assert f"tfds build mnist --data_dir {tmp_path} --file_format=array_record" in message
    with pytest.raises(FileNotFoundError, match="'no_such_dataset'"):
        get_source("tfds:no_such_dataset", "train", data_dir=str(tmp_path))
    # Without data_dir both the genvision and the TFDS default directories are searched.
    monkeypatch.setattr(tfds.core.constants, "DATA_DIR", str(tmp_path / "tfds_default"))
    with pytest.raises(FileNotFoundError) as error:
        get_source("tfds:mnist", "train")
    assert sources.default_data_dir() in str(error.value)
    assert str(tmp_path / "tfds_default") in str(error.value)


def test_unknown_name_split_and_config_errors(tmp_path):
    with pytest.raises(ValueError, match=r"'digitz'.*\['digits', 'mixture2d', 'shapes', 'synthetic_faces', 'synthetic_scenes'\].*tfds:"):
        get_source("digitz", "train", data_dir=str(tmp_path))
    with pytest.raises(ValueError, match=r"'valid'.*\['test', 'train'\]"):
        get_source("digits", "valid", data_dir=str(tmp_path))
    with pytest.raises(ConfigError, match=r"\['size'\].*\['image_size'\]"):
        get_source("digits", "train", data_dir=str(tmp_path), size=32)
    with pytest.raises(ValueError, match=r"image_size=64.*\[8, 16, 32\]"):
        get_source("digits", "train", data_dir=str(tmp_path), image_size=64)
    assert not os.listdir(tmp_path)  # Errors come before any generation.


def test_default_data_dir(monkeypatch):
    monkeypatch.setenv(sources.DATA_DIR_ENV, "/some/where")
    assert sources.default_data_dir() == "/some/where"
    monkeypatch.delenv(sources.DATA_DIR_ENV)
    assert sources.default_data_dir() == os.path.expanduser(
        "~/.cache/genvision_jax/tensorflow_datasets")


def test_split_slicing_and_pickling(data_dir):
    full = get_source("digits", "train", data_dir=data_dir, image_size=8)
    part = get_source("digits", "train[10:20]+test[:5]", data_dir=data_dir, image_size=8)
    assert len(part) == 15 and part[0]["index"] == full[10]["index"]
    assert part[-6]["index"] == full[19]["index"]
    with pytest.raises(IndexError):
        part[15]  # pylint: disable=pointless-statement
    clone = pickle.loads(pickle.dumps(part))
    assert np.array_equal(clone[3]["image"], part[3]["image"])


_PREPARE_SCRIPT = """
import hashlib, sys
import numpy as np
from genvision_jax.data import get_source
source = get_source("mixture2d", "train", data_dir=sys.argv[1], num_train=2000, num_test=100)
points = np.stack([r["point"] for r in source.__getitems__(range(len(source)))])
print(hashlib.sha256(points.tobytes()).hexdigest())
"""


def test_concurrent_preparation_is_serialized(tmp_path):
    data_dir = str(tmp_path)
    builder = mixture2d.make_builder(data_dir, num_train=2000, num_test=100)
    with sources._exclusive_lock(sources._lock_path(builder)):  # pylint: disable=protected-access
        procs = [subprocess.Popen([sys.executable, "-c", _PREPARE_SCRIPT, data_dir],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
        time.sleep(3.0)  # They start, then wait for the lock we hold.
        assert all(p.poll() is None for p in procs)
        assert not os.path.exists(builder.data_path)
    outputs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err[-2000:] for _, err in outputs]
    assert len({out.strip().splitlines()[-1] for out, _ in outputs}) == 1  # Same points.
    # Exactly one generated (TFDS prints this to stdout); the other waited and read.
    assert sum("Downloading and preparing" in out for out, _ in outputs) == 1
    assert os.listdir(os.path.dirname(builder.data_path)) == ["1.0.0"]  # No incomplete.* left.


def test_leftover_of_killed_preparation_is_removed(tmp_path):
    config_dir = tmp_path / "mixture2d" / "ring8_train500_test50"
    stale = config_dir / "incomplete.ABC123_1.0.0"
    stale.mkdir(parents=True)
    (stale / "mixture2d-train.array_record-00000-of-00001").write_bytes(b"half written")
    source = get_source("mixture2d", "train", data_dir=str(tmp_path), num_train=500, num_test=50)
    assert len(source) == 500
    assert sorted(os.listdir(config_dir)) == ["1.0.0"]


def test_failed_preparation_leaves_nothing_that_looks_complete(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("generation failed")

    monkeypatch.setattr(mixture2d, "sample", broken)
    with pytest.raises(RuntimeError, match="generation failed"):
        get_source("mixture2d", "train", data_dir=str(tmp_path), num_train=500, num_test=50)
    config_dir = tmp_path / "mixture2d" / "ring8_train500_test50"
    assert not config_dir.exists() or not os.listdir(config_dir)
    monkeypatch.undo()
    assert len(get_source("mixture2d", "test", data_dir=str(tmp_path), num_train=500,
                          num_test=50)) == 50
