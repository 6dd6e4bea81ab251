"""Exports of the generator that load without dcgan_tf.

An export folder holds
  saved_model.pb, variables/   SavedModel (keras.export.ExportArchive), float32 signatures:
      serving_default(z float32 [N, latent_dim]) -> {"images": uint8 [N, H, W, C]}
      sample(num int32 [], seed int64 []) -> {"images": uint8 [num, H, W, C],
                                               "z": float32 [num, latent_dim]}
    conditional generators take one more input, labels float32 [N, num_classes] in [0, 1]
    (any mixture, not only one-hot); in `sample` a [1, num_classes] row applies to all.
  generator.keras, discriminator.keras   for keras.saving.load_model
  export.json                 signatures, latent size and distribution, image size, step
It is written to a temporary folder beside the target and renamed when complete, so a
crash never leaves a half export.

`sample(num, seed)` draws z exactly as `dcgan_tf.models.latent` does for an integer seed, so the
same seed gives the same images here, in `dcgan_tf.generate` and in the web app.
"""

from __future__ import annotations

import json
import os

import keras
import tensorflow as tf

from dcgan_tf.utils.errors import UserError
from dcgan_tf.utils.atomic_files import ensure_parent_writable, replace_dir, temp_dir_beside
from dcgan_tf.models.latent import get_latent
from dcgan_tf.models.common import with_plain_batchnorm
from dcgan_tf.artifacts.workdir import Workdir


def to_uint8_images(images):
    """Graph version of tiles.to_uint8: [-1, 1] float -> uint8."""
    images = tf.cast(images, tf.float32)
    return tf.cast(tf.clip_by_value(tf.round((images + 1.0) * 127.5), 0.0, 255.0), tf.uint8)


