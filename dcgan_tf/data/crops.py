"""Where to cut the training square out of a photo: the CROPS registry.

A crop turns one decoded photo into zero or more `Region`s (rectangles in source pixels,
which may reach outside the photo; `cut` pads with the background colour there so a face
near the border stays centred). The dataset builder then resizes each region to the
target size.

    none                 the whole photo, squashed to a square
    center               the largest centred square
    resize_then_center   source 000: resize to L x L, keep the central S x S
    face                 human faces found by MTCNN (the `mtcnn` package, weights inside)
    cat_face             cat faces found by OpenCV 4.x's haarcascade_frontalcatface*
    boxes                boxes given in a CSV (file,x,y,w,h)

Detectors are imported only when their crop is asked for; a missing package is one
UserError naming the extra to install.
"""

from __future__ import annotations

import csv
import dataclasses
import os
import threading

import numpy as np

from dcgan_tf.utils.errors import UserError
from dcgan_tf.utils.registry import Registry


@dataclasses.dataclass(frozen=True)
class Region:
    x: float
    y: float
    w: float
    h: float
    score: float | None = None

    @property
    def side(self) -> float:
        return min(self.w, self.h)


class NoRegion(Exception):
    """No usable region in this photo; str(e) is the reason."""


@dataclasses.dataclass(frozen=True)
class CropOptions:
    size: int  # the largest output resolution
    load_size: int = 0  # resize_then_center
    face_margin: float = 0.25  # added on each side, as a fraction of the face size
    min_face_size: int = 40  # pixels in the source photo
    max_faces: int = 1
    min_confidence: float = 0.95
    on_no_face: str = "skip"  # skip | center
    detect_max_side: int = 1024
    boxes: str = ""  # CSV path for crop=boxes
    source_root: str = ""  # folder the CSV's file names are relative to


def square_around(cx: float, cy: float, side: float, score=None) -> Region:
    return Region(cx - side / 2.0, cy - side / 2.0, side, side, score)


def center_region(height: int, width: int) -> Region:
    side = min(height, width)
    return Region((width - side) / 2.0, (height - side) / 2.0, side, side)


def central_fraction(height, width, size, load_size):
    """Source 000's "resize to L x L, keep the central S x S" as a box of the original
    image: the central S/L of each direction, (x, y, w, h). Plain arithmetic, so the
    builder (Python numbers) and the training pipeline (tensors) share it."""
    f = size / load_size
    return width * (1 - f) / 2, height * (1 - f) / 2, width * f, height * f


def cut(array: np.ndarray, region: Region, background=(255, 255, 255)) -> np.ndarray:
    """The pixels of `region` (rounded to whole pixels); outside the photo: background."""
    x0, y0 = int(round(region.x)), int(round(region.y))
    x1, y1 = int(round(region.x + region.w)), int(round(region.y + region.h))
    h, w, c = array.shape
    if x0 >= 0 and y0 >= 0 and x1 <= w and y1 <= h:
        return array[y0:y1, x0:x1]
    fill = np.array(background[:c] if c == 3 else [int(round(np.mean(background)))], np.uint8)
    out = np.empty((y1 - y0, x1 - x0, c), np.uint8)
    out[:] = fill
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = array[sy0:sy1, sx0:sx1]
    return out


class Crop:
    """Base class: `regions(array, key, rgb)` -> list of Region, or raises NoRegion."""

    needs_rgb = False  # detectors want colour even when the output is grayscale

    def __init__(self, options: CropOptions):
        self.options = options

    def regions(self, array: np.ndarray, key: str) -> list[Region]:
        raise NotImplementedError


CROPS: Registry[type[Crop]] = Registry("crop")


@CROPS.register("none")
class WholeImage(Crop):
    def regions(self, array, key):
        return [Region(0, 0, array.shape[1], array.shape[0])]


@CROPS.register("center")
class CenterSquare(Crop):
    def regions(self, array, key):
        return [center_region(array.shape[0], array.shape[1])]


@CROPS.register("resize_then_center")
class ResizeThenCenter(Crop):
    """Resize to L x L, then the central S x S (source 000) -- computed as the matching
    central fraction S/L of the photo in each direction, so it is resampled only once."""

    def __init__(self, options):
        super().__init__(options)
        if options.load_size < options.size:
            raise UserError(f"--crop=resize_then_center needs --load_size >= --size "
                            f"({options.load_size} < {options.size}).")

    def regions(self, array, key):
        h, w = array.shape[:2]
        return [Region(*central_fraction(h, w, self.options.size, self.options.load_size))]


class _Detector(Crop):
    """Shared logic of detector crops: detect on a copy no larger than detect_max_side,
    keep confident boxes of at least min_face_size, biggest first, up to max_faces, and
    turn each into a square with face_margin on every side; no face -> skip or centre."""

    needs_rgb = True
    what = "face"

    def __init__(self, options):
        super().__init__(options)
        self._lock = threading.Lock()

    def detect(self, rgb: np.ndarray) -> list[tuple[float, float, float, float, float]]:
        raise NotImplementedError

    def regions(self, array, key):
        from dcgan_tf.data.images import resize_to_max_side

        h, w = array.shape[:2]
        small, scale = resize_to_max_side(array, self.options.detect_max_side)
        with self._lock:  # detectors are not documented as thread-safe
            found = self.detect(small)
        boxes = []
        for x, y, bw, bh, score in found:
            x, y, bw, bh = x / scale, y / scale, bw / scale, bh / scale
            if score < self.options.min_confidence or max(bw, bh) < self.options.min_face_size:
                continue
            boxes.append((x, y, bw, bh, score))
        boxes.sort(key=lambda b: (-b[2] * b[3], b[0], b[1]))
        if not boxes:
            if self.options.on_no_face == "center":
                return [center_region(h, w)]
            raise NoRegion(f"no {self.what} found")
        out = []
        for x, y, bw, bh, score in boxes[: self.options.max_faces]:
            side = max(bw, bh) * (1.0 + 2.0 * self.options.face_margin)
            out.append(square_around(x + bw / 2.0, y + bh / 2.0, side, float(score)))
        return out


