"""MODEL_CARD.md and sample.png of an export folder: what the model is, what it learned
from, how it was trained and scored, and how to load it. Written with every export.

    write_model_card(folder, info, generator, discriminator, workdir="runs/digits")

Only recorded facts: export.json's info, the run's config.json, its evaluation.jsonl
(training-time evaluations and `dcgan-tf evaluate --write`), metrics.jsonl (images seen),
best.json, the data's metadata.json (the builder's image count) and a nearest.json of
`dcgan-tf nearest` kept in the workdir (WORKDIR/nearest.json or WORKDIR/*/nearest.json).
What is not recorded is said to be so, with the command that records it; the licence of
the data is a field for the user to fill in.
"""

from __future__ import annotations

import dataclasses
import json
import os

import keras
import numpy as np

from dcgan_tf.artifacts.workdir import Workdir
from dcgan_tf.data import digits, lfw100, mnist5k
from dcgan_tf.data.records import read_metadata, record_count
from dcgan_tf.metrics.catalog import flat_numbers
from dcgan_tf.metrics.memorisation import REPORT_FILE as NEAREST_FILE
from dcgan_tf.models.latent import get_latent
from dcgan_tf.utils.errors import UserError
from dcgan_tf.utils.tiles import encode_png, make_tile, to_uint8

CARD_FILE = "MODEL_CARD.md"
SAMPLE_FILE = "sample.png"
SAMPLE_SEEDS = tuple(range(16))
# Settings the card lists (config.json has them all); off ones (None, "", 0, False) are left
# out, except the seed.
KEY_SETTINGS = ("model", "resolution", "channels", "latent_dim", "latent", "num_classes",
                "ngf", "ndf", "g_depths", "d_depths", "fmap_base", "fmap_max", "loss",
                "d_head", "batch_size", "g_lr", "d_lr", "g_beta1", "d_beta1", "d_steps",
                "train_steps", "epochs", "total_kimg", "ema_decay", "diffaugment", "ada_target",
                "r1_gamma", "spectral_norm", "label_smoothing", "mixed_precision", "sample_bn",
                "seed")
_BUNDLED = {"digits": digits.__doc__, "mnist5k": mnist5k.__doc__,
            "lfw100": lfw100.__doc__}
_RUN_KEYS = ("step", "images_seen", "time")


def write_model_card(folder: str, info: dict, generator: keras.Model,
                     discriminator: keras.Model | None = None, workdir: str | None = None,
                     formats=()) -> list[str]:
    """Writes sample.png and MODEL_CARD.md into the export folder `folder` (being written:
    the caller renames it into place) and returns their names. `info`: export.json's
    contents; `generator`: the network of the signatures; `workdir`: the training run, when
    known; `formats`: the export's formats (for the loading snippets)."""
    with open(os.path.join(folder, SAMPLE_FILE), "wb") as f:
        f.write(encode_png(_sample_tile(generator, info)))
    run = _run_facts(workdir, info.get("step"))
    text = "\n".join(_card(info, generator, discriminator, run, formats)) + "\n"
    with open(os.path.join(folder, CARD_FILE), "w", encoding="utf-8") as f:
        f.write(text)
    return [SAMPLE_FILE, CARD_FILE]


def _sample_tile(generator, info) -> np.ndarray:
    """Images of SAMPLE_SEEDS (z drawn as dcgan_tf draws an integer seed; class i % K)."""
    latent = get_latent(info.get("latent", "normal"))
    dim = int(info["latent_dim"])
    z = np.concatenate([latent.sample((1, dim), s).numpy() for s in SAMPLE_SEEDS])
    k = int(info.get("num_classes") or 0)
    if k:
        labels = np.eye(k, dtype=np.float32)[np.arange(len(SAMPLE_SEEDS)) % k]
        images = generator([z, labels], training=False)
    else:
        images = generator(z, training=False)
    return make_tile(to_uint8(np.asarray(images)), cols=4)


# ---------------------------------------------------------------------- what the run kept

