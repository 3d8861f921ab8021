"""torchvision trunk and lpips head converters: torchvision / lpips key names and shapes written
here as facts, loaded into the Flax trunks; unexpected, missing and misshaped keys are named."""

import jax
import numpy as np
import pytest

from genvision_jax.pretrained import lpips_heads, torchvision_backbones


def torchvision_feature_shapes(net):
    """{key: shape} of torchvision's `features` convs (alexnet, vgg16, squeezenet1_1)."""
    convs = {}  # prefix -> (cout, cin, k)
    if net == "alex":
        convs = {"features.0": (64, 3, 11), "features.3": (192, 64, 5), "features.6": (384, 192, 3),
                 "features.8": (256, 384, 3), "features.10": (256, 256, 3)}
    elif net == "vgg":
        index, cin = 0, 3
        for v in [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512]:
            if v == "M":
                index += 1
            else:
                convs[f"features.{index}"] = (v, cin, 3)
                index, cin = index + 2, v
    else:
        convs = {"features.0": (64, 3, 3)}
        fires = {3: (64, 16, 64), 4: (128, 16, 64), 6: (128, 32, 128), 7: (256, 32, 128),
                 9: (256, 48, 192), 10: (384, 48, 192), 11: (384, 64, 256), 12: (512, 64, 256)}
        for i, (cin, squeeze, expand) in fires.items():
            convs[f"features.{i}.squeeze"] = (squeeze, cin, 1)
            convs[f"features.{i}.expand1x1"] = (expand, squeeze, 1)
            convs[f"features.{i}.expand3x3"] = (expand, squeeze, 3)
    shapes = {}
    for prefix, (cout, cin, k) in convs.items():
        shapes[f"{prefix}.weight"] = (cout, cin, k, k)
        shapes[f"{prefix}.bias"] = (cout,)
    return shapes


def _random(shapes, seed=0):
    rng = np.random.default_rng(seed)
    return {k: rng.normal(size=s).astype(np.float32) for k, s in shapes.items()}


@pytest.mark.parametrize("net", ["alex", "vgg", "squeeze"])
def test_backbone_converter_consumes_torchvision_keys(tmp_path, net):
    state = _random(torchvision_feature_shapes(net))
    state["classifier.1.weight"] = np.zeros((10, 8), np.float32)  # ImageNet head: ignored
    np.savez(tmp_path / f"{net}.npz", **state)
    params = torchvision_backbones.load(tmp_path / f"{net}.npz", net)
    n_convs = sum(k.endswith(".weight") for k in state) - 1
    assert len(jax.tree_util.tree_leaves(params)) == 2 * n_convs  # every conv's weight and bias
    key, path = {"alex": ("features.3", ["features_3"]), "vgg": ("features.28", ["features_28"]),
                 "squeeze": ("features.12.expand3x3", ["features_12", "expand3x3"])}[net]
    module = params
    for name in path:
        module = module[name]
    np.testing.assert_array_equal(module["kernel"], state[f"{key}.weight"].transpose(2, 3, 1, 0))
    np.testing.assert_array_equal(module["bias"], state[f"{key}.bias"])


def test_backbone_converter_errors():
    state = _random(torchvision_feature_shapes("alex"))
    bad = {k: v for k, v in state.items() if k != "features.10.bias"}
    bad["features.12.weight"] = np.zeros((3, 3, 1, 1), np.float32)
    bad["features.6.weight"] = state["features.6.weight"][:100]
    with pytest.raises(ValueError) as err:
        torchvision_backbones.params_from_state_dict(bad, "alex")
    message = str(err.value)
    assert "torchvision alex backbone weights do not match" in message
    assert "1 missing keys: features.10.bias" in message
    assert "1 unexpected keys: features.12.weight" in message
    assert "features.6.weight: (100, 192, 3, 3)" in message
    with pytest.raises(ValueError, match=r"unknown backbone 'resnet18'"):
        torchvision_backbones.params_from_state_dict(state, "resnet18")


LPIPS_CHANNELS = {"alex": (64, 192, 384, 256, 256), "vgg": (64, 128, 256, 512, 512),
                  "squeeze": (64, 128, 256, 384, 384, 512, 512)}


@pytest.mark.parametrize("net", ["alex", "vgg", "squeeze"])
def test_lpips_heads_converter(tmp_path, net):
    rng = np.random.default_rng(1)
    heads = {f"lin{k}.model.1.weight": rng.uniform(size=(1, c, 1, 1)).astype(np.float32)
             for k, c in enumerate(LPIPS_CHANNELS[net])}
    np.savez(tmp_path / "lin.npz", **heads)
    params = lpips_heads.load(tmp_path / "lin.npz", net)
    assert sorted(params) == [f"lin{k}" for k in range(len(heads))]
    for k, c in enumerate(LPIPS_CHANNELS[net]):
        np.testing.assert_array_equal(params[f"lin{k}"]["kernel"],
                                      heads[f"lin{k}.model.1.weight"].reshape(c, 1))
    # Heads built without dropout are named model.0.
    renamed = {k.replace("model.1", "model.0"): v for k, v in heads.items()}
    np.testing.assert_array_equal(lpips_heads.params_from_state_dict(renamed, net)["lin0"]["kernel"],
                                  params["lin0"]["kernel"])


def test_lpips_heads_from_the_wrong_net_are_rejected():
    alex = {f"lin{k}.model.1.weight": np.ones((1, c, 1, 1), np.float32)
            for k, c in enumerate(LPIPS_CHANNELS["alex"])}
    with pytest.raises(ValueError, match=r"2 missing keys: lin5\.model\.1\.weight .*lin6"):
        lpips_heads.params_from_state_dict(alex, "squeeze")
    with pytest.raises(ValueError, match=r"lin1\.model\.1\.weight: \(1, 192, 1, 1\) -> \(192, 1\), "
                                         r"expected \(128, 1\)"):
        lpips_heads.params_from_state_dict(alex, "vgg")


def test_torch_files_load_like_npz(tmp_path):
    torch = pytest.importorskip("torch")
    state = _random(torchvision_feature_shapes("squeeze"), seed=2)
    torch.save({k: torch.from_numpy(v) for k, v in state.items()}, tmp_path / "squeezenet1_1.pth")
    np.savez(tmp_path / "squeezenet1_1.npz", **state)
    from_pth = torchvision_backbones.load(tmp_path / "squeezenet1_1.pth", "squeeze")
    from_npz = torchvision_backbones.load(tmp_path / "squeezenet1_1.npz", "squeeze")
    jax.tree.map(np.testing.assert_array_equal, from_pth, from_npz)
