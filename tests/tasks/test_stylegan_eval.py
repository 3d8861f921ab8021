"""The StyleGAN evaluations' parts against definitions: PPL's interpolation, crop and percentile filter, layer
groups (StyleGAN 1 at 1024² gives the paper's 0-3 / 4-7 / 8-17), per-layer noise settings, mixing consistency's
limits, and the few-shot Subset."""

import jax.numpy as jnp
import numpy as np
import pytest

from genvision_jax.data.sources import Subset
from genvision_jax.errors import ConfigError
from genvision_jax.metrics import ppl
from genvision_jax.tasks import stylegan_eval as SE


def test_slerp_lerp_crop_and_percentile_mean():
    a, b = jnp.array([[1.0, 0.0]]), jnp.array([[0.0, 3.0]])
    mid = np.asarray(ppl.slerp(a, b, jnp.array([0.5])))
    np.testing.assert_allclose(mid, [[np.sqrt(0.5), np.sqrt(0.5)]], atol=1e-6)  # unit-norm, equal angles
    np.testing.assert_allclose(np.asarray(ppl.slerp(a, b, jnp.array([1.0]))), [[0.0, 1.0]], atol=1e-6)
    np.testing.assert_allclose(np.asarray(ppl.lerp(a, b, jnp.array([0.25]))), [[0.75, 0.75]])
    x = jnp.arange(16 * 16, dtype=jnp.float32).reshape(1, 16, 16, 1)
    crop = ppl.face_crop(x)
    assert crop.shape == (1, 8, 8, 1) and float(crop[0, 0, 0, 0]) == 6 * 16 + 4
    # 5 tiny and 5 huge outliers among 1,000: outside numpy's 'lower' 1st / 'higher' 99th percentiles (the
    # official filter), so the mean is the typical pairs' (2e-8 / ε² = 2).
    d = np.concatenate([np.full(990, 2e-8), np.full(5, 1e-12), np.full(5, 1.0)])
    out = ppl.ppl_from_distances(d, 1e-4)
    assert out["ppl"] == pytest.approx(2.0) and out["protocol"]["kept_pairs"] == 990
    with pytest.raises(ValueError, match="finite"):
        ppl.ppl_from_distances(np.array([1.0, np.nan]))


def test_layer_groups_and_noise_settings():
    assert SE.layer_groups(1024, "adain") == {"coarse": (0, 4), "middle": (4, 8), "fine": (8, 18)}
    assert SE.layer_groups(32, "modulated") == {"coarse": (0, 3), "middle": (3, 5), "fine": (5, 8)}
    groups = SE.layer_groups(32, "modulated")
    assert SE.noise_strengths_for(0.5, 7, groups) == [0.5] * 7
    assert SE.noise_strengths_for("fine_only", 7, groups) == [0, 0, 0, 0, 0, 1, 1]
    assert SE.noise_strengths_for("fine_x2", 7, groups) == [1, 1, 1, 1, 1, 2, 2]
    with pytest.raises(ConfigError, match="unknown noise setting"):
        SE.noise_strengths_for("coarse", 7, groups)


def test_mixing_consistency_limits():
    rng = np.random.default_rng(0)
    fa, fb = rng.normal(size=(50, 4)), rng.normal(size=(50, 4))
    probes = SE.AttributeProbes(("x", "y"), {"x": slice(0, 1), "y": slice(1, 3)}, rng.normal(size=(5, 3)), {}, {})
    features = {"a": fa, "b": fb}

    def feats(images):
        return features[images]

    out = SE.mixing_consistency(feats, probes, "a", "b", "a")
    assert out == pytest.approx({"x": 1.0, "y": 1.0})
    out = SE.mixing_consistency(feats, probes, "a", "b", "b")
    assert out == pytest.approx({"x": 0.0, "y": 0.0})
    features["m"] = 0.3 * fa + 0.7 * fb  # probes are affine: the mix's attributes are 30 % A's
    assert SE.mixing_consistency(feats, probes, "a", "b", "m") == pytest.approx({"x": 0.3, "y": 0.3})


def test_subset_reads_the_chosen_records():
    source = [{"i": i} for i in range(10)]

    class Src(list):
        def __getitems__(self, idx):
            return [self[i] for i in idx]

    sub = Subset(Src(source), [1, 4, 9])
    assert len(sub) == 3 and sub[1] == {"i": 4} and sub.__getitems__([0, 2]) == [{"i": 1}, {"i": 9}]
    assert sub[0:2] == [{"i": 1}, {"i": 4}]
    with pytest.raises(ValueError, match="within"):
        Subset(Src(source), [3, 10])
