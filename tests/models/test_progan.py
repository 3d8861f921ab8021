"""ProGAN's growing: every resolution's layers exist from init, the fade-in blends exactly as defined, and the
schedule puts each step in the right stage and α."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genvision_jax.models.gan.progan import (ProGANDiscriminator, ProGANGenerator, downsample_box, num_stages,
                                             upsample_nearest)
from genvision_jax.tasks.progan_images import alpha_in_stage, stage_and_alpha


def test_generator_fade_in_blends_the_upsampled_previous_output():
    G = ProGANGenerator(16, 3, channel_base=64, channel_max=16, z_dim=8)
    z = jax.random.normal(jax.random.key(0), (2, 8))
    params = G.init(jax.random.key(1), z)["params"]
    assert {"torgb4", "torgb8", "torgb16", "b16_conv1"} <= set(params)  # the whole tree at init
    for stage, res in enumerate((4, 8, 16)):
        assert G.apply({"params": params}, z, stage=stage).shape == (2, res, res, 3)
    new = G.apply({"params": params}, z, stage=2, alpha=1.0)
    low = upsample_nearest(G.apply({"params": params}, z, stage=1, alpha=1.0))
    np.testing.assert_allclose(np.asarray(G.apply({"params": params}, z, stage=2, alpha=0.0)), np.asarray(low),
                               rtol=1e-5, atol=1e-5)
    mid = G.apply({"params": params}, z, stage=2, alpha=0.25)
    np.testing.assert_allclose(np.asarray(mid), 0.75 * np.asarray(low) + 0.25 * np.asarray(new), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="stage must be in 0..2"):
        G.apply({"params": params}, z, stage=3)


def test_discriminator_fade_in_and_resolutions():
    D = ProGANDiscriminator(16, 3, channel_base=64, channel_max=16)
    x = jax.random.normal(jax.random.key(2), (4, 16, 16, 3))
    params = D.init(jax.random.key(3), x)["params"]
    assert {"fromrgb4", "fromrgb8", "fromrgb16"} <= set(params)
    assert D.apply({"params": params}, x).shape == (4,)
    x8 = downsample_box(x)
    # α = 0 at stage 2 reads the image through the 8x8 path: fromRGB8(avgpool(x)) then the 8x8 block onwards,
    # which is the stage-1 D (α = 1) on the box-downsampled image.
    np.testing.assert_allclose(np.asarray(D.apply({"params": params}, x, stage=2, alpha=0.0)),
                               np.asarray(D.apply({"params": params}, x8, stage=1, alpha=1.0)), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match=r"expects \[N, 8, 8, C\]"):
        D.apply({"params": params}, x, stage=1)
    assert num_stages(32) == 4


def test_schedule_stages_and_alpha():
    # batch 8, 8 images stable, 16 fading, 3 stages (4, 8, 16): step 0 stage 0; steps 1-2 fade 8x8 (0, 0.5);
    # step 3 stable 8x8; steps 4-5 fade 16x16; then 16x16 forever.
    got = [stage_and_alpha(s, 8, 8, 16, 3) for s in range(9)]
    assert got == [(0, 1.0), (1, 0.0), (1, 0.5), (1, 1.0), (2, 0.0), (2, 0.5), (2, 1.0), (2, 1.0), (2, 1.0)]
    for s, (stage, alpha) in enumerate(got):
        assert float(alpha_in_stage(jnp.asarray(s), stage, 8, 8, 16)) == pytest.approx(alpha)
