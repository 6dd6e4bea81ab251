"""Transformations of every image the discriminator sees (real and fake, in D and G
updates): one class per augmentation, composed by the update step.

An augmentation is called on a batch [B, H, W, C] and returns a batch of the same shape and
dtype; it must be differentiable (G's gradient flows through it) and draw its randomness
from the GAN's checkpointed seed stream (`gan.next_seed()`). It may report per-step metrics
(`metrics(gan)`), keep state that checkpoints must hold (`checkpoint_items`), and watch D's
outputs on reals (`observe`, for adaptive schemes).

`AUGMENTATIONS` maps names to classes; `from_config(config)` returns an instance when the
run asks for it, or None.
"""

from __future__ import annotations

import math
from typing import ClassVar

import tensorflow as tf

from dcgan_tf.utils.registry import Registry
from dcgan_tf.gan.schedules import linear_decay


class Augmentation:
    name: ClassVar[str] = ""
    metric_names: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def from_config(cls, config) -> Augmentation | None:
        raise NotImplementedError

    def __call__(self, images, gan):
        raise NotImplementedError

    def metrics(self, gan) -> dict:
        """{name: float32 scalar} reported for the current step."""
        return {}

    def observe(self, gan, real_logits) -> None:
        """Called after each D update with D's float32 logits on the (augmented) reals."""

    def checkpoint_items(self) -> dict:
        return {}


AUGMENTATIONS: Registry[type[Augmentation]] = Registry("augmentation")


@AUGMENTATIONS.register("instance_noise")
class InstanceNoise(Augmentation):
    """images + N(0, sigma^2), sigma falling linearly from `sigma` to 0 over `decay_steps`
    generator steps (0: constant). Sonderby et al. 2017; Arjovsky & Bottou 2017: noise
    makes the real and fake distributions overlap, so an overconfident D learns less."""

    name = "instance_noise"
    metric_names = ("noise_sigma",)

    def __init__(self, sigma: float, decay_steps: int = 0):
        if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not (
                math.isfinite(sigma) and sigma >= 0):
            raise ValueError(f"instance_noise must be a finite number >= 0, got {sigma!r}.")
        if isinstance(decay_steps, bool) or not isinstance(decay_steps, int) or decay_steps < 0:
            raise ValueError(f"instance_noise_decay_steps must be >= 0, got {decay_steps!r}.")
        self.sigma = float(sigma)
        self.decay_steps = decay_steps

    @classmethod
    def from_config(cls, config):
        if config.instance_noise <= 0:
            return None
        return cls(config.instance_noise, config.instance_noise_decay_steps)

    def current_sigma(self, gan):
        return linear_decay(gan.g_step, start=self.sigma, decay_steps=self.decay_steps)

    def __call__(self, images, gan):
        noise = tf.random.stateless_normal(tf.shape(images), seed=gan.next_seed())
        sigma = self.current_sigma(gan)
        return images + tf.cast(sigma, images.dtype) * tf.cast(noise, images.dtype)

    def metrics(self, gan):
        return {"noise_sigma": self.current_sigma(gan)}


def augmentations_from_config(config) -> list[Augmentation]:
    found = []
    for name in AUGMENTATIONS:
        augmentation = AUGMENTATIONS[name].from_config(config)
        if augmentation is not None:
            found.append(augmentation)
    return found


DIFFAUGMENT_POLICIES = ("color", "translation", "cutout")


def _uniform(shape, gan, low=0.0, high=1.0):
    return tf.random.stateless_uniform(shape, seed=gan.next_seed(), minval=low, maxval=high)


def diff_color(images, gan):
    """Per-sample brightness (+U[-0.5, 0.5]), saturation (x U[0, 2] around the pixel's
    channel mean; nothing to do on one channel) and contrast (x U[0.5, 1.5] around the
    image mean), as DiffAugment's `rand_brightness/saturation/contrast`."""
    n = tf.shape(images)[0]
    dtype = images.dtype
    images = images + tf.cast(_uniform([n, 1, 1, 1], gan, -0.5, 0.5), dtype)
    if images.shape[-1] is not None and images.shape[-1] > 1:
        mean = tf.reduce_mean(images, axis=3, keepdims=True)
        images = (images - mean) * tf.cast(_uniform([n, 1, 1, 1], gan, 0.0, 2.0), dtype) + mean
    mean = tf.reduce_mean(images, axis=[1, 2, 3], keepdims=True)
    return (images - mean) * tf.cast(_uniform([n, 1, 1, 1], gan, 0.5, 1.5), dtype) + mean


