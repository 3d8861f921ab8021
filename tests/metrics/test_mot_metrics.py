"""MOT metrics: parity with py-motmetrics 1.4 (CLEAR, Identity, MT/ML, combined sequences) on many generated
sequences and edge cases; HOTA against values computed by hand; input errors."""

import numpy as np
import pytest

from genvision_jax.metrics.mot import HOTA_ALPHAS, combine, evaluate_mot

# motmetrics 1.4 calls np.asfarray, which NumPy 2 removed.
if not hasattr(np, "asfarray"):
    np.asfarray = lambda a, dtype=float: np.asarray(a, dtype=dtype)
mm = pytest.importorskip("motmetrics")

PARITY = {  # our name -> (motmetrics name, transform of the motmetrics value)
    "mota": ("mota", None), "motp": ("motp", lambda v: 1.0 - v), "idf1": ("idf1", None), "idp": ("idp", None),
    "idr": ("idr", None), "idtp": ("idtp", None), "idfp": ("idfp", None), "idfn": ("idfn", None),
    "num_switches": ("num_switches", None), "num_false_positives": ("num_false_positives", None),
    "num_misses": ("num_misses", None), "num_fragmentations": ("num_fragmentations", None),
    "mostly_tracked": ("mostly_tracked", None), "partially_tracked": ("partially_tracked", None),
    "mostly_lost": ("mostly_lost", None), "num_objects": ("num_objects", None),
    "num_predictions": ("num_predictions", None), "num_matches": ("num_matches", None),
    "precision": ("precision", None), "recall": ("recall", None), "num_frames": ("num_frames", None),
    "num_unique_objects": ("num_unique_objects", None),
}


def motmetrics_accumulator(gt, hyp):
    """The accumulator py-motmetrics' MOTChallenge evaluation builds: IoU distance, max 0.5, every frame
    present in either file, rows in file order."""
    acc = mm.MOTAccumulator(auto_id=False)
    frames = sorted(set(gt[:, 0].astype(int)) | set(hyp[:, 0].astype(int)))
    for f in frames:
        g, h = gt[gt[:, 0] == f], hyp[hyp[:, 0] == f]
        dist = mm.distances.iou_matrix(g[:, 2:6], h[:, 2:6], max_iou=0.5)
        acc.update(g[:, 1].astype(int), h[:, 1].astype(int), dist, frameid=f)
    return acc


def motmetrics_values(gt, hyp):
    names = sorted({v[0] for v in PARITY.values()})
    return mm.metrics.create().compute(motmetrics_accumulator(gt, hyp), metrics=names, return_dataframe=False)


def assert_parity(ours, ref, tol=1e-9):
    for name, (ref_name, transform) in PARITY.items():
        expected = ref[ref_name] if transform is None else transform(ref[ref_name])
        got = ours[name]
        if np.isnan(expected):
            assert np.isnan(got), name
        else:
            assert abs(got - expected) <= tol, (name, got, expected)


def random_sequence(rng, n_frames=50, n_objects=8, drop=0.15, fp_rate=0.6, switch_p=0.04, swap_p=0.08,
                    empty_frames=()):
    """GT of objects moving in a 400x300 area, and hypotheses: jittered GT boxes that are sometimes
    dropped, sometimes change id, sometimes swap ids with another object, plus random false positives.
    Rows are shuffled within each frame (order matters to CLEAR's continuation rule)."""
    gt, hyp = [], []
    start = rng.uniform(0, 400, (n_objects, 2))
    vel = rng.normal(0, 3, (n_objects, 2))
    size = rng.uniform(20, 70, (n_objects, 2))
    life = np.sort(rng.integers(1, n_frames + 1, (n_objects, 2)), axis=1)
    hid = {o: 100 + o for o in range(n_objects)}
    next_h = 1000
    for f in range(1, n_frames + 1):
        if f in empty_frames:
            continue
        for o in rng.permutation(n_objects):
            if not life[o, 0] <= f <= life[o, 1]:
                continue
            p = start[o] + vel[o] * f
            gt.append([f, o + 1, *p, *size[o]])
            if rng.random() < switch_p:
                hid[o], next_h = next_h, next_h + 1
            if rng.random() > drop:
                hyp.append([f, hid[o], *(p + rng.normal(0, 5, 2)), *(size[o] * rng.uniform(0.8, 1.2, 2))])
        for _ in range(rng.poisson(fp_rate)):
            hyp.append([f, next_h, *rng.uniform(0, 400, 2), *rng.uniform(20, 70, 2)])
            next_h += 1
        if n_objects > 1 and rng.random() < swap_p:
            a, b = rng.choice(n_objects, 2, replace=False)
            hid[a], hid[b] = hid[b], hid[a]
    return np.asarray(gt, float).reshape(-1, 6), np.asarray(hyp, float).reshape(-1, 6)


