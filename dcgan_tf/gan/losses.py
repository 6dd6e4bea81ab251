"""GAN losses as pure functions, and a registry of loss pairs by name.

Every function takes keyword-only float32 logits and returns a PER-EXAMPLE loss of shape
[N]. The GAN model reduces them with `reduce_per_replica`, which divides by the GLOBAL batch
size, so the same code is correct on one device and under tf.distribute (gradients there
are all-reduced by sum).

Targets: probabilistic losses and least squares take per-sample targets for the real and
fake terms (1 = real, 0 = fake) so the discriminator tricks of source 000 (label flipping,
one-sided label smoothing) are just other targets. Losses without targets (hinge,
Wasserstein) reject those tricks in `LossSpec.validate`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import tensorflow as tf

from dcgan_tf.utils.registry import Registry

# Balanced value of the discriminator BCE loss: D(x) = D(G(z)) = 1/2 gives 2 ln 2.
BCE_BALANCE = 2.0 * math.log(2.0)


def _f32(x):
    return tf.cast(x, tf.float32)


def _one_logit(logits):
    """[N, 1] or [N] logits -> float32 [N]."""
    logits = _f32(logits)
    return tf.reshape(logits, [-1])


def _binary_xent(logits, targets):
    """Per-sample sigmoid cross-entropy, numerically stable, float32 [N]."""
    return tf.nn.sigmoid_cross_entropy_with_logits(labels=_f32(targets), logits=logits)


def _ones_like(x):
    return tf.ones_like(x, dtype=tf.float32)


# --- binary cross-entropy on one sigmoid logit (sources 000, 003) ------------------------


def bce_d_loss(*, real_logits, fake_logits, real_targets=None, fake_targets=None):
    """Discriminator binary cross-entropy (Goodfellow et al. 2014), sigmoid head.

    -[t log D(x) + (1-t) log(1-D(x))] on reals with target t (1 unless smoothed or flipped),
    plus the same on fakes with target 0 (unless flipped).
    """
    real, fake = _one_logit(real_logits), _one_logit(fake_logits)
    real_t = _ones_like(real) if real_targets is None else real_targets
    fake_t = tf.zeros_like(fake) if fake_targets is None else fake_targets
    return _binary_xent(real, real_t) + _binary_xent(fake, fake_t)


def bce_g_loss(*, fake_logits):
    """Non-saturating generator loss: -log D(G(z)) (Goodfellow et al. 2014, sec. 3)."""
    fake = _one_logit(fake_logits)
    return _binary_xent(fake, _ones_like(fake))


def minimax_g_loss(*, fake_logits):
    """Saturating (original minimax) generator loss: log(1 - D(G(z))) = -softplus(y)."""
    return -tf.nn.softplus(_one_logit(fake_logits))


# --- the same loss written with two softmax logits (source 004) --------------------------


def _softmax_xent(logits, real_targets):
    """Cross-entropy of two logits against the distribution [1 - t, t] (class 1 = real).

    For hard targets this is exactly `sparse_softmax_cross_entropy_with_logits`.
    """
    logits = _f32(logits)
    t = _f32(real_targets)
    dist = tf.stack([1.0 - t, t], axis=-1)
    return tf.nn.softmax_cross_entropy_with_logits(labels=dist, logits=logits)


def softmax_d_loss(*, real_logits, fake_logits, real_targets=None, fake_targets=None):
    """Discriminator loss of source 004: sparse softmax cross-entropy, class 1 = real."""
    n_real = tf.shape(real_logits)[0]
    n_fake = tf.shape(fake_logits)[0]
    real_t = tf.ones([n_real]) if real_targets is None else real_targets
    fake_t = tf.zeros([n_fake]) if fake_targets is None else fake_targets
    return _softmax_xent(real_logits, real_t) + _softmax_xent(fake_logits, fake_t)


def softmax_g_loss(*, fake_logits):
    """Generator loss of source 004: cross-entropy of D(G(z)) against class 1 (real)."""
    return _softmax_xent(fake_logits, tf.ones([tf.shape(fake_logits)[0]]))


# --- softplus form on a linear score (source 002) ----------------------------------------


def softplus_d_loss(*, real_logits, fake_logits, real_targets=None, fake_targets=None):
    """softplus(-y_real) + softplus(y_fake), the form source 002 wrote in Chainer.

    With soft targets t: t softplus(-y) + (1 - t) softplus(y) for each term.
    """
    real, fake = _one_logit(real_logits), _one_logit(fake_logits)
    real_t = _ones_like(real) if real_targets is None else _f32(real_targets)
    fake_t = tf.zeros_like(fake) if fake_targets is None else _f32(fake_targets)
    real_term = real_t * tf.nn.softplus(-real) + (1.0 - real_t) * tf.nn.softplus(real)
    fake_term = fake_t * tf.nn.softplus(-fake) + (1.0 - fake_t) * tf.nn.softplus(fake)
    return real_term + fake_term


def softplus_g_loss(*, fake_logits):
    """softplus(-y_fake): the non-saturating generator loss in softplus form."""
    return tf.nn.softplus(-_one_logit(fake_logits))


# --- least squares (Mao et al. 2017) ------------------------------------------------------


def lsgan_d_loss(*, real_logits, fake_logits, real_targets=None, fake_targets=None):
    """LSGAN discriminator: 1/2 (D(x) - b)^2 + 1/2 (D(G(z)) - a)^2 with b = 1, a = 0."""
    real, fake = _one_logit(real_logits), _one_logit(fake_logits)
    real_t = _ones_like(real) if real_targets is None else _f32(real_targets)
    fake_t = tf.zeros_like(fake) if fake_targets is None else _f32(fake_targets)
    return 0.5 * tf.square(real - real_t) + 0.5 * tf.square(fake - fake_t)


def lsgan_g_loss(*, fake_logits):
    """LSGAN generator: 1/2 (D(G(z)) - c)^2 with c = 1."""
    return 0.5 * tf.square(_one_logit(fake_logits) - 1.0)


# --- hinge (Lim & Ye 2017; Miyato et al. 2018) --------------------------------------------


def hinge_d_loss(*, real_logits, fake_logits, real_targets=None, fake_targets=None):
    """max(0, 1 - D(x)) + max(0, 1 + D(G(z)))."""
    del real_targets, fake_targets  # rejected by LossSpec.validate
    real, fake = _one_logit(real_logits), _one_logit(fake_logits)
    return tf.nn.relu(1.0 - real) + tf.nn.relu(1.0 + fake)


def hinge_g_loss(*, fake_logits):
    """-D(G(z))."""
    return -_one_logit(fake_logits)


# --- Wasserstein with gradient penalty (Gulrajani et al. 2017; drift: Karras et al. 2018) --


def wasserstein_d_loss(*, real_logits, fake_logits, real_targets=None, fake_targets=None):
    """D(G(z)) - D(x). The gradient penalty and the drift term are regularizers
    (dcgan_tf.gan.regularizers), added by the update step."""
    del real_targets, fake_targets
    real, fake = _one_logit(real_logits), _one_logit(fake_logits)
    return fake - real


def wasserstein_g_loss(*, fake_logits):
    """-D(G(z))."""
    return -_one_logit(fake_logits)


def gradient_penalty(*, grad_norm, weight=10.0, target=1.0):
    """Two-sided penalty weight * (||grad D(x_hat)|| - target)^2, per sample.

    `grad_norm` [N] is the L2 norm of D's gradient at x_hat = e x + (1 - e) G(z) with
    e ~ U[0, 1] drawn per sample (Gulrajani et al. 2017, Algorithm 1).
    """
    return weight * tf.square(_f32(grad_norm) - target)


def drift_penalty(*, real_logits, weight=0.001):
    """epsilon-drift weight * D(x)^2 per real sample (Karras et al. 2018, sec. A.1): keeps a
    Wasserstein critic's output from drifting far from zero."""
    return weight * tf.square(_one_logit(real_logits))



