"""Thin wrapper: `python tools/build_dataset.py --source=PHOTOS --out=DATA ...` is
`python -m dcgan_tf.data.build ...` (see README.md for the flags)."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from dcgan_tf.utils.cli import quiet_tensorflow_import  # noqa: E402

quiet_tensorflow_import()

from dcgan_tf.data.build import main  # noqa: E402

if __name__ == "__main__":
    main()
