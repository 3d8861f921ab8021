"""LPIPS: parity with a torch LPIPS written here (torchvision layouts, random weights, files loaded
through our converters), identity and symmetry, input errors; and the lpips package when it imports."""

import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

from genvision_jax.metrics.lpips import SCALING_SCALE, SCALING_SHIFT, LPIPSNet, load_lpips  # noqa: E402


# ---- torch references with torchvision's module indices (so state-dict keys are torchvision's) ----

class Fire(nn.Module):
    def __init__(self, cin, squeeze, expand):
        super().__init__()
        self.squeeze = nn.Conv2d(cin, squeeze, 1)
        self.expand1x1 = nn.Conv2d(squeeze, expand, 1)
        self.expand3x3 = nn.Conv2d(squeeze, expand, 3, padding=1)

    def forward(self, x):
        s = F.relu(self.squeeze(x))
        return torch.cat([F.relu(self.expand1x1(s)), F.relu(self.expand3x3(s))], 1)


def torch_trunk(net):
    """(features Sequential, indices after which LPIPS taps the activations)."""
    relu = lambda: nn.ReLU()  # noqa: E731
    if net == "alex":
        layers = [nn.Conv2d(3, 64, 11, 4, 2), relu(), nn.MaxPool2d(3, 2),
                  nn.Conv2d(64, 192, 5, padding=2), relu(), nn.MaxPool2d(3, 2),
                  nn.Conv2d(192, 384, 3, padding=1), relu(), nn.Conv2d(384, 256, 3, padding=1), relu(),
                  nn.Conv2d(256, 256, 3, padding=1), relu(), nn.MaxPool2d(3, 2)]
        return nn.Sequential(*layers), (1, 4, 7, 9, 11)
    if net == "vgg":
        layers, cin = [], 3
        for v in [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, v, 3, padding=1), relu()]
                cin = v
        return nn.Sequential(*layers), (3, 8, 15, 22, 29)
    pool = lambda: nn.MaxPool2d(3, 2, ceil_mode=True)  # noqa: E731
    layers = [nn.Conv2d(3, 64, 3, 2), relu(), pool(), Fire(64, 16, 64), Fire(128, 16, 64), pool(),
              Fire(128, 32, 128), Fire(256, 32, 128), pool(), Fire(256, 48, 192), Fire(384, 48, 192),
              Fire(384, 64, 256), Fire(512, 64, 256)]
    return nn.Sequential(*layers), (1, 4, 7, 9, 10, 11, 12)


def torch_taps(features, taps, x):
    outs = []
    for i, layer in enumerate(features[:max(taps) + 1]):
        x = layer(x)
        if i in taps:
            outs.append(x)
    return outs


def torch_lpips(features, taps, heads, x, y, version):
    """Reference LPIPS on NCHW tensors: scaling, unit-normalised taps, squared diff, 1x1 head, mean."""
    if version == "0.1":
        shift = torch.tensor(SCALING_SHIFT).view(1, 3, 1, 1)
        scale = torch.tensor(SCALING_SCALE).view(1, 3, 1, 1)
        x, y = (x - shift) / scale, (y - shift) / scale
    total = 0.0
    for fx, fy, head in zip(torch_taps(features, taps, x), torch_taps(features, taps, y), heads):
        nx = fx / (torch.sqrt((fx ** 2).sum(1, keepdim=True)) + 1e-10)
        ny = fy / (torch.sqrt((fy ** 2).sum(1, keepdim=True)) + 1e-10)
        total = total + F.conv2d((nx - ny) ** 2, head).mean((2, 3))[:, 0]
    return total


def write_random_lpips_files(tmp_path, net, seed):
    """A torchvision-named trunk .pth (plus classifier keys, which must be ignored) and an
    lpips-format head .pth, random; returns (paths, torch trunk, taps, heads)."""
    torch.manual_seed(seed)
    features, taps = torch_trunk(net)
    for m in features.modules():
        if isinstance(m, nn.Conv2d):
            fan_in = m.in_channels * m.kernel_size[0] * m.kernel_size[1]
            nn.init.normal_(m.weight, 0.0, (2.0 / fan_in) ** 0.5)
            nn.init.uniform_(m.bias, -0.1, 0.1)
    state = {f"features.{k}": v for k, v in features.state_dict().items()}
    state["classifier.1.weight"] = torch.randn(10, 4)
    state["classifier.1.bias"] = torch.randn(10)
    with torch.no_grad():
        channels = [t.shape[1] for t in torch_taps(features, taps, torch.zeros(1, 3, 48, 48))]
    heads = [torch.rand(1, c, 1, 1) for c in channels]
    backbone_path, lin_path = tmp_path / f"{net}_trunk.pth", tmp_path / f"{net}_lin.pth"
    torch.save(state, backbone_path)
    torch.save({f"lin{k}.model.1.weight": w for k, w in enumerate(heads)}, lin_path)
    return backbone_path, lin_path, features.eval(), taps, heads


def _images(n, size, seed):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (n, size, size, 3)).astype(np.float32)
    y = np.clip(x + rng.normal(0, 0.3, x.shape), -1, 1).astype(np.float32)
    return x, y


