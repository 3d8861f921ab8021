"""make_pipeline: seeding, per-epoch shuffles, per-process slices, exact resume, augmentation."""

import json

import numpy as np
import pytest

from genvision_jax.data import get_source, make_pipeline
from genvision_jax.data import transforms as T


def _source(n):
    """Records with an id and a 2x3 single-channel image unique to the id and not mirror-symmetric."""
    base = np.array([[0, 1, 2], [3, 4, 5]], np.uint8)[..., None]
    return [{"id": np.int64(i), "image": base + np.uint8(6 * (i % 40))} for i in range(n)]


def _ids(iterator, num_batches):
    return np.concatenate([next(iterator)["id"] for _ in range(num_batches)])


def _pipe(source, **kwargs):
    kwargs = {"batch_size": 8, "seed": 0, "process_index": 0, "process_count": 1, **kwargs}
    return make_pipeline(source, **kwargs)


def test_same_seed_same_batches_other_seed_differs():
    source = _source(40)
    a, b, c = _ids(_pipe(source), 10), _ids(_pipe(source), 10), _ids(_pipe(source, seed=1), 10)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_each_epoch_is_a_new_permutation():
    ids = _ids(_pipe(_source(40)), 15)  # 3 epochs of 5 batches.
    epochs = ids.reshape(3, 40)
    for epoch in epochs:
        assert np.array_equal(np.sort(epoch), np.arange(40))
    assert not np.array_equal(epochs[0], epochs[1]) and not np.array_equal(epochs[1], epochs[2])
    assert not np.array_equal(epochs[0], np.arange(40))
    assert np.array_equal(_ids(_pipe(_source(40), shuffle=False), 5), np.arange(40))


def test_process_slices_are_disjoint_cover_the_epoch_and_match_one_process():
    source = _source(48)
    per_process = [_pipe(source, batch_size=4, num_epochs=1, process_index=p, process_count=2)
                   for p in range(2)]
    batches = [list(it) for it in per_process]
    assert [len(b) for b in batches] == [6, 6]
    ids = [np.concatenate([b["id"] for b in bs]) for bs in batches]
    assert not set(ids[0]) & set(ids[1])
    assert np.array_equal(np.sort(np.concatenate(ids)), np.arange(48))
    # Global batch s = concatenation of the processes' batch s, as with one process of batch 8.
    single = list(_pipe(source, batch_size=8, num_epochs=1))
    for s, batch in enumerate(single):
        together = np.sort(np.concatenate([batches[0][s]["id"], batches[1][s]["id"]]))
        assert np.array_equal(together, np.sort(batch["id"]))


def test_finite_epochs_give_every_process_the_same_number_of_full_batches():
    source = _source(50)
    for p in range(3):  # 2 epochs = 100 records; global batch 12 -> 8 steps.
        it = _pipe(source, batch_size=4, num_epochs=2, process_index=p, process_count=3)
        assert len(it) == 8 and len(list(it)) == 8
    # Without drop_remainder every record of both epochs comes out once per epoch.
    ids = np.concatenate([b["id"] for p in range(3) for b in _pipe(
        source, batch_size=4, num_epochs=2, process_index=p, process_count=3,
        drop_remainder=False)])
    assert np.array_equal(np.bincount(ids), np.full(50, 2))


def test_resume_is_exact_across_epoch_boundaries():
    source = _source(50)  # 50 / 8: batches straddle epochs.
    transforms = [T.RandomFlip(), T.ScaleImage()]
    original = _pipe(source, transforms=transforms)
    for _ in range(4):
        next(original)
    state = json.loads(json.dumps(original.get_state()))
    assert state["iterator"] == {"next_index": 4} and state["batch_size"] == 8
    expected = [next(original) for _ in range(10)]  # Records 32..111: epochs 0, 1 and 2.

    resumed = _pipe(source, transforms=transforms)
    resumed.set_state(state)
    for want, got in zip(expected, [next(resumed) for _ in range(10)]):
        assert np.array_equal(want["id"], got["id"])
        assert np.array_equal(want["image"], got["image"])
    original.set_state(state)  # Rewinding the same iterator works too.
    assert np.array_equal(next(original)["id"], expected[0]["id"])


def test_state_from_another_pipeline_is_rejected():
    state = _pipe(_source(40)).get_state()
    with pytest.raises(ValueError, match="batch_size: state 8 vs pipeline 4"):
        _pipe(_source(40), batch_size=4).set_state(state)


def test_flip_is_seeded_per_record_and_independent_of_process_layout():
    source = _source(200)

    def flips(it, num_batches):
        out = {}
        for _ in range(num_batches):
            batch = next(it)
            for i, image in zip(batch["id"], batch["image"]):
                original = source[i]["image"]
                assert np.array_equal(image, original) or np.array_equal(image, original[:, ::-1])
                out.setdefault(int(i), []).append(bool(np.array_equal(image, original[:, ::-1])))
        return out

    first = flips(_pipe(source, transforms=[T.RandomFlip()]), 50)  # Two epochs.
    again = flips(_pipe(source, transforms=[T.RandomFlip()]), 50)
    other = flips(_pipe(source, seed=5, transforms=[T.RandomFlip()]), 50)
    assert first == again and first != other
    epoch0 = np.array([v[0] for v in first.values()])
    epoch1 = np.array([v[1] for v in first.values()])
    assert 0.35 < epoch0.mean() < 0.65 and np.mean(epoch0 != epoch1) > 0.3
    # Two processes of batch 4 see the same augmented global batches as one of batch 8.
    single = _pipe(source, transforms=[T.RandomFlip()])
    halves = [_pipe(source, batch_size=4, process_index=p, process_count=2,
                    transforms=[T.RandomFlip()]) for p in range(2)]
    for _ in range(5):
        whole = next(single)
        parts = [next(h) for h in halves]
        order = np.argsort(whole["id"])
        joined_ids = np.concatenate([p["id"] for p in parts])
        joined = np.concatenate([p["image"] for p in parts])[np.argsort(joined_ids)]
        assert np.array_equal(joined, whole["image"][order])


def test_defaults_come_from_jax_and_bad_arguments_raise():
    state = make_pipeline(_source(16), batch_size=4, seed=0).get_state()
    assert state["process_count"] == 1
    with pytest.raises(ValueError, match="batch_size"):
        _pipe(_source(16), batch_size=0)
    with pytest.raises(ValueError, match="seed"):
        _pipe(_source(16), seed=-1)
    with pytest.raises(ValueError, match="process_index=2"):
        _pipe(_source(16), process_index=2, process_count=2)


def test_pipeline_over_a_prepared_dataset(data_dir):
    source = get_source("digits", "train", data_dir=data_dir, image_size=16)
    it = _pipe(source, batch_size=32, transforms=[T.ScaleImage(), T.RandomFlip(),
                                                  T.SelectKeys(("image", "label"))])
    batch = next(it)
    assert sorted(batch) == ["image", "label"]
    assert batch["image"].shape == (32, 16, 16, 1) and batch["image"].dtype == np.float32
    assert batch["image"].min() >= -1 and batch["image"].max() <= 1
    assert batch["label"].dtype == np.int64 and len(set(batch["label"].tolist())) > 3
