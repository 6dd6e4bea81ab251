"""Top-k generator updates (Sinha et al. 2020, "Top-k Training of GANs").

The generator learns only from the k fakes of its batch that the discriminator scores most
real; the gradients of the worst fakes, which point toward regions D already rejects, are
dropped. k starts at the whole batch and shrinks geometrically to `fraction` of it over
`steps` generator updates (the paper: x0.99 per epoch down to nu = 0.5-0.75; a fixed
number of generator steps stands in for its epochs here, since runs are counted in steps).
"""

from __future__ import annotations

import dataclasses

import tensorflow as tf

from dcgan_tf.gan import losses as losses_lib


@dataclasses.dataclass(frozen=True)
class TopK:
    fraction: float  # nu: the share of the batch kept once the decay is over
    steps: int  # generator updates over which the kept share falls from 1 to `fraction`

    def __post_init__(self):
        if not 0.0 < self.fraction <= 1.0:
            raise ValueError(f"--top_k must be in (0, 1] (0: off), got {self.fraction}.")
        if self.steps < 0:
            raise ValueError(f"--top_k_steps must be >= 0, got {self.steps}.")

    @classmethod
    def from_config(cls, config) -> TopK | None:
        fraction = getattr(config, "top_k", 0.0)
        return cls(fraction, config.top_k_steps) if fraction else None

    def kept(self, g_step, batch) -> tf.Tensor:
        """Number of fakes kept (int32 scalar) at generator step `g_step` of a `batch`."""
        progress = (tf.minimum(1.0, tf.cast(g_step, tf.float32) / float(self.steps))
                    if self.steps else tf.constant(1.0))
        share = tf.pow(tf.constant(self.fraction, tf.float32), progress)
        k = tf.cast(tf.math.ceil(share * tf.cast(batch, tf.float32)), tf.int32)
        return tf.clip_by_value(k, 1, tf.cast(batch, tf.int32))

    def loss(self, per_example, realness, g_step) -> tf.Tensor:
        """Mean of `per_example` over the k fakes with the highest `realness` (D's score),
        reduced over the global batch of kept fakes (correct under tf.distribute)."""
        batch = tf.shape(per_example)[0]
        k = self.kept(g_step, batch)
        keep = tf.math.top_k(tf.cast(tf.reshape(realness, [batch]), tf.float32), k=k).indices
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        return losses_lib.reduce_per_replica(tf.gather(per_example, keep),
                                             tf.cast(k * replicas, tf.float32))
