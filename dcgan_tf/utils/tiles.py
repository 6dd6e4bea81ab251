"""Image grids ("tiles") written as PNG with tf.image.encode_png (source 004)."""

from __future__ import annotations

import io
import math

import numpy as np
import tensorflow as tf

from dcgan_tf.utils.atomic_files import atomic_write_bytes


def to_uint8(images) -> np.ndarray:
    """Float images in [-1, 1] -> uint8 [0, 255] (rounded, clipped). uint8 passes through."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images
    return np.clip(np.round((images.astype(np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def make_tile(images, rows: int | None = None, cols: int | None = None, padding: int = 2,
              pad_value: int = 255) -> np.ndarray:
    """Lays out [N, H, W, C] images as rows x cols with `padding` pixels between them.

    Returns uint8 [rows*H + (rows+1)*pad, cols*W + (cols+1)*pad, C]. Missing cells at the
    end stay background.
    """
    images = to_uint8(images)
    if images.ndim != 4:
        raise ValueError(f"images must be [N, H, W, C], got shape {images.shape}.")
    n, h, w, c = images.shape
    if cols is None:
        cols = math.ceil(math.sqrt(n)) if rows is None else math.ceil(n / rows)
    if rows is None:
        rows = math.ceil(n / cols)
    if rows * cols < n:
        raise ValueError(f"A {rows}x{cols} tile cannot hold {n} images.")
    p = padding
    tile = np.full((rows * h + (rows + 1) * p, cols * w + (cols + 1) * p, c), pad_value,
                   np.uint8)
    for i in range(n):
        r, k = divmod(i, cols)
        y, x = p + r * (h + p), p + k * (w + p)
        tile[y:y + h, x:x + w] = images[i]
    return tile


def encode_png(tile: np.ndarray) -> bytes:
    return tf.image.encode_png(tf.constant(tile)).numpy()


def encode_gif(frames, frame_ms: int = 120) -> bytes:
    """A looping animated GIF of `frames` (PIL images or uint8 [H, W, C] arrays)."""
    from PIL import Image

    frames = [f if isinstance(f, Image.Image)
              else Image.fromarray(f[..., 0] if f.shape[-1] == 1 else f) for f in frames]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:],
                   duration=frame_ms, loop=0)
    return buf.getvalue()


def label_rows(tile: np.ndarray, names, cell: int, padding: int = 2) -> np.ndarray:
    """Prepends a strip with one name per row (conditional samples: the class of the row)."""
    from PIL import Image, ImageDraw, ImageFont

    width = max(24, 7 * max(len(str(n)) for n in names) + 8)
    strip = Image.new("L", (width, tile.shape[0]), 255)
    draw = ImageDraw.Draw(strip)
    font = ImageFont.load_default()
    for r, name in enumerate(names):
        y = padding + r * (cell + padding) + max(cell // 2 - 6, 0)
        draw.text((4, y), str(name), fill=0, font=font)
    strip = np.asarray(strip, np.uint8)[:, :, None]
    strip = np.repeat(strip, tile.shape[-1], axis=-1)
    return np.concatenate([strip, tile], axis=1)


def write_tile(path: str, images, rows=None, cols=None, padding: int = 2,
               row_names=None) -> np.ndarray:
    """Writes `images` as one PNG tile at `path` (atomically); returns the tile.
    `row_names`: a label drawn left of each row."""
    tile = make_tile(images, rows, cols, padding)
    if row_names is not None:
        tile = label_rows(tile, row_names, np.asarray(images).shape[1], padding)
    atomic_write_bytes(path, encode_png(tile))
    return tile
