"""GAN inversion: the latent code whose image is closest to a given image.

    result = project(generator, targets, latent="normal", latent_dim=100,
                     features=discriminator_features(discriminator),
                     options=ProjectionOptions(steps=300, starts=8))
    result.z, result.images, result.pixel_mse, result.ms_ssim

z is found by gradient descent (Adam on z, Zhu et al. 2016's "projection" of a real photo
onto the generator's manifold), from several random starts: every start (and, for a
conditional model without a given label, every class) runs a short warm phase together,
the best one per target is refined alone. The loss, per image, is
    pixel (MSE or L1 in [-1, 1]) + ms_ssim_weight * (1 - MS-SSIM)
    + d_weight * D-feature distance + prior_weight * prior(z)
- MS-SSIM: `metrics.ms_ssim.ms_ssim_tensor` (TensorFlow's own has a NaN gradient for
  anti-correlated pairs, frequent from random starts).
- D features: the discriminator's intermediate activations (every 4-D LeakyReLU/ReLU
  output), each unit-normalised over channels and compared by mean squared difference, as
  LPIPS compares a classifier's (Zhang et al. 2018); the StyleGAN2 projector's VGG16
  features need downloaded weights, D is at hand and offline. They join in the refine
  phase only (the warm phase runs every start and is most of the work).
- Prior: our generators take z directly and have no per-layer noise inputs, so the
  StyleGAN2 projector's noise regularisation has nothing to act on. For normal latents
  the term (|z| / sqrt(d) - 1)^2 keeps z on the shell where nearly all of N(0, I) lies
  (a typical z); uniform latents are reparameterised z = tanh(u), so z stays in (-1, 1)
  with no penalty.
The generator is called in inference mode (BatchNorm moving averages); a model that samples
with batch statistics (--sample_bn=batch) is first given fixed statistics measured on many
random z (`with_fixed_batch_statistics`), so that an image depends on its own z only.
"""

from __future__ import annotations

import dataclasses
import math
import time

import keras
import numpy as np
import tensorflow as tf

from dcgan_tf.config import PIXEL_LOSSES
from dcgan_tf.metrics.ms_ssim import ms_ssim, ms_ssim_tensor
from dcgan_tf.models.common import all_layers
from dcgan_tf.models.latent import get_latent
from dcgan_tf.utils.labels import one_hot


