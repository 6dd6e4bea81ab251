"""dcgan_tf: DCGAN-family image generators in TensorFlow 2 / Keras 3.

"source 000" ... "source 004" in comments and docs name the five systems this package
reimplements (the cat DCGAN, Progressive GAN, the conditional MNIST DCGAN with its slider
page, the 28x28 MNIST DCGAN, the 96x96 face DCGAN); README's "The five source systems" has
the table. Folders are layers (BUILD_NOTES.md, "Module map").
"""

import os as _os
import sys as _sys

# TensorFlow >= 2.16 leaves its oneDNN CPU kernels off on x86 CPUs without AVX-512
# VNNI/BF16, AVX-VNNI or AMX (plain AVX2 + FMA machines), where every convolution then runs
# on Eigen kernels: about 1.4x slower training there (BUILD_NOTES, "oneDNN by default").
# Switch them on unless the user chose; it only takes effect before TensorFlow is imported.
if "tensorflow" not in _sys.modules:
    _os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

# Commands (`dcgan-tf X`, `python -m dcgan_tf.X`) import without TensorFlow and load it,
# with its C++ start-up lines hidden, only after their flags parsed
# (dcgan_tf.utils.cli.run_command): --help and flag errors answer in a fraction of a second.

__version__ = "0.1.0"
