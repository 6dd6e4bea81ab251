"""Images into the metrics, as StyleGAN's metric_utils: real images of any --data source,
generated ones of a loaded generator, and which feature extractor --features names.
"""

from __future__ import annotations

import os

import numpy as np

from dcgan_tf.metrics.catalog import METRICS, needs_classifier
from dcgan_tf.metrics.evaluation import NO_CLASSIFIER, ImageSet
from dcgan_tf.utils.errors import UserError


def load_images(data: str, size: int, channels: int, *, limit: int, seed: int,
                tfds_split="train", tfds_data_dir="") -> ImageSet:
    """Up to `limit` images of any --data source at the given size (a seeded subset when
    there are more), with labels when the data has them."""
    from dcgan_tf.data.geometry import Geometry
    from dcgan_tf.data.sources import open_source

    source = open_source(data, Geometry(size, channels), tfds_split=tfds_split,
                         tfds_data_dir=tfds_data_dir, cache=True)
    return images_of_source(source, limit=limit, seed=seed)


def check_native_size(data: str, size: int) -> None:
    """Data stored at one fixed size (dcgan_tf.data.build records, an .npz) that differs
    from the generator's: UserError. Comparing after a silent resize would score the
    resampling as much as the model. Folders of photos, tfds and digits are brought to the
    model's size as in training."""
    from dcgan_tf.data import records
    from dcgan_tf.data.files import source_kind
    from dcgan_tf.data.readers import load_npz

    if source_kind(data) == "npz" and os.path.isfile(data):
        images = load_npz(data)[0]  # [N, H, W, C]
        if images.shape[1] != size:
            raise UserError(f"The model makes {size}x{size} images but {data!r} holds "
                            f"{images.shape[1]}x{images.shape[1]} ones.")
        return
    sizes = records.built_sizes(records.read_metadata(data))
    if sizes and size not in sizes:
        raise UserError(f"The model makes {size}x{size} images but {data!r} holds "
                        f"{'/'.join(map(str, sizes))}-pixel records; build the data at "
                        f"--size={size} to compare.")


def images_of_source(source, *, limit: int, seed: int) -> ImageSet:
    """Up to `limit` images (and labels) of an opened dcgan_tf.data.sources.Source."""
    return ImageSet(*source.images(limit=limit, seed=seed))


def generated_images(gen, num: int, seed: int) -> ImageSet:
    """`num` samples from seeds seed, seed+1, ...; a conditional model's classes in turn."""
    from dcgan_tf.utils.labels import one_hot

    z = gen.z_for_seeds(range(seed, seed + num))
    if not gen.num_classes:
        return ImageSet(gen.images(z))
    labels = np.arange(num) % gen.num_classes
    vectors = np.stack([one_hot(int(k), gen.num_classes) for k in labels])
    return ImageSet(gen.images(z, vectors), labels)


def feature_options(features: str, data: str, size: int, names=None):
    """(--features kind, classifier path) from the flag and the data. Given the metric
    `names`, no classifier is looked up (or trained) unless one of them reads it."""
    if names is not None and not needs_classifier(names):
        return "inception", ""
    choice = features or ("classifier" if data == "digits" else "inception")
    classifier = ""
    if choice.startswith("classifier:"):
        choice, classifier = "classifier", choice.split(":", 1)[1]
    elif choice not in ("inception", "classifier"):
        raise UserError(f"--features must be inception, classifier or classifier:PATH, got "
                        f"{features!r}.")
    if (choice == "classifier" and not classifier and data == "digits") or classifier == "digits":
        from dcgan_tf.metrics.classifier import digits_classifier_path

        classifier = digits_classifier_path(size)  # trained on first use, then cached
    if names is not None and not classifier and any(
            METRICS[n].extractor == "classifier"
            or (METRICS[n].extractor == "features" and choice == "classifier") for n in names):
        raise UserError(NO_CLASSIFIER)  # before any image is generated or read
    return choice, classifier


def feature_extractor(features: str, data: str, size: int, inception_weights: str = "",
                      required: bool = True):
    """The extractor a --features value names (default: the digits classifier for
    --data=digits, else InceptionV3). With required=False, None instead of an error when
    the default's weights are not at hand (or --features=none)."""
    from dcgan_tf.metrics.features import ClassifierFeatures, InceptionFeatures

    if features == "none":
        return None
    try:
        choice, classifier = feature_options(features, data, size)
        if choice == "classifier":
            if not classifier:
                raise UserError("--features=classifier needs a path: classifier:PATH.")
            return ClassifierFeatures(classifier)
        return InceptionFeatures(inception_weights)
    except UserError:
        if required:
            raise
        return None
