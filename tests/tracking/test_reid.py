"""ReID network: triplet loss against brute force, PK batches, augmentation, the model's contract, weight
files, batched embedding, retrieval metrics and cross-camera association. (Training that learns: the
tracker study's tests; resume and the other lifecycle guarantees: tests/train/test_lifecycle.py.)"""


import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genvision_jax.errors import InputError, MissingInputError
from genvision_jax.losses.metric_learning import batch_hard_triplet_loss
from genvision_jax.metrics.retrieval import retrieval_metrics
from genvision_jax.models.recognizers import reid
from genvision_jax.tasks.reid import augment, augment_params, init_key, pk_batch
from genvision_jax.tracking import multicamera
from genvision_jax.tracking.boxes import crop_resize


def test_batch_hard_triplet_loss_matches_brute_force():
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(10, 6))
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    labels = np.array([0, 0, 1, 1, 1, 2, 3, 3, 4, 4])  # label 2 has no positive: not an anchor
    loss, active = batch_hard_triplet_loss(jnp.asarray(emb, jnp.float32), jnp.asarray(labels), margin=0.3)
    d = 1 - emb @ emb.T
    terms = []
    for i in range(10):
        pos = [d[i, j] for j in range(10) if labels[j] == labels[i] and j != i]
        neg = [d[i, j] for j in range(10) if labels[j] != labels[i]]
        if pos and neg:
            terms.append(max(0.0, max(pos) - min(neg) + 0.3))
    assert float(loss) == pytest.approx(np.mean(terms), rel=1e-5)
    assert float(active) == pytest.approx(np.mean(np.array(terms) > 0))


def test_pk_batch():
    labels = np.repeat(np.arange(6), [1, 2, 5, 5, 3, 4])
    idx = pk_batch(labels, p=4, k=3, seed=0, step=7)
    assert len(idx) == 12 and len(np.unique(labels[idx])) == 4
    assert all(np.all(labels[idx[i * 3:(i + 1) * 3]] == labels[idx[i * 3]]) for i in range(4))
    np.testing.assert_array_equal(idx, pk_batch(labels, p=4, k=3, seed=0, step=7))
    assert not np.array_equal(idx, pk_batch(labels, p=4, k=3, seed=0, step=8))
    with pytest.raises(ValueError, match="at least p=7 identities"):
        pk_batch(labels, p=7, k=2, seed=0, step=0)


def test_augment_identity_flip_and_erase():
    rng = np.random.default_rng(0)
    images = jnp.asarray(rng.uniform(-1, 1, (4, 8, 6, 3)), jnp.float32)
    params = augment_params(rng, 4, max_shift=2)
    neutral = {**params, "flip": np.zeros(4, bool), "gain": np.ones((4, 3), np.float32),
               "offset": np.zeros((4, 3), np.float32), "shift": np.full((4, 2), 2, np.int32),
               "erase": np.zeros(4, bool)}
    np.testing.assert_allclose(augment(images, neutral, max_shift=2), images, atol=1e-6)
    flipped = augment(images, {**neutral, "flip": np.ones(4, bool)}, max_shift=2)
    np.testing.assert_allclose(flipped, images[:, :, ::-1], atol=1e-6)
    erase = {**neutral, "erase": np.ones(4, bool), "erase_hw": np.full((4, 2), 0.5, np.float32),
             "erase_centre": np.full((4, 2), 0.5, np.float32), "erase_colour": np.zeros((4, 3), np.float32)}
    out = np.asarray(augment(images, erase, max_shift=2))
    # The central rectangle of half the height and width: pixel centres strictly inside rows 2-5, cols 2-3.
    inside = np.zeros((8, 6), bool)
    inside[2:6, 2:4] = True
    assert np.all(out[:, inside] == 0)
    np.testing.assert_allclose(out[:, ~inside], np.asarray(images)[:, ~inside], atol=1e-6)


