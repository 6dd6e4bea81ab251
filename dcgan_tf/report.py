"""What a person looks at after (or during) a run: a training-progress animation built from
the sample tiles and a plot of the losses from metrics.jsonl.

    python -m dcgan_tf.report --workdir=DIR     # works on a finished or a running workdir

Writes DIR/progress.gif (one frame per saved tile, in step order; also progress.mp4 when
imageio-ffmpeg is installed: pip install "dcgan_tf[video]") and DIR/losses.png (D and G loss
per step, raw and smoothed, with the discriminator's balance line). The writer is
dcgan_tf.artifacts.run_report; the trainer calls it too at the end of a run.
"""

from __future__ import annotations

import os

from dcgan_tf.utils.cli import ToolFlags, run_command
from dcgan_tf.utils.errors import UserError


def define_report_flags() -> ToolFlags:
    """Flags of `python -m dcgan_tf.report`."""
    tool = ToolFlags()
    tool.string("workdir", "", "Training run (finished or running).")
    return tool


def _report_command(flag_values):
    from dcgan_tf.artifacts.run_report import write_report  # TensorFlow: after the flags

    if not flag_values.workdir or not os.path.isdir(flag_values.workdir):
        raise UserError(f"--workdir must be an existing run folder, got {flag_values.workdir!r}.")
    return [f"Wrote {path}." for path in write_report(flag_values.workdir)]


def main(argv=None):
    """python -m dcgan_tf.report --workdir=DIR"""
    run_command("dcgan_tf.report", define_report_flags, _report_command, argv)


if __name__ == "__main__":
    main()
