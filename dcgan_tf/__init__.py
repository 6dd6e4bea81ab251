"""dcgan_tf: DCGAN-family image generators in TensorFlow 2 / Keras 3."""

import sys as _sys

# `python -m dcgan_tf.X` imports this package before module X, while sys.argv[0] is still
# "-m": load TensorFlow now with its C++ start-up lines hidden, so that every entry point's
# errors really are one line. Library imports (argv[0] is a script or empty) are untouched.
if _sys.argv[:1] == ["-m"]:
    from dcgan_tf.cli import quiet_tensorflow_import as _quiet

    _quiet()

__version__ = "0.1.0"