def test_model_contract():
    model = reid.ReIDNet(embedding_dim=16, widths=(8, 8), num_classes=5)
    x = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (3, 32, 16, 3)), jnp.float32)
    params = jax.jit(lambda k: model.init(k, x, return_logits=True))(jax.random.key(0, impl="rbg"))["params"]
    apply = jax.jit(lambda p, x: model.apply({"params": p}, x, return_logits=True))
    emb, logits = apply(params, x)
    assert emb.shape == (3, 16) and logits.shape == (3, 5)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-5)
    alone, _ = apply(params, x[1:2])
    np.testing.assert_allclose(alone[0], emb[1], atol=1e-5)  # no batch statistics
    with pytest.raises(ValueError, match="not divisible by num_parts"):
        reid.ReIDNet(widths=(8, 8), num_parts=3).init(jax.random.key(0, impl="rbg"), x)
    with pytest.raises(ValueError, match=r"crops \[N, H, W, 3\]"):
        model.apply({"params": params}, x[..., :1])


def test_weight_files_round_trip_and_detect_tampering(tmp_path):
    model = reid.ReIDNet(embedding_dim=16, widths=(8, 16, 16))
    params = reid.init_params(model, (32, 16), init_key(3))
    crops = np.random.default_rng(0).integers(0, 256, (5, 32, 16, 3)).astype(np.uint8)
    path = reid.save_reid(tmp_path / "reid.msgpack", params, model, (32, 16), {"note": "test"})
    embedder, record = reid.load_reid(path)
    assert record["info"]["note"] == "test" and embedder.dim == 16
    np.testing.assert_allclose(embedder.embed_crops(crops), reid.ReIDEmbedder(model, params).embed_crops(crops),
                               atol=1e-6)
    blob = bytearray(path.read_bytes())
    blob[-1] ^= 1
    path.write_bytes(bytes(blob))
    with pytest.raises(InputError, match="sha256"):
        reid.load_reid(path)
    with pytest.raises(MissingInputError, match="ReID weights need"):
        reid.load_reid(tmp_path / "nothing.msgpack")


def test_embedder_batches_and_boxes():
    model = reid.ReIDNet(embedding_dim=16, widths=(8, 16, 16))
    params = reid.init_params(model, (32, 16), init_key(2))
    emb = reid.ReIDEmbedder(model, params, batch_size=32)
    crops = np.random.default_rng(0).integers(0, 256, (70, 32, 16, 3)).astype(np.uint8)
    full = emb.embed_crops(crops)  # chunks of 32, 32, 6 (padded to 32)
    np.testing.assert_allclose(emb.embed_crops(crops[65:68]), full[65:68], atol=1e-5)
    image = np.random.default_rng(1).integers(0, 256, (60, 80, 3)).astype(np.uint8)
    boxes = np.array([[10, 5, 30, 45], [40.5, 10.2, 60, 50]])
    np.testing.assert_allclose(emb.embed(image, boxes),
                               emb.embed_crops(np.asarray(crop_resize(image, boxes, (32, 16)))), atol=1e-6)
    assert emb.embed(image, np.zeros((0, 4))).shape == (0, 16)


def test_retrieval_metrics_and_tracklet_association():
    # Query 0's match is ranked 2nd (AP 1/2), query 1's is 1st (AP 1): rank-1 1/2, mAP 3/4.
    q = np.array([[1.0, 0.0], [0.0, 1.0]])
    g = np.array([[0.9, 0.1], [0.8, 0.2], [0.1, 0.9]])
    m = retrieval_metrics(q, np.array([5, 6]), g, np.array([7, 5, 6]))
    assert m["rank1"] == 0.5 and m["mAP"] == pytest.approx(0.75)
    ids, means = multicamera.tracklet_embeddings(np.array([3, 3, 4]), np.array([[1.0, 0], [0.8, 0.2], [0, 1.0]]))
    assert ids.tolist() == [3, 4] and np.allclose(np.linalg.norm(means, axis=1), 1)
    matches = multicamera.associate_tracklets(means, np.array([[0.0, 1.0], [1.0, 0.1], [-1.0, 0]]), 0.5)
    assert sorted(matches.tolist()) == [[0, 1], [1, 0]]  # the third camera-b tracklet matches nothing
    acc = multicamera.association_accuracy(ids, np.array([4, 3, 9]), matches)
    assert acc["precision"] == 1.0 and acc["recall"] == 1.0 and acc["shared_identities"] == 2
