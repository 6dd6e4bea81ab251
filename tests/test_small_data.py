"""Small-data parts of the update step: DiffAugment and R1 against known cases."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import compile_with

from dcgan_tf.augment import DiffAugment, diff_color, diff_cutout, diff_translation
from dcgan_tf.gan import GAN
from dcgan_tf.losses import get_loss
from dcgan_tf.regularizers import R1, StepContext


def tiny_gan(seed=0, channels=3):
    z = keras.Input((2,))
    g = keras.Model(z, keras.layers.Reshape((8, 8, channels))(
        keras.layers.Dense(64 * channels)(z)))
    x = keras.Input((8, 8, channels))
    d = keras.Model(x, keras.layers.Dense(1, name="logits", use_bias=False)(
        keras.layers.Flatten()(x)))
    return GAN(g, d, latent_dim=2, head="linear", seed=seed)


def test_each_diffaugment_keeps_shape_and_dtype_and_passes_gradients():
    gan = tiny_gan()
    x = tf.random.stateless_uniform([6, 8, 8, 3], [1, 2], -1.0, 1.0)
    for fn in (diff_color, diff_translation, diff_cutout):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = fn(x, gan)
            total = tf.reduce_sum(y)
        grad = tape.gradient(total, x)
        assert y.shape == x.shape and y.dtype == x.dtype, fn.__name__
        assert grad is not None and float(tf.reduce_sum(tf.abs(grad))) > 0, fn.__name__


def test_translation_moves_whole_images_and_fills_with_zeros():
    gan = tiny_gan(seed=3)
    x = tf.ones([64, 8, 8, 1])
    y = diff_translation(x, gan).numpy()
    # 8 * 0.125 = 1 pixel at most per axis: each image keeps 8x8, 8x7, 7x8 or 7x7 ones
    kept = y.reshape(64, -1).sum(axis=1)
    assert set(kept.tolist()) <= {64.0, 56.0, 49.0} and len(set(kept.tolist())) > 1
    ramp = tf.reshape(tf.range(64, dtype=tf.float32), [1, 8, 8, 1]) + 1.0
    moved = diff_translation(tf.tile(ramp, [16, 1, 1, 1]), gan).numpy()
    for image in moved:  # every non-zero pixel is a pixel of the ramp, shifted as a whole
        values = image[image > 0]
        assert set(values.tolist()) <= set(ramp.numpy().ravel().tolist())


def test_cutout_erases_at_most_a_quarter_and_a_quarter_inside():
    gan = tiny_gan(seed=4)
    y = diff_cutout(tf.ones([200, 8, 8, 1]), gan).numpy()
    erased = 1.0 - y.reshape(200, -1).mean(axis=1)
    assert erased.max() == pytest.approx(0.25) and erased.min() > 0
    assert (erased == 0.25).mean() > 0.3  # a centred 4x4 square lies fully inside often


def test_color_on_one_channel_and_policy_validation():
    gan = tiny_gan(channels=1)
    x = tf.zeros([4, 8, 8, 1])
    y = diff_color(x, gan).numpy()
    # a constant image stays constant per sample (brightness moves it, contrast keeps it)
    assert np.allclose(y.std(axis=(1, 2, 3)), 0.0, atol=1e-6)
    assert DiffAugment("cutout,color").policy == ("color", "cutout")
    with pytest.raises(ValueError, match="Unknown --diffaugment policy"):
        DiffAugment("colour")


def test_r1_of_a_linear_critic_is_known_and_diffaugment_trains():
    """D(x) = sum(a * x) has gradient a: R1 = gamma / 2 * ||a||^2 (no augmentation)."""
    gan = tiny_gan()
    gan.compile(keras.optimizers.SGD(0.0), keras.optimizers.SGD(0.0),
                loss=get_loss("hinge"))
    kernel = gan.discriminator.get_layer("logits").kernel
    kernel.assign(tf.fill(kernel.shape, 0.5))
    ctx = StepContext(gan, "d", gan.discriminator, real=tf.zeros([3, 8, 8, 3]))
    term, metrics, ran = R1(gamma=4.0, every=2)(ctx, step=2)
    assert float(metrics["r1"]) == pytest.approx(0.5 * 4.0 * 192 * 0.25)  # 192 weights
    assert float(term) == pytest.approx(2 * 0.5 * 4.0 * 48.0) and bool(ran)  # x every
    gan = tiny_gan(seed=1)
    compile_with(gan, keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3), loss="hinge",
                 diffaugment="color,translation,cutout", r1_gamma=1.0, r1_every=2)
    x = np.random.default_rng(0).uniform(-1, 1, (16, 8, 8, 3)).astype("float32")
    logs = gan.fit(x, batch_size=4, epochs=1, verbose=0).history
    assert {"r1", "r1_grad_norm"} <= set(logs) and all(np.isfinite(v[-1]) for v in logs.values())
