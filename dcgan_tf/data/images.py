"""Reading one user photo into a clean uint8 array, or a reason why not.

Phone photos and web downloads arrive in every mode PIL knows. `load_image` honours the
EXIF orientation, takes the first frame of animations, composites transparency on a
chosen background, scales 16-bit images down to 8 bits (PIL's own conversion clips them),
and returns [H, W, channels] uint8 with channels 1 or 3. Anything unreadable raises
`BadImage` with a short reason that the dataset builder reports per file.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError


# A 100-megapixel photo is plausible; 10x that is a decompression bomb, not a photo.
MAX_PIXELS = 1_000_000_000


class BadImage(Exception):
    """A file that is not a usable image: `reason` is a short category for summaries,
    `detail` what exactly went wrong (may be empty)."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason} ({detail})" if detail else reason)
        self.reason = reason
        self.detail = detail


def load_image(data: bytes, channels: int, background=(255, 255, 255)):
    """Decodes encoded image bytes -> (uint8 [H, W, channels], notes: list[str])."""
    notes = []
    if not data:
        raise BadImage("empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.width * image.height > MAX_PIXELS:
                raise BadImage("too large", f"{image.width}x{image.height}")
            if getattr(image, "is_animated", False) and image.n_frames > 1:
                notes.append("animated: first frame used")
                image.seek(0)
            image.load()
            image = ImageOps.exif_transpose(image)
    except BadImage:
        raise
    except UnidentifiedImageError:
        raise BadImage("not an image") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise BadImage("too large", "decompression bomb guard") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise BadImage("truncated or corrupt", str(e)[:80]) from None
    if image.width < 1 or image.height < 1:
        raise BadImage("zero-sized image")
    return to_array(image, channels, background), notes


def to_array(image: Image.Image, channels: int, background=(255, 255, 255)) -> np.ndarray:
    """Any PIL mode -> uint8 [H, W, channels] (channels 1 or 3)."""
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or array.max() > 255 else 255.0
        image = Image.fromarray(np.clip(array * (255.0 / top) + 0.5, 0, 255).astype(np.uint8))
    elif mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    elif mode == "PA":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, tuple(background) + (255,))
        image = Image.alpha_composite(canvas, rgba).convert("RGB")
    if channels == 1:
        image = image.convert("L")
    else:
        image = image.convert("RGB")  # CMYK, YCbCr, P, 1, L, ... -> RGB
    array = np.asarray(image, dtype=np.uint8)
    if array.ndim == 2:
        array = array[:, :, None]
    return array


def encode(array: np.ndarray, fmt: str, quality: int = 95) -> bytes:
    """uint8 [H, W, C] -> JPEG or PNG bytes (deterministic for the same pixels)."""
    image = Image.fromarray(array[:, :, 0] if array.shape[-1] == 1 else array)
    out = io.BytesIO()
    if fmt == "jpeg":
        image.save(out, format="JPEG", quality=quality, subsampling=0 if quality >= 90 else 2)
    else:
        image.save(out, format="PNG", compress_level=6)
    return out.getvalue()


def resize_square(array: np.ndarray, size: int) -> np.ndarray:
    """uint8 [H, W, C] -> [size, size, C] with Lanczos (antialiased) resampling."""
    if array.shape[0] == size and array.shape[1] == size:
        return array
    image = Image.fromarray(array[:, :, 0] if array.shape[-1] == 1 else array)
    out = np.asarray(image.resize((size, size), Image.LANCZOS), dtype=np.uint8)
    return out[:, :, None] if out.ndim == 2 else out


def resize_to_max_side(array: np.ndarray, max_side: int):
    """A copy no larger than max_side on its long side -> (array, scale it was shrunk by)."""
    h, w = array.shape[:2]
    if max_side <= 0 or max(h, w) <= max_side:
        return array, 1.0
    scale = max_side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    image = Image.fromarray(array[:, :, 0] if array.shape[-1] == 1 else array)
    out = np.asarray(image.resize(size, Image.BILINEAR), dtype=np.uint8)
    return (out[:, :, None] if out.ndim == 2 else out), scale
