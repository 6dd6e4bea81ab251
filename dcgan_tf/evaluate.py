"""Scores a generator (or any folder of images) against real data.

    python -m dcgan_tf.evaluate --model=EXPORT_OR_WORKDIR --data=REAL --metrics=fid,kid
    python -m dcgan_tf.evaluate --fake=FOLDER --data=REAL --metrics=...
    python -m dcgan_tf.evaluate train-classifier --data=LABELLED --out=PATH.keras

Prints one JSON object: each metric's value(s), the sample counts, the feature extractors
(named by a hash of their weights) and the seed; `--write` also appends it to the
workdir's evaluation.jsonl. Metrics (dcgan_tf.metrics):
  fid       Fréchet distance in InceptionV3 pool features (Heusel et al. 2017)
  kid       kernel Inception distance, with its standard error over subsets
  is        Inception score, 10 splits
  pr        precision and recall, k = 3 (Kynkäänniemi et al. 2019), in --features
  swd       sliced Wasserstein distance x 1e3 over Laplacian-pyramid patches (Karras 2018)
  ms_ssim   mean MS-SSIM of random pairs of samples (and of real pairs, for scale)
  fd        Fréchet distance in a classifier's features (and between two halves of the real
            set, for scale)
  cond_acc  share of a conditional model's samples the classifier gives the asked class
  modes     classes (or stacked-digit combinations) the samples cover, and the KL
            divergence of their histogram from the real one
Inception metrics need the InceptionV3 weights: Keras' cache, a download, or
--inception_weights=PATH. Classifier metrics use --features=classifier:PATH, or with
--data=digits (or --features=classifier:digits, e.g. for stacked digits) a digits
classifier trained on first use and cached. Real-data features are
cached per data content and extractor (in $DCGAN_TF_CACHE or ~/.cache/dcgan_tf).
"""

from __future__ import annotations

import json
import os

from dcgan_tf.utils.errors import UserError
from dcgan_tf.metrics.evaluation import (Evaluation, check_native_size, feature_options,
                                         generated_images, load_images, parse_metrics)


def _folder_image_shape(folder: str) -> tuple[int, int]:
    """(side, channels) of the first image of a folder of generated images."""
    from PIL import Image

    from dcgan_tf.data.files import is_image_name, list_files

    if not os.path.isdir(folder):
        raise UserError(f"--fake {folder!r} is not a folder of images.")
    files = [name for name in list_files(folder) if is_image_name(name)]
    if not files:
        raise UserError(f"--fake {folder!r} has no images.")
    try:
        with Image.open(os.path.join(folder, files[0])) as image:
            width, height = image.size
            channels = 1 if image.mode in ("L", "I", "I;16", "1") else 3
    except OSError as error:
        raise UserError(f"Cannot read {files[0]!r} in --fake: {error}.") from None
    if width != height:
        raise UserError(f"--fake images must be square; {files[0]!r} is {width}x{height}.")
    return width, channels


def evaluate(f) -> list[str]:
    from dcgan_tf.generate import LoadedGenerator
    from dcgan_tf.artifacts.workdir import Workdir

    if not f.data:
        raise UserError("--data is required: the real images to compare with.")
    if bool(f.model) == bool(f.fake):
        raise UserError("Give exactly one of --model (an export or workdir) and --fake (a "
                        "folder of generated images).")
    if not 1 <= f.num_samples <= 200_000:
        raise UserError(f"--num_samples must be in [1, 200000], got {f.num_samples}.")
    default = "fd,swd" if f.data == "digits" else "fid,kid"
    names = parse_metrics(f.metrics or default)
    num_classes = 0
    if f.model:
        gen = LoadedGenerator(f.model)
        size, channels = gen.image_shape[0], gen.image_shape[2]
        num_classes = gen.num_classes
        fake = generated_images(gen, f.num_samples, f.seed)
    else:
        size, channels = _folder_image_shape(f.fake)
        fake = load_images(f.fake, size, channels, limit=f.num_samples, seed=f.seed)
    check_native_size(f.data, size)
    real = load_images(f.data, size, channels, limit=f.num_real or 1_000_000, seed=f.seed,
                       tfds_split=f.tfds_split, tfds_data_dir=f.tfds_data_dir)
    choice, classifier = feature_options(f.features, f.data, size, names)
    ev = Evaluation(real, fake, features=choice, inception_weights=f.inception_weights,
                    classifier=classifier, seed=f.seed, num_classes=num_classes)
    report = ev.run(names)
    report.update(model=f.model or None, fake=f.fake or None, data=f.data)
    line = json.dumps(report)
    out = [line]
    if f.write:
        if not f.model or not Workdir(f.model).has_run():
            raise UserError("--write needs --model to be a training workdir.")
        from dcgan_tf.utils.atomic_files import append_line

        path = Workdir(f.model).file("evaluation.jsonl")
        append_line(path, line)
        out.append(f"Appended to {path}.")
    return out


def train_classifier_command(f) -> list[str]:
    from dcgan_tf.metrics.classifier import save_classifier, train_classifier

    if not f.data or not f.out:
        raise UserError("train-classifier needs --data (labelled images) and --out "
                        "(the .keras file to write).")
    if not f.out.endswith(".keras"):
        raise UserError(f"--out must end in .keras, got {f.out!r}.")
    size, channels, epochs = f.classifier_resolution, f.classifier_channels, f.classifier_epochs
    if channels not in (1, 3) or not 8 <= size <= 1024:
        raise UserError("--classifier_channels must be 1 or 3 and --classifier_resolution in "
                        "[8, 1024].")
    if not 1 <= epochs <= 1000:
        raise UserError(f"--classifier_epochs must be in [1, 1000], got {epochs}.")
    data = load_images(f.data, size, channels, limit=f.num_real, seed=f.seed,
                       tfds_split=f.tfds_split, tfds_data_dir=f.tfds_data_dir)
    if data.labels is None:
        raise UserError(f"{f.data!r} has no labels (class subfolders, labelled records or an "
                        ".npz with 'labels'); a classifier needs them.")
    model, accuracy = train_classifier(data.images, data.labels, epochs=epochs, seed=f.seed,
                                       verbose=1)
    save_classifier(model, f.out, {"data": f.data, "resolution": size, "channels": channels,
                                   "classes": int(data.labels.max()) + 1,
                                   "holdout_accuracy": accuracy, "images": len(data.images)})
    return [f"Holdout accuracy {accuracy:.4f} on {len(data.images)} images; wrote {f.out}."]


def run(f, command=None) -> list[str]:
    if command == "train-classifier":
        return train_classifier_command(f)
    return evaluate(f)


def main(argv=None):
    from dcgan_tf.utils.cli import run_command
    from dcgan_tf.flags import define_evaluate_flags

    run_command("dcgan_tf.evaluate", define_evaluate_flags, run, argv,
                commands=("train-classifier",))


if __name__ == "__main__":
    main()
