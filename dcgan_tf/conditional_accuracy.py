"""`dcgan-tf conditional-accuracy`: an alias of `dcgan-tf evaluate --metrics=cond_acc`.

Does a conditional generator draw the class it is asked for? `--per_class` samples of each
class (seeds --seed, --seed+1, ..., classes in turn) are labelled by the package's
classifier (for --data=digits the digits classifier trained on first use and cached; else
--features=classifier:PATH), and the accuracy is the mean over classes of the share given
the asked class. It is the same number as

    python -m dcgan_tf.evaluate --model=M --data=digits --metrics=cond_acc --num_samples=N

with N = per_class x classes (this command says so on stderr). Until issue 22 this command
used a scikit-learn SVC of its own, which gave other numbers than cond_acc (0.416 vs 0.219
at step 150); there is now one measure.
"""

from __future__ import annotations

import sys

from dcgan_tf.utils.cli import ToolFlags, run_command
from dcgan_tf.utils.errors import UserError


def define_accuracy_flags() -> ToolFlags:
    """Flags of `python -m dcgan_tf.conditional_accuracy`."""
    tool = ToolFlags()
    tool.string("model", "", "An export folder, or a workdir with an export.")
    tool.integer("per_class", 100, "Generated samples per class.")
    tool.integer("seed", 0, "First seed of the samples.")
    tool.string("data", "digits", "Labelled real images whose classifier judges (digits: the "
                "digits classifier; else give --features=classifier:PATH).")
    tool.string("features", "", "The classifier: classifier:PATH, or the digits one for "
                "--data=digits (as evaluate --features).")
    return tool


def conditional_accuracy(args) -> dict:
    """evaluate's cond_acc for `args` (model, per_class, seed, data, features): the report
    of dcgan_tf.metrics.evaluation with the command the same number comes from."""
    from dcgan_tf.artifacts.saved_generator import LoadedGenerator
    from dcgan_tf.metrics.evaluation import Evaluation
    from dcgan_tf.metrics.inputs import (check_native_size, feature_options,
                                         generated_images, load_images)

    if not args.model:
        raise UserError("--model is required.")
    if not 1 <= args.per_class <= 10_000:
        raise UserError(f"--per_class must be in [1, 10000], got {args.per_class}.")
    gen = LoadedGenerator(args.model)
    if not gen.num_classes:
        raise UserError(f"{args.model!r} is not a conditional generator; conditional accuracy "
                        "needs classes.")
    num = args.per_class * gen.num_classes
    command = (f"python -m dcgan_tf.evaluate --model={args.model} --data={args.data} "
               f"--metrics=cond_acc --num_samples={num} --seed={args.seed}"
               + (f" --features={args.features}" if args.features else ""))
    print(f"conditional-accuracy is an alias of: {command}", file=sys.stderr, flush=True)
    size, channels = gen.image_shape[0], gen.image_shape[2]
    check_native_size(args.data, size)
    real = load_images(args.data, size, channels, limit=50_000, seed=args.seed)
    choice, classifier = feature_options(args.features, args.data, size, ["cond_acc"])
    ev = Evaluation(real, generated_images(gen, num, args.seed), features=choice,
                    classifier=classifier, seed=args.seed, num_classes=gen.num_classes)
    return ev.run(["cond_acc"])


def main(argv=None):
    def body(args):
        report = conditional_accuracy(args)
        result = report["metrics"]["cond_acc"]
        per = " ".join(f"{k}:{a:.2f}" for k, a in enumerate(result["per_class"]))
        return [f"conditional accuracy {result['value']:.3f} over "
                f"{report['generated_images']} samples (evaluate's cond_acc); per class {per}"]

    run_command("dcgan_tf.conditional_accuracy", define_accuracy_flags, body, argv)


if __name__ == "__main__":
    main()