@pytest.mark.parametrize("net", ["alex", "squeeze", "vgg"])
def test_lpips_matches_torch_reference(tmp_path, net):
    backbone_path, lin_path, features, taps, heads = write_random_lpips_files(tmp_path, net, seed=1)
    x, y = _images(3, 48, seed=2)
    tx, ty = (torch.from_numpy(a).permute(0, 3, 1, 2) for a in (x, y))
    # v0.0 (no ScalingLayer) differs only before the trunk: checking it on one net suffices.
    for version in ("0.1", "0.0") if net == "alex" else ("0.1",):
        metric = load_lpips(net, version, backbone_path=backbone_path, lin_path=lin_path, batch_size=4)
        ours = metric(x, y)
        with torch.no_grad():
            ref = torch_lpips(features, taps, heads, tx, ty, version).numpy()
        assert ours.shape == (3,) and ours.dtype == np.float32
        np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-6)
        assert ref.min() > 0.05  # a non-trivial distance, not a vanishing one
    # Identity and symmetry.
    np.testing.assert_array_equal(metric(x, x), np.zeros(3, np.float32))
    np.testing.assert_allclose(metric(y, x), ours, rtol=1e-6)
    protocol = metric.protocol()
    assert protocol["net"] == net and protocol["version"] == version
    assert len(protocol["backbone_sha256"]) == 64 and protocol["backbone_sha256"] != protocol["lin_sha256"]


def test_lpips_apply_is_differentiable_and_zero_at_identity(tmp_path):
    import jax

    backbone_path, lin_path, *_ = write_random_lpips_files(tmp_path, "alex", seed=3)
    metric = load_lpips("alex", backbone_path=backbone_path, lin_path=lin_path)
    x, y = _images(2, 40, seed=4)
    grad = jax.jit(jax.grad(lambda a: metric.apply(metric.params, a, y).sum()))(x)
    assert grad.shape == x.shape and np.isfinite(np.asarray(grad)).all()
    assert np.abs(np.asarray(grad)).max() > 0
    assert isinstance(metric.module, LPIPSNet)


@pytest.mark.parametrize("x, y, match", [
    (np.zeros((2, 48, 48, 3), np.float32), np.zeros((2, 48, 40, 3), np.float32),
     r"equal shape .* got shapes \(2, 48, 48, 3\) and \(2, 48, 40, 3\)"),
    (np.zeros((2, 48, 48, 1), np.float32), np.zeros((2, 48, 48, 1), np.float32), r"\[N, H, W, 3\]"),
    (np.zeros((2, 24, 24, 3), np.float32), np.zeros((2, 24, 24, 3), np.float32),
     r"LPIPS \(alex\) needs images of at least 31x31; got 24x24"),
    (np.zeros((1, 48, 48, 3), np.uint8), np.zeros((1, 48, 48, 3), np.uint8), r"dtype uint8"),
    (np.full((1, 48, 48, 3), 2.0, np.float32), np.zeros((1, 48, 48, 3), np.float32),
     r"got values in \[2, 2\]"),
])
def test_lpips_input_errors(tmp_path, x, y, match):
    backbone_path, lin_path, *_ = write_random_lpips_files(tmp_path, "alex", seed=5)
    metric = load_lpips("alex", backbone_path=backbone_path, lin_path=lin_path)
    with pytest.raises(ValueError, match=match):
        metric(x, y)


def test_load_lpips_rejects_unknown_names(tmp_path):
    with pytest.raises(ValueError, match=r"unknown backbone 'resnet'"):
        load_lpips("resnet", backbone_path=tmp_path / "a.pth", lin_path=tmp_path / "b.pth")
    with pytest.raises(ValueError, match=r"unknown LPIPS version '0.2'"):
        load_lpips("alex", "0.2", backbone_path=tmp_path / "a.pth", lin_path=tmp_path / "b.pth")
    with pytest.raises(FileNotFoundError, match=r"weights file not found: .*a.pth"):
        load_lpips("alex", backbone_path=tmp_path / "a.pth", lin_path=tmp_path / "b.pth")


def _alexnet_features():
    """torchvision's AlexNet `features` layer stack (its module indices are the state-dict names)."""
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(3, 64, 11, 4, 2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
                         nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
                         nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(inplace=True),
                         nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(inplace=True),
                         nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2))


def _import_lpips():
    """The lpips package; its trunk module imports torchvision, which does not import beside the local
    torch 2.13 CPU build, so without a working torchvision it gets one whose `alexnet` is torchvision's
    layer layout in plain torch. Everything the package itself computes (input scaling, feature
    normalisation, the shipped linear heads, spatial averaging) is then the reference."""
    import sys
    import types

    try:
        import torchvision  # noqa: F401
    except Exception:  # noqa: BLE001 — absent, or the CUDA wheel failing to load its operators
        models = types.ModuleType("torchvision.models")
        models.alexnet = lambda pretrained=False, **kw: types.SimpleNamespace(features=_alexnet_features())
        shim = types.ModuleType("torchvision")
        shim.models = models
        sys.modules["torchvision"], sys.modules["torchvision.models"] = shim, models
    import lpips

    return lpips


def test_lpips_matches_the_lpips_package(tmp_path):
    """Parity with the reference package: its random AlexNet trunk, its shipped v0.1 heads."""
    lpips = _import_lpips()
    ref = lpips.LPIPS(net="alex", version="0.1", pnet_rand=True, verbose=False).eval()
    # The package's slices keep torchvision's layer indices as module names: slice2.3.weight is
    # features.3.weight.
    state = {"features." + k.split(".", 1)[1]: v for k, v in ref.net.state_dict().items()}
    torch.save(state, tmp_path / "alexnet.pth")
    lin_path = os.path.join(os.path.dirname(lpips.__file__), "weights", "v0.1", "alex.pth")
    metric = load_lpips("alex", "0.1", backbone_path=tmp_path / "alexnet.pth", lin_path=lin_path)
    x, y = _images(2, 64, seed=6)
    with torch.no_grad():
        expected = ref(torch.from_numpy(x).permute(0, 3, 1, 2),
                       torch.from_numpy(y).permute(0, 3, 1, 2)).numpy().reshape(-1)
    np.testing.assert_allclose(metric(x, y), expected, rtol=1e-5, atol=1e-6)
