"""The projection folder, and the networks a projection needs, read from a run or an export.

    model = load_projection_model("runs/digits")      # a workdir or an export folder
    target = prepare_photo("photo.png", model.plan)   # as the run's training images
    result = project(model.generator, target[None], ...)   # dcgan_tf.gan.projection
    write_projection("out", model, result, ["photo.png"])

A workdir is read from its newest checkpoint (the EMA generator when the run kept one, and
D for the feature loss); an export from its generator.keras (and discriminator.keras when
exported; the SavedModel's signatures return uint8 images, which carry no gradient). Either
way the networks compute in float32 and G runs in inference mode; a model that samples with
batch statistics (--sample_bn=batch) gets fixed statistics from 2,048 random z first
(gan.projection.with_fixed_batch_statistics).

The folder (every file written into a temporary folder first, then moved in):
    z.npy            float32 [N, latent_dim], one row per --image (labels.npy [N, K] for
                     conditional models: the class used)
    compare.png      each target beside its reconstruction, captioned with the errors
    loss.png         the loss terms per step (warm phase: the best start of each image)
    fit.gif          the reconstruction during the fit, beside the target
    morph.gif, morph.png   with two images: the path between their codes
    projection.json  the model, the photo preparation, the options and the errors
"""

from __future__ import annotations

import dataclasses
import io
import json
import os

import keras
import numpy as np
import tensorflow as tf

from dcgan_tf.artifacts.saved_generator import (LoadedGenerator, is_export,
                                                read_keras_networks)
from dcgan_tf.artifacts.run_report import figure_png
from dcgan_tf.artifacts.workdir import Workdir
from dcgan_tf.data.files import is_path
from dcgan_tf.data.photo import PHOTO_CROPS, PhotoPlan
from dcgan_tf.gan.assemble import model_family
from dcgan_tf.gan.projection import (discriminator_features, label_rows,
                                     with_fixed_batch_statistics)
from dcgan_tf.utils.atomic_files import write_outputs
from dcgan_tf.utils.errors import UserError
from dcgan_tf.utils.labels import parse_label_vector

CROP_OPTION_FIELDS = ("face_margin", "min_face_size", "min_confidence", "detect_max_side")


@dataclasses.dataclass
class ProjectionModel:
    generator: keras.Model  # float32, called in inference mode
    features: object  # gan.projection.discriminator_features(D), or None
    latent: str
    latent_dim: int
    num_classes: int
    class_names: list
    plan: PhotoPlan  # how a photo becomes a training image of this model
    plan_source: str  # where the plan came from, for the summary
    described: str  # "workdir runs/x, step 2700, EMA weights" ...

    @property
    def image_shape(self) -> tuple:
        return tuple(int(d) for d in self.generator.output.shape[1:])

    def class_index(self, text: str) -> int:
        """A class name or index -> index (UserError listing the choices)."""
        names = [str(n) for n in self.class_names]
        if text in names:
            return names.index(text)
        if text.isdigit() and int(text) < self.num_classes:
            return int(text)
        shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
        raise UserError(f"--label {text!r} is not a class of this model: give an index "
                        f"0..{self.num_classes - 1}, a name ({shown}) or a vector of "
                        f"{self.num_classes} values in [0, 1].")

    def labels_for(self, text: str, count: int) -> np.ndarray | None:
        """--label (a class name or index, or a vector of K values in [0, 1]) -> [count, K]
        rows; None when not given. UserError when it does not fit this model."""
        if not text:
            return None
        if not self.num_classes:
            raise UserError(f"--label given, but {self.described} is not a conditional "
                            "generator.")
        if "," not in text:
            return label_rows(self.num_classes, [self.class_index(text)] * count)
        try:
            row = parse_label_vector(text, self.num_classes)
        except ValueError as e:
            raise UserError(f"--label: {e}") from None
        return np.repeat(np.asarray(row, np.float32)[None], count, axis=0)


def load_projection_model(path: str, crop: str = "") -> ProjectionModel:
    """The networks and photo plan of a workdir or export (module doc); `crop` overrides
    the recorded crop. UserError in one line for anything that is neither."""
    if crop and crop not in PHOTO_CROPS:
        raise UserError(f"Unknown --crop {crop!r}. Expected one of {list(PHOTO_CROPS)}.")
    if os.path.isfile(path):
        raise UserError(f"--model {path!r} is a file; give an export folder or a workdir.")
    keras.mixed_precision.set_global_policy("float32")
    workdir = Workdir(path)
    if os.path.isdir(path) and not is_export(path) and workdir.has_run() \
            and workdir.checkpoint_steps():
        return _from_workdir(workdir, crop)
    gen = LoadedGenerator(path)  # the one-line errors of a missing or damaged export
    return _from_export(gen, crop)


