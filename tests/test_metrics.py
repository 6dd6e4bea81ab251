"""SWD and MS-SSIM (the Progressive GAN paper's metrics) against known cases."""

import numpy as np
import pytest

from dcgan_tf.metrics.ms_ssim import ms_ssim, pairwise_diversity, scales_for
from dcgan_tf.metrics.swd import laplacian_pyramid, pyramid_up, sliced_wasserstein, swd


def digits(n=256, seed=0):
    from dcgan_tf.data.digits import load_digits

    images = load_digits(32)[0]
    return images[np.random.default_rng(seed).permutation(len(images))[:n]]


def test_one_dimensional_sliced_wasserstein_by_hand():
    a = np.array([[0.0], [1.0]], np.float32)
    b = np.array([[2.0], [3.0]], np.float32)
    # in one dimension every unit direction is +-1: sorted projections differ by 2
    assert sliced_wasserstein(a, b, np.random.default_rng(0)) == pytest.approx(2.0)


def test_laplacian_pyramid_reconstructs_the_image():
    images = digits(4)
    levels = laplacian_pyramid(images, min_resolution=8)
    assert [int(level.shape[1]) for level in levels] == [32, 16, 8]
    rebuilt = levels[-1]
    for level in reversed(levels[:-1]):
        rebuilt = level + pyramid_up(rebuilt)
    np.testing.assert_allclose(rebuilt, images, atol=1e-5)


def test_swd_of_a_set_with_itself_is_near_zero_and_grows_with_a_shift():
    a, b = digits(128, seed=0), digits(128, seed=1)
    same = swd(a, a, patches=32)
    halves = swd(a, b, patches=32)
    shifted = swd(a, np.roll(np.clip(a * 0.5 + 0.3, -1, 1), 3, axis=2), patches=32)
    assert set(same) == {32, 16, "mean"}
    assert same["mean"] < halves["mean"] < shifted["mean"]
    assert same["mean"] < 1e-6 and shifted["mean"] > 2 * halves["mean"]
    with pytest.raises(ValueError, match="equally large"):
        swd(a, b[:10])


def test_ms_ssim_identical_images_are_one_and_noise_is_lower():
    images = digits(16)
    np.testing.assert_allclose(ms_ssim(images, images), 1.0, atol=1e-5)
    noise = np.random.default_rng(0).uniform(-1, 1, images.shape).astype(np.float32)
    assert np.all(ms_ssim(images, noise) < 0.5)
    assert scales_for(32) == 2 and scales_for(256) == 5 and scales_for(8) == 1
    assert pairwise_diversity(images, pairs=50) < 0.9
    assert pairwise_diversity(np.repeat(images[:1], 4, axis=0), pairs=20) == pytest.approx(1.0)
