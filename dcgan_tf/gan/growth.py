"""Progressive growing as a part of the update step (source 001).

`ProgressiveGrowth` owns the schedule and the growing networks (G, D and G's EMA copy):
- every step it sets alpha from the shown-image counter (in the graph: no retrace) and
  brings the real batch, which the pipeline serves at the final resolution, to the active
  level by 2x average pooling, blended with its upsampled lower-resolution version during a
  fade-in exactly as G's output is (the official implementation does the same);
- between steps the trainer moves it to the next level (`set_level`: one retrace per level);
- samples are shown at the final resolution (nearest upsampling) so tiles line up.
`NoGrowth` is the same interface doing nothing, for every fixed-size model.
"""

from __future__ import annotations

import tensorflow as tf

from dcgan_tf.gan.schedules import GrowthSchedule


class NoGrowth:
    metric_names = ()

    def attach(self, model) -> None:
        pass

    def prepare_reals(self, images, gan):
        return images

    def metrics(self, gan) -> dict:
        return {}

    def present(self, images):
        return images


class ProgressiveGrowth:
    metric_names = ("resolution", "alpha")

    def __init__(self, schedule: GrowthSchedule, generator, discriminator):
        self.schedule = schedule
        self.networks = [generator, discriminator]
        levels = generator.levels
        if schedule.final_level != levels - 1:
            raise ValueError(f"The schedule ends at {schedule.final_resolution}x"
                             f"{schedule.final_resolution} but the networks grow to "
                             f"{generator.resolution}x{generator.resolution}.")

    def attach(self, model) -> None:
        """Also keep `model` (e.g. the EMA copy of G) at the active level."""
        self.networks.append(model)

    @property
    def level(self) -> int:
        return self.networks[0].active_level

    def set_level(self, level: int) -> None:
        for network in self.networks:
            network.set_level(level)

    def sync(self) -> int:
        """After a restore: the trace-time level of every network from G's variable."""
        level = self.networks[0].sync_level()
        for network in self.networks[1:]:
            network.set_level(level)
        return level

    def alpha(self, gan):
        return self.schedule.alpha_tensor(gan.images_seen, self.level)

    def prepare_reals(self, images, gan):
        """Full-resolution reals [N, R, R, C] -> the active level [N, r, r, C], faded."""
        alpha = self.alpha(gan)
        for network in self.networks:
            network.set_alpha(alpha)
        images = tf.cast(images, tf.float32)
        factor = self.networks[0].resolution // self.schedule.resolution(self.level)
        if factor > 1:
            images = tf.nn.avg_pool2d(images, factor, factor, "VALID")
        if self.level > 0:
            low = tf.nn.avg_pool2d(images, 2, 2, "VALID")
            low = tf.repeat(tf.repeat(low, 2, axis=1), 2, axis=2)  # nearest 2x
            images = low + alpha * (images - low)
        return images

    def metrics(self, gan) -> dict:
        return {"resolution": tf.constant(float(self.schedule.resolution(self.level))),
                "alpha": self.alpha(gan)}

    def present(self, images):
        size = self.networks[0].resolution
        if images.shape[1] == size:
            return images
        return tf.image.resize(images, [size, size], method="nearest")
