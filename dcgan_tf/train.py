"""python -m dcgan_tf.train --flagfile=configs/NAME.cfg --workdir=DIR [--flag=value ...]

Intentionally short: parse flags, build a Config, call the trainer. Errors the user can
cause print one line on stderr and exit 2; a divergence that stops training exits 1.
"""

from __future__ import annotations

from dcgan_tf.cli import run_command
from dcgan_tf.flags import config_from_flags, define_flags


def _define():
    define_flags()
    from absl import flags

    return flags.FLAGS


def _train(flag_values):
    from dcgan_tf import trainer

    trainer.run(config_from_flags(flag_values))
    return []


def main(argv=None):
    run_command("dcgan_tf.train", _define, _train, argv)


if __name__ == "__main__":
    main()
