"""Feature extractors for the distribution metrics: InceptionV3 (FID, KID, IS, precision/
recall on natural images) and a small classifier trained on the real data (Fréchet
classifier distance, conditional accuracy, modes; the offline and small-image choice).

An extractor maps uint8 images [N, H, W, C] to (features [N, D] float64, class
probabilities [N, K]). Its `key` names its weights exactly (a hash of the weights file), so
cached real-data statistics are never reused with other weights.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys

import numpy as np
import tensorflow as tf

from dcgan_tf.utils.errors import UserError
from dcgan_tf.utils.progress import Progress

INCEPTION_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels.h5"
INCEPTION_URL = ("https://storage.googleapis.com/tensorflow/keras-applications/"
                 "inception_v3/" + INCEPTION_FILE)
INCEPTION_SIZE = 299


def cache_dir(*parts: str) -> str:
    """dcgan_tf's cache folder ($DCGAN_TF_CACHE, else ~/.cache/dcgan_tf) joined with parts."""
    root = os.environ.get("DCGAN_TF_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "dcgan_tf")
    return os.path.join(root, *parts)


def file_hash(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def _batches(images, batch_size):
    """Batches of `images`, with a progress line on stderr when it takes a while."""
    bar = Progress(len(images), "Features", unit="images")
    for i in range(0, len(images), batch_size):
        yield images[i:i + batch_size]
        bar.update(min(i + batch_size, len(images)))
    bar.close()


class InceptionFeatures:
    """InceptionV3 with its ImageNet classifier: 2,048-d average-pool features and the
    1,000-class softmax. Images are resized to 299x299 (bilinear), gray ones repeated to RGB,
    and scaled to [-1, 1], the preprocessing of keras.applications.inception_v3."""

    batch_size = 50

    def __init__(self, weights: str = ""):
        import keras

        path = weights or self._cached_or_downloaded()
        if not os.path.isfile(path):
            raise UserError(f"--inception_weights {path!r} is not a file.")
        model = keras.applications.InceptionV3(include_top=True, weights=None)
        try:
            model.load_weights(path)
        except Exception as error:  # noqa: BLE001 - any unreadable file is the user's
            raise UserError(f"{path!r} is not an InceptionV3 weights file Keras can load "
                            f"({type(error).__name__}: {str(error).splitlines()[0][:120]})."
                            ) from None
        self.model = keras.Model(model.input, [model.get_layer("avg_pool").output,
                                               model.output])
        self.key = "inception_v3:" + file_hash(path)
        self.weights = path

    @staticmethod
    def _cached_or_downloaded() -> str:
        cached = os.path.join(os.path.expanduser("~"), ".keras", "models", INCEPTION_FILE)
        if os.path.isfile(cached):
            return cached
        from dcgan_tf.data.tfds_source import can_reach

        if not can_reach("storage.googleapis.com"):
            raise UserError("InceptionV3 weights are not in Keras' cache (~/.keras/models) and "
                            "storage.googleapis.com cannot be reached: pass "
                            "--inception_weights=PATH (the Keras file " + INCEPTION_FILE +
                            ") or the classifier metrics (fd, kd, pr with --features=classifier:...) "
                            "in place of fid, kid and is.")
        import keras

        try:
            return keras.utils.get_file(INCEPTION_FILE, INCEPTION_URL, cache_subdir="models")
        except Exception as error:  # noqa: BLE001
            raise UserError(f"Could not download the InceptionV3 weights ({error}); pass "
                            "--inception_weights=PATH.") from None

    @tf.function(reduce_retracing=True)
    def _forward(self, images):
        x = tf.cast(images, tf.float32)
        if x.shape[-1] == 1:
            x = tf.repeat(x, 3, axis=-1)
        x = tf.image.resize(x, [INCEPTION_SIZE, INCEPTION_SIZE], method="bilinear")
        return self.model(x / 127.5 - 1.0, training=False)

    def __call__(self, images_u8):
        feats, probs = [], []
        for batch in _batches(np.asarray(images_u8), self.batch_size):
            f, p = self._forward(tf.constant(batch))
            feats.append(f.numpy())
            probs.append(p.numpy())
        return np.concatenate(feats).astype(np.float64), np.concatenate(probs)


class ClassifierFeatures:
    """A classifier saved by `python -m dcgan_tf.evaluate train-classifier` (a .keras file
    with a `features` layer and a softmax output, and PATH.json beside it). RGB images fed
    to a one-channel classifier are read channel by channel (stacked digits): features are
    concatenated and probabilities come per channel, [N, 3, K]."""

    batch_size = 256

    def __init__(self, path: str):
        import keras

        if not os.path.isfile(path):
            raise UserError(f"Classifier {path!r} is not a file; make one with python -m "
                            "dcgan_tf.evaluate train-classifier --data=... --out=PATH.keras.")
        try:
            model = keras.models.load_model(path, compile=False)
            self.model = keras.Model(model.input, [model.get_layer("features").output,
                                                   model.output])
        except Exception as error:  # noqa: BLE001
            raise UserError(f"{path!r} is not a dcgan_tf classifier ({type(error).__name__})."
                            ) from None
        info_path = path + ".json"
        self.info = json.load(open(info_path)) if os.path.isfile(info_path) else {}
        self.input_shape = tuple(int(d) for d in model.input.shape[1:])
        self.num_classes = int(model.output.shape[-1])
        self.key = "classifier:" + file_hash(path)
        self.path = path
        self._told_resize = False  # the resize note is said once

    def check_images(self, shape, what: str) -> None:
        """Channels must fit (or be RGB, read channel by channel); another size is resized
        to the classifier's, real and generated images alike, as FID resizes every image to
        InceptionV3's 299x299 (one note on stderr)."""
        size, channels = tuple(shape[:2]), shape[2]
        if channels not in (self.input_shape[2], 3):
            raise UserError(f"{what} are {shape[0]}x{shape[1]}x{shape[2]}; the classifier "
                            f"{self.path!r} reads {self.input_shape[0]}x{self.input_shape[1]}x"
                            f"{self.input_shape[2]}.")
        if size != self.input_shape[:2] and not self._told_resize:
            self._told_resize = True
            print(f"{what} are {shape[0]}x{shape[1]}: resized to the classifier's "
                  f"{self.input_shape[0]}x{self.input_shape[1]} (antialiased), real and "
                  f"generated alike.", file=sys.stderr, flush=True)

    def __call__(self, images_u8):
        images = np.asarray(images_u8)
        if images.shape[-1] != self.input_shape[-1]:  # RGB through a gray classifier
            parts = [self(images[..., c:c + 1]) for c in range(images.shape[-1])]
            return (np.concatenate([f for f, _ in parts], axis=1),
                    np.stack([p for _, p in parts], axis=1))
        feats, probs = [], []
        size = list(self.input_shape[:2])
        for batch in _batches(images, self.batch_size):
            x = tf.constant(batch, tf.float32)
            if list(x.shape[1:3]) != size:
                x = tf.clip_by_value(tf.image.resize(x, size, antialias=True), 0.0, 255.0)
            f, p = self.model(x / 127.5 - 1.0, training=False)
            feats.append(np.asarray(f))
            probs.append(np.asarray(p))
        return np.concatenate(feats).astype(np.float64), np.concatenate(probs)
