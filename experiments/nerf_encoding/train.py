"""The nerf_encoding study trains with the radiance-field trainer (experiments/nerf/train.py); only its configs differ."""

from experiments.nerf.studies import plot_sweep
from experiments.nerf.train import train_and_evaluate

__all__ = ["plot_sweep", "train_and_evaluate"]
