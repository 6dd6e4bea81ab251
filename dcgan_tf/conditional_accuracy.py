"""Does a conditional digits generator draw the digit it is asked for?

A classifier trained on the real labelled digits (scikit-learn's RBF support-vector
machine on the same 32x32 upscaled images the offline default trains on) labels N
generated samples per class; accuracy = share assigned to the requested class.

    python -m dcgan_tf.conditional_accuracy --model=EXPORT_OR_WORKDIR [--per_class=100]

(`python -m dcgan_tf.evaluate --metrics=cond_acc` is the general measure, with a Keras
classifier; this one knows only the digits. The classifier and the measure:
dcgan_tf.metrics.digits_svc.)
"""

from __future__ import annotations

from dcgan_tf.utils.cli import ToolFlags, run_command
from dcgan_tf.utils.errors import UserError


def define_accuracy_flags() -> ToolFlags:
    """Flags of `python -m dcgan_tf.conditional_accuracy`."""
    tool = ToolFlags()
    tool.string("model", "", "An export folder, or a workdir with an export.")
    tool.integer("per_class", 100, "Generated samples per class.")
    tool.integer("seed", 0, "First seed of the samples.")
    return tool


def main(argv=None):
    def body(args):
        from dcgan_tf.artifacts.saved_generator import LoadedGenerator
        from dcgan_tf.metrics.digits_svc import conditional_accuracy, train_digits_classifier

        if not args.model:
            raise UserError("--model is required.")
        if not 1 <= args.per_class <= 10_000:
            raise UserError(f"--per_class must be in [1, 10000], got {args.per_class}.")
        gen = LoadedGenerator(args.model)
        clf = train_digits_classifier(gen.image_shape[0] if gen.image_shape else 32)
        r = conditional_accuracy(gen, clf, args.per_class, args.seed)
        per = " ".join(f"{k}:{a:.2f}" for k, a in enumerate(r["per_class"]))
        return [f"conditional accuracy {r['accuracy']:.3f} over {10 * args.per_class} samples "
                f"(classifier holdout accuracy on real digits {clf.holdout_accuracy:.3f}); "
                f"per class {per}"]

    run_command("dcgan_tf.conditional_accuracy", define_accuracy_flags, body, argv)


if __name__ == "__main__":
    main()
