"""The Keras model that trains a generator against a discriminator.

`GAN.train_step` holds all of the update math; sampling, checkpoints, TensorBoard and health
checks live in callbacks. One step, with d_steps = n_d and g_steps = n_g:

  real batch [n_d * B, H, W, C] is split into n_d chunks of B.
  for the first n_d - 1 chunks: z -> G(z) -> one D update.
  last chunk: z -> G(z) under the generator tape; D update on the detached fakes (D(x) and
  D(G(z)) "before"); the generator loss then re-reads the SAME fakes with the updated D
  (D(G(z)) "after", sources 000/003) - one generator forward pass for both updates.
  then n_g - 1 further generator updates with fresh z.

Losses are reduced per example over the GLOBAL batch (`losses.reduce_per_replica`), so the
step is correct under tf.distribute; random draws come from a checkpointed SeedGenerator,
folded with the replica id so replicas draw different z.
"""

from __future__ import annotations

import dataclasses
import math

import keras
import tensorflow as tf

from dcgan_tf import losses as losses_lib
from dcgan_tf.heads import get_head
from dcgan_tf.latent import get_latent
from dcgan_tf.registry import check_positive_int
from dcgan_tf.schedules import linear_decay


@dataclasses.dataclass(frozen=True)
class StepOptions:
    """Static settings of the update math (validated by `GAN.compile`).

    d_steps / g_steps: discriminator updates per step and generator updates per step; one
      of them is 1 (n D steps per G step, or n G steps per D step).
    label_flip: probability of swapping each sample's real/fake target in D's loss.
    label_smoothing: one-sided smoothing, real target 1 - s (Salimans et al. 2016).
    instance_noise: sigma of Gaussian noise added to every D input, decaying linearly to 0
      over `instance_noise_decay_steps` generator steps (0 = constant).
    weight_decay: coefficient of an L2 penalty sum(w^2)/2 over every kernel of the network
      being updated (source 004's "weight decay on all weights").
    gp_weight / drift: gradient-penalty lambda and epsilon-drift for `wgan_gp`.
    """

    loss: str = "bce"
    d_steps: int = 1
    g_steps: int = 1
    label_flip: float = 0.0
    label_smoothing: float = 0.0
    instance_noise: float = 0.0
    instance_noise_decay_steps: int = 0
    weight_decay: float = 0.0
    gp_weight: float = 10.0
    drift: float = 0.0

    def validate(self, head: str) -> None:
        spec = losses_lib.get_loss(self.loss)
        check_positive_int("d_steps", self.d_steps)
        check_positive_int("g_steps", self.g_steps)
        if self.d_steps > 1 and self.g_steps > 1:
            raise ValueError(
                f"Use either d_steps > 1 or g_steps > 1, not both (got d_steps={self.d_steps}, "
                f"g_steps={self.g_steps})."
            )
        for name in ("label_flip", "label_smoothing"):
            value = getattr(self, name)
            if not 0.0 <= value < 0.5:
                raise ValueError(f"{name} must be in [0, 0.5), got {value!r}.")
        for name in ("instance_noise", "weight_decay", "gp_weight", "drift"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0.0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}.")
        if self.instance_noise_decay_steps < 0:
            raise ValueError(
                "instance_noise_decay_steps must be >= 0, got "
                f"{self.instance_noise_decay_steps!r}."
            )
        spec.validate(head=head, label_flip=self.label_flip,
                      label_smoothing=self.label_smoothing)


def _is_loss_scaled(optimizer) -> bool:
    return isinstance(optimizer, keras.optimizers.LossScaleOptimizer)


def _kernels(model: keras.Model):
    return [v for v in model.trainable_variables if len(v.shape) >= 2]


