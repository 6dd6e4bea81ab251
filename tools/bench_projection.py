"""Projection benchmark: how close does `dcgan-tf project` get to real digits, against the
best of many random z and against the nearest training image?

    python tools/bench_projection.py [--images 20] [--random 1000] [--rows a,b,...]
        [--steps 200] [--starts 8] [--set d_weight=0,...] [--no_single]

Rows (model: images; each model reads its runs/ folder through the projection's own loader,
dcgan_tf.artifacts.projection):
- digits_unseen   runs/digits (the digits default, conditional 32x32): real MNIST digits
                  it never saw, brought to the 8x8 digits' look (central 20x20 of mnist5k,
                  area-averaged to 8x8 and rounded to 17 grey levels as scikit-learn's
                  digits are, then the digits loader's bicubic upscale to 32);
- digits_seen     runs/digits: digits of its own training set (all 1,797 are used);
- mnist28_seen    runs/r21_mnist28 (unconditional 28x28, trained on mnist5k): mnist5k;
- mnist28_unseen  runs/r21_mnist28: scikit-learn's digits at 28x28 (unseen, blurrier);
- cdcgan_seen     runs/r21_cdcgan (conditional 28x28, mnist5k): mnist5k.
Conditional models are given each image's true class (the projection, the random z and
the nearest image alike). Per row, means over `--images` seeded images of the pixel MSE
(in [-1, 1]) and MS-SSIM (dcgan_tf.metrics.ms_ssim) of: the projection (`--steps`,
`--starts`, the command's loss weights, D features on), the best of `--random` random z
(best by pixel MSE), and the nearest training image by pixel distance (for a training
image itself: the nearest OTHER one). Time: the whole batch of images projected together,
per image, and one image alone (the command's case).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

ROWS = ("digits_unseen", "digits_seen", "mnist28_seen", "mnist28_unseen", "cdcgan_seen")
RUN_OF = {"digits": "runs/digits", "mnist28": "runs/r21_mnist28", "cdcgan": "runs/r21_cdcgan"}


def digits_at(size):
    from dcgan_tf.data.digits import load_digits

    return load_digits(size)  # [N, R, R, 1] in [-1, 1], labels


def mnist_at(size):
    import tensorflow as tf

    from dcgan_tf.data.mnist5k import load_mnist5k

    images, labels = load_mnist5k()  # uint8 [5000, 28, 28, 1]
    x = images.astype(np.float32)
    if size != 28:
        x = tf.image.resize(x, (size, size), antialias=True).numpy()
    return x / 127.5 - 1.0, labels.astype(np.int32)


def mnist_as_digits(size):
    """mnist5k in the 8x8 digits' look (module doc)."""
    import tensorflow as tf

    from dcgan_tf.data.mnist5k import load_mnist5k

    images, labels = load_mnist5k()
    x = images[:, 4:24, 4:24].astype(np.float32) / 255.0  # [N, 20, 20, 1]
    x = tf.image.resize(x, (8, 8), method="area").numpy()
    x = np.round(x * 16.0) / 16.0
    x = tf.image.resize(x, (size, size), method="bicubic").numpy()
    return np.clip(x, 0.0, 1.0) * 2.0 - 1.0, labels.astype(np.int32)


def row_data(row, size):
    """(targets source, their labels, training set, whether targets are in training)."""
    model, kind = row.split("_")
    train = digits_at(size) if model == "digits" else mnist_at(size)
    if kind == "seen":
        return train[0], train[1], train[0], True
    other = mnist_as_digits(size) if model == "digits" else digits_at(size)
    return other[0], other[1], train[0], False


