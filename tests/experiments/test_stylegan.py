"""The StyleGAN trainer end to end at toy size: every evaluation it offers, resume, and the tools CLI on its
workdir and on a rosinality checkpoint; the studies' configs and sweeps."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from experiments import sweep
from experiments.app import build_config
from genvision_jax.tasks import stylegan_tools
from genvision_jax.tasks.stylegan_images import train_and_evaluate

REPO = Path(__file__).resolve().parents[2]
STUDIES = ("stylegan", "stylegan_configs", "truncation", "style_mixing", "noise_inputs", "ada_fewshot",
           "progressive_vs_skip")

# The tiny config at 32x32 (the domain extractor's size) with every final evaluation switched on, small.
EVAL_32 = {
    "dataset.image_size": "32", "eval.metrics": "('fid', 'prdc')", "eval.num_samples": "16", "eval.batch_size": "8",
    "eval.truncation_psis": "(0.0, 1.0)", "eval.noise_settings": "('0', 'fine_only')", "eval.mixing_eval": "True",
    "eval.mixing_pairs": "8", "eval.variation_latents": "8", "eval.variation_draws": "2",
    "eval.ppl_num_samples": "8", "eval.ppl_distance": "pixel", "num_steps": "2", "checkpoint_every": "2",
    # No R1 / path length: their second derivatives make most of the step's compile time, and the evaluations
    # do not depend on them (the lifecycle tests train with both).
    "stylegan.r1_gamma": "0", "stylegan.pl_weight": "0",
}


@pytest.fixture(scope="module")
def run_32(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("stylegan32")
    config = build_config(str(REPO / "experiments/stylegan/configs/default.py:tiny"), EVAL_32)
    return workdir, train_and_evaluate(config, str(workdir))


@pytest.mark.slow
def test_every_final_evaluation_is_reported_with_its_protocol(run_32):
    workdir, out = run_32
    m = out["metrics"]
    for key in ("fid_psi0", "fid_psi1", "fid_noise_0", "fid_noise_fine_only", "fid_mix_random", "fid_mix_k3",
                "precision_psi0", "ppl_w_end", "variation_std_noise_1", "variation_std_noise_0",
                "mixcons_coarse_yaw", "mixcons_fine_hair_color"):
        assert np.isfinite(m[key]), key
    assert m["variation_std_noise_0"] == 0.0 < m["variation_std_noise_1"]  # α = 0: no stochastic variation
    res = json.loads((workdir / "results.json").read_text())
    proto = res["protocol"]
    assert proto["ppl"]["epsilon"] == 1e-4 and proto["ppl"]["num_pairs"] == 8 and proto["ppl"]["space"] == "w"
    assert set(proto["attribute_probes"]["test_r2"]) >= {"yaw", "smile", "hair_color"}
    assert proto["mixing_consistency"]["groups"]["fine"] == [5, 8]
    assert Image.open(workdir / "stochastic_variation.png").size[0] > 100


@pytest.mark.slow
def test_tools_on_a_workdir(run_32, tmp_path):
    workdir, _ = run_32
    assert stylegan_tools.main(["generate", "--workdir", str(workdir), "--seeds", "0-2,5", "--trunc", "0.7",
                                "--out", str(tmp_path / "gen")]) == 0
    names = sorted(p.name for p in (tmp_path / "gen").iterdir())
    assert names == ["seed0000.png", "seed0001.png", "seed0002.png", "seed0005.png"]
    again = tmp_path / "again"
    stylegan_tools.main(["generate", "--workdir", str(workdir), "--seeds", "1", "--trunc", "0.7", "--out", str(again)])
    assert np.array_equal(np.asarray(Image.open(again / "seed0001.png")),  # const noise: a seed is one picture
                          np.asarray(Image.open(tmp_path / "gen" / "seed0001.png")))
    # ψ = 0 is w_avg for every seed: identical pictures.
    stylegan_tools.main(["generate", "--workdir", str(workdir), "--seeds", "3-4", "--trunc", "0", "--out",
                         str(tmp_path / "avg")])
    a, b = (np.asarray(Image.open(tmp_path / "avg" / f"seed000{s}.png")) for s in (3, 4))
    assert np.array_equal(a, b)
    assert stylegan_tools.main(["mix", "--workdir", str(workdir), "--rows", "0-1", "--cols", "2-4", "--styles",
                                "coarse", "--out", str(tmp_path / "mix.png")]) == 0
    w, h = Image.open(tmp_path / "mix.png").size
    assert (w, h) == (4 * 34 + 2, 3 * 34 + 2)  # (1 + 3 columns) x (1 + 2 rows) cells of 32 + 2 px
    assert stylegan_tools.main(["truncation", "--workdir", str(workdir), "--seeds", "0-1", "--psis", "0,1",
                                "--out", str(tmp_path / "trunc.png")]) == 0
    assert stylegan_tools.main(["interpolate", "--workdir", str(workdir), "--seeds", "0,1", "--space", "z",
                                "--frames", "3", "--out", str(tmp_path / "loop.gif")]) == 0
    assert Image.open(tmp_path / "loop.gif").n_frames == 6


def test_tools_on_a_rosinality_checkpoint_and_bad_input(tmp_path, capsys):
    from benchmarks.torch_stylegan2 import Generator

    torch.manual_seed(0)
    path = tmp_path / "g.pt"
    torch.save({"g_ema": Generator(16, 8, 2, 64, 8).state_dict(), "latent_avg": torch.zeros(8)}, path)
    assert stylegan_tools.main(["generate", "--checkpoint", str(path), "--seeds", "0-1", "--out",
                                str(tmp_path / "g")]) == 0
    assert Image.open(tmp_path / "g" / "seed0000.png").size == (16, 16)
    capsys.readouterr()
    assert stylegan_tools.main(["generate", "--checkpoint", str(tmp_path / "nope.pt"), "--seeds", "0",
                                "--out", str(tmp_path / "x")]) == 2
    assert "nope.pt" in capsys.readouterr().err
    assert stylegan_tools.main(["generate", "--checkpoint", str(path), "--seeds", "a-b", "--out", "x"]) == 2
    assert "--seeds 'a-b'" in capsys.readouterr().err
    assert stylegan_tools.main(["mix", "--checkpoint", str(path), "--rows", "0", "--cols", "1", "--styles", "0-9",
                                "--out", str(tmp_path / "m.png")]) == 2
    assert "layers must be within 0-5" in capsys.readouterr().err
    (tmp_path / "junk.pt").write_bytes(b"not torch")
    assert stylegan_tools.main(["generate", "--checkpoint", str(tmp_path / "junk.pt"), "--seeds", "0", "--out",
                                "x"]) == 2
    assert "junk.pt" in capsys.readouterr().err


@pytest.mark.parametrize("study", STUDIES)
def test_every_study_sweep_applies_to_its_config(study):
    path = REPO / "experiments" / study / "configs" / "default.py"
    _, module, _ = sweep.load_config_module(f"{path}:cpu")
    for variant in ("tiny", "cpu", "paper") if study != "stylegan" else ("tiny", "cpu", "paper_ffhq256"):
        base = module.get_config(variant)
        entries = module.get_sweep(variant if study != "stylegan" else "cpu")
        assert len({e["name"] for e in entries}) == len(entries) >= 1
        for e in entries:
            sweep.apply_overrides(base, e["overrides"])
    assert set(module.TABLE["metrics"])


def test_sweep_runs_each_entry_with_the_trainer_its_config_names(tmp_path, monkeypatch):
    """progressive_vs_skip's entries switch `trainer`: each run goes to its own family trainer (the trainers are
    replaced by recorders, so nothing trains)."""
    called = []

    def recorder(name):
        def train(config, workdir):
            called.append((name, config.trainer, Path(workdir).parent.name))
            raise FloatingPointError("recorded")  # tabulated as a failed run; the sweep goes on
        return train

    monkeypatch.setattr("genvision_jax.tasks.progan_images.train_and_evaluate", recorder("progan_images"))
    monkeypatch.setattr("genvision_jax.tasks.stylegan_images.train_and_evaluate", recorder("stylegan_images"))
    monkeypatch.chdir(REPO)
    sweep.run_sweep(str(REPO / "experiments/progressive_vs_skip/configs/default.py") + ":cpu", str(tmp_path),
                    seeds=[0])
    assert called == [("progan_images", "progan_images", "progan"),
                      ("stylegan_images", "stylegan_images", "stylegan2")]