def _shift_indices(size, shifts):
    """For each sample, source indices i - shift along an axis of `size` and whether they
    fall inside the image: ([N, size] int32, [N, size] bool)."""
    index = tf.range(size)[None, :] - shifts[:, None]
    return tf.clip_by_value(index, 0, size - 1), (index >= 0) & (index < size)


def diff_translation(images, gan, ratio: float = 0.125):
    """Per-sample integer shift of up to ratio x the side in each direction; what moves in
    is zero (DiffAugment's `rand_translation`). Built from gathers, so it is differentiable
    and XLA-compatible."""
    n, h, w = tf.shape(images)[0], images.shape[1], images.shape[2]
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    shift_y = tf.random.stateless_uniform([n], gan.next_seed(), -sy, sy + 1, dtype=tf.int32)
    shift_x = tf.random.stateless_uniform([n], gan.next_seed(), -sx, sx + 1, dtype=tf.int32)
    rows, row_ok = _shift_indices(h, shift_y)  # [N, H]
    cols, col_ok = _shift_indices(w, shift_x)  # [N, W]
    out = tf.gather(images, rows, axis=1, batch_dims=1)  # [N, H, W, C]
    out = tf.gather(out, cols, axis=2, batch_dims=1)
    keep = tf.cast(row_ok[:, :, None, None] & col_ok[:, None, :, None], images.dtype)
    return out * keep


