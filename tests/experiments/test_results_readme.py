"""The README tables are generated from the committed result JSON, and a test keeps them in step."""

import json

import pytest

from experiments import results


def test_every_readme_block_agrees_with_its_committed_json():
    assert results.check_readmes() == []


def test_readmes_have_generated_blocks_for_the_published_studies():
    published = {p.parent.parent.name for p in results.REPO.glob("experiments/*/results/*.json")}
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
