import sys

from genvision_jax.pretrained.cli import main

if __name__ == "__main__":
    sys.exit(main())
