"""One user photo brought to a model's images the way its training data was made.

    plan = PhotoPlan(resolution=32, channels=1)                       # the run's --preprocess
    plan = PhotoPlan(resolution=64, channels=3, crop="face", built_size=64)   # the builder's
    image = prepare_photo("me.jpg", plan)     # float32 [R, R, C] in [-1, 1]

Two routes, as training had two:
- `crop=None`: the training pipeline's own decode geometry (`--preprocess` resize, center
  or resize_then_center with `--load_size`; dcgan_tf.data.geometry.fit_geometry), what a
  run on a folder of photos, digits, mnist5k, lfw100, an .npz or tfds saw.
- `crop=NAME` (dcgan_tf.data.crops.CROPS, e.g. center, face, cat_face): the dataset
  builder's route (its crop, Lanczos resize to the built size), then the pipeline's plain
  resize to the model's size, what a run on TFRecords of `dcgan-tf build` saw.
A grayscale model gets a one-channel photo (each route converts as it did in training).
Used by the projection (dcgan_tf.artifacts.projection).
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from dcgan_tf.utils.errors import UserError

# Crops a single photo can take: `boxes` needs the builder's CSV keyed by source file.
PHOTO_CROPS = ("none", "center", "resize_then_center", "face", "cat_face")


@dataclasses.dataclass(frozen=True)
class PhotoPlan:
    resolution: int
    channels: int
    crop: str | None = None  # None: the pipeline's `preprocess`; else a builder crop
    preprocess: str = "resize"
    load_size: int = 0
    built_size: int | None = None  # the builder's output size (default: the resolution)
    crop_options: tuple = ()  # (name, value) pairs of CropOptions fields (face_margin, ...)

    def describe(self) -> str:
        if self.crop is None:
            extra = f", --load_size={self.load_size}" if self.preprocess == "resize_then_center" \
                else ""
            return f"--preprocess={self.preprocess}{extra}"
        return f"--crop={self.crop}"


def read_photo_bytes(path: str) -> bytes:
    """The file's bytes, or UserError in one line (missing, a folder, unreadable)."""
    if os.path.isdir(path):
        raise UserError(f"--image {path!r} is a folder; give an image file.")
    if not os.path.exists(path):
        raise UserError(f"--image {path!r} does not exist.")
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise UserError(f"Cannot read --image {path!r}: {e.strerror or e}.") from None


def prepare_photo(path: str, plan: PhotoPlan) -> np.ndarray:
    """float32 [R, R, C] in [-1, 1] (module doc); UserError in one line for a file that is
    not a usable image or a photo in which the crop finds nothing."""
    from dcgan_tf.data import crops as crops_lib
    from dcgan_tf.data import images as images_lib
    from dcgan_tf.data.geometry import Geometry, fit_geometry

    data = read_photo_bytes(path)
    crop = None
    if plan.crop is not None:
        if plan.crop not in PHOTO_CROPS:
            raise UserError(f"Unknown --crop {plan.crop!r}. Expected one of "
                            f"{list(PHOTO_CROPS)}.")
        size = plan.built_size or plan.resolution
        crop = crops_lib.make_crop(plan.crop, crops_lib.CropOptions(
            size=size, load_size=plan.load_size, **dict(plan.crop_options)))
    decode_channels = 3 if (crop is not None and crop.needs_rgb) else plan.channels
    if crop is None:  # the pipeline converts channels itself (fit_geometry)
        decode_channels = 3
    try:
        array, _ = images_lib.load_image(data, decode_channels)
    except images_lib.BadImage as e:
        raise UserError(f"--image {path!r} is not a usable image ({e}).") from None
    if crop is None:
        geometry = Geometry(plan.resolution, plan.channels, plan.preprocess, plan.load_size)
        pixels = fit_geometry(array, geometry).numpy()
        return (pixels / 127.5 - 1.0).astype(np.float32)
    try:
        region = crop.regions(array, os.path.basename(path))[0]
    except crops_lib.NoRegion as e:
        raise UserError(f"--image {path!r}: {e} (--crop={plan.crop}); try --crop=center.") \
            from None
    if decode_channels != plan.channels:  # detected in colour, kept in gray (the builder)
        from PIL import Image

        array = images_lib.to_array(Image.fromarray(array), plan.channels)
    patch = crops_lib.cut(array, region)
    pixels = images_lib.resize_square(patch, plan.built_size or plan.resolution)
    pixels = fit_geometry(pixels, Geometry(plan.resolution, plan.channels)).numpy()
    return (pixels / 127.5 - 1.0).astype(np.float32)
