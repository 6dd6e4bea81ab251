"""The GAN Keras model and everything inside its update step.

`from dcgan_tf.gan import GAN, UpdateRule` works; the model module (and TensorFlow) loads
on first use, so `dcgan_tf.gan.losses` and friends import without a package cycle.
"""

_LAZY = {"GAN": "dcgan_tf.gan.model", "UpdateRule": "dcgan_tf.gan.update"}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'dcgan_tf.gan' has no attribute {name!r}")
