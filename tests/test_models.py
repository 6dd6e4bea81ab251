"""Every registered architecture: shapes, dtypes, parameter counts, serialization, errors."""

import keras
import numpy as np
import pytest
from conftest import SMALL

from dcgan_tf.models.heads import HEADS
from dcgan_tf.models import MODELS, build_models


def _cases():
    for name, family in MODELS.items():
        for res in family.resolutions:
            if name != "pggan" or res <= 64:  # pggan: 4 .. 1024, the small ones suffice
                yield name, res


@pytest.mark.parametrize("name,resolution", list(_cases()))
@pytest.mark.parametrize("head", ["sigmoid", "softmax2"])
def test_shapes_and_dtypes(name, resolution, head):
    opts = dict(SMALL[name], resolution=resolution, head=head, latent_dim=16)
    pair = build_models(name, **opts)
    channels = pair.channels
    z = np.random.normal(size=(2, 16)).astype("float32")
    images = pair.generator(z, training=False)
    assert tuple(images.shape) == (2, resolution, resolution, channels)
    assert images.dtype == "float32"
    if name != "pggan":  # ProGAN's output is linear, as in the paper
        assert np.all(np.abs(images.numpy()) <= 1.0)  # tanh output
    logits = pair.discriminator(images, training=False)
    assert tuple(logits.shape) == (2, HEADS[head].units)
    assert logits.dtype == "float32"
    assert pair.resolution == resolution and pair.latent_dim == 16


def _trainable(model):
    return int(sum(np.prod(v.shape) for v in model.trainable_variables))


def test_mnist28_parameter_counts_match_source_003():
    pair = build_models("mnist28")
    assert _trainable(pair.generator) == 2_169_473
    assert _trainable(pair.discriminator) == 1_713_025


def test_dcgan64_matches_pytorch_tutorial_counts():
    # The PyTorch DCGAN tutorial prints 3,576,704 (G) and 2,765,568 (D) parameters.
    pair = build_models("dcgan64")
    assert _trainable(pair.generator) == 3_576_704
    assert _trainable(pair.discriminator) == 2_765_568


def test_dcgan64_has_no_biases_and_bn_where_the_paper_puts_it():
    pair = build_models("dcgan64", resolution=64)
    for model in (pair.generator, pair.discriminator):
        for layer in model.layers:
            if isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose)):
                assert not layer.use_bias, layer.name
    d_bn = [l.name for l in pair.discriminator.layers
            if isinstance(l, keras.layers.BatchNormalization)]
    assert d_bn == ["down1_bn", "down2_bn", "down3_bn"]  # not on the first conv
    g_last = pair.generator.layers[-2]
    assert g_last.name == "to_image"  # G's last conv is followed by tanh, not BN


def test_dcgan64_init_statistics():
    keras.utils.set_random_seed(3)
    pair = build_models("dcgan64", resolution=64)
    kernel = pair.generator.get_layer("up1").kernel.numpy()
    assert abs(kernel.mean()) < 1e-3 and abs(kernel.std() - 0.02) < 1e-3
    gamma = pair.generator.get_layer("up1_bn").gamma.numpy()
    assert abs(gamma.mean() - 1.0) < 0.01 and 0.01 < gamma.std() < 0.03


def _source_004_counts(depths, z_dim=100, f_size=6, d_depths=(64, 128, 256, 512)):
    """Trainable parameters of source 004's TF1 code, variable by variable: G's w0
    [z_dim, d0 * f * f] and b0 [d0] (ONE bias per channel, added after the reshape), each
    transposed conv's weights [5, 5, out, in] and biases [out], BatchNorm without scale
    and offset; D's convs and the [dim, 2] classifier."""
    g = z_dim * depths[0] * f_size * f_size + depths[0]
    chain = list(depths) + [3]
    g += sum(5 * 5 * o * i + o for i, o in zip(chain[:-1], chain[1:]))
    d_chain = [3] + list(d_depths)
    d = sum(5 * 5 * i * o + o for i, o in zip(d_chain[:-1], d_chain[1:]))
    d += f_size * f_size * d_depths[-1] * 2 + 2
    return g, d


