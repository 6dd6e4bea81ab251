"""Scores a generator (or any folder of images) against real data.

    python -m dcgan_tf.evaluate --model=EXPORT_OR_WORKDIR --data=REAL --metrics=fid,kid
    python -m dcgan_tf.evaluate --fake=FOLDER --data=REAL --metrics=...
    python -m dcgan_tf.evaluate train-classifier --data=LABELLED --out=PATH.keras

Prints one JSON object: each metric's value(s), the sample counts, the feature extractors
(named by a hash of their weights), the seed and, for --model, the training step of the
scored weights (export.json's `step`; `newest_checkpoint_step` when the run has newer
checkpoints than its export); `--write` also appends it to the workdir's evaluation.jsonl.
`--fake` takes a folder of square images (`generate --individual` writes them to
OUT/images). Metrics (dcgan_tf.metrics):
  fid       Fréchet distance in InceptionV3 pool features (Heusel et al. 2017)
  kid       kernel Inception distance, with its standard error over subsets
  is        Inception score, 10 splits
  pr        precision and recall, k = 3 (Kynkäänniemi et al. 2019), in --features
  swd       sliced Wasserstein distance x 1e3 over Laplacian-pyramid patches (Karras 2018)
  ms_ssim   mean MS-SSIM of random pairs of samples (and of real pairs, for scale)
  fd        Fréchet distance in a classifier's features (and between two halves of the real
            set, for scale)
  kd        KID's kernel distance in a classifier's features (and between two halves of the
            real set, for scale)
  cond_acc  conditional accuracy: the samples of each class (classes in turn) labelled by
            the package's classifier (--features; the digits CNN for --data=digits), the
            share given the asked class, averaged over classes. The one measure:
            `dcgan-tf conditional-accuracy` is an alias of it
  modes     classes (or stacked-digit combinations) the samples cover, and the KL
            divergence of their histogram from the real one
  confident  share of samples the classifier names with probability >= 0.9 (and of the
            real images, for scale), and the classes the samples are drawn from
Inception metrics need the InceptionV3 weights: Keras' cache, a download, or
--inception_weights=PATH. Classifier metrics use --features=classifier:PATH, or with
--data=digits (or --features=classifier:digits, e.g. for stacked digits) a digits
classifier trained on first use and cached. Real-data features are
cached per data content and extractor (in $DCGAN_TF_CACHE or ~/.cache/dcgan_tf).
"""

from __future__ import annotations

import json
import os

from dcgan_tf.flags import choices, define_settings
from dcgan_tf.utils.cli import ToolFlags, run_command
from dcgan_tf.utils.errors import UserError


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
        hint = ""
        if os.path.isdir(os.path.join(folder, "images")):
            hint = (f" (generate writes its single images into a folder of their own: "
                    f"--fake={os.path.join(folder, 'images')})")
        raise UserError(f"--fake images must be square; {files[0]!r} is {width}x{height}"
                        f"{hint}.")
    return width, channels


def evaluate(args) -> list[str]:
    from dcgan_tf.artifacts.saved_generator import LoadedGenerator
    from dcgan_tf.artifacts.workdir import Workdir
    from dcgan_tf.metrics.catalog import parse_metrics
    from dcgan_tf.metrics.evaluation import Evaluation
    from dcgan_tf.metrics.inputs import (check_native_size, feature_options,
                                         generated_images, load_images)

    if not args.data:
        raise UserError("--data is required: the real images to compare with.")
    if bool(args.model) == bool(args.fake):
        raise UserError("Give exactly one of --model (an export or workdir) and --fake (a "
                        "folder of generated images).")
    if not 1 <= args.num_samples <= 200_000:
        raise UserError(f"--num_samples must be in [1, 200000], got {args.num_samples}.")
    default = "fd,swd" if args.data == "digits" else "fid,kid"
    names = parse_metrics(args.metrics or default)
    num_classes = 0
    if args.model:
        gen = LoadedGenerator(args.model)
        size, channels = gen.image_shape[0], gen.image_shape[2]
        num_classes = gen.num_classes
    else:
        size, channels = _folder_image_shape(args.fake)
    check_native_size(args.data, size)
    # the classifier is found (or refused) before any image is generated or read
    choice, classifier = feature_options(args.features, args.data, size, names)
    if args.model:
        fake = generated_images(gen, args.num_samples, args.seed)
    else:
        fake = load_images(args.fake, size, channels, limit=args.num_samples, seed=args.seed)
    real = load_images(args.data, size, channels, limit=args.num_real or 1_000_000,
                       seed=args.seed, tfds_split=args.tfds_split,
                       tfds_data_dir=args.tfds_data_dir)
    ev = Evaluation(real, fake, features=choice, inception_weights=args.inception_weights,
                    classifier=classifier, seed=args.seed, num_classes=num_classes)
    report = ev.run(names)
    report.update(model=args.model or None, fake=args.fake or None, data=args.data)
    if args.model:  # which weights were scored: the export's training step
        report.update(step=gen.step, export=gen.path, weights=gen.weights)
        steps = Workdir(args.model).checkpoint_steps() if Workdir(args.model).has_run() else {}
        if steps and gen.step is not None and max(steps) > gen.step:
            report["newest_checkpoint_step"] = max(steps)  # the export is older than the run
    line = json.dumps(report)
    out = [line]
    if args.write:
        if not args.model or not Workdir(args.model).has_run():
            raise UserError("--write needs --model to be a training workdir.")
        from dcgan_tf.utils.atomic_files import append_line

        path = Workdir(args.model).evaluation_path
        append_line(path, line)
        out.append(f"Appended to {path}.")
    return out