def mse(a, b):
    return np.mean(np.square(a - b), axis=tuple(range(1, a.ndim)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--random", type=int, default=1000)
    parser.add_argument("--rows", default=",".join(ROWS))
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--starts", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", default="", help="ProjectionOptions overrides, e.g. "
                        "d_weight=0,ms_ssim_weight=0 (an ablation)")
    parser.add_argument("--no_single", action="store_true", help="skip the one-image timing")
    args = parser.parse_args()

    import tensorflow as tf

    from dcgan_tf.artifacts.projection import load_projection_model
    from dcgan_tf.gan.projection import ProjectionOptions, label_rows, project
    from dcgan_tf.metrics.ms_ssim import ms_ssim

    overrides = dict(item.split("=") for item in args.set.split(",") if item)
    options = ProjectionOptions(steps=args.steps, starts=args.starts,
                                warm_steps=min(50, args.steps), seed=args.seed,
                                **{k: type(getattr(ProjectionOptions, k))(v)
                                   for k, v in overrides.items()})
    table = []
    models = {}
    for row in args.rows.split(","):
        name = row.split("_")[0]
        if name not in models:
            models[name] = load_projection_model(os.path.join(ROOT, RUN_OF[name]))
        model = models[name]
        size = model.image_shape[0]
        source, labels, train, seen = row_data(row, size)
        pick = np.random.default_rng(args.seed).permutation(len(source))[:args.images]
        targets, classes = source[pick], labels[pick]
        given = label_rows(model.num_classes, classes) if model.num_classes else None
        t0 = time.perf_counter()
        result = project(model.generator, targets, latent=model.latent,
                         latent_dim=model.latent_dim, num_classes=model.num_classes,
                         labels=given, features=model.features, options=options)
        batch_seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        if not args.no_single:
            project(model.generator, targets[:1], latent=model.latent,
                    latent_dim=model.latent_dim, num_classes=model.num_classes,
                    labels=None if given is None else given[:1], features=model.features,
                    options=options)
        single_seconds = time.perf_counter() - t0
        # best of N random z per image (with its class)
        from dcgan_tf.models.latent import get_latent

        z = get_latent(model.latent).sample((args.random, model.latent_dim), 12345)
        best_mse, best_images = [], []
        cache = {}
        for target, k in zip(targets, classes, strict=True):
            key = int(k) if model.num_classes else -1
            if key not in cache:
                inputs = z if key < 0 else [z, tf.one_hot([key] * args.random,
                                                          model.num_classes)]
                cache[key] = np.concatenate([
                    np.asarray(model.generator(
                        inputs[i:i + 250] if key < 0 else [inputs[0][i:i + 250],
                                                           inputs[1][i:i + 250]],
                        training=False)) for i in range(0, args.random, 250)])
            errors = mse(cache[key], target[None])
            best_mse.append(errors.min())
            best_images.append(cache[key][errors.argmin()])
        best_images = np.stack(best_images)
        # nearest training image (another one for a training image itself)
        flat_train = train.reshape(len(train), -1)
        near_mse, near_images = [], []
        for i, target in enumerate(targets):
            d = np.mean(np.square(flat_train - target.reshape(1, -1)), axis=1)
            if seen:
                d[pick[i]] = np.inf
            near_mse.append(d.min())
            near_images.append(train[d.argmin()])
        near_images = np.stack(near_images)
        table.append({
            "row": row, "n": len(targets),
            "proj_mse": float(np.mean(result.pixel_mse)),
            "proj_ssim": float(np.mean(result.ms_ssim)),
            "rand_mse": float(np.mean(best_mse)),
            "rand_ssim": float(np.mean(ms_ssim(best_images, targets))),
            "near_mse": float(np.mean(near_mse)),
            "near_ssim": float(np.mean(ms_ssim(near_images, targets))),
            "batch_s": batch_seconds / len(targets), "single_s": single_seconds,
            "proj_better_than_random": float(np.mean(result.pixel_mse < np.array(best_mse))),
        })
        print(f"{row}: done ({batch_seconds:.0f} s batch, {single_seconds:.0f} s one image)",
              file=sys.stderr, flush=True)
    print(f"\n{args.images} images per row, projection {args.steps} steps x {args.starts} "
          f"starts (warm {options.warm_steps}{', ' + args.set if args.set else ''}), best of "
          f"{args.random} random z; pixel MSE in [-1, 1], MS-SSIM 1 = identical\n")
    print("| row | projection MSE / MS-SSIM | best random z MSE / MS-SSIM | nearest training "
          "image MSE / MS-SSIM | projection beats random z | s per image (batch / alone) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in table:
        print(f"| {r['row']} | {r['proj_mse']:.4f} / {r['proj_ssim']:.3f} | "
              f"{r['rand_mse']:.4f} / {r['rand_ssim']:.3f} | {r['near_mse']:.4f} / "
              f"{r['near_ssim']:.3f} | {100 * r['proj_better_than_random']:.0f}% | "
              f"{r['batch_s']:.1f} / {r['single_s']:.1f} |")


if __name__ == "__main__":
    main()
