"""The evaluation library: image sets, feature extractors with cached real features, and
the metric registry (`METRICS`: fid, kid, is, pr, swd, ms_ssim, fd, cond_acc, modes) that
`python -m dcgan_tf.evaluate` and the training callback (`--eval_every`) share.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import sys

import numpy as np

from dcgan_tf.utils.errors import UserError
from dcgan_tf.metrics.features import cache_dir
from dcgan_tf.utils.registry import Registry
from dcgan_tf.utils.tiles import to_uint8

METRICS: Registry = Registry("metric")
INCEPTION_METRICS = ("fid", "kid", "is")
CLASSIFIER_METRICS = ("fd", "cond_acc", "modes")


@dataclasses.dataclass
class ImageSet:
    images: np.ndarray  # uint8 [N, H, W, C]
    labels: np.ndarray | None = None  # class index per image (conditional samples, labelled data)

    @property
    def floats(self) -> np.ndarray:
        return self.images.astype(np.float32) / 127.5 - 1.0


@dataclasses.dataclass
class Metric:
    fn: object
    min_samples: int
    extractor: str | None  # "inception", "classifier", "features" (--features) or None
    primary: str | None = None  # the key of its one number ("" = the value itself)
    higher_is_better: bool = False

    def score(self, value) -> float:
        """The metric's one number (what --eval_best compares)."""
        return float(value if not self.primary else value[self.primary])


def metric(name: str, min_samples: int, extractor: str | None = None, primary=None,
           higher_is_better=False):
    def register(fn):
        METRICS.register(name, Metric(fn, min_samples, extractor, primary, higher_is_better))
        return fn
    return register


