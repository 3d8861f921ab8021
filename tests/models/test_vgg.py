"""VGG16/VGG19 feature stacks: parity with a torch `features` Sequential built here with torchvision's
module indices (random weights written as a torchvision-named .pth, loaded through our converter),
every alias against the torch layer at its index, pre- vs post-activation taps, the deepest tap
bounding the computation, input normalisations, converter and input errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import torch  # noqa: E402  (a parity reference: never skipped)
tnn = torch.nn

from genvision_jax.models.recognizers import vgg  # noqa: E402
from genvision_jax.models.recognizers.torchvision_backbones import VGG16Features  # noqa: E402
from genvision_jax.pretrained import torchvision_backbones  # noqa: E402

# torchvision's `cfgs["D"]` / `cfgs["E"]` (vgg16 / vgg19 without batch norm), written as facts.
TORCHVISION_CFG = {
    16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    19: [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
         512, 512, 512, 512, "M"],
}
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


def torch_features(depth):
    """torchvision's `make_layers(cfg)`: Conv2d(3x3, padding 1), ReLU per number, MaxPool2d(2, 2) per M."""
    layers, cin = [], 3
    for v in TORCHVISION_CFG[depth]:
        if v == "M":
            layers.append(tnn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [tnn.Conv2d(cin, v, kernel_size=3, padding=1), tnn.ReLU(inplace=False)]
            cin = v
    return tnn.Sequential(*layers)


def random_torch_vgg(depth, seed):
    torch.manual_seed(seed)
    features = torch_features(depth)
    for m in features.modules():
        if isinstance(m, tnn.Conv2d):
            fan_in = m.in_channels * 9
            tnn.init.normal_(m.weight, 0.0, (2.0 / fan_in) ** 0.5)
            tnn.init.uniform_(m.bias, -0.1, 0.1)
    return features.eval()


def write_vgg_pth(tmp_path, depth, seed):
    features = random_torch_vgg(depth, seed)
    state = {f"features.{k}": v for k, v in features.state_dict().items()}
    state["classifier.0.weight"] = torch.randn(7, 5)  # the ImageNet head is ignored
    state["classifier.0.bias"] = torch.randn(7)
    path = tmp_path / f"vgg{depth}.pth"
    torch.save(state, path)
    return path, features, {k: v.numpy() for k, v in state.items()}


def torch_all_layers(features, x_nhwc):
    """Every layer's output of the torch stack, NHWC numpy, on ImageNet-normalised x in [-1, 1]."""
    x = torch.from_numpy(((x_nhwc + 1) / 2 - IMAGENET_MEAN) / IMAGENET_STD).permute(0, 3, 1, 2)
    outs = []
    with torch.no_grad():
        for layer in features:
            x = layer(x)
            outs.append(x.permute(0, 2, 3, 1).numpy())
    return outs


def random_variables(depth, seed):
    """He-normal kernels, small uniform biases, from numpy (VGG.init's own initialisers take ~14 s on
    2 CPU cores: one compile per conv shape)."""
    rng = np.random.default_rng(seed)

    def leaf(path, s):
        if path[-1].key == "bias":
            return jnp.asarray(rng.uniform(-0.1, 0.1, s.shape).astype(np.float32))
        return jnp.asarray(rng.normal(0, (2.0 / np.prod(s.shape[:3])) ** 0.5, s.shape).astype(np.float32))

    return jax.tree_util.tree_map_with_path(leaf, torchvision_backbones.vgg_abstract_params(depth))


def _images(n, size, seed):
    return np.random.default_rng(seed).uniform(-1, 1, (n, size, size, 3)).astype(np.float32)


@pytest.mark.parametrize("depth", [16, 19])
def test_vgg_matches_torch_at_every_layer(tmp_path, depth):
    path, features, _ = write_vgg_pth(tmp_path, depth, seed=depth)
    params = torchvision_backbones.load_vgg(path, depth)
    x = _images(2, 32, seed=1)
    ref = torch_all_layers(features, x)
    assert len(ref) == len(vgg.layer_names(depth)) == {16: 31, 19: 37}[depth]
    ours = jax.jit(lambda p, a: vgg.VGG(depth).apply({"params": p}, a))(params, x)
    assert set(ours) == set(vgg.layer_names(depth))
    worst = 0.0
    for i, name in enumerate(vgg.layer_names(depth)):
        got = np.asarray(ours[name])
        assert got.shape == ref[i].shape, name
        scale = np.abs(ref[i]).max()
        assert scale > 1e-3, name  # a live activation, not a dead stack
        err = np.abs(got - ref[i]).max() / scale
        worst = max(worst, err)
        assert err < 2e-5, (name, err)
    assert ours["pool5"].shape == (2, 1, 1, 512)
    print(f"vgg{depth}: worst max|diff|/max|ref| over all layers {worst:.2e}")


@pytest.mark.parametrize("depth", [16, 19])
def test_every_alias_is_the_torch_layer_at_its_index(depth):
    features = torch_features(depth)
    names = vgg.layer_names(depth)
    assert len(names) == len(features)
    stage, conv_in_stage = 1, 0
    for i, (name, layer) in enumerate(zip(names, features)):
        assert vgg.tap_index(depth, name) == i == vgg.tap_index(depth, str(i)) == vgg.tap_index(depth, i)
        if isinstance(layer, tnn.Conv2d):
            conv_in_stage += 1
            assert name == f"conv{stage}_{conv_in_stage}"
        elif isinstance(layer, tnn.ReLU):
            assert name == f"relu{stage}_{conv_in_stage}"
        else:
            assert isinstance(layer, tnn.MaxPool2d) and name == f"pool{stage}"
            stage, conv_in_stage = stage + 1, 0
    assert vgg.conv_indices(depth) == tuple(i for i, m in enumerate(features) if isinstance(m, tnn.Conv2d))
    # A few indices every VGG user knows (torchvision / LPIPS / Johnson et al.).
    known = {16: {"relu1_2": 3, "relu2_2": 8, "relu3_3": 15, "relu4_3": 22, "relu5_3": 29, "pool5": 30,
                  "conv4_2": 19},
             19: {"relu1_1": 1, "relu2_1": 6, "relu3_1": 11, "relu4_1": 20, "conv4_2": 21, "relu5_1": 29,
                  "relu5_4": 35, "pool5": 36}}[depth]
    assert {k: vgg.tap_index(depth, k) for k in known} == known


def test_taps_subset_keys_and_pre_vs_post_activation():
    model = vgg.VGG(16)
    variables = random_variables(16, 0)
    x = _images(2, 32, seed=2)
    out = model.apply(variables, x, ["conv3_3", "relu3_3", 15, "14", "pool3"])
    assert set(out) == {"conv3_3", "relu3_3", "15", "14", "pool3"}
    pre, post = np.asarray(out["conv3_3"]), np.asarray(out["relu3_3"])
    assert (pre < 0).mean() > 0.1 and (post >= 0).all()  # the conv output, before its ReLU
    np.testing.assert_array_equal(post, np.maximum(pre, 0))
    np.testing.assert_array_equal(out["15"], post)
    np.testing.assert_array_equal(out["14"], pre)
    pooled = post.reshape(2, 4, 2, 4, 2, 256).max(axis=(2, 4))
    np.testing.assert_array_equal(out["pool3"], pooled)
    # The same tap from a different subset is the same array.
    np.testing.assert_array_equal(model.apply(variables, x, ["relu3_3"])["relu3_3"], post)


def test_only_layers_up_to_the_deepest_tap_are_computed():
    model = vgg.VGG(19)
    variables = random_variables(19, 1)
    x = jnp.asarray(_images(1, 8, seed=3))  # too small for pool4, enough for relu3_4
    truncated = {"params": {k: v for k, v in variables["params"].items() if int(k.split("_")[1]) <= 16}}
    fn = model.features_fn(truncated, ["relu2_1", "relu3_4"])  # relu3_4 is 17; conv 16 is the last used
    out = fn(x)
    np.testing.assert_array_equal(out["relu3_4"], model.apply(variables, x, ["relu3_4"])["relu3_4"])
    jaxpr = str(jax.make_jaxpr(fn)(x))
    assert jaxpr.count("conv_general_dilated") == 8  # conv1_1 .. conv3_4
    assert jaxpr.count("reduce_window_max") + jaxpr.count("max_pool") <= 2  # pool1, pool2 only


def test_input_norms():
    model = vgg.VGG(16, input_norm="none")
    variables = random_variables(16, 2)
    x = _images(2, 16, seed=4)
    taps = ["relu2_2"]
    imagenet = vgg.VGG(16).apply(variables, x, taps)["relu2_2"]
    manual = model.apply(variables, ((x + 1) / 2 - IMAGENET_MEAN) / IMAGENET_STD, taps)["relu2_2"]
    np.testing.assert_allclose(imagenet, manual, rtol=1e-5, atol=1e-5)
    caffe = vgg.VGG(16, input_norm="caffe").apply(variables, x, taps)["relu2_2"]
    bgr = (x[..., ::-1] + 1) * 127.5 - np.array([103.939, 116.779, 123.68], np.float32)
    np.testing.assert_allclose(caffe, model.apply(variables, bgr, taps)["relu2_2"], rtol=1e-5, atol=1e-4)
    assert np.abs(np.asarray(caffe) - np.asarray(imagenet)).max() > 1.0
    with pytest.raises(ValueError, match=r"unknown VGG input_norm 'bgr'; valid: \['imagenet', 'caffe', 'none'\]"):
        vgg.VGG(16, input_norm="bgr").apply(variables, x, taps)


def test_lpips_trunk_shares_the_vgg16_stack():
    variables = random_variables(16, 3)
    lpips_shapes = jax.eval_shape(VGG16Features().init, jax.random.key(0), jnp.zeros((1, 16, 16, 3)))
    assert jax.tree.map(lambda a: a.shape, lpips_shapes) == jax.tree.map(lambda a: a.shape, variables)
    x = _images(2, 16, seed=5)
    taps = VGG16Features().apply(variables, x)
    ours = vgg.VGG(16, input_norm="none").apply(variables, x, [3, 8, 15, 22, 29])
    for tap, i in zip(taps, [3, 8, 15, 22, 29]):
        np.testing.assert_array_equal(tap, ours[str(i)])


def test_vgg_input_errors():
    model = vgg.VGG(16)
    variables = random_variables(16, 4)
    with pytest.raises(ValueError, match=r"VGG16 taps up to 'pool5' \(index 30\) need images of at least "
                                         r"32x32; got 16x24"):
        model.apply(variables, jnp.zeros((1, 16, 24, 3)), ["relu1_1", "pool5"])
    with pytest.raises(ValueError, match=r"VGG16 expects RGB images \[N, H, W, 3\] in \[-1, 1\]; got shape "
                                         r"\(1, 32, 32, 1\)"):
        model.apply(variables, jnp.zeros((1, 32, 32, 1)), ["relu1_1"])
    with pytest.raises(ValueError, match=r"unknown VGG16 tap 'relu5_4'; valid: indices 0..30"):
        model.apply(variables, jnp.zeros((1, 32, 32, 3)), ["relu5_4"])  # a VGG19 layer
    with pytest.raises(ValueError, match=r"VGG16 tap index 31 out of range; valid: 0..30"):
        model.features_fn(variables, [31])
    with pytest.raises(ValueError, match=r"single tap 'relu1_1'"):
        model.apply(variables, jnp.zeros((1, 32, 32, 3)), "relu1_1")
    with pytest.raises(ValueError, match=r"unknown VGG depth 11; valid: \[16, 19\]"):
        vgg.VGG(11).init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)))