def r1_penalty(*, grad_norm_squared, gamma=10.0):
    """R1 (Mescheder et al. 2018): gamma / 2 * ||grad D(x)||^2 at real samples, per sample."""
    return 0.5 * gamma * _f32(grad_norm_squared)


def reduce_per_replica(per_example, global_batch_size=None):
    """Mean of a per-example loss that stays correct under tf.distribute.

    Divides the local sum by the global batch size (local size x replicas), so summing
    gradients across replicas gives the gradient of the global mean.
    """
    per_example = _f32(per_example)
    if global_batch_size is None:
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        global_batch_size = tf.cast(tf.shape(per_example)[0] * replicas, tf.float32)
    return tf.reduce_sum(per_example) / tf.cast(global_batch_size, tf.float32)


@dataclasses.dataclass(frozen=True)
class Targets:
    """Per-sample real/fake targets of the discriminator loss (source 000's tricks).

    label_flip: probability of swapping each sample's real/fake target.
    label_smoothing: one-sided smoothing, real target 1 - s (Salimans et al. 2016).
    """

    label_flip: float = 0.0
    label_smoothing: float = 0.0

    def __post_init__(self):
        for name in ("label_flip", "label_smoothing"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0.0 <= value < 0.5):
                raise ValueError(f"{name} must be in [0, 0.5), got {value!r}.")

    @property
    def active(self) -> bool:
        return self.label_flip > 0.0 or self.label_smoothing > 0.0

    def draw(self, batch, seed):
        """(real, fake) float32 targets [batch]; `seed` [2] is used only when flipping."""
        real_t = tf.fill([batch], 1.0 - self.label_smoothing)
        fake_t = tf.zeros([batch])
        if self.label_flip > 0.0:
            flip = tf.random.stateless_uniform([2, batch], seed=seed) < self.label_flip
            real_t, fake_t = (tf.where(flip[0], fake_t, real_t),
                              tf.where(flip[1], 1.0 - self.label_smoothing, fake_t))
        return real_t, fake_t