def _run_facts(workdir: str | None, step) -> dict:
    """The recorded facts of the training run (empty without a workdir)."""
    if not workdir or not Workdir(workdir).has_run():
        return {}
    wd = Workdir(workdir)
    facts = {"workdir": workdir, "config_path": wd.config_path}
    try:
        config = dataclasses.asdict(wd.config())
    except UserError:
        config = {}  # an unreadable run record: the card says what is not recorded
    facts["config"] = config
    data = config.get("data")
    if isinstance(data, str) and data and os.path.isdir(data):
        meta = read_metadata(data)
        facts["data_count"] = record_count(meta) or None
    facts["init_from"] = wd.init_record()  # a fine-tuned run: what it started from
    facts["evaluations"] = wd.evaluation_rows()
    seen = [row for row in wd.metrics_rows() if step is None or row.get("step", 0) <= step]
    if seen and "images_seen" in seen[-1]:
        facts["images_seen"] = (seen[-1]["step"], seen[-1]["images_seen"])
    facts["nearest"] = _nearest_report(workdir)
    return facts


def _nearest_report(workdir: str):
    """(path, contents) of a nearest.json kept in the workdir, else None."""
    candidates = [os.path.join(workdir, NEAREST_FILE)] + sorted(
        os.path.join(workdir, d, NEAREST_FILE) for d in os.listdir(workdir)
        if os.path.isdir(os.path.join(workdir, d)))
    for path in candidates:
        report = _read_json(path)
        if report and "ratio" in report:
            return path, report
    return None


def _read_json(path: str):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


# ---------------------------------------------------------------------- the card

def _card(info, generator, discriminator, run, formats) -> list[str]:
    config = run.get("config", {})
    model = info.get("model") or config.get("model") or generator.name
    k = int(info.get("num_classes") or 0)
    shape = info.get("image_shape") or list(generator.output.shape[1:])
    lines = [f"# Model card: {model} generator", "",
             "Written by `dcgan-tf export` from what the run recorded; nothing here is "
             "estimated.", "", "## Model", "",
             f"- Family: `{model}`" + (f", conditional on {k} classes{_names(info)}" if k
                                        else ", unconditional"),
             f"- Output: {shape[0]}x{shape[1]} pixels, {shape[2]} channel(s), uint8 from the "
             f"generator's [-1, 1]",
             f"- Latent: z of {info['latent_dim']} values, {info.get('latent', 'normal')} "
             "distribution",
             f"- Parameters: generator {generator.count_params():,}"
             + (f", discriminator {discriminator.count_params():,}" if discriminator else ""),
             f"- Weights: training step {_or_unknown(info.get('step'))}"
             + (f", {info['weights']} weights" if info.get("weights") else "")
             + (f"; the best checkpoint by {info['best'].get('metric')} = "
                f"{info['best'].get('value')}" if isinstance(info.get("best"), dict) else ""),
             f"- BatchNorm when sampling: {info.get('sample_bn', 'moving')}. "
             + info.get("sample_bn_note", ""), ""]
    lines += _data_section(config, run, k)
    lines += _training_section(config, run, info)
    lines += _evaluation_section(run)
    lines += ["## Samples", "", "![16 samples](sample.png)", "",
              f"`{SAMPLE_FILE}`: z of seeds {SAMPLE_SEEDS[0]}-{SAMPLE_SEEDS[-1]} drawn as "
              "dcgan_tf draws an integer seed (`dcgan-tf generate --seed=0 --num=16`)"
              + (f", class i % {k} for seed i" if k else "") + ".", ""]
    lines += _use_section(run, info)
    lines += _loading_section(info, formats)
    return lines


def _names(info) -> str:
    names = info.get("class_names") or []
    return f" ({', '.join(map(str, names))})" if names else ""


def _or_unknown(value) -> str:
    return "not recorded" if value is None else str(value)


