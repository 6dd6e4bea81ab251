"""The options of one dataset build: a frozen, typed record (the builder's `Config`).

`python -m dcgan_tf.data.build` generates its flags from this dataclass (dcgan_tf.flags),
the way the training flags are generated from `dcgan_tf.config.Config`.
"""

from __future__ import annotations

import dataclasses
import json
import os

from dcgan_tf.utils.errors import UserError



@dataclasses.dataclass(frozen=True)
class BuildOptions:
    source: str = ""
    out: str = ""
    sizes: tuple[int, ...] = (64,)
    channels: int = 3
    crop: str = "center"
    load_size: int = 0
    small: str = "skip"  # skip | upscale
    format: str = "jpeg"  # jpeg | png
    jpeg_quality: int = 95
    background: tuple[int, int, int] = (255, 255, 255)
    class_subfolders: bool = False
    dedup: bool = False
    face_margin: float = 0.25
    min_face_size: int = 40
    max_faces: int = 1
    min_confidence: float = 0.95
    on_no_face: str = "skip"  # skip | center
    detect_max_side: int = 1024
    boxes: str = ""
    tfds_split: str = "train"
    tfds_data_dir: str = ""
    num_shards: int = 0  # 0: about 1,024 records per shard
    workers: int = 0  # 0: one per CPU core
    overwrite: bool = False
    stack_digits: int = 0
    stack_seed: int = 0

    def validate(self) -> None:
        def need(ok, message):
            if not ok:
                raise UserError(message)

        need(self.source, "--source is empty: name a folder of images, an .npz file, "
                          "tfds:NAME or digits.")
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
        if not self.source.startswith("tfds:") and self.source != "digits":
            src, out = os.path.abspath(self.source), os.path.abspath(self.out)
            need(out != src and not out.startswith(src + os.sep),
                 f"--out ({self.out}) must not be inside --source ({self.source}).")

    def identity(self) -> dict:
        """What decides the records: everything except where they go and how fast."""
        ident = dataclasses.asdict(self)
        for key in ("out", "workers", "overwrite"):
            ident.pop(key)
        if not self.source.startswith("tfds:") and self.source != "digits":
            ident["source"] = os.path.abspath(self.source)
        return json.loads(json.dumps(ident))
