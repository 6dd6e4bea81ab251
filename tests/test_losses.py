"""Loss values against hand-computed constants, and equivalence of the BCE forms.

Constants: softplus(x) = ln(1 + e^x); ln 2 = 0.693147, softplus(-2) = 0.126928,
softplus(-1) = 0.313262, softplus(1) = 1.313262, softplus(2) = 2.126928.
"""

import numpy as np
import pytest
import tensorflow as tf

from dcgan_tf.gan import losses as L

REAL = np.array([[0.0], [2.0]], np.float32)  # logits for two real samples
FAKE = np.array([[0.0], [-1.0]], np.float32)  # logits for two fake samples


def close(a, b):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b, np.float32), rtol=1e-5, atol=1e-5)


def test_bce():
    close(L.bce_d_loss(real_logits=REAL, fake_logits=FAKE), [1.386294, 0.126928 + 0.313262])
    close(L.bce_g_loss(fake_logits=FAKE), [0.693147, 1.313262])


def test_bce_label_smoothing_and_flip_targets():
    # target 0.9 on logit 2: 0.9 softplus(-2) + 0.1 softplus(2)
    out = L.bce_d_loss(real_logits=REAL, fake_logits=FAKE,
                       real_targets=[0.9, 0.9], fake_targets=[0.0, 1.0])
    close(out, [0.693147 + 0.693147, 0.9 * 0.126928 + 0.1 * 2.126928 + 1.313262])


def test_minimax_generator_is_saturating():
    close(L.minimax_g_loss(fake_logits=FAKE), [-0.693147, -0.313262])


def test_softmax_two_logits_source_004():
    real = np.array([[0.0, 0.0], [1.0, 3.0]], np.float32)
    fake = np.array([[0.0, 0.0], [2.0, 1.0]], np.float32)
    # class 1 = real: CE = softplus(l0 - l1) for reals, softplus(l1 - l0) for fakes
    close(L.softmax_d_loss(real_logits=real, fake_logits=fake),
          [0.693147 + 0.693147, 0.126928 + 0.313262])
    close(L.softmax_g_loss(fake_logits=fake), [0.693147, 1.313262])
    # hard targets reproduce sparse_softmax_cross_entropy_with_logits exactly
    sparse = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=[1, 1], logits=real)
    certain_fake = np.array([[50.0, 0.0], [50.0, 0.0]], np.float32)  # fake term ~ 0
    close(L.softmax_d_loss(real_logits=real, fake_logits=certain_fake), sparse.numpy())


def test_softplus_form_source_002():
    close(L.softplus_d_loss(real_logits=REAL, fake_logits=FAKE), [1.386294, 0.440190])
    close(L.softplus_g_loss(fake_logits=FAKE), [0.693147, 1.313262])


def test_least_squares():
    close(L.lsgan_d_loss(real_logits=REAL, fake_logits=FAKE), [0.5, 1.0])
    close(L.lsgan_g_loss(fake_logits=FAKE), [0.5, 2.0])


def test_hinge():
    close(L.hinge_d_loss(real_logits=REAL, fake_logits=FAKE), [2.0, 0.0])
    close(L.hinge_g_loss(fake_logits=FAKE), [0.0, 1.0])


def test_wasserstein_and_drift_and_penalty():
    close(L.wasserstein_d_loss(real_logits=REAL, fake_logits=FAKE), [0.0, -3.0])
    close(L.drift_penalty(real_logits=REAL, weight=0.001), [0.0, 0.004])
    close(L.wasserstein_g_loss(fake_logits=FAKE), [0.0, 1.0])
    close(L.gradient_penalty(grad_norm=[1.0, 0.5, 2.0]), [0.0, 2.5, 10.0])
    close(L.gradient_penalty(grad_norm=[0.0], weight=3.0), [3.0])


def test_the_three_bce_forms_agree():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(64, 1)).astype(np.float32) * 3
    fake = rng.normal(size=(64, 1)).astype(np.float32) * 3
    real_t = rng.uniform(0.7, 1.0, size=64).astype(np.float32)
    fake_t = rng.uniform(0.0, 0.3, size=64).astype(np.float32)

    def two(logits):  # softmax over [0, y] == sigmoid(y) for class 1
        return np.concatenate([np.zeros_like(logits), logits], axis=1)

    kw = dict(real_targets=real_t, fake_targets=fake_t)
    sig = L.bce_d_loss(real_logits=real, fake_logits=fake, **kw)
    soft = L.softplus_d_loss(real_logits=real, fake_logits=fake, **kw)
    smax = L.softmax_d_loss(real_logits=two(real), fake_logits=two(fake), **kw)
    close(sig, soft)
    close(sig, smax)
    close(L.bce_g_loss(fake_logits=fake), L.softplus_g_loss(fake_logits=fake))
    close(L.bce_g_loss(fake_logits=fake), L.softmax_g_loss(fake_logits=two(fake)))


def test_losses_are_float32_from_float16_logits():
    out = L.bce_d_loss(real_logits=REAL.astype(np.float16), fake_logits=FAKE.astype(np.float16))
    assert out.dtype == tf.float32


def test_reduce_per_replica_divides_by_global_batch():
    per_example = tf.constant([1.0, 2.0, 3.0, 6.0])
    close(L.reduce_per_replica(per_example), 3.0)
    close(L.reduce_per_replica(per_example, global_batch_size=8), 1.5)


def test_registry_and_validation():
    assert set(L.LOSSES) == {"bce", "minimax", "softmax_ce", "softplus", "lsgan", "hinge",
                             "wgan_gp"}
    with pytest.raises(ValueError, match=r"Unknown loss 'wgan'. Expected one of \[.*'wgan_gp'"):
        L.get_loss("wgan")
    with pytest.raises(ValueError, match=r"head 'softmax2' does not fit loss 'wgan_gp'.*\['linear'\]"):
        L.get_loss("wgan_gp").validate(head="softmax2")
    with pytest.raises(ValueError, match=r"'hinge' has no real/fake targets"):
        L.get_loss("hinge").validate(head="linear", targets=L.Targets(label_flip=0.1))
    L.get_loss("bce").validate(head="sigmoid", targets=L.Targets(0.1, 0.1))
    with pytest.raises(ValueError, match=r"label_flip must be in \[0, 0.5\), got 0.7"):
        L.Targets(label_flip=0.7)


def test_targets_smoothing_and_flips():
    real_t, fake_t = L.Targets(label_smoothing=0.1).draw(4, None)
    close(real_t, [0.9] * 4)
    close(fake_t, [0.0] * 4)
    # flip probability just below 0.5 over many samples: about half swapped, and a swapped
    # real target is 0 while a swapped fake target is the smoothed real target
    real_t, fake_t = L.Targets(label_flip=0.49, label_smoothing=0.2).draw(
        4000, tf.constant([1, 2], tf.int64))
    real_t, fake_t = real_t.numpy(), fake_t.numpy()
    assert set(np.round(real_t * 10).tolist()) == {0.0, 8.0} == set(np.round(fake_t * 10).tolist())
    assert 0.44 < np.mean(real_t == 0.0) < 0.54 and 0.44 < np.mean(fake_t > 0) < 0.54