def _data_section(config, run, k) -> list[str]:
    data = config.get("data")
    lines = ["## Data", ""]
    if not run:
        return lines + ["- Source: not recorded (exported without its training run).",
                        "- Licence: fill in.", ""]
    lines.append(f"- Source: `{data}`")
    about = _BUNDLED.get(data)
    if about:
        lines.append(f"- About it: {' '.join(about.split(chr(10) + chr(10))[0].split())}")
    count = run.get("data_count")
    if count:
        lines.append(f"- Images: {count:,} (its metadata.json)")
    elif not about:
        lines.append("- Images: not recorded (no metadata.json of the dataset builder at "
                     "that path)")
    if k:
        lines.append(f"- Labels: {k} classes")
    lines += ["- Licence: fill in (the terms of the images above decide what the samples "
              "may be used for).", ""]
    return lines


def _training_section(config, run, info) -> list[str]:
    lines = ["## Training", ""]
    if not config:
        return lines + [f"- Steps: {_or_unknown(info.get('step'))}; the configuration was "
                        "not recorded (exported without its training run).", ""]
    seen = run.get("images_seen")
    lines.append(f"- Steps: {_or_unknown(info.get('step'))}"
                 + (f" ({seen[1]:,} images seen by step {seen[0]})" if seen else ""))
    settings = [f"`{name}={config[name]}`" for name in KEY_SETTINGS
                if name in config and (name == "seed" or config[name] not in (None, "", 0))]
    start = run.get("init_from")
    if start:
        lines.append(f"- Fine-tuned from `{start.get('path')}` (step "
                     f"{_or_unknown(start.get('step'))}, its {start.get('g_weights')} G "
                     f"weights, D {start.get('d_weights')})"
                     + (f", D's first {config['freeze_d']} blocks frozen"
                        if config.get("freeze_d") else ""))
    lines.append("- Key settings: " + ", ".join(settings))
    lines.append(f"- Full configuration: the training run's `config.json` and `flags.cfg` (a "
                 f"--flagfile), at `{run['config_path']}` when this export was written")
    return lines + [""]


def _evaluation_section(run) -> list[str]:
    lines = ["## Evaluation", ""]
    rows = run.get("evaluations") or []
    written = [r for r in rows if isinstance(r.get("metrics"), dict)]  # evaluate --write
    during = [r for r in rows if not isinstance(r.get("metrics"), dict)]
    if during:
        last = during[-1]
        numbers = flat_numbers({k: v for k, v in last.items() if k not in _RUN_KEYS})
        lines.append(f"- During training ({len(during)} evaluations), the last at step "
                     f"{last.get('step')}: {_numbers(numbers)}")
    for row in written[-5:]:
        numbers = flat_numbers(row["metrics"])
        lines.append(f"- `dcgan-tf evaluate` against `{row.get('data')}` (step "
                     f"{_or_unknown(row.get('step'))}): {_numbers(numbers)}")
    if not during and not written:
        where = run.get("workdir", "RUN")
        lines.append("- None recorded. Score it with `dcgan-tf evaluate "
                     f"--model={where} --data=DATA --write` (it appends to the run's "
                     "evaluation.jsonl, which the next export's card lists).")
    return lines + [""]


def _numbers(numbers: dict) -> str:
    return ", ".join(f"{k} {v:.4g}" for k, v in numbers.items()) or "no numbers"


def _use_section(run, info) -> list[str]:
    lines = ["## Intended use and limitations", "",
             "- For research, teaching and demos of image generation: it draws new images "
             "that resemble its training images, nothing more. It was not evaluated for any "
             "decision about people.",
             "- A GAN can reproduce its training images, more so when they are few. "]
    nearest = run.get("nearest")
    where = run.get("workdir", "RUN")
    if nearest:
        path, report = nearest
        lines[-1] += (f"Memorisation check (`dcgan-tf nearest`, {path}): median distance of "
                      f"samples to their nearest training image "
                      f"{report.get('median_sample_to_train', float('nan')):.4f}, of held-out "
                      f"real images {report.get('median_holdout_to_train', float('nan')):.4f}, "
                      f"ratio {report['ratio']:.2f} (well below 1 would mean copies).")
    else:
        lines[-1] += ("No memorisation check was recorded: run `dcgan-tf nearest "
                      f"--model={where} --data=DATA --out={where}/nearest` (ratio well "
                      "below 1 means copies; the next export's card reports it).")
    lines.append("- Its samples show only what its data holds: biases of the data carry over.")
    if info.get("sample_bn") == "batch":
        lines.append("- Its BatchNorm uses each request's own statistics: an image depends "
                     "on the other z of its request; ask for several images at once.")
    return lines + [""]


