"""Exports of the generator that load without dcgan_tf.

SavedModel (via keras.export.ExportArchive) with explicit float32 signatures:
  serving_default(z float32 [N, latent_dim]) -> {"images": uint8 [N, H, W, C]}
Written to a temporary folder beside the target and renamed when complete.
"""

from __future__ import annotations

import json
import os

import keras
import tensorflow as tf

from dcgan_tf.io_utils import replace_dir, temp_dir_beside


def to_uint8_images(images):
    """Graph version of tiles.to_uint8: [-1, 1] float -> uint8."""
    images = tf.cast(images, tf.float32)
    return tf.cast(tf.clip_by_value(tf.round((images + 1.0) * 127.5), 0.0, 255.0), tf.uint8)


def export_generator(generator: keras.Model, latent_dim: int, path: str, *,
                     extra_info: dict | None = None) -> str:
    """Writes a SavedModel of `generator` at `path` and returns the path."""
    archive = keras.export.ExportArchive()
    archive.track(generator)

    def serve(z):
        images = generator(tf.cast(z, tf.float32), training=False)
        return {"images": to_uint8_images(images)}

    archive.add_endpoint(
        name="serving_default",
        fn=serve,
        input_signature=[tf.TensorSpec([None, latent_dim], tf.float32, name="z")],
    )
    tmp = temp_dir_beside(path)
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    archive.write_out(tmp, verbose=False)
    info = {
        "signatures": {
            "serving_default": {
                "inputs": {"z": {"dtype": "float32", "shape": [None, latent_dim]}},
                "outputs": {"images": {"dtype": "uint8",
                                       "shape": [None, *generator.output.shape[1:]]}},
            }
        },
        "latent_dim": latent_dim,
        **(extra_info or {}),
    }
    with open(os.path.join(tmp, "export.json"), "w") as f:
        json.dump(info, f, indent=2)
    replace_dir(tmp, path)
    return path