def _from_workdir(workdir: Workdir, crop: str) -> ProjectionModel:
    config = workdir.config()
    generator, discriminator, step, kind = workdir.restore_networks()
    if model_family(config).grows:
        generator, discriminator = generator.final_model(), discriminator.final_model()
    plan, source = run_plan(config, crop)
    if config.sample_bn == "batch":
        generator = with_fixed_batch_statistics(generator, config.latent_dim, config.latent,
                                                config.num_classes)
    names = workdir.class_names() or [str(i) for i in range(config.num_classes)]
    return ProjectionModel(generator, discriminator_features(discriminator), config.latent,
                           config.latent_dim, config.num_classes, names, plan, source,
                           f"workdir {workdir.path}, step {step}, {kind} weights")


def _from_export(gen: LoadedGenerator, crop: str) -> ProjectionModel:
    generator, discriminator, info = read_keras_networks(gen.path)
    if info.get("sample_bn") == "batch":
        generator = with_fixed_batch_statistics(generator, gen.latent_dim, gen.latent.name,
                                                gen.num_classes)
    parent = os.path.dirname(os.path.abspath(gen.path))
    config = None
    if Workdir(parent).has_run():  # an export inside its run folder: the run's data
        try:
            config = Workdir(parent).config()
        except UserError:
            config = None  # an unreadable run record: as an export alone
    if config is not None and config.resolution == gen.image_shape[0]:
        plan, source = run_plan(config, crop)
    else:
        resolution, channels = int(gen.image_shape[0]), int(gen.image_shape[-1])
        plan = PhotoPlan(resolution, channels, crop=crop or "center")
        source = "given" if crop else "default (the export does not record its data)"
    weights = f", {info['weights']} weights" if info.get("weights") else ""
    step = f", step {gen.step}" if gen.step is not None else ""
    return ProjectionModel(generator, discriminator_features(discriminator), gen.latent.name,
                           gen.latent_dim, gen.num_classes, list(gen.class_names), plan,
                           source, f"export {gen.path}{step}{weights}")


def run_plan(config, crop: str = "") -> tuple[PhotoPlan, str]:
    """How the run's training images were made from photos: the builder's crop when it
    trained on TFRecords of `dcgan-tf build` (their metadata.json records it), else its
    --preprocess; `crop` overrides. Returns (plan, where the plan came from)."""
    from dcgan_tf.data import records

    base = dict(resolution=config.resolution, channels=config.channels)
    meta = options = None
    if is_path(config.data) and os.path.isdir(config.data):
        meta = records.read_metadata(config.data)
        options = (meta or {}).get("options")
    if options:
        folder = records.size_folder(config.data, config.resolution)
        built = records.built_size(records.read_metadata(folder)) or records.built_size(meta)
        recorded = options.get("crop", "center")
        extra = tuple((k, options[k]) for k in CROP_OPTION_FIELDS if k in options)
        if crop and crop != recorded:
            return PhotoPlan(**base, crop=crop), "given"
        return (PhotoPlan(**base, crop=recorded, load_size=int(options.get("load_size") or 0),
                          built_size=built, crop_options=extra),
                f"the run's data ({config.data}, built with --crop={recorded})")
    if crop:
        return PhotoPlan(**base, crop=crop), "given"
    return (PhotoPlan(**base, preprocess=config.preprocess, load_size=config.load_size),
            f"the run's --preprocess ({config.data})")


# ------------------------------------------------------------------------- writing


