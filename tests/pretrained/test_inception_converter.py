"""pytorch-fid InceptionV3 converter: a random state dict with pytorch-fid's key names and shapes,
written by a torch FID Inception implemented here; every key consumed, every shape matched, and the
converted 'fid' variant reproduces the torch network's pool3 features and 1008 logits."""

import jax
import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

from genvision_jax.models.recognizers.inception_v3 import InceptionV3  # noqa: E402
from genvision_jax.pretrained import inception_v3 as converter  # noqa: E402


# ---- torch reference: the FID Inception (TF 2015 graph semantics) with torchvision module names ----

class Basic(nn.Module):
    def __init__(self, cin, cout, k, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


def tf_avg_pool(x):
    """TF 'SAME' 3x3 average: padded zeros are not counted."""
    return F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)


class BlockA(nn.Module):
    def __init__(self, cin, pool_features):
        super().__init__()
        self.branch1x1 = Basic(cin, 64, 1)
        self.branch5x5_1, self.branch5x5_2 = Basic(cin, 48, 1), Basic(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = Basic(cin, 64, 1)
        self.branch3x3dbl_2 = Basic(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = Basic(96, 96, 3, padding=1)
        self.branch_pool = Basic(cin, pool_features, 1)

    def forward(self, x):
        return torch.cat([self.branch1x1(x), self.branch5x5_2(self.branch5x5_1(x)),
                          self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                          self.branch_pool(tf_avg_pool(x))], 1)


class BlockB(nn.Module):
    def __init__(self, cin):
        super().__init__()
        self.branch3x3 = Basic(cin, 384, 3, stride=2)
        self.branch3x3dbl_1 = Basic(cin, 64, 1)
        self.branch3x3dbl_2 = Basic(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = Basic(96, 96, 3, stride=2)

    def forward(self, x):
        return torch.cat([self.branch3x3(x),
                          self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                          F.max_pool2d(x, 3, 2)], 1)


class BlockC(nn.Module):
    def __init__(self, cin, c7):
        super().__init__()
        row, col = dict(k=(1, 7), padding=(0, 3)), dict(k=(7, 1), padding=(3, 0))
        self.branch1x1 = Basic(cin, 192, 1)
        self.branch7x7_1, self.branch7x7_2 = Basic(cin, c7, 1), Basic(c7, c7, **row)
        self.branch7x7_3 = Basic(c7, 192, **col)
        self.branch7x7dbl_1, self.branch7x7dbl_2 = Basic(cin, c7, 1), Basic(c7, c7, **col)
        self.branch7x7dbl_3, self.branch7x7dbl_4 = Basic(c7, c7, **row), Basic(c7, c7, **col)
        self.branch7x7dbl_5 = Basic(c7, 192, **row)
        self.branch_pool = Basic(cin, 192, 1)

    def forward(self, x):
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = x
        for i in range(1, 6):
            bd = getattr(self, f"branch7x7dbl_{i}")(bd)
        return torch.cat([self.branch1x1(x), b7, bd, self.branch_pool(tf_avg_pool(x))], 1)


class BlockD(nn.Module):
    def __init__(self, cin):
        super().__init__()
        self.branch3x3_1, self.branch3x3_2 = Basic(cin, 192, 1), Basic(192, 320, 3, stride=2)
        self.branch7x7x3_1 = Basic(cin, 192, 1)
        self.branch7x7x3_2 = Basic(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = Basic(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = Basic(192, 192, 3, stride=2)

    def forward(self, x):
        b7 = x
        for i in range(1, 5):
            b7 = getattr(self, f"branch7x7x3_{i}")(b7)
        return torch.cat([self.branch3x3_2(self.branch3x3_1(x)), b7, F.max_pool2d(x, 3, 2)], 1)


class BlockE(nn.Module):
    def __init__(self, cin, max_pool_branch):
        super().__init__()
        self.max_pool_branch = max_pool_branch
        self.branch1x1 = Basic(cin, 320, 1)
        self.branch3x3_1 = Basic(cin, 384, 1)
        self.branch3x3_2a = Basic(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = Basic(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = Basic(cin, 448, 1)
        self.branch3x3dbl_2 = Basic(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = Basic(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = Basic(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = Basic(cin, 192, 1)

    def forward(self, x):
        b3 = self.branch3x3_1(x)
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        pooled = F.max_pool2d(x, 3, 1, 1) if self.max_pool_branch else tf_avg_pool(x)
        return torch.cat([self.branch1x1(x), self.branch3x3_2a(b3), self.branch3x3_2b(b3),
                          self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd),
                          self.branch_pool(pooled)], 1)


class FIDInception(nn.Module):
    def __init__(self):
        super().__init__()
        self.Conv2d_1a_3x3 = Basic(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = Basic(32, 32, 3)
        self.Conv2d_2b_3x3 = Basic(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = Basic(64, 80, 1)
        self.Conv2d_4a_3x3 = Basic(80, 192, 3)
        self.Mixed_5b, self.Mixed_5c, self.Mixed_5d = BlockA(192, 32), BlockA(256, 64), BlockA(288, 64)
        self.Mixed_6a = BlockB(288)
        self.Mixed_6b, self.Mixed_6c = BlockC(768, 128), BlockC(768, 160)
        self.Mixed_6d, self.Mixed_6e = BlockC(768, 160), BlockC(768, 192)
        self.Mixed_7a = BlockD(768)
        self.Mixed_7b, self.Mixed_7c = BlockE(1280, False), BlockE(2048, True)
        self.fc = nn.Linear(2048, 1008)

    def forward(self, x):
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(F.max_pool2d(x, 3, 2)))
        x = F.max_pool2d(x, 3, 2)
        for name in ["Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c",
                     "Mixed_6d", "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c"]:
            x = getattr(self, name)(x)
        pool3 = x.mean((2, 3))
        return pool3, self.fc(pool3)


def random_fid_inception(seed=0):
    """The reference with He-scaled conv weights and non-trivial BatchNorm statistics."""
    torch.manual_seed(seed)
    model = FIDInception()
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            fan_in = m.in_channels * m.kernel_size[0] * m.kernel_size[1]
            nn.init.normal_(m.weight, 0.0, (2.0 / fan_in) ** 0.5)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.normal_(m.bias, 0.0, 0.2)
            m.running_mean.normal_(0.0, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    return model.eval()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    # One intra-op thread: on 2 cores shared with JAX and other jobs, torch's spinning thread pool
    # made the 299x299 forward ~8x slower (8 s vs 1 s for two images).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    model = random_fid_inception()
    path = tmp_path_factory.mktemp("fid") / "pt_inception-2015-12-05-test.pth"
    torch.save(model.state_dict(), path)  # includes BatchNorm's num_batches_tracked counters
    yield model, path
    torch.set_num_threads(threads)


def test_every_key_consumed_and_shape_matched(reference):
    model, path = reference
    state = model.state_dict()
    variables = converter.load(path, "fid")
    leaves = jax.tree_util.tree_leaves_with_path(variables)
    expected = [k for k in state if not k.endswith("num_batches_tracked")]
    assert len(leaves) == len(expected) == 94 * 5 + 2  # 94 conv+BN units (kernel, 4 BN), fc
    assert variables["params"]["fc"]["kernel"].shape == (2048, 1008)
    np.testing.assert_array_equal(variables["params"]["Mixed_7c"]["branch3x3_2b"]["conv"]["kernel"],
                                  state["Mixed_7c.branch3x3_2b.conv.weight"].numpy().transpose(2, 3, 1, 0))
    np.testing.assert_array_equal(variables["batch_stats"]["Mixed_6e"]["branch7x7dbl_4"]["bn"]["var"],
                                  state["Mixed_6e.branch7x7dbl_4.bn.running_var"].numpy())


def test_fid_variant_matches_torch_reference(reference):
    model, path = reference
    variables = converter.load(path, "fid")
    x = np.random.default_rng(0).uniform(-1, 1, (2, 299, 299, 3)).astype(np.float32)
    with torch.no_grad():
        ref_pool3, ref_logits = (t.numpy() for t in model(torch.from_numpy(x).permute(0, 3, 1, 2)))
    out = jax.jit(InceptionV3("fid").apply)(variables, x)
    assert out["pool3"].shape == (2, 2048) and out["logits"].shape == (2, 1008)
    assert np.abs(ref_pool3).max() > 0.1  # activations survived 94 random layers
    np.testing.assert_allclose(out["pool3"], ref_pool3, atol=1e-4 * np.abs(ref_pool3).max())
    np.testing.assert_allclose(out["logits"], ref_logits, atol=1e-4 * np.abs(ref_logits).max())
    # The tolerance would catch the standard variant's average pool in Mixed_7c.
    model.Mixed_7c.max_pool_branch = False
    try:
        with torch.no_grad():
            avg_pool3 = model(torch.from_numpy(x).permute(0, 3, 1, 2))[0].numpy()
    finally:
        model.Mixed_7c.max_pool_branch = True
    assert np.abs(avg_pool3 - ref_pool3).max() > 1e-2 * np.abs(ref_pool3).max()


def test_npz_with_the_same_keys_loads_identically(reference, tmp_path):
    model, path = reference
    state = {k: v.numpy() for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    np.savez(tmp_path / "inception.npz", **state)
    from_npz, from_pth = converter.load(tmp_path / "inception.npz"), converter.load(path)
    jax.tree.map(np.testing.assert_array_equal, from_npz, from_pth)


def test_mismatched_files_are_rejected_by_key(reference, tmp_path):
    model, _ = reference
    state = model.state_dict()
    missing = {k: v for k, v in state.items() if k != "Mixed_6b.branch7x7_2.conv.weight"}
    with pytest.raises(ValueError, match=r"1 missing keys: Mixed_6b\.branch7x7_2\.conv\.weight"):
        converter.variables_from_state_dict(missing)
    extra = {**state, "Mixed_8a.conv.weight": torch.zeros(1)}
    with pytest.raises(ValueError, match=r"1 unexpected keys: Mixed_8a\.conv\.weight"):
        converter.variables_from_state_dict(extra)
    with pytest.raises(ValueError, match=r"2 shape mismatches: fc\.bias: .*; fc\.weight: \(1008, 2048\) "
                                         r"-> \(2048, 1008\), expected \(2048, 1000\)"):
        converter.variables_from_state_dict(state, "torchvision")  # 1000 classes expected
    # torchvision's training-only auxiliary head is ignored.
    aux = {**state, "AuxLogits.fc.weight": torch.zeros(1000, 768)}
    assert converter.variables_from_state_dict(aux)["params"]["fc"]["bias"].shape == (1008,)
    with pytest.raises(ValueError, match=r"unknown InceptionV3 variant 'tf'"):
        converter.variables_from_state_dict(state, "tf")
