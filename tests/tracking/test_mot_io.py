"""MOTChallenge files and the two CLIs: round trips, malformed files, run -> evaluate on a written sequence."""

import json

import numpy as np
import pytest

from genvision_jax.data import mot_synthetic as synth
from genvision_jax.metrics.mot import evaluate_mot
from genvision_jax.tasks.tracking import evaluate as evaluate_cli
from genvision_jax.tasks.tracking import run as run_cli
from genvision_jax.tracking.mot_io import MOTTable, read_mot, read_seqinfo, write_mot, write_seqinfo


def table(n=12, features=None):
    rng = np.random.default_rng(0)
    return MOTTable.from_columns(rng.integers(1, 5, n), rng.integers(1, 9, n), rng.uniform(0, 100, (n, 4)),
                                 rng.uniform(0, 1, n), np.ones(n), rng.uniform(0, 1, n), features)


@pytest.mark.parametrize("kind", ["gt", "det", "result"])
def test_round_trip(tmp_path, kind):
    t = table(features=np.random.default_rng(1).normal(size=(12, 5)) if kind == "det" else None)
    back = read_mot(write_mot(tmp_path / f"{kind}.txt", t, kind=kind))
    np.testing.assert_array_equal(back.frame, t.frame)
    np.testing.assert_allclose(back.tlwh, t.tlwh, rtol=1e-9)
    np.testing.assert_allclose(back.conf, t.conf, rtol=1e-9)
    if kind == "det":
        assert np.all(back.id == -1)
        np.testing.assert_allclose(back.features, t.features, rtol=1e-6)
    else:
        np.testing.assert_array_equal(back.id, t.id)
    if kind == "gt":
        np.testing.assert_allclose(back.vis, t.vis, rtol=1e-9)
    npy = tmp_path / "det.npy"  # DeepSORT's precomputed-detection layout
    np.save(npy, np.column_stack([t.frame, t.id, t.tlwh, t.conf, -np.ones((12, 3)), np.ones((12, 2))]))
    assert read_mot(npy).features.shape == (12, 2)


def test_whitespace_empty_and_malformed_files(tmp_path):
    p = tmp_path / "ws.txt"
    p.write_text("1 3 10 20 30 40 0.5\n2 3 11 21 30 40 0.6\n")
    t = read_mot(p)
    assert t.frame.tolist() == [1, 2] and t.conf.tolist() == [0.5, 0.6] and t.features is None
    (tmp_path / "empty.txt").write_text("")
    assert len(read_mot(tmp_path / "empty.txt")) == 0
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        read_mot(tmp_path / "missing.txt")
    bad = {"cols.txt": "1,2,3,4,5\n", "frac.txt": "1.5,2,3,4,5,6\n", "neg.txt": "1,2,3,4,-5,6\n",
           "text.txt": "1,2,a,4,5,6\n"}
    messages = {"cols.txt": "at least 6 columns", "frac.txt": "integers", "neg.txt": "negative box width",
                "text.txt": "not a MOTChallenge file"}
    for name, content in bad.items():
        (tmp_path / name).write_text(content)
        with pytest.raises(ValueError, match=messages[name]):
            read_mot(tmp_path / name)


def test_seqinfo_round_trip(tmp_path):
    write_seqinfo(tmp_path / "seq", "seq", 120, 640, 480, frame_rate=25)
    info = read_seqinfo(tmp_path / "seq")
    assert info == {"name": "seq", "imDir": "img1", "frameRate": 25, "seqLength": 120, "imWidth": 640,
                    "imHeight": 480, "imExt": ".png"}
    with pytest.raises(FileNotFoundError, match="seqinfo.ini"):
        read_seqinfo(tmp_path)


@pytest.fixture(scope="module")
def sequence_dir(tmp_path_factory):
    seq = synth.make_sequence(synth.level_config("medium", 160, 120, num_frames=40), seed=3)
    return seq, synth.write_mot_sequence(seq, tmp_path_factory.mktemp("mot"), images=True)