def _loading_section(info, formats) -> list[str]:
    k = int(info.get("num_classes") or 0)
    dim = info["latent_dim"]
    labels_tf = f", labels=tf.one_hot([0] * 4, {k})" if k else ""
    labels_np = f", \"labels\": np.eye({k}, dtype=np.float32)[[0, 0, 0, 0]]" if k else ""
    lines = ["## How to load it", "",
             "Every form takes z float32 [N, latent_dim]"
             + (" and labels float32 [N, num_classes] (one-hot for one class)" if k else "")
             + " and gives uint8 images [N, H, W, C] (the Keras files: float in [-1, 1]).",
             "", "SavedModel (TensorFlow, no dcgan_tf needed):", "", "```python",
             "import tensorflow as tf",
             "gen = tf.saved_model.load(\"EXPORT\").signatures[\"serving_default\"]",
             f"images = gen(z=tf.random.normal([4, {dim}]){labels_tf})[\"images\"]",
             "```", ""]
    if "keras" in formats or info.get("keras_files"):
        lines += ["Keras:", "", "```python", "import keras, numpy as np",
                  "g = keras.saving.load_model(\"EXPORT/generator.keras\")",
                  f"z = np.random.normal(size=(4, {dim})).astype(\"float32\")",
                  ("images = g([z, np.eye(%d, dtype=\"float32\")[[0, 0, 0, 0]]])" % k if k
                   else "images = g(z)") + "  # [-1, 1]",
                  "```", ""]
    runtimes = info.get("runtimes") or {}
    if "onnx" in runtimes:
        lines += ["ONNX (onnxruntime; in a browser onnxruntime-web with the same names):", "",
                  "```python", "import numpy as np, onnxruntime as ort",
                  "s = ort.InferenceSession(\"EXPORT/generator.onnx\")",
                  f"z = np.random.normal(size=(4, {dim})).astype(np.float32)",
                  f"images = s.run([\"images\"], {{\"z\": z{labels_np}}})[0]",
                  "```", ""]
    if info.get("web"):
        lines += ["In a browser (onnxruntime-web, no server process of dcgan_tf): serve the "
                  "folder `web/` with any static server, for example "
                  "`python -m http.server -d EXPORT/web 8000`, and open "
                  "http://localhost:8000/ (browsers refuse WebAssembly on file:// pages).", ""]
    if "tflite" in runtimes:
        lines += ["TFLite / LiteRT:", "", "```python",
                  "import numpy as np, tensorflow as tf  # or: from ai_edge_litert.interpreter "
                  "import Interpreter",
                  "run = tf.lite.Interpreter(model_path=\"EXPORT/generator.tflite\")"
                  ".get_signature_runner(\"serving_default\")",
                  f"z = np.random.normal(size=(4, {dim})).astype(np.float32)",
                  "images = run(z=z" + (f", labels=np.eye({k}, dtype=np.float32)[[0, 0, 0, 0]]"
                                        if k else "") + ")[\"images\"]",
                  "```", ""]
    for name, record in runtimes.items():
        check = record.get("check", {})
        lines.append(f"- `{record.get('file')}`: max difference from TensorFlow "
                     f"{check.get('max_abs_diff')} of 255 levels on the check batch "
                     f"({check.get('tolerance')}).")
    if runtimes:
        lines.append("")
    lines.append("`export.json` lists every input and output of each file.")
    return lines