def diff_cutout(images, gan, ratio: float = 0.5):
    """Per-sample zeroed square of ratio x the side, centred anywhere in the image (cut at
    the border), as DiffAugment's `rand_cutout`."""
    n, h, w = tf.shape(images)[0], images.shape[1], images.shape[2]
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = tf.random.stateless_uniform([n], gan.next_seed(), 0, h + (1 - ch % 2), dtype=tf.int32)
    cx = tf.random.stateless_uniform([n], gan.next_seed(), 0, w + (1 - cw % 2), dtype=tf.int32)
    ys, xs = tf.range(h)[None, :], tf.range(w)[None, :]
    in_y = (ys >= (cy - ch // 2)[:, None]) & (ys < (cy - ch // 2 + ch)[:, None])  # [N, H]
    in_x = (xs >= (cx - cw // 2)[:, None]) & (xs < (cx - cw // 2 + cw)[:, None])  # [N, W]
    cut = in_y[:, :, None, None] & in_x[:, None, :, None]
    return images * tf.cast(~cut, images.dtype)


@AUGMENTATIONS.register("diffaugment")
class DiffAugment(Augmentation):
    """Differentiable augmentation (Zhao et al. 2020) of every image D sees, real and fake,
    in D and G updates: G learns through it, so the augmentation never leaks into G's
    images. `policy`: some of color, translation, cutout, applied in that order."""

    name = "diffaugment"
    STEPS = {"color": diff_color, "translation": diff_translation, "cutout": diff_cutout}

    def __init__(self, policy):
        names = [p.strip() for p in (policy.split(",") if isinstance(policy, str) else policy)
                 if p.strip()]
        unknown = [p for p in names if p not in self.STEPS]
        if unknown or not names:
            raise ValueError(f"Unknown --diffaugment policy {unknown or policy!r}. Expected a "
                             f"comma list of {list(DIFFAUGMENT_POLICIES)}.")
        if len(set(names)) != len(names):
            raise ValueError(f"--diffaugment repeats a policy: {names}.")
        self.policy = tuple(p for p in DIFFAUGMENT_POLICIES if p in names)

    @classmethod
    def from_config(cls, config):
        return cls(config.diffaugment) if config.diffaugment else None

    def __call__(self, images, gan):
        for name in self.policy:
            images = self.STEPS[name](images, gan)
        return images


def _where_samples(mask, augmented, images):
    return tf.where(mask[:, None, None, None], augmented, images)


def _rotate90(images, k):
    """Per-sample rotation by k[i] quarter turns (square images)."""
    out = images
    for turns in (1, 2, 3):
        out = tf.where(tf.equal(k, turns)[:, None, None, None],
                       tf.image.rot90(images, turns), out)
    return out


@AUGMENTATIONS.register("ada")
class AdaptiveAugment(Augmentation):
    """Adaptive discriminator augmentation (Karras et al. 2020): every transform of the
    pipeline is applied to each image D sees with probability p, and p follows the
    overfitting heuristic r_t = E[sign(D(x_real))]: every `interval` D updates it moves by
    sign(r_t - target) x (real images seen in the interval) / (kimg x 1000), clipped to
    [0, 1], so it can go 0 -> 1 in `kimg` thousand images.

    The pipeline here is ADA's "bgc" subset that needs no resampling: x-flip, quarter-turn
    rotation, integer translation (1/8 of the side, zero fill), brightness, contrast and
    saturation. p, r_t and the interval's accumulators are checkpointed variables.
    """

    name = "ada"
    metric_names = ("ada_p", "ada_rt")

    def __init__(self, target: float = 0.6, interval: int = 4, kimg: float = 500.0,
                 initial_p: float = 0.0):
        if not 0.0 < target < 1.0:
            raise ValueError(f"ada_target must be in (0, 1) (0 turns ADA off), got {target!r}.")
        if isinstance(interval, bool) or not isinstance(interval, int) or interval <= 0:
            raise ValueError(f"ada_interval must be a positive integer, got {interval!r}.")
        if not (math.isfinite(kimg) and kimg > 0):
            raise ValueError(f"ada_kimg must be > 0, got {kimg!r}.")
        self.target, self.interval, self.kimg = float(target), interval, float(kimg)
        self.p = tf.Variable(float(initial_p), trainable=False, name="ada_p")
        self.rt = tf.Variable(0.0, trainable=False, name="ada_rt")
        self.sign_sum = tf.Variable(0.0, trainable=False, name="ada_sign_sum")
        self.count = tf.Variable(0.0, trainable=False, name="ada_count")

    @classmethod
    def from_config(cls, config):
        if config.ada_target <= 0:
            return None
        return cls(config.ada_target, config.ada_interval, config.ada_kimg)

    def _mask(self, n, gan):
        return tf.random.stateless_uniform([n], seed=gan.next_seed()) < self.p

    def __call__(self, images, gan):
        n = tf.shape(images)[0]
        dtype = images.dtype
        images = _where_samples(self._mask(n, gan), tf.reverse(images, axis=[2]), images)
        if images.shape[1] == images.shape[2]:
            k = tf.random.stateless_uniform([n], gan.next_seed(), 1, 4, dtype=tf.int32)
            images = _where_samples(self._mask(n, gan), _rotate90(images, k), images)
        images = _where_samples(self._mask(n, gan), diff_translation(images, gan), images)
        shift = tf.cast(tf.random.stateless_normal([n, 1, 1, 1], gan.next_seed()) * 0.2, dtype)
        images = _where_samples(self._mask(n, gan), images + shift, images)
        mean = tf.reduce_mean(images, axis=[1, 2, 3], keepdims=True)
        factor = tf.cast(tf.exp(tf.random.stateless_normal([n, 1, 1, 1], gan.next_seed())
                                * 0.5 * math.log(2.0)), dtype)  # lognormal, std log2 0.5
        images = _where_samples(self._mask(n, gan), (images - mean) * factor + mean, images)
        if images.shape[-1] is not None and images.shape[-1] > 1:
            gray = tf.reduce_mean(images, axis=3, keepdims=True)
            sat = tf.cast(tf.exp(tf.random.stateless_normal([n, 1, 1, 1], gan.next_seed())
                                 * math.log(2.0)), dtype)
            images = _where_samples(self._mask(n, gan), (images - gray) * sat + gray, images)
        return images

    def observe(self, gan, real_logits):
        logits = tf.cast(real_logits, tf.float32)
        score = logits[:, 1] - logits[:, 0] if logits.shape[-1] == 2 else logits[:, 0]
        self.sign_sum.assign_add(tf.reduce_sum(tf.sign(score)))
        self.count.assign_add(tf.cast(tf.shape(score)[0], tf.float32))
        due = tf.equal(tf.math.floormod(gan.d_step, self.interval), 0)
        rt = self.sign_sum / tf.maximum(self.count, 1.0)
        step = tf.sign(rt - self.target) * self.count / (self.kimg * 1000.0)
        self.p.assign(tf.where(due, tf.clip_by_value(self.p + step, 0.0, 1.0), self.p))
        self.rt.assign(tf.where(due, rt, self.rt))
        self.sign_sum.assign(tf.where(due, 0.0, self.sign_sum))
        self.count.assign(tf.where(due, 0.0, self.count))

    def metrics(self, gan):
        return {"ada_p": tf.identity(self.p), "ada_rt": tf.identity(self.rt)}

    def checkpoint_items(self):
        return {"ada_p": self.p, "ada_rt": self.rt, "ada_sign_sum": self.sign_sum,
                "ada_count": self.count}


@AUGMENTATIONS.register("gridmask")
class GridMask(Augmentation):
    """GridMask (Chen et al. 2020, "GridMask Data Augmentation"), as source 000's Fig. 3
    applies it to the crops, here on every image D sees, real and fake, in D and G updates
    (so G is not pushed to draw the mask). With probability `prob` per image, a grid of
    squares is set to 0 (the middle of [-1, 1]): the image is cut into d x d units (d drawn
    per image, uniform in [d_min, d_max] x the shorter side, in pixels; the grid shifted by
    random offsets in [0, d)), and in each unit a square of side round((1 - ratio) x d) is
    removed, so a fraction (1 - ratio)^2 of the image is masked (the paper's keep ratio
    1 - (1 - r)^2). Without the paper's optional rotation of the grid. A multiplication by
    a constant mask: gradients pass where the image is kept."""

    name = "gridmask"

    def __init__(self, prob: float = 1.0, ratio: float = 0.6, d_min: float = 0.43,
                 d_max: float = 1.0):
        for flag, value in (("gridmask", prob), ("gridmask_ratio", ratio)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                    0.0 <= value <= 1.0):
                raise ValueError(f"--{flag} must be in [0, 1], got {value!r}.")
        if not (isinstance(d_min, (int, float)) and isinstance(d_max, (int, float))
                and 0.0 < d_min <= d_max <= 1.0):
            raise ValueError("--gridmask_d_min and --gridmask_d_max must satisfy 0 < min <= "
                             f"max <= 1 (fractions of the image side), got {d_min!r} and "
                             f"{d_max!r}.")
        self.prob, self.ratio = float(prob), float(ratio)
        self.d_min, self.d_max = float(d_min), float(d_max)

    @classmethod
    def from_config(cls, config):
        if config.gridmask <= 0:
            return None
        return cls(config.gridmask, config.gridmask_ratio, config.gridmask_d_min,
                   config.gridmask_d_max)

    def mask(self, n, height: int, width: int, gan):
        """[N, H, W, 1] bool: True where the image is removed."""
        side = min(height, width)
        low = max(2, int(round(self.d_min * side)))
        high = max(low, int(round(self.d_max * side)))
        d = tf.random.stateless_uniform([n], gan.next_seed(), low, high + 1, dtype=tf.int32)
        removed = tf.cast(tf.round((1.0 - self.ratio) * tf.cast(d, tf.float32)), tf.int32)
        offsets = tf.cast(tf.floor(_uniform([n, 2], gan) * tf.cast(d, tf.float32)[:, None]),
                          tf.int32)  # [N, 2]: (y, x) shift of the grid
        ys = tf.math.floormod(tf.range(height)[None, :] + offsets[:, :1], d[:, None])  # [N, H]
        xs = tf.math.floormod(tf.range(width)[None, :] + offsets[:, 1:], d[:, None])  # [N, W]
        in_y, in_x = ys < removed[:, None], xs < removed[:, None]
        applied = _uniform([n], gan) < self.prob  # [N]
        return (in_y[:, :, None, None] & in_x[:, None, :, None]
                & applied[:, None, None, None])

    def __call__(self, images, gan):
        cut = self.mask(tf.shape(images)[0], images.shape[1], images.shape[2], gan)
        return images * tf.cast(~cut, images.dtype)
