"""dcgan_tf: DCGAN-family image generators in TensorFlow 2 / Keras 3."""

import os as _os
import sys as _sys

# TensorFlow >= 2.16 leaves its oneDNN CPU kernels off on x86 CPUs without AVX-512
# VNNI/BF16, AVX-VNNI or AMX (plain AVX2 + FMA machines), where every convolution then runs
# on Eigen kernels: about 1.4x slower training there (BUILD_NOTES, "oneDNN by default").
# Switch them on unless the user chose; it only takes effect before TensorFlow is imported.
if "tensorflow" not in _sys.modules:
    _os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

# `python -m dcgan_tf.X` imports this package before module X, while sys.argv[0] is still
# "-m": load TensorFlow now with its C++ start-up lines hidden, so that every entry point's
# errors really are one line. Library imports (argv[0] is a script or empty) are untouched.
if _sys.argv[:1] == ["-m"]:
    from dcgan_tf.utils.cli import quiet_tensorflow_import as _quiet

    _quiet()

__version__ = "0.1.0"
