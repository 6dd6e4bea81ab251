"""The options of one dataset build: a frozen, typed record (the builder's `Config`).

`python -m dcgan_tf.data.build` generates its flags from this dataclass, each with the help
its field carries, the way the training flags are generated from `dcgan_tf.config.Config`.
"""

from __future__ import annotations

import dataclasses
import json
import os

from dcgan_tf.data.files import is_path
from dcgan_tf.utils.errors import UserError


def _option(default, help_text: str):
    """A BuildOptions field: its default and the help of its flag ({crops}: the crop
    registry's names, filled by the builder's flags)."""
    return dataclasses.field(default=default, metadata={"help": help_text})


@dataclasses.dataclass(frozen=True)
class BuildOptions:
    source: str = _option("", "A folder of images (recursive), an .npz with 'images' (and "
        "'labels', 'label_names'), IDX files (a folder of *-idx3-ubyte[.gz] with their "
        "*-idx1-ubyte[.gz] labels: every split in it; or one images file: that split; "
        "MNIST, Fashion-MNIST, KMNIST, EMNIST), tfds:NAME, digits (scikit-learn's 8x8 "
        "digits, offline), mnist5k (5,000 real 28x28 MNIST digits with labels, offline: "
        "pip install \"dcgan_tf[mnist]\"; --small=upscale above 28) or lfw100 (100 real "
        "25x25 grey LFW faces, unlabelled, offline: pip install \"dcgan_tf[lfw]\"; "
        "--small=upscale above 25).")
    out: str = _option("", "Folder to write the TFRecord shards and metadata.json into.")
    sizes: tuple[int, ...] = _option((64,), "Output size in pixels (square); several, e.g. "
        "4,8,16,32,64, write one subfolder per size.")
    channels: int = _option(3, "1 (grayscale) or 3 (RGB).")
    crop: str = _option("center", "How each photo is cropped: {crops}.")
    load_size: int = _option(0, "resize_then_center: resize to this first (source 000: 256 "
        "for --size=64).")
    small: str = _option("skip", "Crops smaller than the size: skip or upscale.")
    format: str = _option("jpeg", "Encoding of image_raw: jpeg or png.")
    jpeg_quality: int = _option(95, "JPEG quality, 1-100.")
    background: tuple[int, int, int] = _option((255, 255, 255), "R,G,B that transparent "
        "pixels and crops past the border get.")
    class_subfolders: bool = _option(False, "First-level subfolders are classes: integer "
        "labels and a saved label map.")
    dedup: bool = _option(False, "Drop files whose bytes repeat an earlier file.")
    face_margin: float = _option(0.25, "face/cat_face: margin on each side, as a fraction of "
        "the detected face size.")
    min_face_size: int = _option(40, "face/cat_face: smallest face in source pixels.")
    max_faces: int = _option(1, "face/cat_face: most faces taken from one photo.")
    min_confidence: float = _option(0.95, "face: smallest MTCNN confidence accepted.")
    on_no_face: str = _option("skip", "face/cat_face with nothing found: skip the photo or "
        "take its centre square.")
    detect_max_side: int = _option(1024, "Detect on a copy no larger than this.")
    boxes: str = _option("", "boxes: CSV of file,x,y,w,h (files relative to --source).")
    tfds_split: str = _option("train", "tfds split to read.")
    tfds_data_dir: str = _option("", "tfds data folder (default ~/tensorflow_datasets).")
    num_shards: int = _option(0, "Number of shards; 0: about 1,024 records each.")
    workers: int = _option(0, "Threads decoding and cropping; 0: one per core.")
    overwrite: bool = _option(False, "Replace a different dataset already in --out.")
    stack_digits: int = _option(0, "Stacked digits (Srivastava et al. 2017): write N images "
        "of three random labelled digits of --source in the R, G, B channels, labelled 100 "
        "d_R + 10 d_G + d_B (1,000 modes); any labelled 0-9 source, e.g. --source=mnist5k, "
        "an MNIST IDX folder, tfds:mnist or digits, with --channels=3; 0: off.")
    stack_seed: int = _option(0, "Seed of the stacked digits' draws.")

    def validate(self) -> None:
        def need(ok, message):
            if not ok:
                raise UserError(message)

        need(self.source, "--source is empty: name a folder of images, an .npz file, IDX "
                          "files, tfds:NAME, digits, mnist5k or lfw100.")
        need(self.out, "--out is empty: name the folder to write the TFRecords into.")
        need(len(self.sizes) > 0 and all(2 <= s <= 4096 for s in self.sizes),
             f"--size must be one or more sizes in [2, 4096], got {list(self.sizes)}.")
        need(len(set(self.sizes)) == len(self.sizes), f"--size repeats a size: {list(self.sizes)}.")
        need(self.channels in (1, 3), f"--channels must be 1 or 3, got {self.channels}.")
        from dcgan_tf.data.crops import CROPS

        need(self.crop in CROPS, f"Unknown crop {self.crop!r}. Expected one of "
                                 f"{CROPS.names()}.")
        need(self.small in ("skip", "upscale"), f"--small must be skip or upscale, got "
                                                f"{self.small!r}.")
        need(self.format in ("jpeg", "png"), f"--format must be jpeg or png, got {self.format!r}.")
        need(1 <= self.jpeg_quality <= 100, f"--jpeg_quality must be in [1, 100], got "
                                            f"{self.jpeg_quality}.")
        need(len(self.background) == 3 and all(0 <= v <= 255 for v in self.background),
             f"--background must be R,G,B in [0, 255], got {list(self.background)}.")
        need(0 <= self.face_margin <= 2, f"--face_margin must be in [0, 2], got "
                                         f"{self.face_margin}.")
        need(self.max_faces >= 1, f"--max_faces must be at least 1, got {self.max_faces}.")
        need(0 <= self.min_confidence <= 1, f"--min_confidence must be in [0, 1], got "
                                            f"{self.min_confidence}.")
        need(self.on_no_face in ("skip", "center"), f"--on_no_face must be skip or center, "
                                                    f"got {self.on_no_face!r}.")
        need(self.num_shards >= 0, f"--num_shards must be >= 0, got {self.num_shards}.")
        need(self.workers >= 0, f"--workers must be >= 0, got {self.workers}.")
        need(0 <= self.stack_digits <= 10_000_000, f"--stack_digits must be in [0, 1e7], got "
                                                   f"{self.stack_digits}.")
        need(not self.stack_digits or self.channels == 3,
             "--stack_digits puts one digit in each of R, G, B: use --channels=3.")
        if is_path(self.source):
            src, out = os.path.abspath(self.source), os.path.abspath(self.out)
            need(out != src and not out.startswith(src + os.sep),
                 f"--out ({self.out}) must not be inside --source ({self.source}).")

    def identity(self) -> dict:
        """What decides the records: everything except where they go and how fast."""
        ident = dataclasses.asdict(self)
        for key in ("out", "workers", "overwrite"):
            ident.pop(key)
        if is_path(self.source):
            ident["source"] = os.path.abspath(self.source)
        return json.loads(json.dumps(ident))
