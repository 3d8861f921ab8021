"""2-D mode-collapse experiment entry point (flags: experiments/app.py).

  python -m experiments.gan_mode_collapse.main --config experiments/gan_mode_collapse/configs/default.py:cpu \
      --workdir DIR [--config.dataset.mixture=grid25 --config.gan.unrolled_steps=5 ...]
"""

from experiments import app

if __name__ == "__main__":
    app.run("gan_mode_collapse")
