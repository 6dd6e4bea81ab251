"""The discriminator's blocks, counted from the image side: what --freeze_d=N freezes.

FreezeD (Mo et al. 2020, "Freeze the Discriminator: a Simple Baseline for Fine-Tuning
GANs") fine-tunes a pretrained GAN with D's lower layers fixed: they keep the generic
features learned on the large data set, and only the upper layers adapt to the few new
images. A block here is one downsampling stage of D:

    dcgan64, mnist28, faces96   `down{i}`: its conv and the BatchNorm after it (`down{i}_bn`),
                                i = 0 at the image; LeakyReLU has no weights. The last
                                conv / dense to the logits (and dcgan64's minibatch-stddev)
                                is the head, never a block. Conditional wrappers and
                                --spectral_norm (`down{i}_sn`) keep these names.
    pggan                       one resolution level from the top: block 0 is the
                                full-resolution level (its fromRGB and two 3x3 convs),
                                block k the level k steps lower (its convs and the fromRGB
                                that feeds it while it is the top during growth). The 4x4
                                level (stddev, conv, dense, logits) is the head.

    blocks = discriminator_blocks("dcgan64", discriminator)   # [Block("down0", [vars]), ...]
"""

from __future__ import annotations

import dataclasses
import re

from dcgan_tf.models.common import all_layers
from dcgan_tf.utils.registry import Registry

_STAGE = re.compile(r"^down(\d+)(_|$)")


@dataclasses.dataclass(frozen=True)
class Block:
    """One block of D: a name for messages, and its trainable variables."""

    name: str
    variables: tuple


def _stage_blocks(discriminator) -> list[Block]:
    """Blocks of the chain-shaped DCGAN discriminators (layers `down{i}` and `down{i}_*`)."""
    found: dict[int, list] = {}
    for layer in all_layers(discriminator):
        match = _STAGE.match(layer.name)
        if match:
            found.setdefault(int(match.group(1)), []).extend(layer.trainable_weights)
    if sorted(found) != list(range(len(found))):
        raise ValueError(f"{discriminator.name!r}: its down-stages are not numbered 0..n-1 "
                         f"({sorted(found)}).")
    blocks, seen = [], set()
    for i in range(len(found)):
        variables = [v for v in found[i] if id(v) not in seen]  # a wrapper lists its inner ones
        seen.update(id(v) for v in variables)
        blocks.append(Block(f"down{i}", tuple(variables)))
    return blocks


def _level_blocks(discriminator) -> list[Block]:
    """Blocks of the Progressive GAN's discriminator, the full-resolution level first."""
    top = discriminator.levels - 1
    blocks = []
    for level in range(top, 0, -1):
        layers = [discriminator.from_rgb[level], discriminator.convs_a[level - 1],
                  discriminator.convs_b[level - 1]]
        variables = tuple(v for layer in layers for v in layer.trainable_weights)
        size = 4 * 2 ** level
        blocks.append(Block(f"level {size}x{size}", variables))
    return blocks


BLOCKS: Registry = Registry("discriminator block layout")
BLOCKS.register("dcgan64", _stage_blocks)
BLOCKS.register("mnist28", _stage_blocks)
BLOCKS.register("faces96", _stage_blocks)
BLOCKS.register("pggan", _level_blocks)


def discriminator_blocks(model: str, discriminator) -> list[Block]:
    """The blocks of `discriminator` (built by family `model`), the image side first."""
    return BLOCKS.get(model)(discriminator)


def frozen_variables(model: str, discriminator, count: int) -> list:
    """The trainable variables of D's first `count` blocks; ValueError in one line when D
    has fewer blocks."""
    if count <= 0:
        return []
    blocks = discriminator_blocks(model, discriminator)
    if count > len(blocks):
        names = ", ".join(b.name for b in blocks)
        raise ValueError(f"--freeze_d={count}: {model}'s discriminator has {len(blocks)} "
                         f"blocks here ({names}); use 0-{len(blocks)}.")
    return [v for block in blocks[:count] for v in block.variables]
