"""The README tables are generated from the committed result JSON, and a test keeps them in step."""

import json

import pytest

from experiments import results


def test_every_readme_block_agrees_with_its_committed_json():
    assert results.check_readmes() == []


def test_readmes_have_generated_blocks_for_the_published_studies():
    published = {p.parent.parent.name for p in results.REPO.glob("experiments/*/results/*.json")}
    if any(results.REPO.glob("benchmarks/results/*.json")):
        published.add("benchmarks")  # the pseudo-study of benchmarks/README.md
    shown = {m["spec"].split(":")[0] for path in results.readme_files() for m in results.BLOCK.finditer(path.read_text())}
    assert published, "no study has committed results"
    assert published <= shown, f"published but never shown in a README: {sorted(published - shown)}"
    assert shown <= published, f"README blocks without committed results: {sorted(shown - published)}"


def _write_table(root, values_by_run):
    root.mkdir(parents=True)
    runs = [{"name": name, "encoding": name, "failed": [], "missing": [],
             "test_psnr": {"values": v, "n": len(v)}} for name, v in values_by_run.items()]
    table = {"metrics": ["test_psnr"], "rows": "encoding", "cols": "encoding", "digits": {"test_psnr": 2}}
    (root / "table.json").write_text(json.dumps({"table": table, "runs": runs}))


def test_renderers_use_the_sample_std(tmp_path):
    _write_table(tmp_path / "r", {"a": [1.0, 2.0, 3.0], "b": [5.0]})
    out = results.rows(tmp_path / "r", "test_psnr", labels="PSNR", key="encoding")
    assert "| a | 2.00 ± 1.00 |" in out          # ddof=1: population std would be 0.82
    assert "| b | 5.00 |" in out
    assert "sample std (ddof=1) over 3 seeds" in out
    assert results.inline(tmp_path / "r", "test_psnr") == "a 2.00, b 5.00"
    assert results.value(tmp_path / "r", "a", "test_psnr") == "2.00 ± 1.00"


def test_a_hand_edited_number_is_detected(tmp_path, monkeypatch):
    monkeypatch.setattr(results, "results_dir", lambda study: tmp_path / study)
    _write_table(tmp_path / "toy", {"a": [1.0, 2.0, 3.0]})
    text = "x <!-- results:toy:value:run=a,metric=test_psnr --><!-- /results --> y"
    rendered = results.render_readme(text)
    assert rendered == "x <!-- results:toy:value:run=a,metric=test_psnr -->2.00 ± 1.00<!-- /results --> y"
    assert results.render_readme(rendered) == rendered
    edited = rendered.replace("2.00", "2.10")
    assert results.render_readme(edited) != edited


def test_unknown_renderer_and_run_are_named(tmp_path, monkeypatch):
    monkeypatch.setattr(results, "results_dir", lambda study: tmp_path / study)
    _write_table(tmp_path / "toy", {"a": [1.0]})
    with pytest.raises(results.ConfigError, match="no renderer 'nope'"):
        results.render_block("toy:nope")
    with pytest.raises(results.InputError, match="no run 'zz'"):
        results.render_block("toy:value:run=zz,metric=test_psnr")


def test_per_seed_rows_machine_and_elapsed(tmp_path):
    _write_table(tmp_path / "r", {"a": [1.0, 2.0, 3.0]})
    out = results.metric_rows(tmp_path / "r", "a", "test_psnr", labels="PSNR", per_seed="1")
    assert "| PSNR | 2.00 ± 1.00 | 1.00, 2.00, 3.00 |" in out
    doc = json.loads((tmp_path / "r" / "table.json").read_text())
    doc.update(total_wall_time_s=600.0, sweep_elapsed={"seconds": 120.0, "workers": 2})
    (tmp_path / "r" / "table.json").write_text(json.dumps(doc))
    assert results.elapsed(tmp_path / "r") == ("1 runs, 10.0 min of summed run wall time (training and "
                                               "evaluation), 2.0 min elapsed with 2 worker process(es)")
    with pytest.raises(results.MissingInputError, match="no results.json with an environment"):
        results.machine(tmp_path / "r")
    env = {"cpu_model": "CPU X", "host_cpu_count": 2, "device_count": 1, "platform": "cpu",
           "packages": {"jax": "9.9"}, "git_commit": "0123456789abcdef"}
    (tmp_path / "r" / "runs").mkdir()
    for k in range(2):
        (tmp_path / "r" / "runs" / f"seed{k}.json").write_text(json.dumps({"environment": env}))
    assert results.machine(tmp_path / "r") == "CPU X (2 cores), 1 JAX cpu device(s), jax 9.9; code 0123456789ab"


def test_study_renderers_read_their_committed_json():
    from experiments.gan_mode_collapse.report import inline_cells
    from experiments.mot_trackers import report as mot

    table = json.loads((results.results_dir("gan_mode_collapse") / "table.json").read_text())
    cells = [r for r in table["runs"] if r["mixture"] == "ring8" and r["remedy"] == "none"]
    expected = ", ".join(f"{r['loss']} {sum(r['modes_covered']['values']) / len(r['modes_covered']['values']):.1f}"
                         for r in cells)
    assert inline_cells(results.results_dir("gan_mode_collapse"), "ring8", "none") == expected
    with pytest.raises(results.InputError, match="no run with mixture 'moon'"):
        inline_cells(results.results_dir("gan_mode_collapse"), "moon", "none")
    summary = json.loads((results.results_dir("mot_trackers") / "results.json").read_text())["metrics"]["summary"]
    hard = summary["hard"]["bytetrack"]
    assert mot.value(results.results_dir("mot_trackers"), "hard", "bytetrack", "low_score") == \
        f"{hard['low_score_recovered']:,} of {hard['low_score_total']:,}"
    assert mot.value(results.results_dir("mot_trackers"), "hard", "sort", "idf1") == f"{100 * summary['hard']['sort']['idf1']:.1f}"
    levels = [line.split(" | ")[0].strip("| ") for line in mot.table(results.results_dir("mot_trackers")).splitlines()[2:]
              if line.startswith("| ")]
    assert list(dict.fromkeys(levels)) == ["easy", "medium", "hard"]  # the config's order, not sorted
    with pytest.raises(results.InputError, match="no tracker 'nope'"):
        mot.value(results.results_dir("mot_trackers"), "hard", "nope", "idf1")
