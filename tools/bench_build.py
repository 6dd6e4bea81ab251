"""Dataset builder and TFRecord pipeline throughput, against what a dcgan64 step eats.

    python tools/bench_build.py [--photos 48] [--records 4096] [--steps 8]

1. Builder: `--photos` synthetic 1024x768 JPEG "phone photos" (scikit-image's astronaut
   pasted at a random place on a noisy background), built at 64x64 with --crop=center and
   with --crop=face (MTCNN); images/s of each.
2. Pipeline: `--records` random 64x64 JPEG records built into 8 shards, then read by the
   training pipeline streamed from disk (cache off: parse, decode, resize, shuffle, flip,
   batch 64) and in memory (decoded once); images/s over two passes.
3. A dcgan64 train step at batch 64 in the same process: images/s it consumes.
Prints each figure and the ratio pipeline / step (the issue asks for >= 10).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from PIL import Image  # noqa: E402

from dcgan_tf.data.build import BuildOptions, build  # noqa: E402
from dcgan_tf.data.geometry import Geometry  # noqa: E402
from dcgan_tf.data.sources import open_source  # noqa: E402
from dcgan_tf.data.stream import Flips, training_stream  # noqa: E402


def make_photos(folder: str, count: int) -> None:
    from skimage.data import astronaut

    face = astronaut()
    rng = np.random.default_rng(0)
    for i in range(count):
        canvas = (rng.random((768, 1024, 3)) * 255).astype(np.uint8)
        y, x = rng.integers(0, 768 - 512), rng.integers(0, 1024 - 512)
        canvas[y:y + 512, x:x + 512] = face
        Image.fromarray(canvas).save(os.path.join(folder, f"{i:04d}.jpg"), quality=90)


def time_build(src: str, out: str, crop: str, count: int) -> float:
    start = time.perf_counter()
    meta = build(BuildOptions(source=src, out=out, sizes=(64,), crop=crop), progress=False)
    elapsed = time.perf_counter() - start
    assert meta["count"] == count, meta["skipped_by_reason"]
    return count / elapsed


def pipeline_rate(data: str, cache: bool, batches: int) -> float:
    source = open_source(data, Geometry(64, 3), cache=cache)
    ds = training_stream(source, Flips(lr=True), batch_size=64, seed=0, end_step=batches)
    for _ in ds.take(2):  # warm up
        pass
    start = time.perf_counter()
    n = sum(1 for _ in ds)
    return n * 64 / (time.perf_counter() - start)


def step_rate(steps: int) -> float:
    from dcgan_tf.config import Config
    from dcgan_tf.gan.assemble import build_gan, resolve_config

    cfg = resolve_config(Config(data="digits", model="dcgan64", resolution=64, channels=3,
                                batch_size=64, train_steps=1))
    gan = build_gan(cfg)
    real = tf.data.Dataset.from_tensors(tf.zeros([64, 64, 64, 3])).repeat()
    gan.fit(real, steps_per_epoch=2, epochs=1, verbose=0)  # trace
    start = time.perf_counter()
    gan.fit(real, steps_per_epoch=steps, epochs=1, verbose=0)
    return steps * 64 / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=48)
    parser.add_argument("--records", type=int, default=4096)
    parser.add_argument("--steps", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "photos")
        os.makedirs(src)
        make_photos(src, args.photos)
        center = time_build(src, os.path.join(tmp, "center"), "center", args.photos)
        face = time_build(src, os.path.join(tmp, "face"), "face", args.photos)
        print(f"builder, {args.photos} photos 1024x768 -> 64x64: center crop {center:7.1f} "
              f"images/s, face crop (MTCNN) {face:6.1f} images/s")

        rng = np.random.default_rng(1)
        npz = os.path.join(tmp, "r.npz")
        np.savez(npz, images=(rng.random((args.records, 64, 64, 3)) * 255).astype(np.uint8))
        records = os.path.join(tmp, "records")
        build(BuildOptions(source=npz, out=records, sizes=(64,), num_shards=8), progress=False)
        batches = args.records // 64
        streamed = pipeline_rate(records, cache=False, batches=batches)
        memory = pipeline_rate(records, cache=True, batches=batches * 4)
    step = step_rate(args.steps)
    print(f"pipeline 64x64 from TFRecords: streamed {streamed:8.0f} images/s, in memory "
          f"{memory:8.0f} images/s")
    print(f"dcgan64 train step, batch 64: {step:6.1f} images/s")
    print(f"ratio pipeline/step: streamed {streamed / step:6.1f}x, in memory "
          f"{memory / step:6.1f}x (need >= 10x)")


if __name__ == "__main__":
    main()