def test_run_then_evaluate_cli(sequence_dir, tmp_path, capsys):
    seq, d = sequence_dir
    for tracker in ("sort", "bytetrack"):
        out = tmp_path / f"{tracker}.txt"
        assert run_cli.main(["--tracker", tracker, "--detections", str(d / "det" / "det.txt"), "--out", str(out),
                             "--frames", str(d / "img1")] + (["--param", "min_score=0.5"] if tracker == "sort"
                                                             else [])) == 0
        assert f"{tracker}: 40 frames" in capsys.readouterr().out
        assert evaluate_cli.main([str(d / "gt" / "gt.txt"), str(out), "--json"]) == 0
        printed = json.loads(capsys.readouterr().out)["sequences"][str(out)]
        expected = evaluate_mot(seq.gt, read_mot(out))
        for k in ("mota", "idf1", "hota", "num_switches"):
            assert printed[k] == pytest.approx(expected[k], abs=1e-12)
    # Two sequences at once: a table with an overall row.
    assert evaluate_cli.main([str(d / "gt" / "gt.txt"), str(tmp_path / "sort.txt"), str(d / "gt" / "gt.txt"),
                              str(tmp_path / "bytetrack.txt")]) == 0
    assert "OVERALL" in capsys.readouterr().out


def test_evaluate_drops_ignored_ground_truth(tmp_path, capsys):
    gt = tmp_path / "gt.txt"
    gt.write_text("1,1,0,0,10,10,1,1,1\n1,2,50,50,10,10,0,1,1\n")  # the second box is marked ignore
    res = tmp_path / "res.txt"
    res.write_text("1,7,0,0,10,10,0.9,-1,-1,-1\n")
    assert evaluate_cli.main([str(gt), str(res), "--json"]) == 0
    m = json.loads(capsys.readouterr().out)["sequences"][str(res)]
    assert m["num_objects"] == 1 and m["mota"] == 1.0


def test_deepsort_cli_with_features_or_reid_weights(sequence_dir, tmp_path, capsys):
    seq, d = sequence_dir
    out = tmp_path / "ds.txt"
    # No features, no weights: a clear error.
    assert run_cli.main(["--tracker", "deepsort", "--detections", str(d / "det" / "det.txt"), "--out", str(out)]) == 2
    assert "deepsort needs appearance features" in capsys.readouterr().err
    # Features in the detection file (identity one-hot, as an oracle ReID would give).
    det = read_mot(d / "det" / "det.txt")
    det.features = np.eye(64, dtype=np.float32)[np.where(seq.det_gt_id >= 0, seq.det_gt_id % 64, 63)]
    write_mot(tmp_path / "det_feat.txt", det, kind="det")
    assert run_cli.main(["--tracker", "deepsort", "--detections", str(tmp_path / "det_feat.txt"), "--out",
                         str(out)]) == 0
    assert evaluate_mot(seq.gt, read_mot(out))["idf1"] > 0.3
    # ReID weights + frames: features computed from the images.
    import jax

    from genvision_jax.models.recognizers import reid

    model = reid.ReIDNet(widths=(8, 8, 8, 8), embedding_dim=8)
    params = reid.init_params(model, reid.CROP_HW, jax.random.key(0))
    weights = reid.save_reid(tmp_path / "reid.msgpack", params, model, reid.CROP_HW)
    assert run_cli.main(["--tracker", "deepsort", "--detections", str(d / "det" / "det.txt"), "--out", str(out),
                         "--frames", str(d / "img1"), "--reid_weights", str(weights)]) == 0
    assert len(read_mot(out)) > 0
    assert run_cli.main(["--tracker", "sort", "--detections", str(d / "det" / "det.txt"), "--out", str(out),
                         "--param", "bogus"]) == 2
    assert "key=value" in capsys.readouterr().err
