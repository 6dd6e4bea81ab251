"""SWD (per Laplacian level, x 1e3) and MS-SSIM diversity of a digits generator's samples
against the real digits, next to the same numbers for two halves of the real data.

    python tools/swd_digits.py --model runs/pggan_digits [--num 896] [--seed 0]

`--model` is an export folder or a workdir with an export (unconditional 32x32x1 models,
e.g. configs/pggan_digits.cfg; a conditional one gets one-hot labels cycling over 0-9).
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from dcgan_tf.data.digits import load_digits  # noqa: E402
from dcgan_tf.generate import LoadedGenerator  # noqa: E402
from dcgan_tf.utils.labels import one_hot  # noqa: E402
from dcgan_tf.metrics.ms_ssim import pairwise_diversity  # noqa: E402
from dcgan_tf.metrics.swd import swd  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--num", type=int, default=896)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    gen = LoadedGenerator(args.model)
    size = gen.image_shape[0]
    real = load_digits(size)[0]
    order = np.random.default_rng(args.seed).permutation(len(real))
    half_a, half_b = real[order[:args.num]], real[order[args.num:2 * args.num]]
    z = gen.z_for_seeds(range(args.seed, args.seed + args.num))
    if gen.num_classes:
        labels = np.stack([one_hot(i % gen.num_classes, gen.num_classes)
                           for i in range(args.num)])
        fake = gen.images(z, labels)
    else:
        fake = gen.images(z)
    fake = fake.astype(np.float32) / 127.5 - 1.0
    rows = [("generated vs real", swd(fake, half_a, seed=args.seed)),
            ("real vs real (two halves)", swd(half_b, half_a, seed=args.seed))]
    levels = [k for k in rows[0][1] if k != "mean"]
    print(f"SWD x 1e3 ({args.num} images per set, 128 patches per image per level, "
          "4 x 128 projections)")
    print("set".ljust(28) + "".join(f"{str(k) + 'px':>10}" for k in levels) + f"{'mean':>10}")
    for name, values in rows:
        print(name.ljust(28) + "".join(f"{values[k]:10.2f}" for k in levels)
              + f"{values['mean']:10.2f}")
    print(f"MS-SSIM of random pairs (lower = more diverse): generated "
          f"{pairwise_diversity(fake, seed=args.seed):.3f}, real "
          f"{pairwise_diversity(half_a, seed=args.seed):.3f}")


if __name__ == "__main__":
    main()
