"""How well a digit classifier reads real stacked-digit images (the ceiling of a mode count).

    python tools/stacked_read_accuracy.py CLASSIFIER.keras DATA [--limit 5000]

DATA is a stacked set built with `dcgan-tf build --stack_digits=N` (label 100 R + 10 G + B).
Each colour channel is classified alone, as the `modes` metric does; prints the fraction of
single digits and of whole images (all three digits) read right. A mode count is only as
good as the second figure. It also prints the `modes` metric of the real images themselves
(modes covered and KL of the modes read against uniform, as `evaluate --metrics=modes`
scores a generator): the floor a perfect generator would get from this classifier at this
sample count.
"""

import argparse
import sys

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("classifier")
    parser.add_argument("data")
    parser.add_argument("--limit", type=int, default=5000)
    args = parser.parse_args()

    import keras

    from dcgan_tf.data.geometry import Geometry
    from dcgan_tf.data.sources import open_source

    model = keras.models.load_model(args.classifier)
    size = model.input_shape[1]
    images, labels = open_source(args.data, Geometry(size, 3)).images(limit=args.limit, seed=0)
    if labels is None:
        sys.exit(f"{args.data} has no labels: build it with --stack_digits.")
    x = images.astype(np.float32) / 127.5 - 1.0
    digits = [model.predict(x[..., c:c + 1], verbose=0, batch_size=256).argmax(1)
              for c in range(3)]
    truth = [labels // 100, labels // 10 % 10, labels % 10]
    single = np.mean([np.mean(d == t) for d, t in zip(digits, truth)])
    whole = np.mean(100 * digits[0] + 10 * digits[1] + digits[2] == labels)
    print(f"{args.classifier}: one digit right {single:.1%}, all three right {whole:.1%} "
          f"({len(labels)} images of {args.data})")
    from dcgan_tf.metrics.modes import mode_coverage, stacked_modes

    read = mode_coverage(stacked_modes(np.stack(digits, 1)), 1000)
    true = mode_coverage(labels, 1000)
    print(f"modes metric of these real images: {read['covered']} modes, KL {read['kl']:.3f} "
          f"as read (true labels: {true['covered']} modes, KL {true['kl']:.3f})")


if __name__ == "__main__":
    main()
