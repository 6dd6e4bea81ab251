"""Does a conditional digits generator draw the digit it is asked for?

A classifier trained on the real labelled digits (scikit-learn's RBF support-vector
machine on the same 32x32 upscaled images the offline default trains on) labels N
generated samples per class; accuracy = share assigned to the requested class.

    python -m dcgan_tf.conditional_accuracy --model=EXPORT_OR_WORKDIR [--per_class=100]

(The evaluation issue brings a general classifier; this one knows only the digits.)
"""

from __future__ import annotations

import dataclasses

import numpy as np

from dcgan_tf.utils.errors import UserError


@dataclasses.dataclass
class DigitsClassifier:
    model: object
    resolution: int
    holdout_accuracy: float

    def predict(self, images_u8: np.ndarray) -> np.ndarray:
        """uint8 [N, R, R, 1] -> class indices [N]."""
        x = images_u8.reshape(len(images_u8), -1).astype(np.float32) / 255.0
        return self.model.predict(x)


def train_digits_classifier(resolution: int = 32, seed: int = 0) -> DigitsClassifier:
    """SVC on the real digits; holdout accuracy measured on a 20% split it did not see,
    then refit on all images."""
    from sklearn.model_selection import train_test_split
    from sklearn.svm import SVC

    from dcgan_tf.data.digits import load_digits

    images, labels = load_digits(resolution)  # [N, R, R, 1] in [-1, 1]
    x = ((images + 1.0) / 2.0).reshape(len(images), -1)
    xa, xb, ya, yb = train_test_split(x, labels, test_size=0.2, random_state=seed,
                                      stratify=labels)
    holdout = float((SVC(gamma="scale").fit(xa, ya).predict(xb) == yb).mean())
    return DigitsClassifier(SVC(gamma="scale").fit(x, labels), resolution, holdout)


def conditional_accuracy(gen, classifier: DigitsClassifier, per_class: int = 100,
                         seed: int = 0) -> dict:
    """Accuracy overall and per class of `gen` (a generate.LoadedGenerator)."""
    from dcgan_tf.utils.labels import one_hot

    if gen.num_classes != 10:
        raise UserError(f"The model has {gen.num_classes} classes; the digits classifier "
                        "needs a 10-class conditional generator.")
    if gen.image_shape[:2] != [classifier.resolution] * 2 or gen.image_shape[2] != 1:
        raise UserError(f"The model makes {gen.image_shape} images; the digits classifier "
                        f"reads {classifier.resolution}x{classifier.resolution}x1.")
    z = gen.z_for_seeds(range(seed, seed + per_class))
    per = []
    for k in range(10):
        predicted = classifier.predict(gen.images(z, one_hot(k, 10)))
        per.append(float((predicted == k).mean()))
    return {"accuracy": float(np.mean(per)), "per_class": per, "per_class_samples": per_class,
            "classifier_holdout_accuracy": classifier.holdout_accuracy}


def main(argv=None):
    from dcgan_tf.utils.cli import run_command
    from dcgan_tf.flags import define_accuracy_flags
    from dcgan_tf.generate import LoadedGenerator

    def body(f):
        if not f.model:
            raise UserError("--model is required.")
        if not 1 <= f.per_class <= 10_000:
            raise UserError(f"--per_class must be in [1, 10000], got {f.per_class}.")
        gen = LoadedGenerator(f.model)
        clf = train_digits_classifier(gen.image_shape[0] if gen.image_shape else 32)
        r = conditional_accuracy(gen, clf, f.per_class, f.seed)
        per = " ".join(f"{k}:{a:.2f}" for k, a in enumerate(r["per_class"]))
        return [f"conditional accuracy {r['accuracy']:.3f} over {10 * f.per_class} samples "
                f"(classifier holdout accuracy on real digits {clf.holdout_accuracy:.3f}); "
                f"per class {per}"]

    run_command("dcgan_tf.conditional_accuracy", define_accuracy_flags, body, argv)


if __name__ == "__main__":
    main()
