"""A small CNN classifier of the real data, for metrics in its features (Fréchet classifier
distance, conditional accuracy, modes) where InceptionV3 is unavailable or meaningless
(8x8 digits upscaled to 32x32 are not ImageNet photos).

Network: 3x3 convolutions 32, 32/2, 64, 64/2 (ReLU, batch norm), global average pool, a
128-unit `features` layer, softmax over the classes. Trained with Adam on 80% of the
labelled images (random shifts of up to 1/16 of the side, so slightly misplaced generated
digits are still read), its accuracy measured on the other 20%, then saved with a JSON
beside it (classes, resolution, holdout accuracy, data).
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np

from dcgan_tf.utils.errors import UserError
from dcgan_tf.utils.atomic_files import atomic_write_bytes, ensure_parent_writable
from dcgan_tf.utils.tiles import to_uint8


DIGITS_EPOCHS = 20  # the cached digits classifier's training length
# Part of the cached classifier's file name: a change of the network or its training bumps
# it, so a cache filled by an older version is never read as this one.
CLASSIFIER_VERSION = 2


def build_classifier(shape, num_classes: int, seed: int = 0):
    import keras
    from keras import layers

    init = keras.initializers.HeNormal(seed=seed)
    inputs = keras.Input(shape)
    x = layers.RandomTranslation(0.0625, 0.0625, fill_mode="constant", fill_value=-1.0,
                                 seed=seed)(inputs)
    for i, (filters, stride) in enumerate([(32, 1), (32, 2), (64, 1), (64, 2)]):
        x = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False,
                          kernel_initializer=init, name=f"conv{i}")(x)
        # momentum 0.9, not Keras' 0.99: with ~1,000 updates the 0.99 moving averages lag
        # the trained weights and the inference-mode holdout accuracy drops (mnist5k, 8
        # epochs: 0.914 against 0.946; BUILD_NOTES, issue 21)
        x = layers.BatchNormalization(momentum=0.9, name=f"bn{i}")(x)
        x = layers.ReLU()(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(128, activation="relu", kernel_initializer=init, name="features")(x)
    x = layers.Dropout(0.3, seed=seed)(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="probs",
                           dtype="float32")(x)
    return keras.Model(inputs, outputs, name="classifier")


def train_classifier(images_u8, labels, *, epochs: int = 20, seed: int = 0,
                     verbose: int = 0):
    """-> (keras model trained on a seeded 80% of the images, its accuracy on the other
    20%). One training, not a refit on all images: the saved model is the measured one.
    `verbose`: show the training's progress (one line on stderr, no colour codes; Keras'
    own bar would write to stdout, among the results)."""
    import keras

    x = np.asarray(images_u8, np.float32) / 127.5 - 1.0
    y = np.asarray(labels, np.int64)
    if len(np.unique(y)) < 2:
        raise UserError("train-classifier needs at least two classes in the data's labels.")
    if len(x) < 20:
        raise UserError(f"train-classifier needs at least 20 labelled images, got {len(x)}.")
    order = np.random.default_rng(seed).permutation(len(x))
    cut = int(len(x) * 0.8)
    keras.utils.set_random_seed(seed)
    model = build_classifier(x.shape[1:], int(y.max()) + 1, seed)
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    callbacks = []
    if verbose:
        from dcgan_tf.utils.progress import fit_progress

        callbacks.append(fit_progress("Training the classifier", epochs, -(-cut // 64)))
    model.fit(x[order[:cut]], y[order[:cut]], batch_size=64, epochs=epochs, verbose=0,
              shuffle=True, callbacks=callbacks)
    accuracy = float(model.evaluate(x[order[cut:]], y[order[cut:]], verbose=0)[1])
    return model, accuracy


def save_classifier(model, path: str, info: dict) -> None:
    """Writes PATH (.keras) and PATH.json, each to a temporary name first."""
    ensure_parent_writable(path, "--out")
    tmp = path + ".tmp.keras"
    model.save(tmp)
    os.replace(tmp, path)
    atomic_write_bytes(path + ".json", (json.dumps(info, indent=2) + "\n").encode())


def digits_classifier_path(resolution: int) -> str:
    """The cached classifier of scikit-learn's digits at `resolution`; trained on first use."""
    from dcgan_tf.metrics.features import cache_dir

    path = cache_dir("classifiers", f"digits{resolution}_v{CLASSIFIER_VERSION}.keras")
    if not os.path.isfile(path):
        from dcgan_tf.data.digits import NUM_CLASSES, load_digits

        print(f"Training the digits classifier for {resolution}x{resolution} (first use; "
              f"cached at {path}) ...", file=sys.stderr, flush=True)
        images, labels = load_digits(resolution)
        u8 = to_uint8(images)
        model, accuracy = train_classifier(u8, labels, epochs=DIGITS_EPOCHS, verbose=1)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        save_classifier(model, path, {"data": "digits", "resolution": resolution,
                                      "channels": 1, "classes": NUM_CLASSES,
                                      "holdout_accuracy": accuracy, "images": len(u8)})
        print(f"Cached the digits classifier (holdout accuracy {accuracy:.3f}) at {path}.",
              file=sys.stderr, flush=True)
    return path
