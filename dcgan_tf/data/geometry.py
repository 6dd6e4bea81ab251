"""Decode geometry: how a decoded image of any size and channel count is brought to the
model's square size and channels (--preprocess, --load_size). Batch-time flips are the
stream's (dcgan_tf.data.stream.Flips)."""

from __future__ import annotations

import dataclasses

import tensorflow as tf

from dcgan_tf.data.crops import central_fraction


@dataclasses.dataclass(frozen=True)
class Geometry:
    """The model's image size and channels, and how a decoded image reaches them."""

    resolution: int
    channels: int
    mode: str = "resize"  # resize | center | resize_then_center
    load_size: int = 0


def fit_geometry(image, geometry: Geometry):
    """uint8/float image [H, W, c] in [0, 255] -> float32 pixels [R, R, C] in [0, 255].
    A batch of images of one size [N, H, W, c] -> [N, R, R, C], the same pixels as image by
    image (arrays in memory are fitted by batches: several times faster)."""
    image = tf.cast(image, tf.float32)
    have = image.shape[-1]
    if have == 4:
        image = image[..., :3]
        have = 3
    if geometry.channels == 3 and have == 1:
        image = tf.image.grayscale_to_rgb(image)
    elif geometry.channels == 1 and have == 3:
        image = tf.image.rgb_to_grayscale(image)
    size = (geometry.resolution, geometry.resolution)
    if geometry.mode == "resize":
        image = tf.image.resize(image, size, antialias=True)
    elif geometry.mode == "center":
        image = _center_square(image)
        image = tf.image.resize(image, size, antialias=True)
    else:  # resize_then_center (source 000: 256x256, then the central 64x64)
        shape = tf.cast(tf.shape(image), tf.float32)
        x, y, w, h = central_fraction(shape[-3], shape[-2], geometry.resolution,
                                      geometry.load_size)
        box = [tf.cast(tf.round(v), tf.int32) for v in (y, x, h, w)]
        image = tf.image.crop_to_bounding_box(image, box[0], box[1], tf.maximum(box[2], 1),
                                              tf.maximum(box[3], 1))
        image = tf.image.resize(image, size, antialias=True)
    image = tf.clip_by_value(image, 0.0, 255.0)
    image.set_shape(image.shape[:-3].concatenate(
        (geometry.resolution, geometry.resolution, geometry.channels)))
    return image


def _center_square(image):
    shape = tf.shape(image)
    h, w = shape[-3], shape[-2]
    side = tf.minimum(h, w)
    return tf.image.crop_to_bounding_box(image, (h - side) // 2, (w - side) // 2, side, side)
