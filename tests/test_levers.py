"""Mode-coverage levers of issue 21: PacGAN packing (--pack) and a minibatch-stddev layer in
DCGAN's discriminator (--mbstd_group_size on dcgan64)."""

import numpy as np
import pytest
import tensorflow as tf

from dcgan_tf.config import Config
from dcgan_tf.gan.assemble import build_from_config, build_gan, resolve_config
from dcgan_tf.gan.model import pack_images
from dcgan_tf.models.layers import MinibatchStdDev
from dcgan_tf.utils.errors import UserError

SMALL = dict(model="dcgan64", resolution=32, channels=3, ngf=4, ndf=4, latent_dim=8,
             batch_size=8, train_steps=2, dry_run=True)


def test_pack_images_puts_consecutive_images_side_by_side():
    x = np.arange(6 * 2 * 2 * 3, dtype="float32").reshape(6, 2, 2, 3)
    packed = pack_images(tf.constant(x), 3).numpy()
    assert packed.shape == (2, 2, 2, 9)
    for j in range(2):
        for k in range(3):
            np.testing.assert_array_equal(packed[j, ..., 3 * k:3 * k + 3], x[3 * j + k])


def test_packed_discriminator_judges_packs_and_trains():
    gan = build_gan(resolve_config(Config(**SMALL, pack=2, r1_gamma=1.0, r1_every=1)))
    assert gan.discriminator.input_shape[-1] == 6  # two RGB images per decision
    images = tf.random.stateless_uniform((8, 32, 32, 3), (1, 2), -1.0, 1.0)
    logits = gan.discriminate(images, training=False).numpy()
    assert logits.shape == (8, 1)
    np.testing.assert_array_equal(logits[0::2], logits[1::2])  # one decision per pack
    swapped = tf.concat([images[1:2], images[0:1], images[2:]], 0)  # reorder inside a pack
    other = gan.discriminate(swapped, training=False).numpy()
    assert not np.allclose(other[0], logits[0])  # the pack is read as a whole, in order
    np.testing.assert_allclose(other[2:], logits[2:], rtol=1e-5)
    logs = gan.train_step(images)
    assert all(np.isfinite(float(v)) for v in logs.values())
    assert float(logs["r1"]) > 0


@pytest.mark.parametrize("changes,message", [
    (dict(pack=3), r"--batch_size=8 does not split into packs of --pack=3"),
    (dict(pack=2, num_classes=10), r"conditional model"),
])
def test_pack_refuses_what_it_cannot_pack(changes, message):
    with pytest.raises(UserError, match=message):
        Config(**dict(SMALL, dry_run=False, workdir="w", **changes)).validate()


def test_pack_refuses_a_growing_model():
    config = resolve_config(Config(model="pggan", resolution=8, channels=1, latent_dim=8,
                                   fmap_base=16, fmap_max=8, total_kimg=1.0, dry_run=True,
                                   pack=2))
    with pytest.raises(UserError, match="--pack .* --model=pggan cannot use it"):
        build_gan(config)


def test_dcgan_discriminator_takes_a_minibatch_stddev_layer():
    plain = build_from_config(resolve_config(Config(**SMALL)))
    assert not [l for l in plain.discriminator._flatten_layers() if isinstance(l, MinibatchStdDev)]
    pair = build_from_config(resolve_config(Config(**SMALL, mbstd_group_size=4)))
    layers = [l for l in pair.discriminator._flatten_layers() if isinstance(l, MinibatchStdDev)]
    assert [l.group_size for l in layers] == [4]
    # the same image scores differently beside a varied batch than beside copies of itself
    image = tf.random.stateless_uniform((1, 32, 32, 3), (3, 4), -1.0, 1.0)
    varied = tf.concat([image, tf.random.stateless_uniform((3, 32, 32, 3), (5, 6), -1, 1)], 0)
    same = tf.repeat(image, 4, axis=0)
    d = pair.discriminator
    assert not np.allclose(d(varied, training=False)[0], d(same, training=False)[0])
    with pytest.raises(UserError, match="Batch size 10 .*groups of 4"):
        build_gan(resolve_config(Config(**dict(SMALL, batch_size=10), mbstd_group_size=4)))
    with pytest.raises(UserError, match=r"Batch size 12 \(6 packs of 2\).*multiples of 8"):
        build_gan(resolve_config(Config(**dict(SMALL, batch_size=12), mbstd_group_size=4,
                                        pack=2)))


def test_top_k_keeps_the_fakes_d_scores_most_real_on_a_geometric_schedule():
    from dcgan_tf.gan.top_k import TopK

    top = TopK(0.5, 100)
    assert [int(top.kept(s, 64)) for s in (0, 50, 100, 1000)] == [64, 46, 32, 32]
    assert int(TopK(0.5, 0).kept(0, 64)) == 32  # no decay: nu from the start
    per_example = tf.constant([1.0, 2.0, 3.0, 4.0])
    realness = tf.constant([0.9, 0.1, 0.8, 0.2])
    # at step 100 two of four are kept: the ones scored 0.9 and 0.8 (losses 1 and 3)
    assert float(top.loss(per_example, realness, 100)) == pytest.approx(2.0)
    assert float(top.loss(per_example, realness, 0)) == pytest.approx(2.5)
    with pytest.raises(UserError, match="--top_k must be in"):
        Config(**dict(SMALL, dry_run=False, workdir="w", top_k=1.5)).validate()


def test_top_k_generator_learns_from_its_best_fakes_only():
    gan = build_gan(resolve_config(Config(**SMALL, top_k=0.25, top_k_steps=0)))
    assert gan.top_k is not None and gan.top_k.fraction == 0.25
    top_k, kept = gan.top_k, []

    class Spy:  # the step's generator loss goes through top-k with 2 of 8 fakes kept
        def loss(self, per_example, realness, g_step):
            kept.append(int(top_k.kept(g_step, tf.shape(per_example)[0])))
            return top_k.loss(per_example, realness, g_step)

    gan.top_k = Spy()
    images = tf.random.stateless_uniform((8, 32, 32, 3), (1, 2), -1.0, 1.0)
    logs = gan.train_step(images)
    assert kept == [2]
    gan.top_k = top_k
    assert all(np.isfinite(float(v)) for v in logs.values())
    # the kept fakes' loss is below the whole batch's: they are the ones D likes best
    z = gan.sample_latent(8)
    logits = gan.discriminate(gan.generate(z, training=True), training=True)
    per_example = gan.loss_spec.g_fn(fake_logits=logits)
    kept = gan.top_k.loss(per_example, gan.head.score(logits), gan.g_step)
    assert float(kept) <= float(tf.reduce_mean(per_example))