@CROPS.register("face")
class HumanFace(_Detector):
    """MTCNN (Zhang et al. 2016) from the `mtcnn` package, which runs on TensorFlow and
    ships its weights; its box spans forehead to chin."""

    def __init__(self, options):
        super().__init__(options)
        try:
            from mtcnn import MTCNN
        except ImportError as e:
            raise UserError("--crop=face needs the 'mtcnn' package: "
                            "pip install 'dcgan_tf[faces]'.") from e
        import tensorflow as tf

        self._mtcnn = MTCNN(device="GPU:0" if tf.config.list_logical_devices("GPU") else "CPU:0")

    def detect(self, rgb):
        # MTCNN's own minimum is on the detection copy; ours is checked in source pixels.
        found = self._mtcnn.detect_faces(np.ascontiguousarray(rgb), min_face_size=20)
        return [(*f["box"], f["confidence"]) for f in found or []]


CAT_CASCADES = ("haarcascade_frontalcatface_extended.xml", "haarcascade_frontalcatface.xml")


@CROPS.register("cat_face")
class CatFace(_Detector):
    """OpenCV 4.x's Haar cascades for frontal cat faces (extended first, then the plain
    one). They are weak detectors -- see BUILD_NOTES.md for what they find -- so
    --on_no_face=center is the usual companion."""

    what = "cat face"

    def __init__(self, options):
        super().__init__(options)
        try:
            import cv2
        except ImportError as e:
            raise UserError("--crop=cat_face needs OpenCV 4.x: "
                            "pip install 'dcgan_tf[cats]'.") from e
        folder = getattr(getattr(cv2, "data", None), "haarcascades", "")
        self._cv2 = cv2
        self._cascades = []
        for name in CAT_CASCADES:
            path = os.path.join(folder, name)
            if os.path.isfile(path):
                self._cascades.append(cv2.CascadeClassifier(path))
        if not self._cascades:
            raise UserError(f"OpenCV {cv2.__version__} ships no cat-face cascade (OpenCV 5 "
                            "dropped them); install OpenCV 4.x: "
                            "pip install 'opencv-python-headless<5'.")

    def detect(self, rgb):
        cv2 = self._cv2
        gray = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
        gray = cv2.equalizeHist(gray)
        for cascade in self._cascades:
            found = cascade.detectMultiScale(gray, scaleFactor=1.05, minNeighbors=3,
                                             minSize=(24, 24))
            if len(found):
                # Haar cascades have no calibrated score; 1.0 passes any --min_confidence.
                return [(float(x), float(y), float(w), float(h), 1.0) for x, y, w, h in found]
        return []


@CROPS.register("boxes")
class UserBoxes(Crop):
    """Boxes from a CSV with columns file,x,y,w,h (a header row is optional; file names
    relative to the source folder). A file may have several rows. Each box is squared
    around its centre by extending its short side."""

    def __init__(self, options):
        super().__init__(options)
        if not options.boxes:
            raise UserError("--crop=boxes needs --boxes=CSV with rows file,x,y,w,h.")
        self.boxes = read_boxes(options.boxes, options.source_root)

    def regions(self, array, key):
        found = self.boxes.get(key)
        if not found:
            raise NoRegion("no box in the CSV")
        return [square_around(x + w / 2.0, y + h / 2.0, max(w, h)) for x, y, w, h in found]


def read_boxes(path: str, root: str) -> dict[str, list[tuple[float, float, float, float]]]:
    """CSV rows file,x,y,w,h -> {relative posix path: [(x, y, w, h), ...]}."""
    if not os.path.isfile(path):
        raise UserError(f"Boxes file {path!r} does not exist.")
    boxes: dict[str, list] = {}
    with open(path, newline="", encoding="utf-8-sig") as f:
        for number, row in enumerate(csv.reader(f), start=1):
            if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
                continue
            if number == 1 and row[0].strip().lower() in ("file", "filename", "path"):
                continue
            if len(row) != 5:
                raise UserError(f"{path}:{number}: expected file,x,y,w,h, got {row!r}.")
            try:
                x, y, w, h = (float(v) for v in row[1:])
            except ValueError:
                raise UserError(f"{path}:{number}: x, y, w, h must be numbers, "
                                f"got {row[1:]!r}.") from None
            if w <= 0 or h <= 0 or not np.isfinite([x, y, w, h]).all():
                raise UserError(f"{path}:{number}: w and h must be positive, got {row[1:]!r}.")
            name = row[0].strip()
            if root and os.path.isabs(name):
                name = os.path.relpath(name, root)
            boxes.setdefault(name.replace(os.sep, "/"), []).append((x, y, w, h))
    return boxes


def make_crop(name: str, options: CropOptions) -> Crop:
    try:
        cls = CROPS.get(name)
    except ValueError as e:
        raise UserError(str(e)) from None
    return cls(options)
