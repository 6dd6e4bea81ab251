"""How many updates of each network one train step makes, and in which order."""

from __future__ import annotations

import dataclasses

from dcgan_tf.config import D_PASS, UPDATE
from dcgan_tf.utils.registry import check_choice, check_positive_int


@dataclasses.dataclass(frozen=True)
class UpdateRule:
    """How many updates of each network one train step makes, and in which order.

    d_steps / g_steps: n D updates per G update (each on its own real chunk) or n G updates
      per D update; one of them is 1.
    order: "sequential" (D first, G then reads the fakes through the updated D) or
      "simultaneous" (both gradients from one forward pass; saves one D pass per step).
    d_pass: "split" (D's loss from two calls, reals and fakes normalised apart by
      BatchNorm, as sources 000/003/004) or "joint" (one call on reals and fakes
      concatenated: one larger batch, BatchNorm statistics of the mixed batch).
    The choices are config.UPDATE and config.D_PASS (config.py imports without TensorFlow).
    """

    d_steps: int = 1
    g_steps: int = 1
    order: str = "sequential"
    d_pass: str = "split"

    def __post_init__(self):
        check_positive_int("d_steps", self.d_steps)
        check_positive_int("g_steps", self.g_steps)
        if self.d_steps > 1 and self.g_steps > 1:
            raise ValueError(
                f"Use either d_steps > 1 or g_steps > 1, not both (got d_steps={self.d_steps}, "
                f"g_steps={self.g_steps})."
            )
        check_choice("update order", self.order, UPDATE)
        check_choice("d_pass", self.d_pass, D_PASS)
