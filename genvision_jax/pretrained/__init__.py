"""Converters from external checkpoint files (local only) to Flax variable trees.

Each module offers `load(path, ...) -> variables` for one family of files and is covered by a
parity test: `inception_v3` (pytorch-fid / torchvision InceptionV3), `torchvision_backbones`
(AlexNet, VGG16, SqueezeNet 1.1 trunks) and `lpips_heads` (the lpips package's linear heads).
"""