def test_faces96_parameter_counts_equal_the_source_code():
    for preset, depths in (("cpu", (250, 150, 90, 54)), ("paper", (1024, 512, 256, 128))):
        pair = build_models("faces96", g_preset=preset)
        g, d = _source_004_counts(depths)
        assert (_trainable(pair.generator), _trainable(pair.discriminator)) == (g, d), preset
    # the cpu preset's first layer: 900,000 weights and 250 biases (not 9,000)
    project = build_models("faces96", g_preset="cpu").generator.get_layer("project")
    assert tuple(project.kernel.shape) == (6, 6, 250, 100) and tuple(project.bias.shape) == (250,)


def test_faces96_project_layer_is_dense_plus_channel_bias():
    """The transposed-conv form equals matmul -> reshape -> + b0 of the source."""
    pair = build_models("faces96", g_preset="cpu")
    layer = pair.generator.get_layer("project")
    rng = np.random.default_rng(0)
    layer.bias.assign(rng.normal(size=250).astype("float32"))
    z = rng.uniform(-1, 1, size=(2, 100)).astype("float32")
    out = layer(z.reshape(2, 1, 1, 100)).numpy()  # [2, 6, 6, 250]
    w = layer.kernel.numpy()  # [6, 6, 250, 100]: (row, col, out, in)
    expected = np.einsum("ni,rcoi->nrco", z, w) + layer.bias.numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


def test_faces96_presets_and_resolution():
    cpu = build_models("faces96", g_preset="cpu")
    assert [cpu.generator.get_layer(f"up{i}").filters for i in range(3)] == [150, 90, 54]
    assert cpu.discriminator.output.shape[-1] == 2  # softmax2 head by default
    assert [cpu.discriminator.get_layer(f"down{i}").filters for i in range(4)] == [64, 128, 256, 512]


@pytest.mark.parametrize("name", list(MODELS))
def test_keras_file_and_config_round_trip(name, tmp_path):
    pair = build_models(name, **SMALL[name], latent_dim=8)
    z = np.random.normal(size=(3, 8)).astype("float32")
    for model, x in ((pair.generator, z), (pair.discriminator, pair.generator(z).numpy())):
        # get_config -> from_config gives the same architecture; same weights, same output.
        clone = type(model).from_config(model.get_config())
        clone.set_weights(model.get_weights())
        np.testing.assert_allclose(clone(x, training=False), model(x, training=False), atol=1e-6)
        path = tmp_path / f"{model.name}.keras"
        model.save(path)
        loaded = keras.saving.load_model(path)
        np.testing.assert_allclose(loaded(x, training=False), model(x, training=False), atol=1e-6)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(name="dcgan65"), r"Unknown model 'dcgan65'.*dcgan64.*faces96.*mnist28"),
        (dict(name="dcgan64", head="softmax3"), r"Unknown discriminator head 'softmax3'.*linear"),
        (dict(name="dcgan64", resolution=48), r"cannot make resolution 48.*\[32, 64, 128\]"),
        (dict(name="mnist28", resolution=32), r"cannot make resolution 32.*\[28\]"),
        (dict(name="faces96", resolution=100), r"cannot make resolution 100"),
        (dict(name="dcgan64", latent_dim=0), r"latent_dim must be a positive integer, got 0"),
        (dict(name="dcgan64", latent_dim=-3), r"latent_dim .* got -3"),
        (dict(name="faces96", g_preset="gpu"), r"Unknown g_preset 'gpu'.*cpu.*paper"),
        (dict(name="faces96", g_depths=(8, 8)), r"g_depths must be 4 positive integers"),
        (dict(name="mnist28", ngf=4), r"has no option\(s\) \['ngf'\]"),
    ],
)
def test_bad_arguments_raise_value_error_naming_choices(kwargs, match):
    name = kwargs.pop("name")
    with pytest.raises(ValueError, match=match):
        build_models(name, **kwargs)


# ---------------------------------------------------------------------- fused BatchNorm


@pytest.mark.parametrize("shape,policy", [((6, 5, 5, 4), "float32"), ((6, 4), "float32"),
                                          ((6, 5, 5, 4), "mixed_float16")])
