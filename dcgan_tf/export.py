"""Exports the generator of a training run as a folder that loads without dcgan_tf.

    python -m dcgan_tf.export --workdir=DIR [--out=PATH] [--step=N | --best]

Default output: DIR/export, from the newest checkpoint (the EMA generator when the run kept
one). The folder's format (SavedModel signatures, .keras files, export.json) is described,
written and read in dcgan_tf.artifacts.saved_generator.
"""

from __future__ import annotations

from dcgan_tf.config import SAMPLE_BN
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
    return tool


def _export_command(flag_values):
    from dcgan_tf.artifacts.saved_generator import export_workdir  # TensorFlow: after the flags

    if not flag_values.workdir:
        raise UserError("--workdir is required.")
    if flag_values.sample_bn and flag_values.sample_bn not in SAMPLE_BN:
        raise UserError(f"--sample_bn must be one of {', '.join(SAMPLE_BN)}, got "
                        f"{flag_values.sample_bn!r}.")
    path = export_workdir(flag_values.workdir, flag_values.out or None, flag_values.step,
                          best=flag_values.best, sample_bn=flag_values.sample_bn or None)
    return [f"Exported the generator to {path}."]


def main(argv=None):
    """python -m dcgan_tf.export --workdir=DIR [--out=PATH] [--step=N | --best]"""
    run_command("dcgan_tf.export", define_export_flags, _export_command, argv)


if __name__ == "__main__":
    main()
