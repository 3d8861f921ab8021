"""DCGAN experiment entry point (flags: experiments/app.py).

  python -m experiments.dcgan.main --config experiments/dcgan/configs/default.py:cpu --workdir DIR
"""

from experiments import app

if __name__ == "__main__":
    app.run("dcgan")
