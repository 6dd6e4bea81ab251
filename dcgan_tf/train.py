"""python -m dcgan_tf.train --flagfile=configs/NAME.cfg --workdir=DIR [--flag=value ...]

Trains (or resumes) a GAN described by flags; flags after a --flagfile override it.
Errors the user can cause print one line on stderr and exit 2; a divergence that stops
training exits 1.
"""

# Intentionally short: parse flags, build a Config, call the trainer.

from __future__ import annotations

import sys

from dcgan_tf.utils.cli import run_command
from dcgan_tf.flags import config_from_flags, define_flags


def _define():
    define_flags()
    from absl import flags

    return flags.FLAGS


def main(argv=None):
    argv = list(argv or sys.argv)

    def _train(flag_values):
        from dcgan_tf.training import trainer

        trainer.run(config_from_flags(flag_values, argv[1:]))
        return []

    run_command("dcgan_tf.train", _define, _train, argv, usage=__doc__)


if __name__ == "__main__":
    main()
