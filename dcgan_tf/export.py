"""Exports the generator of a training run as a folder that loads without dcgan_tf.

    python -m dcgan_tf.export --workdir=DIR [--out=PATH] [--step=N | --best]
                              [--format=savedmodel,keras,onnx,tflite,web] [--ort_web=PATH]

Default output: DIR/export, from the newest checkpoint (the EMA generator when the run kept
one). The folder's format (SavedModel signatures, .keras files, export.json, MODEL_CARD.md)
is described, written and read in dcgan_tf.artifacts.saved_generator; generator.onnx and
generator.tflite (checked against TensorFlow as they are written) in
dcgan_tf.artifacts.runtimes; EXPORT/web (the page that generates in the browser with
onnxruntime-web, no server; open it with python -m http.server -d EXPORT/web) in
dcgan_tf.artifacts.web_page.
"""

from __future__ import annotations

from dcgan_tf.config import DEFAULT_EXPORT_FORMATS, EXPORT_FORMATS, SAMPLE_BN
from dcgan_tf.utils.cli import ToolFlags, run_command
from dcgan_tf.utils.errors import UserError


def define_export_flags() -> ToolFlags:
    """Flags of `python -m dcgan_tf.export`."""
    tool = ToolFlags()
    tool.string("workdir", "", "Training run to export.")
    tool.string("out", "", "Export folder; default WORKDIR/export.")
    tool.integer("step", None, "Checkpoint step to export; default the newest.")
    tool.boolean("best", False, "Export the checkpoint that --eval_best kept (WORKDIR/best).")
    tool.string("sample_bn", "", "BatchNorm statistics of the export's signatures: moving or "
                "batch (see train --sample_bn); default the run's own.")
    tool.string("format", ",".join(DEFAULT_EXPORT_FORMATS),
                f"Comma list of {', '.join(EXPORT_FORMATS)}: savedmodel (always written: "
                "generate, serve and evaluate read it), keras (generator.keras, "
                "discriminator.keras), onnx (generator.onnx; needs pip install "
                '"dcgan_tf[export]"), tflite (generator.tflite); onnx and tflite are checked '
                "against TensorFlow as they are written; web (EXPORT/web: the page that "
                "generates in the browser with onnxruntime-web, no server; implies onnx). "
                "Every export has MODEL_CARD.md.")
    tool.string("ort_web", "", "--format=web: onnxruntime-web's npm tarball (.tgz) or its "
                "unpacked folder, for machines that cannot reach registry.npmjs.org; default: "
                "downloaded once (checked against the registry's sha512) into "
                "~/.cache/dcgan_tf.")
    return tool


def parse_formats(text: str) -> tuple[str, ...]:
    """--format text -> the formats, in EXPORT_FORMATS order (UserError listing the
    choices for an unknown one)."""
    names = [part.strip() for part in (text or "").split(",") if part.strip()]
    unknown = [name for name in names if name not in EXPORT_FORMATS]
    if unknown or not names:
        raise UserError(f"--format must be a comma list of {', '.join(EXPORT_FORMATS)}, "
                        f"got {text!r}.")
    return tuple(f for f in EXPORT_FORMATS if f in names)


def _export_command(flag_values):
    from dcgan_tf.artifacts.saved_generator import export_workdir  # TensorFlow: after the flags

    formats = parse_formats(flag_values.format)
    if flag_values.ort_web and "web" not in formats:
        raise UserError("--ort_web is for the in-browser page: add web to --format "
                        f"(--format={','.join(formats + ('web',))}).")
    if not flag_values.workdir:
        raise UserError("--workdir is required.")
    if flag_values.sample_bn and flag_values.sample_bn not in SAMPLE_BN:
        raise UserError(f"--sample_bn must be one of {', '.join(SAMPLE_BN)}, got "
                        f"{flag_values.sample_bn!r}.")
    path = export_workdir(flag_values.workdir, flag_values.out or None, flag_values.step,
                          best=flag_values.best, sample_bn=flag_values.sample_bn or None,
                          formats=formats, ort_web=flag_values.ort_web or None)
    lines = [f"Exported the generator to {path}."]
    if "web" in formats:
        lines.append(f"The in-browser page: python -m http.server -d {path}/web 8000, then "
                     "open http://localhost:8000/")
    return lines


def main(argv=None):
    """python -m dcgan_tf.export --workdir=DIR [--out=PATH] [--step=N | --best]"""
    run_command("dcgan_tf.export", define_export_flags, _export_command, argv)


if __name__ == "__main__":
    main()