class Evaluation:
    """Real and generated image sets, their features per extractor (real ones cached), and
    the metrics over them."""

    def __init__(self, real: ImageSet, fake: ImageSet | None = None, *,
                 features: str = "inception",
                 inception_weights: str = "", classifier: str = "", seed: int = 0,
                 num_classes: int = 0):
        self.real, self.fake = real, fake
        self.features_choice = features
        self.inception_weights = inception_weights
        self.classifier_path = classifier
        self.seed = seed
        self.num_classes = num_classes  # of a conditional generator
        self._extractors: dict = {}
        self._features: dict = {}

    # ------------------------------------------------------------------ extractors
    def extractor(self, kind: str):
        if kind == "features":
            kind = "classifier" if self.features_choice == "classifier" else "inception"
        if kind not in self._extractors:
            from dcgan_tf.metrics.features import ClassifierFeatures, InceptionFeatures

            if kind == "inception":
                self._extractors[kind] = InceptionFeatures(self.inception_weights)
            else:
                if not self.classifier_path:
                    raise UserError("Classifier metrics need --features=classifier:PATH (make "
                                    "one with python -m dcgan_tf.evaluate train-classifier) "
                                    "or --data=digits.")
                found = ClassifierFeatures(self.classifier_path)
                found.check_images(self.real.images.shape[1:], "The images")
                self._extractors[kind] = found
        return self._extractors[kind]

    def features(self, kind: str, which: str):
        """(features, probabilities) of the real or fake set in extractor `kind`."""
        extractor = self.extractor(kind)
        key = (extractor.key, which)
        if key not in self._features:
            images = self.real.images if which == "real" else self.fake.images
            if which == "real":
                self._features[key] = self._cached_real(extractor, images)
            else:
                print(f"Features of {len(images)} generated images ({extractor.key}) ...",
                      file=sys.stderr, flush=True)
                with contextlib.redirect_stdout(sys.stderr):  # progress bar off the JSON
                    self._features[key] = extractor(images)
        return self._features[key]

    @staticmethod
    def _cached_real(extractor, images):
        digest = hashlib.sha256(extractor.key.encode())
        digest.update(str(images.shape).encode())
        digest.update(np.ascontiguousarray(images).tobytes())
        path = cache_dir("features", digest.hexdigest()[:24] + ".npz")
        if os.path.isfile(path):
            try:
                with np.load(path) as stored:
                    return stored["features"].astype(np.float64), stored["probabilities"]
            except (OSError, ValueError, KeyError):
                pass  # a damaged cache entry is recomputed
        print(f"Features of {len(images)} real images ({extractor.key}) ...",
              file=sys.stderr, flush=True)
        with contextlib.redirect_stdout(sys.stderr):
            features, probabilities = extractor(images)
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            tmp = path + f".{os.getpid()}.tmp.npz"
            np.savez(tmp, features=features.astype(np.float32), probabilities=probabilities)
            os.replace(tmp, path)
        except OSError:
            pass  # no cache, same result
        return features, probabilities

    # ------------------------------------------------------------------ running
    def set_fake(self, fake: ImageSet) -> None:
        """Replaces the generated set (training: new samples at every evaluation)."""
        if fake.images.shape[1:] != self.real.images.shape[1:]:
            raise UserError(f"Generated images are {'x'.join(map(str, fake.images.shape[1:]))}, "
                            f"real ones {'x'.join(map(str, self.real.images.shape[1:]))}.")
        self.fake = fake
        self._features = {k: v for k, v in self._features.items() if k[1] != "fake"}

    def check_counts(self, names, num_fake: int) -> None:
        for name in names:
            need = METRICS[name].min_samples
            if min(len(self.real.images), num_fake) < need:
                raise UserError(f"{name} needs at least {need} real and generated images; got "
                                f"{len(self.real.images)} real and {num_fake} generated.")

    def prepare(self, names, num_fake: int) -> None:
        """Checks the sample counts, loads every extractor `names` need and the real
        features (fails early, e.g. offline without Inception weights, before a training
        run starts)."""
        self.check_counts(names, num_fake)
        for name in names:
            kind = METRICS[name].extractor
            if kind is not None:
                self.features(kind, "real")

    def run(self, names, fake: ImageSet | None = None) -> dict:
        if fake is not None:
            self.set_fake(fake)
        self.check_counts(names, len(self.fake.images))
        result = {name: METRICS[name].fn(self) for name in names}
        extractors = {kind: e.key for kind, e in self._extractors.items()}
        return {"metrics": result, "real_images": len(self.real.images),
                "generated_images": len(self.fake.images), "features": extractors,
                "seed": self.seed}


def _round(value, digits=6):
    """`digits` significant digits (a distance of 3e-9 stays 3e-9, not 0)."""
    return float(f"{float(value):.{digits}g}")


@metric("fid", 50, "inception", primary="")
def _fid(ev):
    from dcgan_tf.metrics.frechet import frechet_distance_of

    return _round(frechet_distance_of(ev.features("inception", "real")[0],
                                      ev.features("inception", "fake")[0]))


@metric("kid", 50, "inception", primary="value")
def _kid(ev):
    from dcgan_tf.metrics.kid import kernel_inception_distance

    out = kernel_inception_distance(ev.features("inception", "real")[0],
                                    ev.features("inception", "fake")[0], seed=ev.seed)
    return {k: _round(v) if isinstance(v, float) else v for k, v in out.items()}


@metric("is", 100, "inception", primary="value", higher_is_better=True)
def _is(ev):
    from dcgan_tf.metrics.inception_score import inception_score

    out = inception_score(ev.features("inception", "fake")[1], splits=10)
    return {k: _round(v) if isinstance(v, float) else v for k, v in out.items()}


@metric("pr", 10, "features")
def _pr(ev):
    from dcgan_tf.metrics.precision_recall import precision_recall

    out = precision_recall(ev.features("features", "real")[0],
                           ev.features("features", "fake")[0])
    out["features"] = ev.extractor("features").key
    return out