def torchvision_vgg_shapes(depth):
    """{key: shape} of torchvision vgg16 / vgg19 `features` convs, from the config."""
    shapes, index, cin = {}, 0, 3
    for v in TORCHVISION_CFG[depth]:
        if v == "M":
            index += 1
        else:
            shapes[f"features.{index}.weight"] = (v, cin, 3, 3)
            shapes[f"features.{index}.bias"] = (v,)
            index, cin = index + 2, v
    return shapes


@pytest.mark.parametrize("depth", [16, 19])
def test_vgg_converter_consumes_torchvision_keys(tmp_path, depth):
    rng = np.random.default_rng(depth)
    state = {k: rng.normal(size=s).astype(np.float32) for k, s in torchvision_vgg_shapes(depth).items()}
    assert len(state) == 2 * {16: 13, 19: 16}[depth]
    state["classifier.6.weight"] = np.zeros((1000, 4096), np.float32)
    np.savez(tmp_path / "vgg.npz", **state)
    params = torchvision_backbones.load_vgg(tmp_path / "vgg.npz", depth)
    assert len(jax.tree_util.tree_leaves(params)) == len(state) - 1
    last = max(vgg.conv_indices(depth))
    np.testing.assert_array_equal(params[f"features_{last}"]["kernel"],
                                  state[f"features.{last}.weight"].transpose(2, 3, 1, 0))
    np.testing.assert_array_equal(params[f"features_{last}"]["bias"], state[f"features.{last}.bias"])


