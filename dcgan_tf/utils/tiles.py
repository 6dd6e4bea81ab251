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


def to_uint8_images(images):
    """Graph version of to_uint8 (the same rounding): what the SavedModel signatures and the
    ONNX/TFLite files of an export compute."""
    images = tf.cast(images, tf.float32)
    return tf.cast(tf.clip_by_value(tf.round((images + 1.0) * 127.5), 0.0, 255.0), tf.uint8)


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


# Captions. Every label drawn on an image of the package is drawn here, in PIL's default
# font, black on the white background of the tiles: row names (label_rows), a caption under
# every cell (captioned_tile: generate's arithmetic, nearest's pairs) and a line of text
# under a whole tile (add_caption: the step of each progress.gif / .mp4 frame).
CAPTION_LINE = 12  # pixels per line of text in the default font (10 px glyphs + 2)


def _font():
    from PIL import ImageFont

    return ImageFont.load_default()


def text_width(text: str) -> int:
    """Width in pixels of `text` (its widest line) in the caption font."""
    from PIL import Image, ImageDraw

    draw = ImageDraw.Draw(Image.new("L", (1, 1)))
    return max(int(np.ceil(draw.textlength(line, font=_font())))
               for line in str(text).split("\n"))


def _band_height(lines: int) -> int:
    return lines * CAPTION_LINE + 4


def _draw_texts(canvas: np.ndarray, texts) -> np.ndarray:
    """Draws (x, y, text, centre_width) items on uint8 [H, W, C] `canvas` (a copy is
    returned): text at y, centred in [x, x + centre_width) when centre_width, else from x."""
    from PIL import Image, ImageDraw

    gray = Image.fromarray(np.ascontiguousarray(canvas[..., 0]))
    mask = Image.new("L", gray.size, 0)  # where text goes, drawn once for all channels
    draw = ImageDraw.Draw(mask)
    font = _font()
    for x, y, text, centre in texts:
        for i, line in enumerate(str(text).split("\n")):
            dx = max((centre - text_width(line)) // 2, 0) if centre else 0
            draw.text((x + dx, y + i * CAPTION_LINE), line, fill=255, font=font)
    ink = np.asarray(mask, np.float32)[..., None] / 255.0  # anti-aliased coverage
    return np.round(canvas.astype(np.float32) * (1.0 - ink)).astype(np.uint8)


def label_rows(tile: np.ndarray, names, cell: int, padding: int = 2) -> np.ndarray:
    """Prepends a strip with one name per row (conditional samples: the class of the row)."""
    width = max(24, max(text_width(str(n)) for n in names) + 8)
    strip = np.full((tile.shape[0], width, tile.shape[-1]), 255, np.uint8)
    strip = _draw_texts(strip, [(4, padding + r * (cell + padding) + max(cell // 2 - 6, 0),
                                 name, 0) for r, name in enumerate(names)])
    return np.concatenate([strip, tile], axis=1)


def add_caption(tile: np.ndarray, text: str, width: int = 0) -> np.ndarray:
    """`tile` (uint8 [H, W, C]) with a white band below it holding `text`, centred (e.g.
    "step 1200" under a frame of progress.gif). The band is as tall as the text's lines; a
    tile narrower than the text (or than `width`: frames of one animation share a size) is
    widened with background on the right."""
    tile = to_uint8(tile)
    h, w, c = tile.shape
    wide = max(w, width, text_width(text) + 4)
    if wide > w:
        tile = np.concatenate([tile, np.full((h, wide - w, c), 255, np.uint8)], axis=1)
    lines = str(text).count("\n") + 1
    band = np.full((_band_height(lines), wide, c), 255, np.uint8)
    band = _draw_texts(band, [(0, 1, text, wide)])
    return np.concatenate([tile, band], axis=0)


def captioned_tile(images, captions, rows: int | None = None, cols: int | None = None,
                   padding: int = 2) -> np.ndarray:
    """Like make_tile, with a caption under every cell (`captions[i]` for images[i]; "" for
    none, a line break for a second line). Images too narrow for their widest caption are enlarged
    by a whole factor (nearest neighbour: pixels stay sharp) until it fits. Cells past the
    images (or images given as None) stay background."""
    shapes = [np.asarray(im).shape for im in images if im is not None]
    if not shapes:
        raise ValueError("captioned_tile needs at least one image.")
    h, w, c = shapes[0]
    if len(captions) != len(images):
        raise ValueError(f"{len(images)} images but {len(captions)} captions.")
    scale = max(1, -(-(max(text_width(t) for t in captions) + 4) // w))
    blank = np.full((h * scale, w * scale, c), 255, np.uint8)
    cells = [blank if im is None
             else to_uint8(im).repeat(scale, axis=0).repeat(scale, axis=1) for im in images]
    lines = max(str(t).count("\n") + 1 for t in captions)
    band = _band_height(lines)
    # Each cell grows by the caption band below it: [h*scale + band, w*scale, c].
    tall = np.full((len(cells), h * scale + band, w * scale, c), 255, np.uint8)
    tall[:, :h * scale] = np.stack(cells)
    tile = make_tile(tall, rows, cols, padding)
    cols = cols if cols is not None else (tile.shape[1] - padding) // (w * scale + padding)
    texts = []
    for i, text in enumerate(captions):
        r, k = divmod(i, cols)
        x = padding + k * (w * scale + padding)
        y = padding + r * (h * scale + band + padding) + h * scale + 1
        texts.append((x, y, text, w * scale))
    return _draw_texts(tile, texts)


def write_tile(path: str, images, rows=None, cols=None, padding: int = 2,
               row_names=None) -> np.ndarray:
    """Writes `images` as one PNG tile at `path` (atomically); returns the tile.
    `row_names`: a label drawn left of each row."""
    tile = make_tile(images, rows, cols, padding)
    if row_names is not None:
        tile = label_rows(tile, row_names, np.asarray(images).shape[1], padding)
    atomic_write_bytes(path, encode_png(tile))
    return tile
