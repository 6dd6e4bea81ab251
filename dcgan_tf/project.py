"""Projection of real images into a trained generator (GAN inversion): the z of a photo.

    dcgan-tf project --model=RUN_OR_EXPORT --image=photo.png [--image=other.png]
                     [--label=7] [--crop=center] --out=DIR

Each photo is prepared as the model's training images were (the builder's crop of a run
trained on `dcgan-tf build` records, else the run's --preprocess; an export outside its
run folder: --crop, default center), then z is found by Adam from --starts random starts
(after --warm_steps the best start of each photo is refined alone), on pixel error +
MS-SSIM + the distance of D's features (when D is at hand) + a prior keeping z typical
(dcgan_tf.gan.projection says why each). Conditional models: --label (a class name or
index, or a vector of K values in [0, 1]) for all photos; without it every class is tried
and the best kept. Two photos: also the morph between their codes (morph.gif).
Writes z.npy (labels.npy), compare.png, loss.png, fit.gif, projection.json
(dcgan_tf.artifacts.projection); the errors go to stdout, progress to stderr.
"""

from __future__ import annotations

from dcgan_tf.config import INTERPOLATION
from dcgan_tf.utils.cli import ToolFlags, run_command
from dcgan_tf.utils.errors import UserError

MAX_IMAGES = 64


def run(args) -> list[str]:
    import numpy as np

    from dcgan_tf.artifacts.projection import load_projection_model, write_projection
    from dcgan_tf.data.photo import prepare_photo
    from dcgan_tf.gan.projection import ProjectionOptions, project
    from dcgan_tf.utils.progress import Progress
    from dcgan_tf.utils.atomic_files import ensure_parent_writable

    images = list(args.image or [])
    if not args.model:
        raise UserError("--model is required (a workdir or an export folder).")
    if not images:
        raise UserError("--image is required (a photo; give it twice for a morph).")
    if len(images) > MAX_IMAGES:
        raise UserError(f"At most {MAX_IMAGES} --image at once, got {len(images)}.")
    if not args.out:
        raise UserError("--out is required (the folder to write the projection into).")
    ensure_parent_writable(args.out, "--out")
    if args.morph_frames < 2 and len(images) > 1 and args.morph:
        raise UserError(f"--morph_frames must be at least 2, got {args.morph_frames}.")
    if args.method not in INTERPOLATION:  # before the fit, not after it
        raise UserError(f"Unknown --method {args.method!r}. Expected one of "
                        f"{list(INTERPOLATION)}.")
    options = ProjectionOptions(
        steps=args.steps, starts=args.starts, warm_steps=min(args.warm_steps, args.steps),
        learning_rate=args.learning_rate, pixel_loss=args.pixel_loss,
        ms_ssim_weight=args.ms_ssim_weight, d_weight=args.d_weight,
        prior_weight=args.prior_weight, seed=args.seed)
    try:
        options.check()
    except ValueError as e:
        raise UserError(f"{e} (flags --steps, --starts, --warm_steps, --learning_rate, "
                        f"--pixel_loss and the weights)") from None
    model = load_projection_model(args.model, args.crop)
    labels = model.labels_for(args.label, len(images))
    targets = np.stack([prepare_photo(path, model.plan) for path in images])
    if args.invert:  # dark strokes on light paper, for models of light digits on black
        targets = -targets
    bar = Progress(options.steps, "Projecting", unit="steps")
    result = project(model.generator, targets, latent=model.latent,
                     latent_dim=model.latent_dim, num_classes=model.num_classes,
                     labels=labels, features=model.features, options=options,
                     progress=lambda done, total, note: bar.update(done, note))
    bar.close()
    morph = args.morph_frames if (args.morph and len(images) > 1) else 0
    written = write_projection(args.out, model, result, targets, images, options=options,
                               morph_frames=morph, morph_method=args.method)
    lines = []
    for i, path in enumerate(images):
        what = ""
        if result.labels is not None:
            k = int(np.argmax(result.labels[i]))
            how = (f"best of {result.classes_tried} classes" if result.classes_tried > 1
                   else "--label")
            what = f", class {model.class_names[k]!r} ({how})"
        lines.append(f"{path}: pixel MSE {result.pixel_mse[i]:.4f} (best random start "
                     f"{result.start_mse[i].min():.4f}), MS-SSIM {result.ms_ssim[i]:.3f}"
                     f"{what}")
    per_image = result.seconds / len(images)
    d_features = "yes" if model.features is not None and options.d_weight else "no"
    lines.append(f"{len(images)} image(s) in {result.seconds:.1f} s ({per_image:.1f} s each, "
                 f"{options.steps} steps, {options.starts} starts); photos prepared with "
                 f"{model.plan.describe()} ({model.plan_source}); model: {model.described}; "
                 f"D features: {d_features}.")
    lines.append(f"Wrote {', '.join(written)}.")
    return lines


def define_project_flags() -> ToolFlags:
    """Flags of `dcgan-tf project`."""
    from dcgan_tf.data.photo import PHOTO_CROPS
    from dcgan_tf.config import PIXEL_LOSSES

    tool = ToolFlags()
    tool.string("model", "", "A workdir (its newest checkpoint; D's features join the loss) "
                "or an export folder.")
    tool.multi_string("image", [], "A photo to project; give it twice (--image=a.png "
                      "--image=b.png) for the morph between them.")
    tool.string("out", "", "Folder for z.npy, compare.png, loss.png, fit.gif (morph.gif).")
    tool.string("label", "", "Conditional models: the class (an index or a name) or a "
                "vector of K values in [0, 1], for every image; default: try every class "
                "and keep the best.")
    tool.string("crop", "", f"How a photo is cut to the model's square: "
                f"{', '.join(PHOTO_CROPS)}; default what the run's data recorded (the "
                "builder's crop, else its --preprocess), else center.")
    tool.boolean("invert", False, "Invert the photos' grey levels first: a digit written "
                 "dark on light paper, for the digit models (light strokes on black).")
    tool.integer("steps", 300, "Adam steps per image, the warm phase included.")
    tool.integer("starts", 8, "Random starts per image (per class when every class is "
                 "tried).")
    tool.integer("warm_steps", 50, "Steps all starts run before the best is refined alone.")
    tool.float("learning_rate", 0.1, "Adam's step on z (cosine decay to 1% while "
               "refining).")
    tool.string("pixel_loss", "mse", f"Pixel term: {' or '.join(PIXEL_LOSSES)}.")
    tool.float("ms_ssim_weight", 0.5, "Weight of 1 - MS-SSIM.")
    tool.float("d_weight", 0.1, "Weight of the D-feature distance (0: off; needs D: a "
               "workdir or an export with discriminator.keras).")
    tool.float("prior_weight", 0.05, "Weight of (|z|/sqrt(d) - 1)^2 (normal latents).")
    tool.integer("seed", 0, "Seed of the random starts.")
    tool.boolean("morph", True, "With two or more images: write morph.gif between the "
                 "first two.")
    tool.integer("morph_frames", 16, "Images along the morph.")
    tool.string("method", "slerp", "Morph between the codes by slerp or linear interpolation.")
    return tool


def main(argv=None):
    """dcgan-tf project --model=RUN_OR_EXPORT --image=PHOTO --out=DIR [...]"""
    run_command("dcgan_tf.project", define_project_flags, run, argv)


if __name__ == "__main__":
    main()
