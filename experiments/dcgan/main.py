"""python -m experiments.dcgan.main --config experiments/dcgan/configs/default.py:<variant> --workdir DIR (experiments/app.py)."""
from experiments.app import run; run(__name__)  # noqa: E702