@dataclasses.dataclass(frozen=True)
class ProjectionOptions:
    steps: int = 300  # per image, the warm phase included
    starts: int = 8  # random starts (per class when a conditional model tries every class)
    warm_steps: int = 50  # all starts together; then the best one alone
    learning_rate: float = 0.1  # Adam on z; cosine decay to 1% over the refine phase
    pixel_loss: str = "mse"
    ms_ssim_weight: float = 0.5
    d_weight: float = 0.1
    prior_weight: float = 0.05
    seed: int = 0
    frames: int = 20  # snapshots of the fit (fit.gif)

    def check(self) -> None:
        """ValueError naming the option that is out of range."""
        if self.steps < 1 or self.starts < 1:
            raise ValueError(f"steps and starts must be >= 1, got {self.steps}, {self.starts}.")
        if not 0 <= self.warm_steps <= self.steps:
            raise ValueError(f"warm_steps must be in [0, steps={self.steps}], "
                             f"got {self.warm_steps}.")
        if self.pixel_loss not in PIXEL_LOSSES:
            raise ValueError(f"Unknown pixel loss {self.pixel_loss!r}. Expected one of "
                             f"{list(PIXEL_LOSSES)}.")
        for name in ("learning_rate", "ms_ssim_weight", "d_weight", "prior_weight"):
            value = getattr(self, name)
            if not (value >= 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a finite number >= 0, got {value}.")


@dataclasses.dataclass
class ProjectionResult:
    z: np.ndarray  # [T, latent_dim]
    labels: np.ndarray | None  # [T, K] (conditional models)
    images: np.ndarray  # [T, H, W, C] in [-1, 1]
    pixel_mse: np.ndarray  # [T], in [-1, 1] units
    ms_ssim: np.ndarray  # [T]
    start_mse: np.ndarray  # [T, starts * candidates]: pixel MSE of every random start
    history: dict  # name -> [steps, T] (the best candidate's terms during the warm phase;
    # d_features: refine steps only, the last len() steps)
    frames: list  # (steps done, images [T, H, W, C]) of the chosen starts, for fit.gif
    seconds: float
    classes_tried: int = 1


# ------------------------------------------------------------------------- networks


def with_fixed_batch_statistics(generator: keras.Model, latent_dim: int, latent: str,
                                num_classes: int = 0, count: int = 2048,
                                seed: int = 0) -> keras.Model:
    """A copy of `generator` whose BatchNorm moving statistics are replaced by the batch
    statistics of `count` random z (classes drawn in turn): in inference mode it then
    draws what batch-statistics sampling draws for a large batch, one z at a time."""
    copy = keras.models.clone_model(generator)
    copy.set_weights(generator.get_weights())
    norms = [l for l in all_layers(copy) if isinstance(l, keras.layers.BatchNormalization)]
    if not norms:
        return generator
    z = get_latent(latent).sample((count, latent_dim), seed)
    inputs = z
    if num_classes:
        inputs = [z, tf.one_hot(np.arange(count) % num_classes, num_classes)]
    saved = [n.momentum for n in norms]
    try:
        for n in norms:  # moving = batch statistics after one training-mode call
            n.momentum = 0.0
        copy(inputs, training=True)
    finally:
        for n, m in zip(norms, saved, strict=True):
            n.momentum = m
    return copy


def discriminator_features(discriminator: keras.Model | None):
    """A function (D's inputs) -> list of D's 4-D activations (LeakyReLU/ReLU outputs), or
    None when D has none that can be reached (the features of a conditional D are found in
    its nested base network)."""
    if discriminator is None:
        return None

    def activations(model):
        return [layer.output for layer in model.layers
                if isinstance(layer, (keras.layers.LeakyReLU, keras.layers.ReLU))
                and len(layer.output.shape) == 4]

    found = activations(discriminator)
    if found:
        model = keras.Model(discriminator.inputs, found)
        return lambda inputs: model(inputs, training=False)
    nested = [l for l in discriminator.layers if isinstance(l, keras.Model)]
    if len(nested) == 1 and len(nested[0].inputs) == 1 and len(nested[0]._inbound_nodes) == 1:
        inner = nested[0]
        found = activations(inner)
        if found:
            prefix = keras.Model(discriminator.inputs,
                                 inner._inbound_nodes[0].input_tensors[0])
            features = keras.Model(inner.inputs, found)
            return lambda inputs: features(prefix(inputs, training=False), training=False)
    return None


# ------------------------------------------------------------------------- the fit


def _feature_distance(features_a, features_b):
    """Mean over layers of the mean squared difference of channel-normalised features."""
    total = 0.0
    for fa, fb in zip(features_a, features_b, strict=True):
        fa = tf.cast(fa, tf.float32)
        fb = tf.cast(fb, tf.float32)
        fa = fa / (tf.norm(fa, axis=-1, keepdims=True) + 1e-8)
        fb = fb / (tf.norm(fb, axis=-1, keepdims=True) + 1e-8)
        total += tf.reduce_mean(tf.reduce_sum(tf.square(fa - fb), axis=-1), axis=[1, 2])
    return total / len(features_a)


class _Objective:
    """Per-candidate loss terms of z parameters `u` [N, d] against targets [N, H, W, C]."""

    def __init__(self, generator, latent, latent_dim, features, options):
        self.generator = generator
        self.uniform = latent == "uniform"
        self.latent_dim = latent_dim
        self.features = features if options.d_weight > 0 else None
        self.options = options

    def z_of(self, u):
        return tf.tanh(u) if self.uniform else u

    def u_of(self, z):
        return np.arctanh(np.clip(z, -0.999, 0.999)) if self.uniform else z

    def images(self, u, labels):
        z = self.z_of(tf.convert_to_tensor(u, tf.float32))
        inputs = z if labels is None else [z, tf.convert_to_tensor(labels, tf.float32)]
        return tf.cast(self.generator(inputs, training=False), tf.float32)

    def terms(self, u, labels, targets):
        o = self.options
        if labels is not None:
            labels = tf.convert_to_tensor(labels, tf.float32)
        images = self.images(u, labels)
        diff = images - targets
        pixel = tf.reduce_mean(tf.square(diff) if o.pixel_loss == "mse" else tf.abs(diff),
                               axis=[1, 2, 3])
        terms = {"pixel": pixel}
        total = pixel
        if o.ms_ssim_weight > 0:
            terms["ms_ssim"] = ms_ssim_tensor(images, targets)
            total += o.ms_ssim_weight * (1.0 - terms["ms_ssim"])
        if self.features is not None:
            a = images if labels is None else [images, labels]
            b = targets if labels is None else [targets, labels]
            terms["d_features"] = _feature_distance(self.features(a), self.features(b))
            total += o.d_weight * terms["d_features"]
        if not self.uniform and o.prior_weight > 0:
            radius = tf.norm(u, axis=-1) / math.sqrt(self.latent_dim)
            terms["prior"] = tf.square(radius - 1.0)
            total += o.prior_weight * terms["prior"]
        terms["total"] = total
        return terms


class _Adam:
    """Adam on one variable (Kingma & Ba 2015), the learning rate given per step."""

    def __init__(self, var, state=None, beta1=0.9, beta2=0.999, eps=1e-8):
        self.var, self.beta1, self.beta2, self.eps = var, beta1, beta2, eps
        m, v, t = state if state is not None else (tf.zeros_like(var), tf.zeros_like(var), 0.0)
        self.m = tf.Variable(m, dtype=tf.float32)
        self.v = tf.Variable(v, dtype=tf.float32)
        self.t = tf.Variable(t, dtype=tf.float32)

    def state(self, rows=None):
        """(m, v, t) as arrays, of the given rows only (the chosen starts)."""
        m, v = self.m.numpy(), self.v.numpy()
        if rows is not None:
            m, v = m[rows], v[rows]
        return m, v, float(self.t.numpy())

    def apply(self, grad, lr):
        self.t.assign_add(1.0)
        self.m.assign(self.beta1 * self.m + (1 - self.beta1) * grad)
        self.v.assign(self.beta2 * self.v + (1 - self.beta2) * tf.square(grad))
        m_hat = self.m / (1 - self.beta1 ** self.t)
        v_hat = self.v / (1 - self.beta2 ** self.t)
        self.var.assign_sub(lr * m_hat / (tf.sqrt(v_hat) + self.eps))


def _phase(objective, u0, labels, targets, steps, lr_at, on_step, keep_at=(), kept=None,
           state=None):
    """Optimises u from u0 for `steps` (Adam from `state`, learning rate lr_at(step));
    on_step(step, terms) after each; the images before each step in `keep_at` go into
    `kept`. Returns (u, Adam)."""
    u = tf.Variable(u0, dtype=tf.float32)
    adam = _Adam(u, state)
    labels = None if labels is None else tf.constant(labels, tf.float32)
    targets = tf.constant(targets, tf.float32)

    @tf.function(reduce_retracing=True)
    def step(lr):
        with tf.GradientTape() as tape:
            terms = objective.terms(u, labels, targets)
            loss = tf.reduce_sum(terms["total"])  # each candidate its own gradient
        adam.apply(tape.gradient(loss, u), lr)
        return terms

    for i in range(steps):
        if i in keep_at:
            kept[i] = objective.images(u, labels).numpy()
        on_step(i, step(tf.constant(lr_at(i), tf.float32)))
    return u.numpy(), adam


def _frame_steps(total: int, count: int) -> set[int]:
    """`count` step indices in 0..total-1, denser early where the fit moves most."""
    if count <= 0:
        return set()
    picks = np.unique(np.round(np.geomspace(1, total, num=count)).astype(int) - 1)
    return set(picks.tolist())


def _candidate_labels(count: int, candidates: int, num_classes: int, labels, starts: int):
    """Labels [count * candidates, K] of the candidates (None: unconditional). Candidates
    of target t are rows t*candidates ...: with `labels` None every class in turn (class-
    major, then start), else the target's given row for each start."""
    if not num_classes:
        return None
    if labels is None:
        return np.tile(np.repeat(np.eye(num_classes, dtype=np.float32), starts, axis=0),
                       (count, 1))
    return np.repeat(np.asarray(labels, np.float32).reshape(count, num_classes), candidates,
                     axis=0)


def project(generator, targets, *, latent: str, latent_dim: int, num_classes: int = 0,
            labels=None, features=None, options: ProjectionOptions = ProjectionOptions(),
            progress=None) -> ProjectionResult:
    """Projects `targets` [T, H, W, C] in [-1, 1] (module doc). Conditional models:
    `labels` [T, K] (given classes), or None to try every class (each with `starts`
    starts) and keep the best. `progress(done, total, note)` is told of every step."""
    options.check()
    t0 = time.perf_counter()
    targets = np.asarray(targets, np.float32)
    count = len(targets)
    objective = _Objective(generator, latent, latent_dim, features, options)
    # The warm phase (every start of every target: most of the work) leaves D's features
    # out; they join when the chosen start is refined (about 3x faster, measured).
    warm_objective = _Objective(generator, latent, latent_dim, None, options)
    every_class = bool(num_classes) and labels is None
    candidates = options.starts * (num_classes if every_class else 1)
    cand_labels = _candidate_labels(count, candidates, num_classes, labels, options.starts)
    z0 = get_latent(latent).sample((count * candidates, latent_dim), options.seed).numpy()
    cand_targets = np.repeat(targets, candidates, axis=0)
    u = objective.u_of(z0).astype(np.float32)
    start_images = objective.images(tf.constant(u), cand_labels).numpy()
    start_mse = np.mean(np.square(start_images - cand_targets), axis=(1, 2, 3))
    start_mse = start_mse.reshape(count, candidates)

    history: dict[str, list] = {}
    total_steps = options.steps
    warm = options.warm_steps if candidates > 1 else 0
    refine = total_steps - warm

    def record(step_index, terms, pick):
        for name, value in terms.items():
            history.setdefault(name, []).append(pick(np.asarray(value)))
        if progress is not None:
            progress(step_index + 1, total_steps,
                     f"loss {float(np.mean(history['total'][-1])):.4f}")

    adam = None
    frame_steps = _frame_steps(total_steps, options.frames) | {0}
    kept_warm: dict[int, np.ndarray] = {}  # every candidate's images: the chosen one's later
    if warm:
        def on_warm(i, terms):  # every term of the best candidate of each target
            leader = np.asarray(terms["total"]).reshape(count, candidates).argmin(axis=1)
            rows = np.arange(count) * candidates + leader
            record(i, terms, lambda values: values[rows])

        u, adam = _phase(warm_objective, u, cand_labels, cand_targets, warm,
                         lambda i: options.learning_rate, on_warm,
                         {s for s in frame_steps if s < warm}, kept_warm)
    final = warm_objective.terms(tf.constant(u), cand_labels, tf.constant(cand_targets))
    best = np.asarray(final["total"]).reshape(count, candidates).argmin(axis=1)
    rows = np.arange(count) * candidates + best
    u = u[rows]
    chosen = None if cand_labels is None else cand_labels[rows]

    def lr_at(i):  # cosine decay to 1% over the refine phase
        return options.learning_rate * (0.01 + 0.495 * (1 + math.cos(math.pi * i / refine)))

    # fit.gif follows the chosen start from step 0
    kept: dict[int, np.ndarray] = {}
    keep_at = {s - warm for s in frame_steps if s >= warm}
    if refine:  # Adam's moments carry over from the warm phase (no restart jolt)
        u, _ = _phase(objective, u, chosen, targets, refine, lr_at,
                      lambda i, terms: record(warm + i, terms, lambda v: v), keep_at, kept,
                      state=None if adam is None else adam.state(rows))
    images = objective.images(tf.constant(u), chosen).numpy()
    frames = ([(i, kept_warm[i][rows]) for i in sorted(kept_warm)]
              + [(warm + i, kept[i]) for i in sorted(kept)] + [(total_steps, images)])
    return ProjectionResult(
        z=objective.z_of(tf.constant(u)).numpy().astype(np.float32),
        labels=chosen, images=images,
        pixel_mse=np.mean(np.square(images - targets), axis=(1, 2, 3)),
        ms_ssim=ms_ssim(images, targets), start_mse=start_mse,
        history={k: np.stack(v) for k, v in history.items()}, frames=frames,
        seconds=time.perf_counter() - t0,
        classes_tried=num_classes if every_class else 1)


def label_rows(num_classes: int, classes) -> np.ndarray:
    """One-hot rows [T, K] of class indices `classes`."""
    return np.stack([one_hot(int(k), num_classes) for k in classes]).astype(np.float32)
