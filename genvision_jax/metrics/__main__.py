"""`python -m genvision_jax.metrics fid|kid|is|prc|psnr|ssim|lpips --real SRC --fake SRC ...` (see cli.py)."""

import sys

from genvision_jax.metrics.cli import main

if __name__ == "__main__":
    sys.exit(main())
