"""Penalties the update step adds to a network's loss: one class per regularizer.

A regularizer says which network it regularizes (`networks`), which metrics it reports and
how often it runs (`every`: lazy regularization, Karras et al. 2020, runs the penalty on
every k-th update of its network and scales it by k). `GAN.train_step` only asks each
regularizer for its term; it never checks which ones exist, so a new penalty is one class
here plus one registry entry.

    term, metrics, ran = regularizer(ctx, step)   # term: a scalar already reduced over the
                                                  # GLOBAL batch (correct under tf.distribute)

`REGULARIZERS` maps names to classes; `Regularizer.from_config(config, loss_spec)` returns an
instance when the run asks for it, or None. A loss names the regularizers it owns in
`LossSpec.regularizers` (wgan_gp owns the gradient penalty).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

import tensorflow as tf

from dcgan_tf.gan import losses as losses_lib
from dcgan_tf.gan.gradients import input_gradients
from dcgan_tf.utils.registry import Registry, check_positive_int


@dataclasses.dataclass
class StepContext:
    """What a regularizer may look at during one update of `network` ("d" or "g").

    real: the real chunk before augmentation [B, H, W, C]; fake: G's output [B, H, W, C]
    (detached for D updates); labels: [B, K] or None; *_logits: float32 [B, units] of the
    augmented inputs (fake_logits only for G updates). `model` is the network updated.
    """

    gan: Any
    network: str
    model: Any
    real: Any = None
    fake: Any = None
    labels: Any = None
    real_logits: Any = None
    fake_logits: Any = None


class Regularizer:
    """Base class. Subclasses set `name`, `networks`, `metric_names` and `penalty`."""

    name: ClassVar[str] = ""
    networks: ClassVar[tuple[str, ...]] = ("d",)
    metric_names: ClassVar[tuple[str, ...]] = ()

    def __init__(self, every: int = 1):
        self.every = check_positive_int(f"{self.name} interval", every)

    @classmethod
    def from_config(cls, config, loss_spec) -> Regularizer | None:
        raise NotImplementedError

    def penalty(self, ctx: StepContext) -> tuple[tf.Tensor, dict]:
        """(scalar term reduced over the global batch, {metric: scalar})."""
        raise NotImplementedError

    def __call__(self, ctx: StepContext, step) -> tuple[tf.Tensor, dict, tf.Tensor]:
        """(term, metrics, ran): `ran` is False on the updates a lazy regularizer skips
        (its metrics are then zeros and must not be averaged in)."""
        if self.every == 1:
            term, metrics = self.penalty(ctx)
            return term, metrics, tf.constant(True)

        def run():
            term, metrics = self.penalty(ctx)
            return term * float(self.every), {k: metrics[k] for k in self.metric_names}

        def skip():
            return tf.zeros([]), {k: tf.zeros([]) for k in self.metric_names}

        due = tf.equal(tf.math.floormod(tf.cast(step, tf.int64), self.every), 0)
        term, metrics = tf.cond(due, run, skip)
        return term, metrics, due


REGULARIZERS: Registry[type[Regularizer]] = Registry("regularizer")


def _finite_nonnegative(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
            math.isfinite(value) and value >= 0.0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}.")
    return float(value)


@REGULARIZERS.register("gradient_penalty")
class GradientPenalty(Regularizer):
    """WGAN-GP (Gulrajani et al. 2017): weight * (||grad D(x_hat)|| - 1)^2 at
    x_hat = e x + (1 - e) G(z), e ~ U[0, 1] per sample. Under fp16 loss scaling the inner
    objective is scaled and the gradient unscaled in float32 before its norm."""

    name = "gradient_penalty"
    metric_names = ("gp", "grad_norm")

    def __init__(self, weight: float = 10.0, every: int = 1):
        super().__init__(every)
        self.weight = _finite_nonnegative("gp_weight", weight)

    @classmethod
    def from_config(cls, config, loss_spec):
        if cls.name not in loss_spec.regularizers:
            return None
        return cls(weight=config.gp_weight)

    def penalty(self, ctx):
        real, fake = tf.cast(ctx.real, tf.float32), tf.cast(ctx.fake, tf.float32)
        eps = tf.random.stateless_uniform([tf.shape(real)[0], 1, 1, 1],
                                          seed=ctx.gan.next_seed())
        x_hat = eps * real + (1.0 - eps) * fake  # [B, H, W, C]
        grads = input_gradients(ctx.gan, x_hat, ctx.labels)
        # epsilon inside the sqrt: the gradient of sqrt at 0 is infinite.
        norm = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=[1, 2, 3]) + 1e-12)  # [B]
        per_example = losses_lib.gradient_penalty(grad_norm=norm, weight=self.weight)
        return (losses_lib.reduce_per_replica(per_example),
                {"gp": tf.reduce_mean(per_example), "grad_norm": tf.reduce_mean(norm)})


@REGULARIZERS.register("drift")
class Drift(Regularizer):
    """epsilon-drift: weight * D(x)^2 on real samples (ProGAN uses 0.001 with WGAN-GP)."""

    name = "drift"
    metric_names = ("drift",)

    def __init__(self, weight: float = 0.001, every: int = 1):
        super().__init__(every)
        self.weight = _finite_nonnegative("drift", weight)

    @classmethod
    def from_config(cls, config, loss_spec):
        return cls(config.drift) if config.drift > 0 else None

    def penalty(self, ctx):
        per_example = losses_lib.drift_penalty(real_logits=ctx.real_logits, weight=self.weight)
        return losses_lib.reduce_per_replica(per_example), {"drift": tf.reduce_mean(per_example)}


@REGULARIZERS.register("weight_decay")
class WeightDecay(Regularizer):
    """L2 penalty weight * sum(w^2) / 2 over every kernel of the network being updated
    (source 004's "weight decay on all weights"), divided by the number of replicas so
    the summed gradients equal one device's."""

    name = "weight_decay"
    networks = ("d", "g")

    def __init__(self, weight: float, every: int = 1):
        super().__init__(every)
        self.weight = _finite_nonnegative("weight_decay", weight)

    @classmethod
    def from_config(cls, config, loss_spec):
        return cls(config.weight_decay) if config.weight_decay > 0 else None

    def penalty(self, ctx):
        kernels = [v for v in ctx.model.trainable_variables if len(v.shape) >= 2]
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        l2 = tf.add_n([tf.nn.l2_loss(tf.cast(k, tf.float32)) for k in kernels])
        return self.weight * l2 / replicas, {}


@REGULARIZERS.register("r1")
class R1(Regularizer):
    """R1 (Mescheder et al. 2018): gamma / 2 * ||grad D(x)||^2 at real images, lazily every
    `every` D updates and scaled by it (Karras et al. 2020). Under fp16 loss scaling the
    inner objective is scaled and the gradient unscaled in float32."""

    name = "r1"
    metric_names = ("r1", "r1_grad_norm")

    def __init__(self, gamma: float, every: int = 16):
        super().__init__(every)
        self.gamma = _finite_nonnegative("r1_gamma", gamma)

    @classmethod
    def from_config(cls, config, loss_spec):
        return cls(config.r1_gamma, config.r1_every) if config.r1_gamma > 0 else None

    def penalty(self, ctx):
        grads = input_gradients(ctx.gan, ctx.real, ctx.labels, augment=True)
        squared = tf.reduce_sum(tf.square(grads), axis=[1, 2, 3])  # [B]
        per_example = losses_lib.r1_penalty(grad_norm_squared=squared, gamma=self.gamma)
        return (losses_lib.reduce_per_replica(per_example),
                {"r1": tf.reduce_mean(per_example),
                 "r1_grad_norm": tf.reduce_mean(tf.sqrt(squared + 1e-12))})


def regularizers_from_config(config, loss_spec) -> list[Regularizer]:
    """Every registered regularizer the run asks for, in registry (name) order."""
    found = []
    for name in REGULARIZERS:
        regularizer = REGULARIZERS[name].from_config(config, loss_spec)
        if regularizer is not None:
            found.append(regularizer)
    return found