def test_fused_batchnorm_equals_keras_batchnorm(shape, policy):
    """Same outputs, moving statistics, first- and second-order gradients as Keras' layer
    (the second order is what R1 and the gradient penalty take through D)."""
    import keras
    import tensorflow as tf

    from dcgan_tf.models.batchnorm import FusedBatchNormalization

    keras.mixed_precision.set_global_policy(policy)
    kw = dict(momentum=0.9, epsilon=1e-5,
              gamma_initializer=keras.initializers.RandomNormal(1.0, 0.3, seed=1),
              beta_initializer=keras.initializers.RandomNormal(0.0, 0.3, seed=2))
    x = tf.Variable(tf.random.stateless_normal(shape, [1, 2]) * 3.0 + 1.0)
    results = []
    for layer in (keras.layers.BatchNormalization(**kw), FusedBatchNormalization(**kw)):
        with tf.GradientTape(persistent=True) as outer:
            with tf.GradientTape() as inner:
                inner.watch(x)
                y = tf.cast(layer(tf.cast(x, layer.compute_dtype), training=True), tf.float32)
                loss = tf.reduce_sum(tf.sin(y) * tf.range(y.shape[-1], dtype=tf.float32))
            dx, dgamma, dbeta = inner.gradient(loss, [x, layer.gamma, layer.beta])
            penalty = tf.reduce_sum(tf.square(dx))
        ddx = outer.gradient(penalty, x)
        inference = layer(tf.cast(x, layer.compute_dtype), training=False)
        results.append([y, dx, dgamma, dbeta, ddx, layer.moving_mean, layer.moving_variance,
                        tf.cast(inference, tf.float32)])
    tol = 2e-2 if policy == "mixed_float16" else 1e-4
    names = ["y", "dx", "dgamma", "dbeta", "ddx", "moving_mean", "moving_variance", "inference"]
    for name, a, b in zip(names, *results):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=tol, atol=tol, err_msg=name)
    assert results[1][0].dtype == tf.float32


def test_fused_batchnorm_leaves_what_it_cannot_do_to_keras():
    import tensorflow as tf

    from dcgan_tf.models.batchnorm import FusedBatchNormalization

    layer = FusedBatchNormalization()
    x = tf.ones([2, 3, 4, 5])
    layer.build(x.shape)
    assert layer._fusable(x, True, None)
    assert not layer._fusable(x, False, None) and not layer._fusable(x, None, None)
    assert not layer._fusable(tf.ones([2, 3, 4]), True, None)  # 3-D
    layer.synchronized = True
    assert not layer._fusable(x, True, None)
    assert not FusedBatchNormalization(axis=1)._fusable(x, True, None)
    assert not FusedBatchNormalization(epsilon=1e-6)._fusable(x, True, None)


def test_every_batchnorm_model_uses_the_fused_layer_and_exports_keras_own():
    from dcgan_tf.models.batchnorm import FusedBatchNormalization
    from dcgan_tf.models.common import all_layers, with_plain_batchnorm

    pair = build_models("dcgan64", **SMALL["dcgan64"])
    for model in (pair.generator, pair.discriminator):
        norms = [l for l in all_layers(model) if isinstance(l, keras.layers.BatchNormalization)]
        assert norms and all(isinstance(l, FusedBatchNormalization) for l in norms)
    plain = with_plain_batchnorm(pair.generator)
    kinds = {type(l).__name__ for l in all_layers(plain)}
    assert "BatchNormalization" in kinds and "FusedBatchNormalization" not in kinds
    for a, b in zip(plain.weights, pair.generator.weights):
        assert a.path == b.path and np.array_equal(a.numpy(), b.numpy())
    pggan = build_models("pggan", **SMALL["pggan"]).generator  # no BatchNorm: itself
    assert with_plain_batchnorm(pggan) is pggan


def test_families_carry_their_capabilities():
    """Code asks the family (grows, conditional, spectral_norm), never the model's name."""
    for name, family in MODELS.items():
        growing = name == "pggan"
        assert (family.grows, family.conditional, family.spectral_norm) == \
            (growing, not growing, not growing), name


def test_build_from_config_with_keras_batchnorm():
    """The public way to build with Keras' own BatchNormalization (tools/benchmark.py's
    kerasbn variant): same weights layout, no fused layer left."""
    from dcgan_tf.config import Config
    from dcgan_tf.gan.assemble import build_from_config, resolve_config
    from dcgan_tf.models.batchnorm import FusedBatchNormalization
    from dcgan_tf.models.common import all_layers

    config = resolve_config(Config(model="dcgan64", **SMALL["dcgan64"]))
    fused = build_from_config(config)
    plain = build_from_config(config, plain_batchnorm=True)
    for a, b in ((fused.generator, plain.generator), (fused.discriminator, plain.discriminator)):
        norms = [l for l in all_layers(b) if isinstance(l, keras.layers.BatchNormalization)]
        assert norms and not any(isinstance(l, FusedBatchNormalization) for l in norms)
        assert [w.shape for w in a.weights] == [w.shape for w in b.weights]