def _enlarged(images, least: int = 64):
    """uint8 images enlarged by a whole factor (nearest neighbour) to at least `least` px."""
    from dcgan_tf.utils.tiles import to_uint8

    images = to_uint8(images)
    k = max(1, -(-least // images.shape[1]))
    return images.repeat(k, axis=-3).repeat(k, axis=-2)


def compare_tile(targets, result, names) -> np.ndarray:
    """Each target beside its reconstruction, one pair per row, captioned."""
    from dcgan_tf.utils.tiles import captioned_tile

    cells, captions = [], []
    for i, name in enumerate(names):
        cells += [targets[i], result.images[i]]
        captions += [f"target\n{os.path.basename(name)[:18]}",
                     f"reconstruction\nMSE {result.pixel_mse[i]:.4f}\n"
                     f"MS-SSIM {result.ms_ssim[i]:.3f}"]
    return captioned_tile(_enlarged(np.stack(cells)), captions, cols=2)


def fit_animation(targets, result, frame_ms: int = 150) -> bytes:
    """fit.gif: per frame, every target beside its reconstruction at that step."""
    from dcgan_tf.utils.tiles import add_caption, encode_gif, make_tile, text_width

    big_targets = _enlarged(targets)
    width = text_width(f"step {result.frames[-1][0]}") + 4
    frames = []
    for step, images in result.frames:
        pairs = np.stack([x for t, r in zip(big_targets, _enlarged(images), strict=True)
                          for x in (t, r)])
        frames.append(add_caption(make_tile(pairs, rows=len(targets), cols=2),
                                  f"step {step}", width))
    return encode_gif(frames + [frames[-1]] * 5, frame_ms)  # rest on the result


def loss_plot(result, title: str, warm_steps: int) -> bytes:
    """loss.png: every loss term per step, log scale, the warm phase marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    total = len(result.history["total"])
    for name, values in result.history.items():
        values = np.asarray(values).mean(axis=1)
        steps = np.arange(total - len(values) + 1, total + 1)  # d_features: refine only
        if name == "ms_ssim":  # a similarity: its loss term is 1 - MS-SSIM
            values, name = 1.0 - values, "1 - MS-SSIM"
        ax.plot(steps, np.maximum(values, 1e-8), linewidth=2.0 if name == "total" else 1.2,
                label=name)
    if 0 < warm_steps < total:
        ax.axvline(warm_steps + 0.5, color="gray", linestyle="--", linewidth=1,
                   label="best start chosen")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("terms (unweighted) and weighted total, mean over images")
    ax.set_title(title)
    ax.legend(loc="upper right")
    ax.grid(alpha=0.3)
    return figure_png(fig)


def morph_images(model: ProjectionModel, result, frames: int, method: str) -> np.ndarray:
    """Images along the path between the first two codes (labels mixed linearly)."""
    from dcgan_tf.models.latent import interpolation_path

    path = np.asarray(interpolation_path(result.z[:2], frames, method), np.float32)
    inputs = tf.constant(path)
    if result.labels is not None:
        t = np.linspace(0.0, 1.0, len(path), dtype=np.float32)[:, None]
        inputs = [inputs, tf.constant((1 - t) * result.labels[0] + t * result.labels[1])]
    return np.asarray(model.generator(inputs, training=False))


def _npy(array) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def write_projection(out: str, model: ProjectionModel, result, targets, names, *,
                     options, morph_frames: int = 0, morph_method: str = "slerp") -> list[str]:
    """Writes the folder (module doc); returns the paths written."""
    from dcgan_tf.utils.tiles import encode_gif, encode_png, make_tile

    files = {"z.npy": _npy(result.z)}
    if result.labels is not None:
        files["labels.npy"] = _npy(result.labels)
    files["compare.png"] = encode_png(compare_tile(targets, result, names))
    files["loss.png"] = loss_plot(result, f"projection of {len(names)} image(s)",
                                  options.warm_steps if result.start_mse.shape[1] > 1 else 0)
    files["fit.gif"] = fit_animation(targets, result)
    if morph_frames and len(names) >= 2:
        images = morph_images(model, result, morph_frames, morph_method)
        big = _enlarged(images)
        files["morph.gif"] = encode_gif(list(big) + list(big[-2:0:-1]), 100)  # and back
        files["morph.png"] = encode_png(make_tile(images, rows=1))
    summary = {
        "model": model.described, "images": list(names),
        "preparation": {"plan": model.plan.describe(), "from": model.plan_source},
        "options": dataclasses.asdict(options), "seconds": round(result.seconds, 2),
        "classes_tried": result.classes_tried,
        "results": [{
            "image": name, "pixel_mse": float(result.pixel_mse[i]),
            "ms_ssim": float(result.ms_ssim[i]),
            "best_start_pixel_mse": float(result.start_mse[i].min()),
            **({"class": model.class_names[int(np.argmax(result.labels[i]))]}
               if result.labels is not None else {}),
        } for i, name in enumerate(names)],
    }
    files["projection.json"] = (json.dumps(summary, indent=2) + "\n").encode()
    return write_outputs(files, out)
