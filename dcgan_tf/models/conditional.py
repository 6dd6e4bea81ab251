"""Makes any registered architecture conditional on a label vector y in [0, 1]^K.

Generator: [z, y] -> concat -> the base generator built for latent_dim + K inputs
(source 002). Discriminator, by `d_conditioning`:

    input       y broadcast to K constant maps concatenated to the image channels
                (source 002's choice); the base D is built for channels + K.
    hidden      the maps are concatenated after D's first activation instead (at half
                resolution), so the first convolution sees the image alone.
    input+hidden  both.
    projection  Miyato & Koyama 2018: logit = psi(phi(x)) + <E y, phi(x)>, with phi(x) the
                flattened input of the base D's final `logits` layer and E a learned
                embedding (a bias-free Dense, so soft label vectors work too). Needs a
                one-logit head (sigmoid or linear).

Labels are float vectors, not class indices, so generation can ask for any mixture
(source 002's slider experiments). Only built-in Keras layers are used: the .keras files
and SavedModels load without this package.
"""

from __future__ import annotations

import keras

from dcgan_tf.config import D_CONDITIONING  # the choices' one home (imports without TF)
from dcgan_tf.models.heads import get_head


def wrap_generator(base: keras.Model, latent_dim: int, num_classes: int) -> keras.Model:
    z = keras.Input((latent_dim,), name="z")
    y = keras.Input((num_classes,), name="labels")
    zy = keras.layers.Concatenate(name="z_and_labels")([z, y])
    return keras.Model([z, y], base(zy), name=base.name)


def label_maps(y, height: int, width: int, num_classes: int, name: str):
    """[N, K] -> [N, height, width, K] of constant maps (built-in layers only)."""
    maps = keras.layers.Reshape((1, 1, num_classes), name=f"{name}_1x1")(y)
    return keras.layers.UpSampling2D((height, width), name=name)(maps)


def input_discriminator(base: keras.Model, resolution: int, channels: int,
                        num_classes: int) -> keras.Model:
    images = keras.Input((resolution, resolution, channels), name="images")
    y = keras.Input((num_classes,), name="labels")
    maps = label_maps(y, resolution, resolution, num_classes, "label_maps")
    x = keras.layers.Concatenate(axis=-1, name="images_and_label_maps")([images, maps])
    return keras.Model([images, y], base(x), name=base.name)


def hidden_discriminator(base: keras.Model, resolution: int, channels: int, num_classes: int,
                         also_input: bool) -> keras.Model:
    """Re-creates the (freshly built, chain-shaped) base D layer by layer from its configs
    and joins label maps after its first activation (and to the input if `also_input`);
    the layer that follows is built for the extra channels."""
    layers = [l for l in base.layers if not isinstance(l, keras.layers.InputLayer)]
    for prev, layer in zip(layers, layers[1:]):
        if prev.output is not getattr(layer, "input", None):
            raise ValueError(f"Hidden-layer conditioning needs a chain-shaped discriminator; "
                             f"{base.name!r} branches at {layer.name!r}.")
    first_act = next((i for i, l in enumerate(layers)
                      if isinstance(l, (keras.layers.LeakyReLU, keras.layers.ReLU,
                                        keras.layers.Activation))), None)
    if first_act is None or first_act + 1 >= len(layers):
        raise ValueError(f"{base.name!r} has no hidden activation to join labels after.")
    images = keras.Input((resolution, resolution, channels), name="images")
    y = keras.Input((num_classes,), name="labels")
    x = images
    if also_input:
        x = keras.layers.Concatenate(axis=-1, name="images_and_label_maps")(
            [x, label_maps(y, resolution, resolution, num_classes, "label_maps")])
    for i, layer in enumerate(layers):
        x = layer.__class__.from_config(layer.get_config())(x)
        if i == first_act:
            h, w = x.shape[1], x.shape[2]
            x = keras.layers.Concatenate(axis=-1, name="hidden_and_label_maps")(
                [x, label_maps(y, h, w, num_classes, "hidden_label_maps")])
    return keras.Model([images, y], x, name=base.name)


def projection_discriminator(base: keras.Model, head: str, num_classes: int) -> keras.Model:
    if get_head(head).units != 1:
        raise ValueError(f"The projection discriminator needs a one-logit head (sigmoid or "
                         f"linear), got {head!r}.")
    logits_layer = base.get_layer("logits")
    reshape = base.get_layer("logits_reshape")
    features = keras.Model(base.inputs, logits_layer.input, name=f"{base.name}_features")
    images = keras.Input(base.inputs[0].shape[1:], name="images")
    y = keras.Input((num_classes,), name="labels")
    phi = features(images)
    logit = reshape(logits_layer(phi))  # psi(phi(x)), [N, 1]
    flat = keras.layers.Flatten(name="phi_flat", dtype="float32")(phi)
    embed = keras.layers.Dense(flat.shape[-1], use_bias=False, dtype="float32",
                               kernel_initializer=keras.initializers.RandomNormal(stddev=0.02),
                               name="label_embedding")(y)
    proj = keras.layers.Dot(axes=1, name="projection", dtype="float32")([embed, flat])
    out = keras.layers.Add(name="conditional_logits", dtype="float32")([logit, proj])
    return keras.Model([images, y], out, name=base.name)
