"""Discriminator heads: how many outputs D ends in and what they mean.

A head is independent of the architecture: every discriminator builder ends in a float32
layer with `head.units` outputs, and the head says how to read them. Heads always produce
logits; probabilities are applied inside the losses (float32), never in the network, so
a saved discriminator gives raw, numerically safe outputs.

- ``sigmoid``: one logit; D(x) = sigmoid(logit). Binary cross-entropy family.
- ``softmax2``: two logits, class 1 = "real" (source 004); D(x) = softmax(logits)[1].
- ``linear``: one unbounded score (WGAN, hinge, least squares, softplus form);
  D(x) is reported as the raw score.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import tensorflow as tf

from dcgan_tf.utils.registry import Registry


@dataclasses.dataclass(frozen=True)
class Head:
    """How to read a discriminator's output.

    Attributes:
      name: registry name.
      units: number of outputs of D's last layer.
      score_fn: maps float32 logits [N, units] to the per-sample statistic reported as
        D(x): a probability of "real" for probabilistic heads, the raw score otherwise.
      probabilistic: True when `score_fn` returns a probability in [0, 1].
    """

    name: str
    units: int
    score_fn: Callable[[tf.Tensor], tf.Tensor]
    probabilistic: bool

    def score(self, logits) -> tf.Tensor:
        """Per-sample D(x) statistic, float32 [N]."""
        return self.score_fn(tf.cast(logits, tf.float32))


def _sigmoid_score(logits):
    return tf.sigmoid(logits[:, 0])


def _softmax2_score(logits):
    return tf.nn.softmax(logits, axis=-1)[:, 1]


def _linear_score(logits):
    return logits[:, 0]


HEADS: Registry[Head] = Registry("discriminator head")
HEADS.register("sigmoid", Head("sigmoid", 1, _sigmoid_score, probabilistic=True))
HEADS.register("softmax2", Head("softmax2", 2, _softmax2_score, probabilistic=True))
HEADS.register("linear", Head("linear", 1, _linear_score, probabilistic=False))


def get_head(name: str) -> Head:
    return HEADS.get(name)
