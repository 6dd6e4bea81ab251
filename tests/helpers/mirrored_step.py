"""Run by tests/test_distribute.py in a fresh process (logical devices must be set before
TensorFlow starts): one train step of the same GAN on the same global batch, once under
MirroredStrategy over two logical CPUs and once on one device, with the same latent noise
(replica r takes rows r*B/2.. of the one-device draw). Prints a JSON report."""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from dcgan_tf.config import Config  # noqa: E402
from dcgan_tf.gan.assemble import build_gan, resolve_config  # noqa: E402

GLOBAL = 8
fields = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
config = resolve_config(Config(**{**dict(model="dcgan64", resolution=32, channels=1, ngf=4, ndf=4,
                                  latent_dim=8, batch_size=GLOBAL, seed=5, train_steps=1,
                                  workdir="unused", sync_batchnorm=True), **fields}).validate())
Z = np.random.default_rng(0).standard_normal((GLOBAL, config.latent_dim)).astype("float32")
REAL = np.random.default_rng(1).uniform(-1, 1, (GLOBAL, 32, 32, 1)).astype("float32")


def fixed_noise(gan):
    """sample_latent replaced by slices of Z: replica r of R gets its 1/R of the rows."""
    def sample_latent(num, seed=None, truncation=None):
        ctx = tf.distribute.get_replica_context()
        replicas = ctx.num_replicas_in_sync if ctx else 1
        start = (ctx.replica_id_in_sync_group if ctx else 0) * (GLOBAL // replicas)
        return tf.slice(tf.constant(Z), [start, 0], [num, config.latent_dim])
    gan.sample_latent = sample_latent


def one_step(strategy, weights=None):
    keras.utils.set_random_seed(5)
    with strategy.scope():
        gan = build_gan(config)
    if weights is not None:
        for v, w in zip(gan.generator.weights + gan.discriminator.weights, weights):
            v.assign(w)
    before = [v.numpy() for v in gan.generator.weights + gan.discriminator.weights]
    fixed_noise(gan)
    logs = gan.fit(tf.data.Dataset.from_tensors(REAL), epochs=1, verbose=0).history
    after = [v.numpy() for v in gan.generator.weights + gan.discriminator.weights
             + gan.sampling_generator.weights]
    return gan, before, after, {k: float(v[-1]) for k, v in logs.items()}


mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
m_gan, start, m_after, m_logs = one_step(mirrored)
_, _, d_after, d_logs = one_step(tf.distribute.get_strategy(), start)
# The real noise draw: does each replica get its own z?
with mirrored.scope():
    gan = build_gan(config)
per_replica = mirrored.run(lambda: gan.sample_latent(4))
z0, z1 = (t.numpy() for t in mirrored.experimental_local_results(per_replica))
steps = [float(np.max(np.abs(a - s))) for a, s in zip(d_after, start)]
print(json.dumps({
    "replicas": mirrored.num_replicas_in_sync,
    "max_update": max(steps),
    "max_difference": max(float(np.max(np.abs(a - b))) for a, b in zip(m_after, d_after)),
    "mirrored_logs": m_logs, "one_device_logs": d_logs,
    "step": int(m_gan.step.numpy()),
    "z_replicas_differ": bool(np.max(np.abs(z0 - z1)) > 0.1),
}))
