"""Numbers pinned in the update step: a D with all-zero logits, one update of a tiny linear
G/D pair against a hand computation (both update orders), and each part of the step
(regularizers, lazy intervals, augmentation, EMA) against its closed form."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import compile_with

from dcgan_tf.gan import losses as L
from dcgan_tf.gan.augment import InstanceNoise
from dcgan_tf.gan.ema import GeneratorEMA
from dcgan_tf.gan.model import GAN, UpdateRule
from dcgan_tf.gan.regularizers import Drift, GradientPenalty, StepContext, WeightDecay

REAL = np.array([0.9, -0.3, 0.5, 0.2], np.float32)
Z = np.array([1.0, -2.0, 0.5, 0.3], np.float32)


def linear_pair(units=1, wg=0.5, bg=0.1, wd=0.8):
    """G(z) = wg z + bg as a 1x1x1 image; D(x) = wd x (or `units` logits of zero)."""
    z = keras.Input((1,))
    g = keras.layers.Dense(1, name="g", kernel_initializer=keras.initializers.Constant(wg),
                           bias_initializer=keras.initializers.Constant(bg))(z)
    generator = keras.Model(z, keras.layers.Reshape((1, 1, 1))(g))
    x = keras.Input((1, 1, 1))
    d = keras.layers.Dense(units, use_bias=False, name="logits",
                           kernel_initializer=keras.initializers.Constant(wd))(
        keras.layers.Flatten()(x))
    return generator, keras.Model(x, d)


def fixed_z(gan):
    # The step draws z from the model's seed stream; pin it to Z for a hand computation.
    gan.sample_latent = lambda num, seed=None, truncation=None: tf.constant(Z[:, None])[:num]
    return gan


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def softplus(x):
    return np.log1p(np.exp(x))


@pytest.mark.parametrize("loss,head", [("bce", "sigmoid"), ("minimax", "sigmoid"),
                                       ("softmax_ce", "softmax2"), ("softplus", "linear"),
                                       ("softplus", "sigmoid")])
def test_discriminator_with_zero_logits_has_loss_two_ln_two(loss, head):
    units = 2 if head == "softmax2" else 1
    generator, discriminator = linear_pair(units=units, wd=0.0)
    gan = fixed_z(GAN(generator, discriminator, latent_dim=1, head=head, seed=0))
    compile_with(gan, keras.optimizers.SGD(0.0), keras.optimizers.SGD(0.0), loss=loss)
    logs = gan.fit(REAL.reshape(4, 1, 1, 1), batch_size=4, epochs=1, verbose=0).history
    assert logs["d_loss"][-1] == pytest.approx(2 * math.log(2), abs=1e-6)
    if head != "linear":
        assert logs["d_real"][-1] == pytest.approx(0.5) and logs["d_fake"][-1] == pytest.approx(0.5)


@pytest.mark.parametrize("order,d_pass", [("sequential", "split"), ("simultaneous", "split"),
                                          ("sequential", "joint")])
def test_one_update_of_a_linear_pair_equals_the_hand_computation(order, d_pass):
    """(With no BatchNorm in D, scoring reals and fakes in one call changes nothing.)"""
    lr, wg, bg, wd = 0.1, 0.5, 0.1, 0.8
    generator, discriminator = linear_pair(wg=wg, bg=bg, wd=wd)
    gan = fixed_z(GAN(generator, discriminator, latent_dim=1, head="sigmoid", seed=0))
    compile_with(gan, keras.optimizers.SGD(lr), keras.optimizers.SGD(lr), loss="bce",
                 update=order, d_pass=d_pass)
    logs = gan.fit(REAL.reshape(4, 1, 1, 1), batch_size=4, epochs=1, verbose=0,
                   shuffle=False).history

    xf = wg * Z + bg  # fakes
    d_loss = np.mean(softplus(-wd * REAL) + softplus(wd * xf))
    grad_wd = np.mean(-sigmoid(-wd * REAL) * REAL + sigmoid(wd * xf) * xf)
    wd1 = wd - lr * grad_wd
    w_seen = wd1 if order == "sequential" else wd  # the D that G's loss reads
    dl_dx = -sigmoid(-w_seen * xf) * w_seen / len(Z)  # d mean softplus(-w x) / dx_i
    wg1, bg1 = wg - lr * np.sum(dl_dx * Z), bg - lr * np.sum(dl_dx)

    assert logs["d_loss"][-1] == pytest.approx(d_loss, rel=1e-5)
    assert logs["g_loss"][-1] == pytest.approx(np.mean(softplus(-w_seen * xf)), rel=1e-5)
    assert float(discriminator.get_layer("logits").kernel.numpy().item()) == pytest.approx(wd1, rel=1e-5)
    layer = generator.get_layer("g")
    assert float(layer.kernel.numpy().item()) == pytest.approx(wg1, rel=1e-5)
    assert float(layer.bias.numpy().item()) == pytest.approx(bg1, rel=1e-5)
    after = sigmoid(wd1 * xf).mean() if order == "sequential" else sigmoid(wd * xf).mean()
    assert logs["d_fake_after"][-1] == pytest.approx(after, rel=1e-5)


def test_joint_d_pass_normalises_reals_and_fakes_together():
    """With BatchNorm in D, the joint pass sees the statistics of the mixed batch: each half
    normalised alone has mean 0 (logit mean 0 for a zero-bias dense), together not."""
    def bn_d():
        x = keras.Input((1, 1, 1))
        h = keras.layers.BatchNormalization(center=False, scale=False)(x)
        d = keras.layers.Dense(1, use_bias=False, kernel_initializer="ones")(
            keras.layers.Flatten()(h))
        return keras.Model(x, d)

    logs = {}
    for d_pass in ("split", "joint"):
        generator, _ = linear_pair(wg=0.5, bg=3.0)  # fakes far from the reals
        gan = fixed_z(GAN(generator, bn_d(), latent_dim=1, head="linear", seed=0))
        compile_with(gan, keras.optimizers.SGD(0.0), keras.optimizers.SGD(0.0),
                     loss="hinge", d_pass=d_pass)
        logs[d_pass] = gan.fit(REAL.reshape(4, 1, 1, 1), batch_size=4, epochs=1,
                               verbose=0).history
    assert logs["split"]["d_real"][-1] == pytest.approx(0.0, abs=1e-5)
    assert logs["split"]["d_fake"][-1] == pytest.approx(0.0, abs=1e-5)
    assert logs["joint"]["d_real"][-1] < -0.5 < 0.5 < logs["joint"]["d_fake"][-1]


def test_update_rule_validates():
    with pytest.raises(ValueError, match="either d_steps > 1 or g_steps > 1"):
        UpdateRule(2, 2)
    with pytest.raises(ValueError, match=r"Unknown update order 'parallel'"):
        UpdateRule(order="parallel")
    with pytest.raises(ValueError, match=r"Unknown d_pass 'fused'"):
        UpdateRule(d_pass="fused")
    with pytest.raises(TypeError, match="loss must be a LossSpec"):
        generator, discriminator = linear_pair()
        GAN(generator, discriminator, latent_dim=1).compile(
            keras.optimizers.SGD(0.1), keras.optimizers.SGD(0.1), loss="bce")


def test_gradient_penalty_of_a_linear_critic():
    """D(x) = sum(a * x) has gradient a everywhere: penalty = lambda (||a|| - 1)^2."""
    generator, discriminator = linear_pair(wd=3.0)
    gan = GAN(generator, discriminator, latent_dim=1, head="linear", seed=0)
    gan.compile(keras.optimizers.SGD(0.0), keras.optimizers.SGD(0.0), loss=L.get_loss("wgan_gp"))
    ctx = StepContext(gan, "d", discriminator, real=tf.constant(REAL.reshape(4, 1, 1, 1)),
                      fake=tf.zeros([4, 1, 1, 1]))
    term, metrics, ran = GradientPenalty(weight=10.0)(ctx, step=0)
    assert float(term) == pytest.approx(10.0 * (3.0 - 1.0) ** 2, rel=1e-5)
    assert float(metrics["grad_norm"]) == pytest.approx(3.0, rel=1e-5) and bool(ran)


def test_drift_and_lazy_weight_decay():
    generator, discriminator = linear_pair(wd=2.0)
    gan = GAN(generator, discriminator, latent_dim=1, head="linear", seed=0)
    ctx = StepContext(gan, "d", discriminator, real_logits=tf.constant([[1.0], [3.0]]))
    term, metrics, _ = Drift(0.001)(ctx, step=0)
    assert float(term) == pytest.approx(0.001 * (1 + 9) / 2)
    lazy = WeightDecay(0.5, every=4)  # runs on every 4th update, scaled by 4
    on, _, ran_on = lazy(ctx, step=8)
    off, _, ran_off = lazy(ctx, step=9)
    assert float(on) == pytest.approx(4 * 0.5 * 2.0**2 / 2) and bool(ran_on)
    assert float(off) == 0.0 and not bool(ran_off)


def test_instance_noise_is_identity_at_zero_sigma_and_differentiable():
    generator, discriminator = linear_pair()
    gan = GAN(generator, discriminator, latent_dim=1, seed=0)
    x = tf.ones([3, 2, 2, 1])
    np.testing.assert_array_equal(InstanceNoise(0.0)(x, gan), x)
    noise = InstanceNoise(0.5)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = noise(x, gan)
        total = tf.reduce_sum(y)
    np.testing.assert_allclose(tape.gradient(total, x), np.ones([3, 2, 2, 1]))
    assert y.shape == x.shape and y.dtype == x.dtype and not np.allclose(y, x)


def test_ema_equals_its_closed_form_and_copies_before_start():
    generator, _ = linear_pair(wg=1.0, bg=0.0)
    ema = GeneratorEMA(generator, decay=0.9, start=2)
    layer = generator.get_layer("g")
    layer.kernel.assign([[5.0]])
    ema.update(1)  # within the warm-up: a copy
    ema.update(2)
    copy = ema.generator.get_layer("g")
    assert float(copy.kernel.numpy().item()) == pytest.approx(5.0)
    layer.kernel.assign([[3.0]])
    for step in range(3, 3 + 4):  # 4 averaged updates toward 3: 3 + (5 - 3) 0.9^4
        ema.update(step)
    assert float(copy.kernel.numpy().item()) == pytest.approx(3.0 + 2.0 * 0.9**4, rel=1e-6)
    with pytest.raises(ValueError, match="ema_decay must be in"):
        GeneratorEMA(generator, decay=1.0)


def test_ema_rampup_grows_the_half_life_with_the_run_up_to_the_decays():
    generator, _ = linear_pair(wg=1.0, bg=0.0)
    ema = GeneratorEMA(generator, decay=0.999, rampup=0.05)  # target half-life 692.8 steps
    assert ema.half_life == pytest.approx(692.8, abs=0.1)
    # Step 100: half-life 0.05 * 100 = 5 steps -> beta = 2^(-1/5); by step 20,000 the ramp
    # (1,000 steps) exceeds the target and beta is the decay itself.
    assert float(ema.beta(100)) == pytest.approx(0.5 ** (1 / 5), rel=1e-6)
    assert float(ema.beta(20_000)) == pytest.approx(0.999, rel=1e-6)
    assert float(ema.beta(0)) == 0.0  # step 0: a copy
    assert float(GeneratorEMA(generator, decay=0.999).beta(100)) == pytest.approx(0.999)
    layer, copy = generator.get_layer("g"), ema.generator.get_layer("g")
    layer.kernel.assign([[3.0]])
    ema.update(40)  # half-life 2 steps: the copy moves (1 - 2^-0.5) of the way from 1 to 3
    assert float(copy.kernel.numpy().item()) == pytest.approx(3 - 2 * 0.5**0.5, rel=1e-6)
    with pytest.raises(ValueError, match="ema_rampup"):
        GeneratorEMA(generator, decay=0.9, rampup=-1.0)


def test_ema_in_the_step_is_checkpointed_and_samples():
    generator, discriminator = linear_pair()
    gan = fixed_z(GAN(generator, discriminator, latent_dim=1, head="sigmoid", seed=0))
    compile_with(gan, keras.optimizers.SGD(0.1), keras.optimizers.SGD(0.1), loss="bce",
                 ema_decay=0.5)
    assert "ema_generator" in gan.checkpoint_items()
    gan.fit(REAL.reshape(4, 1, 1, 1), batch_size=2, epochs=1, verbose=0, shuffle=False)
    raw = generator.get_layer("g").kernel.numpy()
    averaged = gan.ema.generator.get_layer("g").kernel.numpy()
    assert not np.allclose(raw, averaged)  # two updates of decay 0.5 lag behind G
    z = tf.constant([[1.0]])
    np.testing.assert_allclose(gan.sample_images(z), gan.ema.generator(z))
