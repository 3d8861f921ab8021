"""The gan_losses study trains with the DCGAN experiment's trainer; only its configs differ."""

from experiments.dcgan.train import train_and_evaluate

__all__ = ["train_and_evaluate"]
