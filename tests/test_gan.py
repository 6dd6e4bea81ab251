"""The GAN model: one-step fits for every combination, update ratios, tricks, determinism,
learning signal, mixed precision, XLA and bad input."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import SMALL, compile_with, finite

from dcgan_tf.gan.growth import ProgressiveGrowth
from dcgan_tf.gan.model import GAN
from dcgan_tf.gan.losses import LOSSES
from dcgan_tf.models import build_models

LATENT = 16


def make_gan(name="dcgan64", head="sigmoid", seed=7, latent="normal", **model_opts):
    pair = build_models(name, **{**SMALL[name], **model_opts}, head=head, latent_dim=LATENT)
    return GAN(pair.generator, pair.discriminator, latent_dim=LATENT, latent=latent,
               head=head, seed=seed)


def adam(lr=2e-4):
    return keras.optimizers.Adam(lr, beta_1=0.5, beta_2=0.999)


def compile_gan(gan, d_lr=2e-4, g_lr=2e-4, **kwargs):
    return compile_with(gan, adam(d_lr), adam(g_lr), **kwargs)


def real_batch(gan, n=8, seed=0):
    d = gan.discriminator  # a growing D (pggan) reads full-resolution images
    shape = (d.resolution, d.resolution, d.channels) if isinstance(gan.growth, ProgressiveGrowth) else \
        d.input_shape[1:]
    return np.random.default_rng(seed).uniform(-1, 1, size=(n, *shape)).astype("float32")


def weights_of(model):
    return [w.copy() for w in model.get_weights()]


def changed(before, model):
    return any(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))


COMBOS = [(loss, head) for loss, spec in LOSSES.items() for head in spec.heads]
# Every loss/head pair on dcgan64 (the cheapest network), every other architecture with each
# head once (sigmoid, softmax2, and linear with the gradient penalty): the loss math does
# not depend on the architecture, the head wiring and the step's plumbing do.
EACH_HEAD = [("bce", "sigmoid"), ("softmax_ce", "softmax2"), ("wgan_gp", "linear")]
CASES = [("dcgan64", loss, head) for loss, head in COMBOS] + [
    (arch, loss, head) for arch in SMALL if arch != "dcgan64" for loss, head in EACH_HEAD]


@pytest.mark.parametrize("arch,loss,head", CASES)
def test_one_step_fit_every_architecture_head_and_loss(arch, loss, head):
    gan = compile_gan(make_gan(arch, head=head), loss=loss, model=arch)
    g0, d0 = weights_of(gan.generator), weights_of(gan.discriminator)
    x = real_batch(gan, 4)
    history = gan.fit(x, batch_size=4, epochs=1, verbose=0)
    logs = {k: v[-1] for k, v in history.history.items()}
    expected = {"d_loss", "g_loss", "d_real", "d_fake", "d_fake_after", "d_grad_norm",
                "g_grad_norm"}
    if "gradient_penalty" in LOSSES[loss].regularizers:
        expected |= {"gp", "grad_norm"}
    if arch == "pggan":
        expected |= {"resolution", "alpha"}
    assert set(logs) == expected
    assert all(finite(v) for v in logs.values()), logs
    assert logs["d_grad_norm"] > 0 and logs["g_grad_norm"] > 0
    assert int(gan.g_step.numpy()) == 1 and int(gan.d_step.numpy()) == 1
    assert int(gan.images_seen.numpy()) == 4
    assert changed(g0, gan.generator) and changed(d0, gan.discriminator)
    if gan.head.probabilistic:
        for key in ("d_real", "d_fake", "d_fake_after"):
            assert 0.0 <= logs[key] <= 1.0


def test_d_steps_split_the_real_batch_and_g_steps_repeat():
    gan = compile_gan(make_gan(), d_steps=3)
    gan.fit(real_batch(gan, 24), batch_size=12, epochs=1, verbose=0)  # 2 steps of 3 x 4 reals
    assert (int(gan.d_step.numpy()), int(gan.g_step.numpy())) == (6, 2)
    assert int(gan.images_seen.numpy()) == 24

    gan = compile_gan(make_gan(), g_steps=2)
    gan.fit(real_batch(gan, 8), batch_size=4, epochs=1, verbose=0)
    assert (int(gan.d_step.numpy()), int(gan.g_step.numpy())) == (2, 4)


def test_separate_learning_rates_reach_each_network():
    gan = compile_gan(make_gan(), d_lr=1e-3, g_lr=0.0)
    g0, d0 = weights_of(gan.generator), weights_of(gan.discriminator)
    gan.fit(real_batch(gan), batch_size=8, epochs=1, verbose=0)
    trainable_g = {id(v) for v in gan.generator.trainable_variables}
    # G's trainable weights are untouched with lr 0 (BN moving stats still update).
    for v, before in zip(gan.generator.weights, g0):
        if id(v) in trainable_g:
            np.testing.assert_array_equal(v.numpy(), before)
    assert changed(d0, gan.discriminator)
    assert float(gan.d_optimizer.learning_rate.numpy()) == pytest.approx(1e-3)


def test_instance_noise_sigma_decays_over_generator_steps():
    gan = compile_gan(make_gan(), instance_noise=0.2, instance_noise_decay_steps=4)
    history = gan.fit(real_batch(gan, 24), batch_size=4, epochs=1, verbose=0)
    # 6 steps at g_step 0..5: sigma 0.2, 0.15, 0.1, 0.05, 0, 0 (the epoch mean is logged)
    assert gan.last_step_values()["noise_sigma"] == pytest.approx(0.0)
    assert history.history["noise_sigma"][-1] == pytest.approx(0.5 / 6)
    from dcgan_tf.gan.schedules import linear_decay
    assert [float(linear_decay(s, start=0.2, decay_steps=4)) for s in (0, 2, 4, 9)] == \
        pytest.approx([0.2, 0.1, 0.0, 0.0])
    assert float(linear_decay(100, start=0.2, decay_steps=0)) == pytest.approx(0.2)


def test_weight_decay_shrinks_kernels_with_zero_learning_signal():
    # With lr on and a huge decay the L2 term dominates: kernel norms fall.
    gan = compile_gan(make_gan(), weight_decay=10.0, d_lr=1e-2, g_lr=1e-2)
    norm = lambda m: sum(float(np.sum(np.square(v.numpy()))) for v in m.trainable_variables
                         if len(v.shape) >= 2)
    d_before, g_before = norm(gan.discriminator), norm(gan.generator)
    gan.fit(real_batch(gan, 16), batch_size=4, epochs=1, verbose=0)
    assert norm(gan.discriminator) < d_before and norm(gan.generator) < g_before


def test_same_seed_same_images_and_first_steps():
    def run(seed):
        keras.utils.set_random_seed(seed)
        gan = compile_gan(make_gan(seed=seed), label_flip=0.1, instance_noise=0.05)
        z = gan.sample_latent(6, seed=123)
        before = gan.generate(z).numpy()
        logs = gan.fit(real_batch(gan, 16), batch_size=8, epochs=1, verbose=0,
                       shuffle=False).history
        return before, gan.generate(z).numpy(), logs

    a, b, c = run(5), run(5), run(6)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_allclose(a[1], b[1], atol=1e-6)
    assert a[2] == b[2]
    assert not np.allclose(a[0], c[0])
    # an int seed gives the same z in any model; the seed generator advances
    gan = make_gan(seed=1)
    np.testing.assert_array_equal(gan.sample_latent(3, seed=9), gan.sample_latent(3, seed=9))
    assert not np.allclose(gan.sample_latent(3), gan.sample_latent(3))


def test_uniform_latent_is_in_range():
    gan = make_gan(latent="uniform")
    z = gan.sample_latent(1000, seed=1).numpy()
    assert z.min() >= -1.0 and z.max() <= 1.0 and z.min() < -0.99 and z.max() > 0.99


@pytest.mark.slow
def test_tiny_overfit_discriminator_separates_and_generator_follows(digits32):
    """On 16 real digits: D alone learns to tell them from G's output (the gap
    D(x) - D(G(z)) grows); G alone, against that fixed D, raises D(G(z))."""
    x = digits32[:16]
    gan = compile_gan(make_gan(), d_lr=2e-3, g_lr=0.0)
    first = gan.fit(x, batch_size=8, epochs=1, verbose=0).history
    gap0 = first["d_real"][0] - first["d_fake"][0]
    last = gan.fit(x, batch_size=8, epochs=30, verbose=0).history
    gap1 = last["d_real"][-1] - last["d_fake"][-1]
    assert gap0 < 0.3 and gap1 > 0.8, (gap0, gap1)

    d_trained = gan.discriminator
    gan2 = GAN(gan.generator, d_trained, latent_dim=LATENT, head="sigmoid", seed=3)
    compile_gan(gan2, d_lr=0.0, g_lr=2e-3)
    h = gan2.fit(x, batch_size=8, epochs=25, verbose=0).history
    assert h["d_fake_after"][-1] > h["d_fake_after"][0] + 0.3, h["d_fake_after"]
    assert h["g_loss"][-1] < h["g_loss"][0]


def test_mixed_precision_step_on_cpu_keeps_finite_weights():
    keras.mixed_precision.set_global_policy("mixed_float16")
    gan = compile_gan(make_gan(head="linear"), loss="wgan_gp")
    assert isinstance(gan.d_optimizer, keras.optimizers.LossScaleOptimizer)
    assert isinstance(gan.g_optimizer, keras.optimizers.LossScaleOptimizer)
    assert gan.generator.get_layer("up1").compute_dtype == "float16"
    z = gan.sample_latent(2, seed=0)
    assert gan.generate(z).dtype == tf.float32
    assert gan.discriminate(gan.generate(z)).dtype == tf.float32
    # The first steps may overflow in fp16 (scale starts at 2^15): the optimizer skips
    # them and halves the scale; such steps stay out of the averaged metrics.
    logs = gan.fit(real_batch(gan, 24), batch_size=4, epochs=1, verbose=0).history
    assert 1.0 < logs["d_loss_scale"][-1] < 2.0**15
    assert logs["g_loss_scale"][-1] > 1.0
    assert all(finite(v[-1]) for v in logs.values()), logs
    for model in (gan.generator, gan.discriminator):
        assert all(finite(w) for w in model.get_weights())
    assert int(gan.g_step.numpy()) == 6


def test_bfloat16_policy_uses_plain_optimizers():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    gan = compile_gan(make_gan())
    assert not isinstance(gan.d_optimizer, keras.optimizers.LossScaleOptimizer)
    logs = gan.fit(real_batch(gan, 4), batch_size=4, epochs=1, verbose=0).history
    assert "d_loss_scale" not in logs and finite(logs["d_loss"][-1])


def test_xla_and_steps_per_execution_pass_through():
    gan = compile_gan(make_gan(), jit_compile=True, steps_per_execution=2)
    assert gan.jit_compile is True and gan.steps_per_execution == 2
    logs = gan.fit(real_batch(gan, 16), batch_size=4, epochs=1, verbose=0).history
    assert int(gan.g_step.numpy()) == 4 and finite(logs["g_loss"][-1])


@pytest.mark.parametrize(
    "head,kwargs,match",
    [
        ("sigmoid", dict(loss="nope"), r"Unknown loss 'nope'. Expected one of"),
        ("softmax2", dict(loss="wgan_gp"), r"head 'softmax2' does not fit loss 'wgan_gp'"),
        ("sigmoid", dict(loss="hinge"), r"head 'sigmoid' does not fit loss 'hinge'"),
        ("linear", dict(loss="hinge", label_flip=0.2), r"no real/fake targets"),
        ("sigmoid", dict(d_steps=2, g_steps=2), r"either d_steps > 1 or g_steps > 1"),
        ("sigmoid", dict(d_steps=0), r"d_steps must be a positive integer, got 0"),
        ("sigmoid", dict(label_flip=0.7), r"label_flip must be in \[0, 0.5\), got 0.7"),
        ("sigmoid", dict(instance_noise=float("nan")), r"instance_noise must be a finite"),
        ("sigmoid", dict(steps_per_execution=0), r"steps_per_execution must be a positive"),
    ],
)
def test_bad_compile_arguments_raise_before_training(head, kwargs, match):
    gan = make_gan(head=head)
    with pytest.raises(ValueError, match=match):
        compile_gan(gan, **kwargs)


def test_mismatched_head_and_discriminator_is_caught():
    pair = build_models("dcgan64", **SMALL["dcgan64"], head="sigmoid", latent_dim=LATENT)
    with pytest.raises(ValueError, match=r"ends in 1 outputs but head 'softmax2' needs 2"):
        GAN(pair.generator, pair.discriminator, latent_dim=LATENT, head="softmax2")
    with pytest.raises(ValueError, match=r"Unknown latent distribution 'gauss'"):
        GAN(pair.generator, pair.discriminator, latent_dim=LATENT, latent="gauss")
