"""python -m experiments.gan_mode_collapse.main --config experiments/gan_mode_collapse/configs/default.py:<variant> --workdir DIR (experiments/app.py)."""
from experiments.app import run; run(__name__)  # noqa: E702