def train_classifier_command(args) -> list[str]:
    from dcgan_tf.metrics.classifier import save_classifier, train_classifier
    from dcgan_tf.metrics.inputs import load_images

    if not args.data or not args.out:
        raise UserError("train-classifier needs --data (labelled images) and --out "
                        "(the .keras file to write).")
    if not args.out.endswith(".keras"):
        raise UserError(f"--out must end in .keras, got {args.out!r}.")
    size, channels = args.classifier_resolution, args.classifier_channels
    epochs = args.classifier_epochs
    if channels not in (1, 3) or not 8 <= size <= 1024:
        raise UserError("--classifier_channels must be 1 or 3 and --classifier_resolution in "
                        "[8, 1024].")
    if not 1 <= epochs <= 1000:
        raise UserError(f"--classifier_epochs must be in [1, 1000], got {epochs}.")
    data = load_images(args.data, size, channels, limit=args.num_real, seed=args.seed,
                       tfds_split=args.tfds_split, tfds_data_dir=args.tfds_data_dir)
    if data.labels is None:
        raise UserError(f"{args.data!r} has no labels (class subfolders, labelled records or "
                        "an .npz with 'labels'); a classifier needs them.")
    model, accuracy = train_classifier(data.images, data.labels, epochs=epochs, seed=args.seed,
                                       verbose=1)
    save_classifier(model, args.out, {"data": args.data, "resolution": size,
                                      "channels": channels,
                                      "classes": int(data.labels.max()) + 1,
                                      "holdout_accuracy": accuracy,
                                      "images": len(data.images)})
    return [f"Holdout accuracy {accuracy:.4f} on {len(data.images)} images; wrote {args.out}."]


def run(args, command=None) -> list[str]:
    if command == "train-classifier":
        return train_classifier_command(args)
    return evaluate(args)


def define_evaluate_flags() -> ToolFlags:
    """Flags of `python -m dcgan_tf.evaluate` (and its train-classifier command)."""
    tool = ToolFlags()
    tool.string("model", "", "An export folder, or a workdir with an export.")
    tool.string("fake", "", "Instead of --model: a folder of generated images.")
    tool.string("data", "", "Real images: a folder, TFRecords, an .npz, IDX files, tfds:NAME, "
                "digits, mnist5k or lfw100 (train-classifier: labelled ones, e.g. mnist5k for "
                "a stacked-MNIST mode count).")
    tool.string("metrics", "", f"Comma list of {choices('metrics')}; default fd,swd for "
                "--data=digits, else fid,kid.")
    tool.integer("num_samples", 5000, "Generated images to score (seeds --seed, --seed+1, "
                 "...).")
    tool.integer("num_real", 50000, "At most this many real images (a seeded subset).")
    tool.string("features", "", "Features of pr (and the classifier of fd, cond_acc, modes, "
                "confident): inception, classifier or classifier:PATH; default classifier for "
                "--data=digits, else inception.")
    tool.integer("seed", 0, "Seed of the samples and subsets.")
    tool.boolean("write", False, "Also append the result to WORKDIR/evaluation.jsonl.")
    tool.string("out", "", "train-classifier: the classifier file to write (.keras).")
    tool.integer("classifier_epochs", 20, "train-classifier: training epochs.")
    tool.integer("classifier_resolution", 32, "train-classifier: image side the classifier "
                 "reads.")
    tool.integer("classifier_channels", 1, "train-classifier: 1 or 3 channels.")
    define_settings(tool, "inception_weights", "tfds_split", "tfds_data_dir")
    return tool


def main(argv=None):
    run_command("dcgan_tf.evaluate", define_evaluate_flags, run, argv,
                commands=("train-classifier",))


if __name__ == "__main__":
    main()