@pytest.mark.parametrize("seed", range(25))
def test_parity_with_motmetrics_random_sequences(seed):
    rng = np.random.default_rng(seed)
    kwargs = dict(n_objects=int(rng.integers(1, 14)), n_frames=int(rng.integers(5, 60)),
                  drop=float(rng.uniform(0, 0.5)), switch_p=float(rng.uniform(0, 0.1)),
                  swap_p=float(rng.uniform(0, 0.2)), empty_frames=set(rng.integers(1, 40, 3).tolist()))
    gt, hyp = random_sequence(rng, **kwargs)
    assert_parity(evaluate_mot(gt, hyp), motmetrics_values(gt, hyp))


def test_parity_crowded_overlapping_boxes():
    # Boxes of many objects overlap each other, so matching has real choices to make.
    rng = np.random.default_rng(123)
    gt, hyp = random_sequence(rng, n_frames=40, n_objects=25, drop=0.2, fp_rate=3.0, swap_p=0.3)
    gt[:, 2:4] = gt[:, 2:4] * 0.25  # squeeze everything into a 100x75 area
    hyp[:, 2:4] = hyp[:, 2:4] * 0.25
    assert_parity(evaluate_mot(gt, hyp), motmetrics_values(gt, hyp))


def test_parity_edge_cases():
    rng = np.random.default_rng(7)
    gt, hyp = random_sequence(rng, n_frames=30, n_objects=5)
    # No hypotheses at all: everything missed.
    none = np.zeros((0, 6))
    ours = evaluate_mot(gt, none)
    assert_parity(ours, motmetrics_values(gt, none))
    assert ours["mota"] == 0.0 and ours["num_misses"] == len(gt) and ours["hota"] == 0.0
    # Hypotheses only in frames without ground truth, and ground-truth-free frames in between.
    late = hyp.copy()
    late[:, 0] += 100
    assert_parity(evaluate_mot(gt, late), motmetrics_values(gt, late))
    # Perfect tracking: MOTA = IDF1 = MOTP = HOTA = 1.
    perfect = evaluate_mot(gt, gt)
    assert_parity(perfect, motmetrics_values(gt, gt))
    for k in ("mota", "idf1", "motp", "hota", "deta", "assa", "loca"):
        assert perfect[k] == pytest.approx(1.0, abs=1e-12), k
    # All identities swapped at once half-way: each object switches once; IDF1 = 1/2.
    swapped = gt.copy()
    half = swapped[:, 0] > 15
    ids = np.unique(gt[:, 1])
    perm = dict(zip(ids, np.roll(ids, 1)))
    swapped[half, 1] = [perm[i] for i in swapped[half, 1]]
    ours = evaluate_mot(gt, swapped)
    assert_parity(ours, motmetrics_values(gt, swapped))
    assert ours["num_switches"] == len(np.intersect1d(gt[gt[:, 0] <= 15, 1], gt[half, 1]))
    # A single frame, a single box.
    one = np.array([[1, 1, 0, 0, 10, 10]], float)
    assert_parity(evaluate_mot(one, one), motmetrics_values(one, one))


def test_parity_combined_sequences():
    rng = np.random.default_rng(99)
    pairs = [random_sequence(rng, n_frames=int(rng.integers(10, 40))) for _ in range(4)]
    ours = combine([evaluate_mot(g, h) for g, h in pairs])
    accs = [motmetrics_accumulator(g, h) for g, h in pairs]
    names = sorted({v[0] for v in PARITY.values()})
    ref = mm.metrics.create().compute_many(accs, metrics=names, names=["a", "b", "c", "d"], generate_overall=True)
    assert_parity(ours, ref.loc["OVERALL"].to_dict())


def test_motmetrics_sees_pandas_frames():
    # The shim and the installed pandas work together: the event table has the expected event types.
    gt, hyp = random_sequence(np.random.default_rng(0), n_frames=5, n_objects=3)
    events = motmetrics_accumulator(gt, hyp).mot_events
    assert set(events["Type"].unique()) <= {"MATCH", "SWITCH", "MISS", "FP", "TRANSFER", "ASCEND", "MIGRATE"}
    assert (events["Type"] == "MATCH").sum() > 0


# ---------------------------------------------------------------------------------------------- HOTA


