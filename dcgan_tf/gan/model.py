"""The Keras model that trains a generator against a discriminator.

`GAN.train_step` holds the update math and is composed of parts, all resolved before
training (dcgan_tf.gan.assemble turns a Config into them):

    loss           LossSpec: the pure per-example D and G losses (dcgan_tf.gan.losses)
    targets        Targets: label flipping and one-sided smoothing of D's targets
    regularizers   penalties added to D's and/or G's loss (dcgan_tf.gan.regularizers)
    augmentations  transformations of every image D sees (dcgan_tf.gan.augment)
    ema            an averaged copy of G updated after each G step (dcgan_tf.gan.ema)
    update         UpdateRule: d_steps / g_steps and the order of the two updates
    growth         progressive growing (dcgan_tf.gan.growth; NoGrowth for fixed-size models):
                   alpha from the shown-image counter, reals brought to the active level

The step never asks which parts exist: it collects their terms and metrics. One step with
d_steps = n_d, g_steps = n_g:

  real batch [n_d * B, H, W, C] is split into n_d chunks of B.
  for the first n_d - 1 chunks: z -> G(z) -> one D update.
  last chunk, order "sequential" (sources 000/003): D update on detached fakes (D(x) and
  D(G(z)) "before"), then the generator loss re-reads the SAME fakes through the updated D
  (D(G(z)) "after"). Order "simultaneous" (source 004, the TensorFlow DCGAN tutorial): both
  losses from one forward pass, both gradients taken before either network changes.
  then n_g - 1 further generator updates with fresh z.

Losses are reduced per example over the GLOBAL batch (`losses.reduce_per_replica`), so the
step is correct under tf.distribute; random draws come from a checkpointed SeedGenerator,
folded with the replica id so replicas draw different z.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from dcgan_tf.config import SAMPLE_BN
from dcgan_tf.gan import losses as losses_lib
from dcgan_tf.gan import step_metrics
from dcgan_tf.gan.gradients import loss_scaled, present, replicas, summed
from dcgan_tf.gan.growth import NoGrowth
from dcgan_tf.gan.regularizers import StepContext
from dcgan_tf.gan.update import UpdateRule
from dcgan_tf.models.common import with_batch_statistics
from dcgan_tf.models.heads import get_head
from dcgan_tf.models.latent import get_latent
from dcgan_tf.utils.registry import check_choice, check_positive_int

__all__ = ["GAN", "UpdateRule"]


def _inputs(model) -> list:
    """A functional model's inputs; a subclassed one (the growing pggan networks) takes
    one input."""
    return list(getattr(model, "inputs", None) or [None])


def _output_units(model) -> int:
    """Outputs of D: a subclassed network (pggan) has no `output` tensor and says so."""
    units = getattr(model, "output_units", None)
    return int(units) if units is not None else int(model.output.shape[-1])


def pack_images(images, pack: int):
    """[N, H, W, C] -> [N / pack, H, W, pack * C]: images pack*j ... pack*j + pack - 1 side by
    side along channels (PacGAN's packing)."""
    shape = tf.shape(images)
    n, h, w, c = shape[0], shape[1], shape[2], images.shape[-1]
    x = tf.reshape(images, [n // pack, pack, h, w, c])
    x = tf.transpose(x, [0, 2, 3, 1, 4])  # [N / pack, H, W, pack, C]
    return tf.reshape(x, [n // pack, h, w, pack * c])


def network_items(generator, discriminator) -> dict:
    """The networks under their checkpoint keys: `GAN.checkpoint_items` saves them so, and
    dcgan_tf.artifacts.workdir restores a run's networks by the same keys."""
    return {"generator": generator, "discriminator": discriminator}


class _BatchStatisticsCopies:
    """The batch-statistics copy of each sampling generator (models.common.
    with_batch_statistics), made once and given the generator's current weights on each
    use. A plain object, so Keras and tf.train.Checkpoint do not track the copies."""

    def __init__(self):
        self._copies = {}

    def of(self, generator):
        copy = self._copies.get(id(generator))
        if copy is None or copy[0] is not generator:
            copy = self._copies[id(generator)] = (generator, with_batch_statistics(generator))
            return copy[1]
        if copy[1] is not generator:
            copy[1].set_weights(generator.get_weights())
        return copy[1]


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
      pack: PacGAN packing: D's image input has pack x the generator's channels and judges
        `pack` consecutive images of a batch at once; `discriminate` packs its input and
        hands every image its pack's logits (so losses keep one row per image).
      sample_bn: the BatchNorm statistics of `sample_images` (tiles, evaluation during
        training): `moving` (the moving averages, inference mode) or `batch` (each sampled
        batch's own, as sources 000/003/004 sample; the moving averages are not updated).
    """

    def __init__(self, generator, discriminator, *, latent_dim: int, latent: str = "normal",
                 head: str = "sigmoid", seed: int | None = None, sample_bn: str = "moving",
                 pack: int = 1, name: str = "gan", **kwargs):
        super().__init__(name=name, **kwargs)
        check_choice("sample_bn", sample_bn, SAMPLE_BN)
        self.sample_bn = sample_bn
        self._batch_statistics = _BatchStatisticsCopies()
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = check_positive_int("latent_dim", latent_dim)
        self.latent = get_latent(latent)
        self.head = get_head(head)
        d_units = _output_units(discriminator)
        if d_units != self.head.units:
            raise ValueError(
                f"Discriminator {discriminator.name!r} ends in {d_units} outputs but head "
                f"{head!r} needs {self.head.units}; build it with head={head!r}."
            )
        # Conditional pairs (models/conditional.py) take a label vector as second input.
        g_inputs, d_inputs = _inputs(generator), _inputs(discriminator)
        self.num_classes = int(g_inputs[1].shape[-1]) if len(g_inputs) == 2 else 0
        if (len(d_inputs) == 2) != (self.num_classes > 0):
            raise ValueError("Generator and discriminator must both be conditional (two "
                             "inputs: data and labels) or both unconditional.")
        self.pack = check_positive_int("pack", pack)
        if pack > 1 and self.num_classes:
            raise ValueError("PacGAN packing (pack > 1) needs an unconditional model.")
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
        self.regularizers, self.augmentations, self.ema, self.top_k = [], [], None, None
        self._d_frozen, self._d_frozen_holder = set(), None  # FreezeD: compile() sets them
        self.growth = NoGrowth()
        self.built = True

    # ------------------------------------------------------------------ setup

    def compile(self, d_optimizer, g_optimizer, *, loss: losses_lib.LossSpec,
                targets: losses_lib.Targets | None = None, regularizers=(), augmentations=(),
                ema=None, update: UpdateRule | None = None, growth=None, top_k=None,
                d_frozen=(), jit_compile="auto", steps_per_execution: int = 1, **kwargs):
        """Sets the optimizers and the parts of the update step (resolved objects, not names:
        dcgan_tf.gan.assemble builds them from a Config) and validates them before training.

        Under a `mixed_float16` policy both optimizers are wrapped in `LossScaleOptimizer`
        (Keras wraps only a single `optimizer=` argument itself).
        """
        if not isinstance(loss, losses_lib.LossSpec):
            raise TypeError(f"loss must be a LossSpec (dcgan_tf.gan.losses.get_loss(name)), "
                            f"got {loss!r}.")
        targets = targets or losses_lib.Targets()
        update = update or UpdateRule()
        loss.validate(head=self.head.name, targets=targets)
        check_positive_int("steps_per_execution", steps_per_execution)
        super().compile(jit_compile=jit_compile, steps_per_execution=steps_per_execution,
                        **kwargs)
        if keras.mixed_precision.global_policy().name == "mixed_float16":
            d_optimizer = loss_scaled(d_optimizer)
            g_optimizer = loss_scaled(g_optimizer)
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        self.loss_spec = loss
        self.targets = targets
        self.update_rule = update
        self.regularizers = list(regularizers)
        self.augmentations = list(augmentations)
        self.ema = ema
        self.top_k = top_k  # gan.top_k.TopK or None: G learns from all its fakes
        # FreezeD (--freeze_d): D variables left out of D's update (models/blocks.py)
        self._d_frozen = {id(v) for v in d_frozen}
        self._d_frozen_holder = None
        if self._d_frozen:  # checkpointed on their own (checkpoint_items)
            self._d_frozen_holder = tf.Module(name="d_frozen")
            self._d_frozen_holder.frozen = list(d_frozen)
        self.growth = growth or NoGrowth()
        if ema is not None:
            self.growth.attach(ema.generator)  # the EMA copy grows with G
        self._make_trackers()
        # Slots now, not at the first apply: a checkpoint can then restore into them, and a
        # LossScaleOptimizer has its dynamic scale before the gradient penalty reads it.
        self.build_optimizers()

    def _make_trackers(self):
        self._trackers, self._last = step_metrics.make_trackers(
            self.regularizers + self.augmentations + [self.growth])

    def last_step_values(self) -> dict[str, float]:
        """Metric values of the most recent train step (not averaged)."""
        return step_metrics.latest_values(self._last)

    @property
    def metrics(self):
        # Returned here so that `fit` resets them at the start of every epoch.
        return list(getattr(self, "_trackers", {}).values())

    @property
    def d_variables(self) -> list:
        """D's variables that its update changes: the trainable ones but the frozen blocks'
        (FreezeD; their BatchNorm moving statistics still follow the batches, as in the
        paper's PyTorch code, where frozen parameters stop only their gradients)."""
        return [v for v in self.discriminator.trainable_variables
                if id(v) not in self._d_frozen]

    def build_optimizers(self):
        """Creates both optimizers' slots now (needed before restoring a checkpoint)."""
        self.d_optimizer.build(self.d_variables)
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

    def generate(self, z, labels=None, training: bool = False, generator=None):
        """Images in [-1, 1] for latent `z` [N, latent_dim] (and, for conditional models,
        label vectors [N, num_classes] in [0, 1]) from G (or `generator`); float32 output."""
        generator = self.generator if generator is None else generator
        if self.num_classes:
            return generator([z, self._labels(labels, z)], training=training)
        return generator(z, training=training)

    def sample_images(self, z, labels=None):
        """Images in [-1, 1] from the sampling generator (the EMA copy when kept), in
        inference mode with BatchNorm statistics as `sample_bn` says: what tiles and
        exports show."""
        generator = self.sampling_generator
        if self.sample_bn == "batch":
            generator = self._batch_statistics.of(generator)
        if self.num_classes:
            return generator([z, self._labels(labels, z)], training=False)
        return self.growth.present(generator(z, training=False))

    def discriminate(self, images, labels=None, training: bool = False):
        """Float32 logits [N, head.units] (with packing, image i gets the logits of its pack
        i // pack: N must be a multiple of pack)."""
        if self.num_classes:
            out = self.discriminator([images, self._labels(labels, images)], training=training)
        elif self.pack > 1:
            out = self.discriminator(pack_images(images, self.pack), training=training)
            out = tf.repeat(out, self.pack, axis=0)
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

    @property
    def sampling_generator(self) -> keras.Model:
        """The generator that samples, tiles and exports use: the EMA copy when kept."""
        return self.ema.generator if getattr(self, "ema", None) is not None else self.generator

    def augment(self, images):
        """Every augmentation of the step, in order (what D sees of `images`)."""
        for augmentation in self.augmentations:
            images = augmentation(images, self)
        return images

    def _penalties(self, ctx: StepContext, step):
        """Sum of the regularizer terms for this update, their metrics and weights."""
        total, metrics, weights = 0.0, {}, {}
        for regularizer in self.regularizers:
            if ctx.network not in regularizer.networks:
                continue
            term, values, ran = regularizer(ctx, step)
            total = total + term
            for name, value in values.items():
                metrics[name], weights[name] = value, tf.cast(ran, tf.float32)
        return total, metrics, weights

    def _d_objective(self, real, fake, y):
        """D's loss on a real chunk and fakes (call under D's tape): (loss + penalties,
        metrics, metric weights, real_logits, fake_logits)."""
        batch = tf.shape(real)[0]
        real_t, fake_t = self.targets.draw(batch, self.next_seed() if self.targets.label_flip
                                           else None)
        if self.update_rule.d_pass == "joint":  # one call on both halves
            images = tf.concat([real, tf.cast(fake, real.dtype)], 0)
            both = self.discriminate(self.augment(images),
                                     None if y is None else tf.concat([y, y], 0), training=True)
            real_logits, fake_logits = tf.split(both, 2, axis=0)
        else:  # two calls, as in sources 000/003: BatchNorm normalises reals and fakes apart
            real_logits = self.discriminate(self.augment(real), y, training=True)
            fake_logits = self.discriminate(self.augment(fake), y, training=True)
        per_example = self.loss_spec.d_fn(real_logits=real_logits, fake_logits=fake_logits,
                                          real_targets=real_t, fake_targets=fake_t)
        d_loss = losses_lib.reduce_per_replica(per_example)
        ctx = StepContext(self, "d", self.discriminator, real=real, fake=tf.stop_gradient(fake),
                          labels=y, real_logits=real_logits, fake_logits=fake_logits)
        penalty, stats, weights = self._penalties(ctx, self.d_step)
        stats.update(d_loss=d_loss * replicas(),
                     d_real=tf.reduce_mean(self.head.score(real_logits)),
                     d_fake=tf.reduce_mean(self.head.score(fake_logits)))
        return d_loss + penalty, stats, weights, real_logits, fake_logits

    def _g_objective(self, fake, y, fake_logits=None):
        """G's loss on its fakes (call under G's tape): (g_loss, total, fake_logits,
        regularizer metrics, their weights)."""
        if fake_logits is None:
            fake_logits = self.discriminate(self.augment(fake), y, training=True)
        per_example = self.loss_spec.g_fn(fake_logits=fake_logits)
        if self.top_k is None:
            g_loss = losses_lib.reduce_per_replica(per_example)
        else:  # only the fakes D scores most real teach G
            g_loss = self.top_k.loss(per_example, self.head.score(fake_logits), self.g_step)
        ctx = StepContext(self, "g", self.generator, fake=fake, labels=y,
                          fake_logits=fake_logits)
        penalty, stats, weights = self._penalties(ctx, self.g_step)
        # the logged loss is this replica's mean (Keras averages the replicas' logs)
        return g_loss * replicas(), g_loss + penalty, fake_logits, stats, weights

    def _apply_d(self, grads, real_logits):
        grads, variables = present(grads, self.d_variables)
        grads, norm = summed(grads, self.d_optimizer)
        self.d_optimizer.apply(grads, variables)
        self.d_step.assign_add(1)
        for augmentation in self.augmentations:
            augmentation.observe(self, real_logits)
        return norm

    def _apply_g(self, grads, z, y):
        grads, variables = present(grads, self.generator.trainable_variables)
        grads, norm = summed(grads, self.g_optimizer)
        self.g_optimizer.apply(grads, variables)
        self.g_step.assign_add(1)
        if self.ema is not None:
            self.ema.update(self.g_step)
            if self.ema.recomputes_statistics:  # its BatchNorm statistics, from its own output
                self.generate(z, y, training=True, generator=self.ema.generator)
        return norm

    def _d_update(self, real, fake, y=None):
        """One discriminator update on a real chunk and detached fakes."""
        d_vars = self.d_variables
        with tf.GradientTape() as tape:
            total, stats, weights, real_logits, _ = self._d_objective(real, fake, y)
            scaled = self.d_optimizer.scale_loss(total)
        stats["d_grad_norm"] = self._apply_d(tape.gradient(scaled, d_vars), real_logits)
        return stats, weights

    def _g_update(self, batch, y):
        """One generator update with fresh z; returns (g_loss, gradient norm)."""
        with tf.GradientTape() as tape:
            z = self.sample_latent(batch)
            fake = self.generate(z, y, training=True)
            g_loss, total, *_ = self._g_objective(fake, y)
            scaled = self.g_optimizer.scale_loss(total)
        return g_loss, self._apply_g(tape.gradient(scaled, self.generator.trainable_variables),
                                     z, y)

    def _last_chunk_sequential(self, real, y, batch):
        with tf.GradientTape() as g_tape:
            z = self.sample_latent(batch)
            fake = self.generate(z, y, training=True)
            with g_tape.stop_recording():
                stats, weights = self._d_update(real, tf.stop_gradient(fake), y)
            g_loss, total, fake_logits, g_stats, g_weights = self._g_objective(fake, y)
            scaled = self.g_optimizer.scale_loss(total)
        stats.update(g_stats)
        weights.update(g_weights)
        g_grad_norm = self._apply_g(g_tape.gradient(scaled, self.generator.trainable_variables),
                                    z, y)
        stats.update(g_loss=g_loss, g_grad_norm=g_grad_norm,
                     d_fake_after=tf.reduce_mean(self.head.score(fake_logits)))
        return stats, weights

    def _last_chunk_simultaneous(self, real, y, batch):
        d_vars = self.d_variables
        g_vars = self.generator.trainable_variables
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            z = self.sample_latent(batch)
            fake = self.generate(z, y, training=True)
            d_total, stats, weights, real_logits, fake_logits = self._d_objective(real, fake, y)
            d_scaled = self.d_optimizer.scale_loss(d_total)
            g_loss, g_total, _, g_stats, g_weights = self._g_objective(fake, y, fake_logits)
            g_scaled = self.g_optimizer.scale_loss(g_total)
        stats.update(g_stats)
        weights.update(g_weights)
        d_grads = d_tape.gradient(d_scaled, d_vars)
        g_grads = g_tape.gradient(g_scaled, g_vars)
        stats["d_grad_norm"] = self._apply_d(d_grads, real_logits)
        stats.update(g_loss=g_loss, g_grad_norm=self._apply_g(g_grads, z, y),
                     d_fake_after=stats["d_fake"])  # one pass: D(G(z)) before the updates
        return stats, weights

    def train_step(self, data):
        if isinstance(data, (tuple, list)):
            real = data[0]
            classes = data[1] if len(data) > 1 and self.num_classes else None
        else:
            real, classes = data, None
        if self.num_classes and classes is None:
            raise ValueError(f"This GAN is conditional on {self.num_classes} classes: the "
                             "data must yield (images, class indices).")
        values = dict(self.growth.metrics(self))
        real = self.growth.prepare_reals(real, self)  # pggan: the active level, faded
        rule = self.update_rule
        n = rule.d_steps
        chunks = tf.split(real, n, axis=0) if n > 1 else [real]
        # Fakes are drawn for the classes of the real chunk they are compared with.
        ys = [None] * n
        if self.num_classes:
            y = self.one_hot(classes)
            ys = tf.split(y, n, axis=0) if n > 1 else [y]
        batch = tf.shape(chunks[-1])[0]
        for augmentation in self.augmentations:  # e.g. the noise sigma of this step
            values.update(augmentation.metrics(self))

        for chunk, y in zip(chunks[:-1], ys[:-1]):
            fake = self.generate(self.sample_latent(batch), y, training=True)
            self._d_update(chunk, tf.stop_gradient(fake), y)

        last = (self._last_chunk_simultaneous if rule.order == "simultaneous"
                else self._last_chunk_sequential)
        stats, weights = last(chunks[-1], ys[-1], batch)
        values.update(stats)
        for _ in range(rule.g_steps - 1):
            self._g_update(batch, ys[-1])

        self.step.assign_add(1)
        self.images_seen.assign_add(tf.cast(tf.shape(real)[0], tf.int64))
        return step_metrics.record(self._trackers, self._last, values, weights,
                                   self.d_optimizer, self.g_optimizer)

    # ------------------------------------------------------------------ persistence

    def checkpoint_items(self) -> dict:
        """Everything a resume must restore, as trackables for tf.train.Checkpoint.

        Parts of the step with state (generator EMA, adaptive augmentation) add theirs.
        """
        items = {
            **network_items(self.generator, self.discriminator),
            "d_optimizer": self.d_optimizer,
            "g_optimizer": self.g_optimizer,
            "seed_state": self.seed_generator.state,
            "step": self.step,
            "g_step": self.g_step,
            "d_step": self.d_step,
            "images_seen": self.images_seen,
        }
        for part in self.augmentations + ([self.ema] if self.ema is not None else []):
            items.update(part.checkpoint_items())
        if self._d_frozen_holder is not None:
            # listed on their own: the optimizer does not hold them, and a growing network's
            # layer lists are invisible to tf.train.Checkpoint (pggan's are saved through
            # the optimizers' variable lists)
            items["d_frozen"] = self._d_frozen_holder
        return items