def export_generator(generator: keras.Model, latent_dim: int, path: str, *,
                     latent: str = "normal", discriminator: keras.Model | None = None,
                     extra_info: dict | None = None) -> str:
    """Writes the export folder (see module doc) at `path` and returns the path.

    A growing (pggan) generator is exported as its final-resolution network at alpha = 1
    (`final_model()`, sharing its weights); so is its discriminator."""
    if hasattr(generator, "final_model"):
        generator = generator.final_model()
    if discriminator is not None and hasattr(discriminator, "final_model"):
        discriminator = discriminator.final_model()
    distribution = get_latent(latent)
    num_classes = int(generator.inputs[1].shape[-1]) if len(generator.inputs) == 2 else 0
    archive = keras.export.ExportArchive()
    archive.track(generator)
    z_spec = tf.TensorSpec([None, latent_dim], tf.float32, name="z")
    sample_specs = [tf.TensorSpec([], tf.int32, name="num"), tf.TensorSpec([], tf.int64, name="seed")]
    labels_spec = tf.TensorSpec([None, num_classes], tf.float32, name="labels")

    if num_classes:
        def serve(z, labels):
            images = generator([tf.cast(z, tf.float32), tf.cast(labels, tf.float32)],
                               training=False)
            return {"images": to_uint8_images(images)}

        def sample(num, seed, labels):
            z = distribution.sample(tf.stack([num, latent_dim]), tf.stack([seed, 0]))
            labels = tf.broadcast_to(labels, tf.stack([num, num_classes]))
            return {"images": serve(z, labels)["images"], "z": z}

        archive.add_endpoint(name="serving_default", fn=serve,
                             input_signature=[z_spec, labels_spec])
        archive.add_endpoint(name="sample", fn=sample,
                             input_signature=sample_specs + [labels_spec])
    else:
        def serve(z):
            images = generator(tf.cast(z, tf.float32), training=False)
            return {"images": to_uint8_images(images)}

        def sample(num, seed):
            z = distribution.sample(tf.stack([num, latent_dim]), tf.stack([seed, 0]))
            return {"images": serve(z)["images"], "z": z}

        archive.add_endpoint(name="serving_default", fn=serve, input_signature=[z_spec])
        archive.add_endpoint(name="sample", fn=sample, input_signature=sample_specs)

    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    tmp = temp_dir_beside(os.path.abspath(path))
    try:
        archive.write_out(tmp, verbose=False)
        # Keras' own BatchNormalization in the files: they load without dcgan_tf
        with_plain_batchnorm(generator).save(os.path.join(tmp, "generator.keras"))
        if discriminator is not None:
            with_plain_batchnorm(discriminator).save(os.path.join(tmp, "discriminator.keras"))
        image_shape = [None, *generator.output.shape[1:]]
        labels_info = ({"labels": {"dtype": "float32", "shape": [None, num_classes],
                                   "range": [0.0, 1.0]}} if num_classes else {})
        info = {
            "signatures": {
                "serving_default": {
                    "inputs": {"z": {"dtype": "float32", "shape": [None, latent_dim]},
                               **labels_info},
                    "outputs": {"images": {"dtype": "uint8", "shape": image_shape}},
                },
                "sample": {
                    "inputs": {"num": {"dtype": "int32", "shape": []},
                               "seed": {"dtype": "int64", "shape": []}, **labels_info},
                    "outputs": {"images": {"dtype": "uint8", "shape": image_shape},
                                "z": {"dtype": "float32", "shape": [None, latent_dim]}},
                },
            },
            "num_classes": num_classes,
            "latent_dim": latent_dim,
            "latent": latent,
            "image_shape": list(generator.output.shape[1:]),
            "keras_files": ["generator.keras"]
            + (["discriminator.keras"] if discriminator is not None else []),
            **(extra_info or {}),
        }
        with open(os.path.join(tmp, "export.json"), "w") as f:
            json.dump(info, f, indent=2)
        replace_dir(tmp, path)
    except BaseException:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def export_workdir(workdir: str, out: str | None = None, step: int | None = None,
                   best: bool = False) -> str:
    """Exports the generator of a training run from its checkpoint (`step`, the newest, or
    with `best` the one --eval_best kept); the EMA generator when the run kept one
    (export.json says which).

    Raises UserError when the workdir has no run, no checkpoint, or not that step.
    """
    wd = Workdir(workdir)
    config = wd.config()
    out = out or wd.export
    ensure_parent_writable(out, "--out")
    keras.mixed_precision.set_global_policy("float32")  # exports compute in float32
    if best and step is not None:
        raise UserError("Give --step or --best, not both.")
    generator, discriminator, step, kind = wd.restore_networks(step, best=best)
    info = export_info(config, step, wd.class_names())
    info["weights"] = kind
    if best:
        info["best"] = wd.best_info()
    try:
        return export_generator(generator, config.latent_dim, out, latent=config.latent,
                                discriminator=discriminator, extra_info=info)
    except OSError as e:
        raise UserError(f"Cannot write the export to {out!r}: {e.strerror or e}.") from e


def export_info(config, step: int, class_names=None) -> dict:
    """What export.json records about the run (class names for conditional models)."""
    info = {"step": step, "model": config.model, "resolution": config.resolution,
            "channels": config.channels}
    if config.num_classes:
        info["class_names"] = class_names or [str(i) for i in range(config.num_classes)]
    return info


def _export_command(flag_values):
    if not flag_values.workdir:
        raise UserError("--workdir is required.")
    path = export_workdir(flag_values.workdir, flag_values.out or None, flag_values.step,
                          best=flag_values.best)
    return [f"Exported the generator to {path}."]


def main(argv=None):
    """python -m dcgan_tf.export --workdir=DIR [--out=PATH] [--step=N | --best]"""
    from dcgan_tf.utils.cli import run_command
    from dcgan_tf.flags import define_export_flags

    run_command("dcgan_tf.export", define_export_flags, _export_command, argv)

if __name__ == "__main__":
    main()