@metric("swd", 16, primary="mean")
def _swd(ev):
    from dcgan_tf.metrics.swd import swd

    n = min(len(ev.real.images), len(ev.fake.images))
    rng = np.random.default_rng(ev.seed)
    real = ev.real.floats[rng.permutation(len(ev.real.images))[:n]]
    fake = ev.fake.floats[rng.permutation(len(ev.fake.images))[:n]]
    if real.shape[1] < 16:
        raise UserError(f"swd needs images of at least 16x16, got {real.shape[1]}.")
    return {str(k): _round(v) for k, v in swd(fake, real, seed=ev.seed).items()}


@metric("ms_ssim", 20)
def _ms_ssim(ev):
    from dcgan_tf.metrics.ms_ssim import pairwise_diversity

    return {"generated": _round(pairwise_diversity(ev.fake.floats, seed=ev.seed)),
            "real": _round(pairwise_diversity(ev.real.floats, seed=ev.seed))}


@metric("fd", 50, "classifier", primary="value")
def _fd(ev):
    from dcgan_tf.metrics.frechet import frechet_distance_of

    real = ev.features("classifier", "real")[0]
    fake = ev.features("classifier", "fake")[0]
    halves = np.random.default_rng(ev.seed).permutation(len(real))
    a, b = real[halves[: len(real) // 2]], real[halves[len(real) // 2:]]
    return {"value": _round(frechet_distance_of(real, fake)),
            "real_halves": _round(frechet_distance_of(a, b))}


@metric("cond_acc", 10, "classifier", primary="value", higher_is_better=True)
def _cond_acc(ev):
    if ev.fake.labels is None or not ev.num_classes:
        raise UserError("cond_acc needs a conditional model (--model with classes).")
    probs = ev.features("classifier", "fake")[1]
    if probs.ndim != 2 or probs.shape[1] != ev.num_classes:
        raise UserError(f"cond_acc: the model has {ev.num_classes} classes, the classifier "
                        f"{probs.shape[-1]}.")
    hits = probs.argmax(axis=1) == ev.fake.labels
    per = [float(hits[ev.fake.labels == k].mean()) for k in range(ev.num_classes)
           if (ev.fake.labels == k).any()]
    return {"value": _round(np.mean(per)), "per_class": [_round(p) for p in per]}


@metric("modes", 10, "classifier", primary="covered", higher_is_better=True)
def _modes(ev):
    from dcgan_tf.metrics.modes import mode_coverage, stacked_modes

    def modes_of(probs):
        if probs.ndim == 3:  # one digit per channel
            return stacked_modes(probs.argmax(axis=2)), probs.shape[2] ** probs.shape[1]
        return probs.argmax(axis=1), probs.shape[1]

    real_modes, count = modes_of(ev.features("classifier", "real")[1])
    fake_modes, _ = modes_of(ev.features("classifier", "fake")[1])
    labels = ev.real.labels
    if labels is not None and len(labels) and 0 <= labels.min() and labels.max() < count:
        reference, source = np.bincount(labels, minlength=count), "real labels"
    else:  # unlabelled real data: what the classifier says of it
        reference, source = np.bincount(real_modes, minlength=count), "classifier on reals"
    out = mode_coverage(fake_modes, count, reference)
    out["real_covered"] = int((reference > 0).sum())
    out["reference"] = source
    out["kl"] = _round(out["kl"])
    return out


# ---------------------------------------------------------------------- inputs


def needs_classifier(names) -> bool:
    """Whether any of these metrics reads classifier features (or --features)."""
    return any(METRICS[n].extractor in ("classifier", "features") for n in names)


def parse_metrics(text: str) -> list[str]:
    names = [n.strip() for n in (text or "").split(",") if n.strip()]
    if not names:
        raise UserError(f"--metrics is empty; choose from {','.join(METRICS)}.")
    bad = [n for n in names if n not in METRICS]
    if bad:
        raise UserError(f"Unknown metric(s) {','.join(bad)}; choose from {','.join(METRICS)}.")
    return list(dict.fromkeys(names))


def load_images(data: str, size: int, channels: int, *, limit: int, seed: int,
                tfds_split="train", tfds_data_dir="", preprocess=None) -> ImageSet:
    """Up to `limit` images of any --data source at the given size (a seeded subset when
    there are more), with labels when the data has them."""
    from dcgan_tf.data.pipeline import Preprocess, open_source

    prep = preprocess or Preprocess(size, channels)
    source = open_source(data, prep, tfds_split=tfds_split, tfds_data_dir=tfds_data_dir,
                         cache=True)
    return images_of_source(source, limit=limit, seed=seed)


def check_native_size(data: str, size: int) -> None:
    """Data stored at one fixed size (dcgan_tf.data.build records, an .npz) that differs
    from the generator's: UserError. Comparing after a silent resize would score the
    resampling as much as the model. Folders of photos, tfds and digits are brought to the
    model's size as in training."""
    native = None
    if data.endswith(".npz") and os.path.isfile(data):
        from dcgan_tf.data.pipeline import load_npz

        images = load_npz(data)[0]
        native = int(images.shape[1]) if images.ndim >= 3 else None
    elif os.path.isfile(os.path.join(data, "metadata.json")):
        try:
            with open(os.path.join(data, "metadata.json")) as f:
                meta = json.load(f)
        except (OSError, ValueError):
            return
        sizes = [int(s) for s in meta.get("resolutions") or []] or (
            [int(meta["size"])] if meta.get("size") else [])
        if sizes and size not in sizes:
            raise UserError(f"The model makes {size}x{size} images but {data!r} holds "
                            f"{'/'.join(map(str, sizes))}-pixel records; build the data at "
                            f"--size={size} to compare.")
        return
    if native is not None and native != size:
        raise UserError(f"The model makes {size}x{size} images but {data!r} holds "
                        f"{native}x{native} ones.")


def images_of_source(source, *, limit: int, seed: int) -> ImageSet:
    """Up to `limit` images (and labels) of an opened dcgan_tf.data.pipeline.Source."""
    if source.arrays is not None:
        images, labels = source.arrays
    else:  # too large for memory: the first `limit` of the stream
        images, labels = [], []
        for element in source.dataset.take(limit).as_numpy_iterator():
            image = element[0] if isinstance(element, tuple) else element
            images.append(to_uint8(image))
            if isinstance(element, tuple):
                labels.append(element[1])
        images, labels = np.stack(images), (np.array(labels) if labels else None)
    if len(images) > limit:
        keep = np.sort(np.random.default_rng(seed).permutation(len(images))[:limit])
        images = images[keep]
        labels = labels[keep] if labels is not None else None
    return ImageSet(np.asarray(images, np.uint8), labels)


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


def training_metrics(config) -> list[str]:
    """The metric names of a run's --eval_metrics, checked with --eval_best (UserError)."""
    names = parse_metrics(config.eval_metrics or "swd")
    if config.eval_best:
        if config.eval_best not in names:
            raise UserError(f"--eval_best={config.eval_best} is not one of --eval_metrics "
                            f"({','.join(names)}).")
        if METRICS[config.eval_best].primary is None:
            raise UserError(f"--eval_best={config.eval_best} has no single number to rank "
                            "checkpoints by; choose another metric.")
    return names


def flat_numbers(metrics: dict) -> dict:
    """{"fd": {"value": 1.0}, "fid": 2.0} -> {"fd_value": 1.0, "fid": 2.0} (numbers only)."""
    out = {}
    for name, value in metrics.items():
        if isinstance(value, dict):
            for key, inner in value.items():
                if isinstance(inner, (int, float)) and not isinstance(inner, bool):
                    out[f"{name}_{key}"] = float(inner)
        elif isinstance(value, (int, float)):
            out[name] = float(value)
    return out
