"""python -m dcgan_tf.train --flagfile=configs/NAME.cfg --workdir=DIR [--flag=value ...]

Intentionally short: parse flags, build a Config, call the trainer. Errors the user can
cause print one line on stderr and exit 2; a divergence that stops training exits 1.
"""

from __future__ import annotations

import sys

from absl import app

from dcgan_tf.cli import fail, parse_flags_or_fail, quiet_tensorflow_import
from dcgan_tf.flags import config_from_flags, define_flags

PROGRAM = "dcgan_tf.train"
define_flags()


def main(argv):
    if len(argv) > 1:
        fail(PROGRAM, f"Unexpected arguments {argv[1:]}; flags look like --name=value.")
    quiet_tensorflow_import()
    from dcgan_tf import trainer
    from dcgan_tf.errors import DivergenceError, UserError

    try:
        trainer.run(config_from_flags())
    except UserError as e:
        fail(PROGRAM, str(e))
    except DivergenceError as e:
        fail(PROGRAM, str(e), code=1)


def run():
    argv = parse_flags_or_fail(PROGRAM, sys.argv)
    app.run(main, argv=argv, flags_parser=lambda a: a)


if __name__ == "__main__":
    run()
