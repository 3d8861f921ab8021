"""GAN losses x D normalization (DCGAN trainer, experiments/dcgan/train.py; flags: experiments/app.py).

  python -m experiments.gan_losses.main --config experiments/gan_losses/configs/default.py:cpu --workdir DIR
"""

from experiments import app

if __name__ == "__main__":
    app.run("gan_losses")