@dataclasses.dataclass(frozen=True)
class LossSpec:
    """A generator/discriminator loss pair and what it needs.

    Attributes:
      name: registry name.
      d_fn / g_fn: the pure per-example loss functions.
      heads: discriminator heads the loss is defined for (first = default).
      takes_targets: accepts per-sample targets (label flipping and smoothing work).
      regularizers: names in dcgan_tf.gan.regularizers.REGULARIZERS that belong to this
        loss (wgan_gp: the gradient penalty); the update step adds them.
      balance: the discriminator loss at equilibrium, or None; loss plots draw it.
    """

    name: str
    d_fn: Callable[..., tf.Tensor]
    g_fn: Callable[..., tf.Tensor]
    heads: tuple[str, ...]
    takes_targets: bool
    regularizers: tuple[str, ...] = ()
    balance: float | None = None

    @property
    def default_head(self) -> str:
        return self.heads[0]

    def validate(self, *, head: str, targets: Targets | None = None):
        """Raises ValueError when this loss cannot be used with the head or tricks."""
        targets = targets or Targets()
        if head not in self.heads:
            raise ValueError(
                f"Discriminator head {head!r} does not fit loss {self.name!r}. "
                f"Expected one of {list(self.heads)} for this loss."
            )
        if not self.takes_targets and targets.active:
            raise ValueError(
                f"Loss {self.name!r} has no real/fake targets, so label flipping and "
                "label smoothing cannot be used with it; set them to 0 or use one of "
                f"{[n for n, s in LOSSES.items() if s.takes_targets]}."
            )


LOSSES: Registry[LossSpec] = Registry("loss")
LOSSES.register(
    "bce",
    LossSpec("bce", bce_d_loss, bce_g_loss, ("sigmoid",), True, balance=BCE_BALANCE),
)
LOSSES.register(
    "minimax",
    LossSpec("minimax", bce_d_loss, minimax_g_loss, ("sigmoid",), True, balance=BCE_BALANCE),
)
LOSSES.register(
    "softmax_ce",
    LossSpec("softmax_ce", softmax_d_loss, softmax_g_loss, ("softmax2",), True,
             balance=BCE_BALANCE),
)
LOSSES.register(
    "softplus",
    LossSpec("softplus", softplus_d_loss, softplus_g_loss, ("linear", "sigmoid"), True,
             balance=BCE_BALANCE),
)
LOSSES.register(
    "lsgan",
    LossSpec("lsgan", lsgan_d_loss, lsgan_g_loss, ("linear",), True, balance=0.25),
)
LOSSES.register("hinge", LossSpec("hinge", hinge_d_loss, hinge_g_loss, ("linear",), False))
LOSSES.register(
    "wgan_gp",
    LossSpec("wgan_gp", wasserstein_d_loss, wasserstein_g_loss, ("linear",), False,
             regularizers=("gradient_penalty",)),
)


def get_loss(name: str) -> LossSpec:
    return LOSSES.get(name)
