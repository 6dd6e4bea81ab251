"""Conditional accuracy with a digits SVC: does a conditional digits generator draw the
digit it is asked for? (`python -m dcgan_tf.conditional_accuracy`)

A classifier trained on the real labelled digits (scikit-learn's RBF support-vector
machine on the same 32x32 upscaled images the offline default trains on) labels N
generated samples per class; accuracy = share assigned to the requested class. The
general metric is `cond_acc` of dcgan_tf.evaluate, with a Keras classifier.
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
    """Accuracy overall and per class of `gen` (a saved_generator.LoadedGenerator)."""
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
