"""BatchNormalization on TensorFlow's fused kernel while training.

Keras 3's `BatchNormalization` on the TensorFlow backend builds a training call from
separate ops (moments = Mean + SquaredDifference + Mean, then Sub, Mul, Add, Rsqrt, ...),
each a pass over the activations, and their gradients the same again.
`FusedBatchNormalization` runs the same layer through `FusedBatchNormV3` (one kernel
forward, one `FusedBatchNormGradV3` backward; oneDNN has its own version of both, and
cuDNN on GPUs). The dcgan64 train step at batch 64 ran 14% faster on the 2-core CPU
(BUILD_NOTES.md, "Fused BatchNorm").

Same layer, same results: the variables, their names and the checkpoint layout are
Keras' own; the statistics are those of the batch in float32 (the input is cast as Keras
does); the moving averages get the biased variance, as Keras' update does (the fused
kernel returns the unbiased one, corrected here by (n - 1) / n). Results equal Keras'
to float32 round-off (tested), second-order gradients included (R1, gradient penalty).
Everything the fused kernel cannot do goes to Keras' own code path: inference mode,
synchronised BatchNorm across replicas, masks, batch renormalisation, an axis other than
the last, inputs that are not 2-D or 4-D, epsilon below cuDNN's minimum.

`models.common.with_plain_batchnorm(model)` gives a copy with Keras' class in place of
this one, for the `.keras` files an export writes (they load where dcgan_tf is not
installed).

`BatchStatisticsNormalization` is the sampling side of `--sample_bn=batch`: the same
variables, but every call normalises with the statistics of the batch it is given and
never touches the moving averages (what sources 000/003 get from PyTorch's train mode and
source 004 from `tf.nn.moments` when they draw samples). `models.common.
with_batch_statistics(model)` puts it in place of every BatchNormalization of a copy.
"""

from __future__ import annotations

import keras
import tensorflow as tf

# cuDNN refuses a smaller epsilon (CUDNN_BN_MIN_EPSILON); PyTorch's and ours is 1e-5.
MIN_EPSILON = 1e-5


@keras.saving.register_keras_serializable(package="dcgan_tf")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` whose training call is one fused kernel."""

    def _fusable(self, inputs, training, mask) -> bool:
        return (training is True and self.trainable and mask is None
                and not self.synchronized and not self.renorm
                and self.axis in (-1, len(inputs.shape) - 1)
                and len(inputs.shape) in (2, 4) and self.epsilon >= MIN_EPSILON)

    def call(self, inputs, training=None, mask=None):
        if not self._fusable(inputs, training, mask):
            return super().call(inputs, training=training, mask=mask)
        x = tf.cast(inputs, tf.float32)
        flat = len(x.shape) == 2
        if flat:  # [N, C] as [N, 1, 1, C]
            x = x[:, None, None, :]
        channels = x.shape[-1]
        scale = tf.cast(self.gamma, tf.float32) if self.scale else tf.ones([channels])
        offset = tf.cast(self.beta, tf.float32) if self.center else tf.zeros([channels])
        y, mean, unbiased, *_ = tf.raw_ops.FusedBatchNormV3(
            x=x, scale=scale, offset=offset, mean=tf.zeros([0]), variance=tf.zeros([0]),
            epsilon=self.epsilon, exponential_avg_factor=1.0, data_format="NHWC",
            is_training=True)
        count = tf.cast(tf.reduce_prod(tf.shape(x)[:-1]), tf.float32)
        variance = unbiased * (count - 1.0) / tf.maximum(count, 1.0)
        momentum = self.momentum
        self.moving_mean.assign(tf.cast(self.moving_mean, tf.float32) * momentum
                                + mean * (1.0 - momentum))
        self.moving_variance.assign(tf.cast(self.moving_variance, tf.float32) * momentum
                                    + variance * (1.0 - momentum))
        if flat:
            y = y[:, 0, 0, :]
        return tf.cast(y, self.compute_dtype)


@keras.saving.register_keras_serializable(package="dcgan_tf")
class BatchStatisticsNormalization(keras.layers.BatchNormalization):
    """BatchNormalization that always normalises with the mean and (biased) variance of its
    input batch, in training and inference alike, and never updates its moving averages:
    sampling "in train mode" without side effects (the moving averages stay those of
    training). The output of one sample depends on the others in its batch."""

    def call(self, inputs, training=None, mask=None):
        x = tf.cast(inputs, tf.float32)
        axis = self.axis % len(x.shape)
        reduce_axes = [i for i in range(len(x.shape)) if i != axis]
        mean, variance = tf.nn.moments(x, reduce_axes, keepdims=True)
        shape = [1] * len(x.shape)
        shape[axis] = x.shape[axis]
        scale = tf.reshape(tf.cast(self.gamma, tf.float32), shape) if self.scale else None
        offset = tf.reshape(tf.cast(self.beta, tf.float32), shape) if self.center else None
        y = tf.nn.batch_normalization(x, mean, variance, offset, scale, self.epsilon)
        return tf.cast(y, self.compute_dtype)
