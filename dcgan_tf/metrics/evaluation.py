"""The evaluation of a generator: real and generated image sets (`ImageSet`), their
features per extractor with the real ones cached on disk, and the metrics of
dcgan_tf.metrics.catalog run over them (`Evaluation`). Images come in through
dcgan_tf.metrics.inputs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import sys

import numpy as np

from dcgan_tf.metrics.catalog import METRICS
from dcgan_tf.metrics.features import cache_dir
from dcgan_tf.utils.errors import UserError


NO_CLASSIFIER = ("Classifier metrics need --features=classifier:PATH (make one with dcgan-tf "
                 "evaluate train-classifier) or --data=digits.")


@dataclasses.dataclass
class ImageSet:
    images: np.ndarray  # uint8 [N, H, W, C]
    labels: np.ndarray | None = None  # class index per image (conditional samples, labelled data)

    @property
    def floats(self) -> np.ndarray:
        return self.images.astype(np.float32) / 127.5 - 1.0


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
                    raise UserError(NO_CLASSIFIER)
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