def test_hota_one_identity_split_in_two_tracks():
    # One object over 4 frames, tracked perfectly but as id 7 in frames 1-2 and id 8 in frames 3-4.
    # DetA = 1. Each TP pair (g, 7) and (g, 8) has 2 matches: Jaccard 2 / (4 + 2 - 2) = 1/2, so AssA = 1/2
    # and HOTA = sqrt(1/2) at every alpha; AssRe = 2/4, AssPr = 2/2.
    gt = np.array([[f, 1, 10, 10, 20, 40] for f in range(1, 5)], float)
    hyp = gt.copy()
    hyp[:, 1] = [7, 7, 8, 8]
    m = evaluate_mot(gt, hyp)
    assert m["deta"] == pytest.approx(1.0)
    assert m["assa"] == pytest.approx(0.5)
    assert m["hota"] == pytest.approx(np.sqrt(0.5))
    assert m["assre"] == pytest.approx(0.5) and m["asspr"] == pytest.approx(1.0)
    assert m["num_switches"] == 1 and m["idf1"] == pytest.approx(0.5)


def test_hota_localisation_threshold():
    # One frame, IoU 0.625 (a 10x10 box vs the same box cut to 10x6.25): matched for alpha <= 0.625,
    # i.e. 12 of the 19 alphas (0.05 ... 0.60); above, one FN and one FP. HOTA = DetA = AssA = 12/19.
    gt = np.array([[1, 1, 0, 0, 10, 10]], float)
    hyp = np.array([[1, 5, 0, 0, 10, 6.25]], float)
    m = evaluate_mot(gt, hyp)
    matched = int(np.sum(HOTA_ALPHAS <= 0.625))
    assert matched == 12
    assert m["hota"] == pytest.approx(matched / 19)
    assert m["deta"] == pytest.approx(matched / 19)
    assert m["loca0"] == pytest.approx(0.625)
    assert m["hota_per_alpha"]["deta"][11] == 1.0 and m["hota_per_alpha"]["deta"][12] == 0.0


def test_hota_false_positive_and_miss():
    # Frame 1: gt A matched exactly (id 3), plus a false positive far away. Frame 2: A missed.
    # TP = 1, FN = 1, FP = 1 at every alpha -> DetA = 1/3; AssA: pair (A, 3) matched once,
    # Jaccard 1 / (2 + 1 - 1) = 1/2 -> HOTA = sqrt(1/6); DetRe = 1/2, DetPr = 1/2.
    gt = np.array([[1, 1, 0, 0, 10, 10], [2, 1, 1, 0, 10, 10]], float)
    hyp = np.array([[1, 3, 0, 0, 10, 10], [1, 4, 100, 100, 10, 10]], float)
    m = evaluate_mot(gt, hyp)
    assert m["deta"] == pytest.approx(1 / 3)
    assert m["assa"] == pytest.approx(0.5)
    assert m["hota"] == pytest.approx(np.sqrt(1 / 6))
    assert m["detre"] == pytest.approx(0.5) and m["detpr"] == pytest.approx(0.5)


def test_hota_prefers_globally_aligned_identity():
    # Two hypotheses overlap the object equally in frame 3; the one that tracked it in frames 1-2 has
    # the larger alignment score and must be chosen, keeping AssA at 1 for that pair.
    gt = np.array([[f, 1, 0, 0, 10, 10] for f in (1, 2, 3)], float)
    hyp = np.array([[1, 5, 0, 0, 10, 10], [2, 5, 0, 0, 10, 10], [3, 5, 0, 0, 10, 10], [3, 6, 0, 0, 10, 10]], float)
    m = evaluate_mot(gt, hyp)
    # TP 3, FP 1 -> DetA 3/4; pair (1, 5): 3 matches, Jaccard 3 / (3 + 3 - 3) = 1 -> AssA 1.
    assert m["deta"] == pytest.approx(0.75) and m["assa"] == pytest.approx(1.0)


# -------------------------------------------------------------------------------------------- errors


def test_bad_inputs_are_named():
    good = np.array([[1, 1, 0, 0, 10, 10]], float)
    with pytest.raises(ValueError, match="id 1 appears more than once in frame 1"):
        evaluate_mot(np.concatenate([good, good]), good)
    with pytest.raises(ValueError, match=r"hypotheses: need rows \[N, >= 6\]"):
        evaluate_mot(good, np.zeros((2, 4)))
    with pytest.raises(ValueError, match="negative box width"):
        evaluate_mot(good, np.array([[1, 1, 0, 0, -1, 10]], float))
    with pytest.raises(ValueError, match="NaN"):
        evaluate_mot(np.array([[1, 1, np.nan, 0, 1, 1]]), good)
    with pytest.raises(ValueError, match="iou_threshold"):
        evaluate_mot(good, good, iou_threshold=0.0)