def test_vgg_converter_refuses_mismatches_by_key():
    rng = np.random.default_rng(0)
    state = {k: rng.normal(size=s).astype(np.float32) for k, s in torchvision_vgg_shapes(16).items()}
    bad = {k: v for k, v in state.items() if k != "features.28.bias"}
    bad["features.31.weight"] = np.zeros((4, 4, 3, 3), np.float32)
    bad["features.5.weight"] = state["features.5.weight"][:, :32]
    with pytest.raises(ValueError) as err:
        torchvision_backbones.vgg_params_from_state_dict(bad, 16, source="mine.pth")
    message = str(err.value)
    assert "mine.pth: torchvision vgg16 features weights do not match" in message
    assert "1 missing keys: features.28.bias" in message
    assert "1 unexpected keys: features.31.weight" in message
    assert "features.5.weight: (128, 32, 3, 3)" in message
    vgg19 = {k: rng.normal(size=s).astype(np.float32) for k, s in torchvision_vgg_shapes(19).items()}
    with pytest.raises(ValueError, match=r"6 missing keys: features\.17\.bias.*"
                                         r"these are VGG19's features: pass depth=19"):
        torchvision_backbones.vgg_params_from_state_dict(vgg19, 16)
    with pytest.raises(ValueError, match=r"these are VGG16's features: pass depth=16"):
        torchvision_backbones.vgg_params_from_state_dict(state, 19)
    with pytest.raises(FileNotFoundError, match=r"weights file not found: .*vgg19-dcbb9e9d.pth"):
        torchvision_backbones.load_vgg("/nonexistent/vgg19-dcbb9e9d.pth", 19)
