"""python -m dcgan_tf.train --config=NAME --workdir=DIR [--flag=value ...]

Trains (or resumes) a GAN described by flags. --config=NAME reads a config shipped with the
package (or a flagfile path; --flagfile=configs/NAME.cfg works in the repository); flags
after it override it. Errors the user can cause print one line on stderr and exit 2; a
divergence that stops training exits 1; Ctrl-C (SIGTERM) saves a checkpoint, prints the
command that resumes the run and exits 130 (143), as shells expect of an interrupted job.
"""

# Intentionally short: parse flags, build a Config, call the trainer.

from __future__ import annotations

import shlex
import sys
import textwrap

from dcgan_tf.flags import config_from_flags, define_flags, expand_config, shipped_configs
from dcgan_tf.utils.cli import fail, program_name, run_command
from dcgan_tf.utils.errors import UserError


def main(argv=None):
    typed = list(argv or sys.argv)
    try:
        argv = expand_config(typed)
    except UserError as e:
        fail(program_name("dcgan_tf.train", typed), str(e))

    def _train(flag_values):
        from dcgan_tf.training import trainer

        # a run length typed on the command line (not one a config set) replaces the config's
        result = trainer.run(config_from_flags(flag_values, typed[1:]),
                             resume_command=resume_command(typed))
        if result.status == "interrupted":  # saved; `train && evaluate` must not go on
            sys.stdout.flush()
            sys.exit(128 + result.signal)
        return []

    usage = f"{__doc__.strip()}\n\n" + textwrap.fill(
        f"Shipped configs: {', '.join(shipped_configs())}.", width=88)
    run_command("dcgan_tf.train", define_flags, _train, argv, usage=usage)


def resume_command(typed: list[str]) -> str:
    """The command line as typed (what resumes an interrupted run), quoted for a shell."""
    program = program_name("dcgan_tf.train", typed)
    command = program if program.startswith("dcgan-tf ") else f"python -m {program}"
    return " ".join([command, *map(shlex.quote, typed[1:])])


if __name__ == "__main__":
    main()