class GAN(keras.Model):
    """Trains `generator` against `discriminator` with `fit`.

    Args:
      generator: Keras model z [N, latent_dim] -> images [N, H, W, C] in [-1, 1].
      discriminator: Keras model images -> logits [N, head.units].
      latent_dim: size of z.
      latent: latent distribution name (`normal`, `uniform`).
      head: discriminator head name (`sigmoid`, `softmax2`, `linear`).
      seed: seed of the model's SeedGenerator; the same seed draws the same z, flips and
        noise in the same order.
    """

    def __init__(self, generator, discriminator, *, latent_dim: int, latent: str = "normal",
                 head: str = "sigmoid", seed: int | None = None, name: str = "gan", **kwargs):
        super().__init__(name=name, **kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = check_positive_int("latent_dim", latent_dim)
        self.latent = get_latent(latent)
        self.head = get_head(head)
        d_units = discriminator.output.shape[-1]
        if d_units != self.head.units:
            raise ValueError(
                f"Discriminator {discriminator.name!r} ends in {d_units} outputs but head "
                f"{head!r} needs {self.head.units}; build it with head={head!r}."
            )
        # Conditional pairs (models/conditional.py) take a label vector as second input.
        self.num_classes = (int(generator.inputs[1].shape[-1])
                            if len(generator.inputs) == 2 else 0)
        if (len(discriminator.inputs) == 2) != (self.num_classes > 0):
            raise ValueError("Generator and discriminator must both be conditional (two "
                             "inputs: data and labels) or both unconditional.")
        self.seed_generator = keras.random.SeedGenerator(seed, name="gan_seed")
        # Counters, checkpointed with the model (tf.train.Checkpoint sees them as attributes).
        self.step = keras.Variable(0, dtype="int64", trainable=False, name="step",
                                   aggregation="only_first_replica")
        self.g_step = keras.Variable(0, dtype="int64", trainable=False, name="g_step",
                                       aggregation="only_first_replica")
        self.d_step = keras.Variable(0, dtype="int64", trainable=False, name="d_step",
                                       aggregation="only_first_replica")
        self.images_seen = keras.Variable(0, dtype="int64", trainable=False, name="images_seen",
                                       aggregation="only_first_replica")
        self.options = StepOptions()
        self.built = True

    # ------------------------------------------------------------------ setup

    def compile(self, d_optimizer, g_optimizer, *, loss: str = "bce", d_steps: int = 1,
                g_steps: int = 1, label_flip: float = 0.0, label_smoothing: float = 0.0,
                instance_noise: float = 0.0, instance_noise_decay_steps: int = 0,
                weight_decay: float = 0.0, gp_weight: float = 10.0, drift: float = 0.0,
                jit_compile="auto", steps_per_execution: int = 1, **kwargs):
        """Sets optimizers and step options; validates them before any training.

        Under a `mixed_float16` policy both optimizers are wrapped in
        `LossScaleOptimizer` (Keras wraps only a single `optimizer=` argument itself).
        """
        options = StepOptions(
            loss=loss, d_steps=d_steps, g_steps=g_steps, label_flip=label_flip,
            label_smoothing=label_smoothing, instance_noise=instance_noise,
            instance_noise_decay_steps=instance_noise_decay_steps,
            weight_decay=weight_decay, gp_weight=gp_weight, drift=drift,
        )
        options.validate(self.head.name)
        check_positive_int("steps_per_execution", steps_per_execution)
        super().compile(jit_compile=jit_compile, steps_per_execution=steps_per_execution,
                        **kwargs)
        if keras.mixed_precision.global_policy().name == "mixed_float16":
            d_optimizer = self._loss_scaled(d_optimizer)
            g_optimizer = self._loss_scaled(g_optimizer)
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        self.options = options
        self.loss_spec = losses_lib.get_loss(loss)
        self._make_trackers()
        # Slots now, not at the first apply: a checkpoint can then restore into them, and a
        # LossScaleOptimizer has its dynamic scale before the gradient penalty reads it.
        self.build_optimizers()

    @staticmethod
    def _loss_scaled(optimizer):
        if _is_loss_scaled(optimizer):
            return optimizer
        return keras.optimizers.LossScaleOptimizer(optimizer)

    def _make_trackers(self):
        names = ["d_loss", "g_loss", "d_real", "d_fake", "d_fake_after", "d_grad_norm",
                 "g_grad_norm"]
        if self.loss_spec.gradient_penalty:
            names += ["gp", "grad_norm"]
        self._trackers = {n: keras.metrics.Mean(name=n) for n in names}
        # The values of the latest step (the trackers hold epoch averages), for callbacks
        # that log or check single steps. Diagnostic only: not checkpointed.
        self._last = {n: keras.Variable(0.0, trainable=False, name=f"last_{n}",
                                        aggregation="only_first_replica") for n in names}

    def last_step_values(self) -> dict[str, float]:
        """Metric values of the most recent train step (not averaged)."""
        return {n: float(v.numpy()) for n, v in self._last.items()}

    @property
    def metrics(self):
        # Returned here so that `fit` resets them at the start of every epoch.
        return list(getattr(self, "_trackers", {}).values())

    def build_optimizers(self):
        """Creates both optimizers' slots now (needed before restoring a checkpoint)."""
        self.d_optimizer.build(self.discriminator.trainable_variables)
        self.g_optimizer.build(self.generator.trainable_variables)

    # ------------------------------------------------------------------ sampling

    def next_seed(self):
        """A fresh [2] int64 seed from the model's SeedGenerator, distinct per replica."""
        seed = tf.cast(self.seed_generator.next(), tf.int64)
        ctx = tf.distribute.get_replica_context()
        if ctx is not None and ctx.num_replicas_in_sync > 1:
            seed = tf.random.experimental.stateless_fold_in(
                seed, ctx.replica_id_in_sync_group)
        return seed

    def sample_latent(self, num, seed=None, truncation=None):
        """z [num, latent_dim]: from `seed` (int, reproducible) or the model's generator."""
        seed = self.next_seed() if seed is None else seed
        return self.latent.sample((num, self.latent_dim), seed, truncation)

    def generate(self, z, labels=None, training: bool = False):
        """Images in [-1, 1] for latent `z` [N, latent_dim] (and, for conditional models,
        label vectors [N, num_classes] in [0, 1]); float32 output."""
        if self.num_classes:
            return self.generator([z, self._labels(labels, z)], training=training)
        return self.generator(z, training=training)

    def discriminate(self, images, labels=None, training: bool = False):
        """Float32 logits [N, head.units]."""
        if self.num_classes:
            out = self.discriminator([images, self._labels(labels, images)], training=training)
        else:
            out = self.discriminator(images, training=training)
        return tf.cast(out, tf.float32)

    def _labels(self, labels, like):
        if labels is None:
            raise ValueError(f"This GAN is conditional on {self.num_classes} classes: pass "
                             "labels [N, num_classes].")
        return tf.cast(labels, like.dtype if like.dtype.is_floating else tf.float32)

    def one_hot(self, classes):
        """Class indices [N] -> float32 label vectors [N, num_classes]."""
        return tf.one_hot(tf.cast(classes, tf.int32), self.num_classes, dtype=tf.float32)

    # ------------------------------------------------------------------ the step

    def _noisy(self, images, sigma):
        """Instance noise: images + N(0, sigma^2), only when it is switched on."""
        if self.options.instance_noise <= 0.0:
            return images
        noise = tf.random.stateless_normal(tf.shape(images), seed=self.next_seed())
        return images + tf.cast(sigma, images.dtype) * tf.cast(noise, images.dtype)

    def _targets(self, batch):
        """Per-sample (real, fake) targets after smoothing and flipping, float32 [B]."""
        opts = self.options
        real_t = tf.fill([batch], 1.0 - opts.label_smoothing)
        fake_t = tf.zeros([batch])
        if opts.label_flip > 0.0:
            flip = tf.random.stateless_uniform([2, batch], seed=self.next_seed())
            flip = flip < opts.label_flip
            real_t, fake_t = (tf.where(flip[0], fake_t, real_t),
                              tf.where(flip[1], 1.0 - opts.label_smoothing, fake_t))
        return real_t, fake_t

    def _weight_penalty(self, model):
        if self.options.weight_decay <= 0.0:
            return 0.0
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        l2 = tf.add_n([tf.nn.l2_loss(tf.cast(k, tf.float32)) for k in _kernels(model)])
        return self.options.weight_decay * l2 / replicas

    def _gradient_penalty(self, real, fake, y=None):
        """Per-sample penalty and gradient norm at x_hat = e x + (1 - e) G(z), e ~ U[0, 1]."""
        batch = tf.shape(real)[0]
        eps = tf.random.stateless_uniform([batch, 1, 1, 1], seed=self.next_seed())
        x_hat = eps * tf.cast(real, tf.float32) + (1.0 - eps) * tf.cast(fake, tf.float32)
        with tf.GradientTape() as tape:
            tape.watch(x_hat)
            scores = tf.reduce_sum(self.discriminate(x_hat, y, training=True))
            # Under fp16 the inner objective is scaled too, then unscaled in float32.
            scaled = self.d_optimizer.scale_loss(scores)
        grads = tf.cast(tape.gradient(scaled, x_hat), tf.float32)
        if _is_loss_scaled(self.d_optimizer):
            grads = grads / tf.cast(self.d_optimizer.dynamic_scale, tf.float32)
        # epsilon inside the sqrt: the gradient of sqrt at 0 is infinite.
        norm = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=[1, 2, 3]) + 1e-12)
        penalty = losses_lib.gradient_penalty(grad_norm=norm, weight=self.options.gp_weight)
        return penalty, norm

    def _d_update(self, real, fake, sigma, y=None):
        """One discriminator update on a real chunk and detached fakes."""
        opts, spec = self.options, self.loss_spec
        batch = tf.shape(real)[0]
        real_t, fake_t = self._targets(batch)
        d_vars = self.discriminator.trainable_variables
        with tf.GradientTape() as tape:
            # Two calls, as in sources 000/003: BatchNorm normalises reals and fakes apart.
            real_logits = self.discriminate(self._noisy(real, sigma), y, training=True)
            fake_logits = self.discriminate(self._noisy(fake, sigma), y, training=True)
            extra = {"drift": opts.drift} if spec.gradient_penalty else {}
            per_example = spec.d_fn(real_logits=real_logits, fake_logits=fake_logits,
                                    real_targets=real_t, fake_targets=fake_t, **extra)
            stats = {}
            if spec.gradient_penalty:
                penalty, norm = self._gradient_penalty(real, fake, y)
                per_example = per_example + penalty
                stats["gp"] = tf.reduce_mean(penalty)
                stats["grad_norm"] = tf.reduce_mean(norm)
            d_loss = losses_lib.reduce_per_replica(per_example)
            total = d_loss + self._weight_penalty(self.discriminator)
            scaled = self.d_optimizer.scale_loss(total)
        grads = tape.gradient(scaled, d_vars)
        self.d_optimizer.apply(grads, d_vars)
        self.d_step.assign_add(1)
        stats.update(d_grad_norm=self._grad_norm(grads, self.d_optimizer), d_loss=d_loss,
                     d_real=tf.reduce_mean(self.head.score(real_logits)),
                     d_fake=tf.reduce_mean(self.head.score(fake_logits)))
        return stats

    def _g_loss(self, fake, sigma, y=None):
        fake_logits = self.discriminate(self._noisy(fake, sigma), y, training=True)
        g_loss = losses_lib.reduce_per_replica(self.loss_spec.g_fn(fake_logits=fake_logits))
        return g_loss, fake_logits

    @staticmethod
    def _grad_norm(grads, optimizer):
        """Global L2 norm of the (unscaled) gradients of one update."""
        norm = tf.linalg.global_norm([tf.cast(g, tf.float32) for g in grads if g is not None])
        if _is_loss_scaled(optimizer):
            norm = norm / tf.cast(optimizer.dynamic_scale, tf.float32)
        return norm

    def _g_apply(self, tape, g_loss):
        """Applies the generator update; returns the gradient norm."""
        g_vars = self.generator.trainable_variables
        grads = tape.gradient(g_loss, g_vars)
        self.g_optimizer.apply(grads, g_vars)
        self.g_step.assign_add(1)
        return self._grad_norm(grads, self.g_optimizer)

    def train_step(self, data):
        if isinstance(data, (tuple, list)):
            real = data[0]
            classes = data[1] if len(data) > 1 and self.num_classes else None
        else:
            real, classes = data, None
        if self.num_classes and classes is None:
            raise ValueError(f"This GAN is conditional on {self.num_classes} classes: the "
                             "data must yield (images, class indices).")
        opts = self.options
        n = opts.d_steps
        chunks = tf.split(real, n, axis=0) if n > 1 else [real]
        # Fakes are drawn for the classes of the real chunk they are compared with.
        ys = [None] * n
        if self.num_classes:
            y = self.one_hot(classes)
            ys = tf.split(y, n, axis=0) if n > 1 else [y]
        batch = tf.shape(chunks[-1])[0]
        sigma = linear_decay(self.g_step, start=opts.instance_noise,
                             decay_steps=opts.instance_noise_decay_steps)

        for chunk, y in zip(chunks[:-1], ys[:-1]):
            fake = self.generate(self.sample_latent(batch), y, training=True)
            self._d_update(chunk, tf.stop_gradient(fake), sigma, y)

        y = ys[-1]
        with tf.GradientTape() as g_tape:
            fake = self.generate(self.sample_latent(batch), y, training=True)
            with g_tape.stop_recording():
                d_stats = self._d_update(chunks[-1], tf.stop_gradient(fake), sigma, y)
            g_loss, fake_logits = self._g_loss(fake, sigma, y)
            total = g_loss + self._weight_penalty(self.generator)
            scaled = self.g_optimizer.scale_loss(total)
        g_grad_norm = self._g_apply(g_tape, scaled)
        d_fake_after = tf.reduce_mean(self.head.score(fake_logits))

        for _ in range(opts.g_steps - 1):
            with tf.GradientTape() as g_tape:
                fake = self.generate(self.sample_latent(batch), y, training=True)
                g_loss, _ = self._g_loss(fake, sigma, y)
                scaled = self.g_optimizer.scale_loss(g_loss + self._weight_penalty(self.generator))
            self._g_apply(g_tape, scaled)

        self.step.assign_add(1)
        self.images_seen.assign_add(tf.cast(tf.shape(real)[0], tf.int64))
        values = dict(d_stats, g_loss=g_loss, d_fake_after=d_fake_after,
                      g_grad_norm=g_grad_norm)
        mixed = _is_loss_scaled(self.d_optimizer)
        for name, tracker in self._trackers.items():
            value = tf.cast(values[name], tf.float32)
            self._last[name].assign(value)
            # A LossScaleOptimizer skips an overflowing step and lowers its scale; such a
            # step is not a divergence, so it stays out of the averages. Without loss
            # scaling a non-finite value is real and reaches the health check.
            weight = tf.cast(tf.math.is_finite(value), tf.float32) if mixed else None
            tracker.update_state(tf.where(tf.math.is_finite(value), value, 0.0)
                                 if mixed else value, sample_weight=weight)
        logs = {name: tracker.result() for name, tracker in self._trackers.items()}
        if opts.instance_noise > 0.0:
            logs["noise_sigma"] = sigma
        for name, opt in (("d_loss_scale", self.d_optimizer), ("g_loss_scale", self.g_optimizer)):
            if _is_loss_scaled(opt):
                logs[name] = tf.cast(opt.dynamic_scale, tf.float32)
        return logs

    # ------------------------------------------------------------------ persistence

    def checkpoint_items(self) -> dict:
        """Everything a resume must restore, as trackables for tf.train.Checkpoint.

        Later features (generator EMA, schedule state) add their entries here.
        """
        return {
            "generator": self.generator,
            "discriminator": self.discriminator,
            "d_optimizer": self.d_optimizer,
            "g_optimizer": self.g_optimizer,
            "seed_state": self.seed_generator.state,
            "step": self.step,
            "g_step": self.g_step,
            "d_step": self.d_step,
            "images_seen": self.images_seen,
        }
