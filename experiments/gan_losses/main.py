"""python -m experiments.gan_losses.main --config experiments/gan_losses/configs/default.py:<variant> --workdir DIR (experiments/app.py)."""
from experiments.app import run; run(__name__)  # noqa: E702
