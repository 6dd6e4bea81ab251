"""Full-state checkpoints: networks, both optimizers, counters, RNG state, fixed noise.

A thin layer over tf.train.Checkpoint + CheckpointManager that
- never writes a checkpoint holding a non-finite value (returns None instead);
- asserts on restore that every object of the run found its saved values;
- falls back to the previous checkpoint if the newest cannot be read.
TensorFlow writes checkpoint data before it updates the `checkpoint` index file (itself
written atomically), so a process killed at any moment leaves the index pointing at a
complete checkpoint.

The formats of a run's checkpoints live here, writer and reader together: the manager's
index (`checkpoint_paths`), the best checkpoint's `best.json` (`write_best` / `read_best`).
"""

from __future__ import annotations

import json
import logging
import os

import numpy as np
import tensorflow as tf

from dcgan_tf.utils.errors import UserError
from dcgan_tf.utils.atomic_files import atomic_write_text

log = logging.getLogger(__name__)

BEST_FILE = "best.json"


def checkpoint_paths(directory: str) -> list[str]:
    """Prefixes of the checkpoints the manager's index in `directory` lists, oldest first
    (an empty list without an index). The index stores paths as the writer named them:
    absolute, relative to the folder of the index, or relative to the writer's working
    directory; relative ones that do not resolve from here are taken inside `directory`."""
    state = tf.train.get_checkpoint_state(directory)
    paths = []
    for p in (state.all_model_checkpoint_paths if state else []):
        if not os.path.isabs(p) and not os.path.exists(p + ".index"):
            p = os.path.join(directory, os.path.basename(p))
        paths.append(p)
    return paths


def checkpoint_step(path: str) -> int | None:
    """The step of a checkpoint prefix `.../ckpt-STEP`, or None for another name."""
    try:
        return int(path.rsplit("-", 1)[1])
    except (IndexError, ValueError):
        return None


def read_best(folder: str) -> dict | None:
    """{"step", "metric", "value", "checkpoint"} of the best checkpoint kept in `folder`
    (FOLDER/best.json, see `RunCheckpoint.write_best`), or None when there is none."""
    try:
        with open(os.path.join(folder, BEST_FILE)) as f:
            info = json.load(f)
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) and "checkpoint" in info else None


def _variables(items: dict):
    for obj in items.values():
        if hasattr(obj, "variables") and not isinstance(obj, tf.Variable):
            variables = obj.variables
            yield from (variables() if callable(variables) else variables)
        else:
            yield obj


def all_finite(items: dict) -> bool:
    """True if every floating-point variable reachable from `items` is finite."""
    for v in _variables(items):
        value = np.asarray(v.numpy() if hasattr(v, "numpy") else v)
        if np.issubdtype(value.dtype, np.floating) and not np.all(np.isfinite(value)):
            return False
    return True


class RunCheckpoint:
    """Saves and restores `items` (name -> trackable) under `directory`."""

    def __init__(self, directory: str, items: dict, max_to_keep: int = 3,
                 restore_from: str | None = None):
        self.items = dict(items)
        # Where restores look (a multi-worker run's other workers save to scratch but
        # resume from the chief's checkpoints); the saving directory by default.
        self.restore_from = restore_from if restore_from is not None else directory
        self.checkpoint = tf.train.Checkpoint(**self.items)
        self.manager = tf.train.CheckpointManager(self.checkpoint, directory,
                                                  max_to_keep=max_to_keep)

    @property
    def latest(self) -> str | None:
        return self.manager.latest_checkpoint

    def save(self, step: int) -> str | None:
        """Writes a checkpoint for `step`, unless some value is non-finite (then None)."""
        if self.latest and self.latest.endswith(f"-{step}"):
            return self.latest  # this step is saved already
        if not all_finite(self.items):
            log.warning("Not saving a checkpoint at step %d: it holds non-finite values.", step)
            return None
        return self.manager.save(checkpoint_number=step)

    def write_best(self, folder: str, step: int, info: dict) -> str | None:
        """Writes the state to FOLDER/ckpt-STEP outside the manager's rotation, then
        FOLDER/best.json (atomically) naming it, then removes the previous best's files:
        at every moment best.json names a complete checkpoint."""
        if not all_finite(self.items):
            return None
        os.makedirs(folder, exist_ok=True)
        name = f"ckpt-{step}"
        checkpoint = tf.train.Checkpoint(**self.items)
        checkpoint.save_counter  # created, so the file reads like a manager's checkpoint
        checkpoint.write(os.path.join(folder, name))
        atomic_write_text(os.path.join(folder, BEST_FILE),
                          json.dumps(dict(info, step=step, checkpoint=name), indent=2) + "\n")
        for entry in os.listdir(folder):
            if entry.startswith("ckpt-") and not entry.startswith(name + "."):
                os.remove(os.path.join(folder, entry))
        return os.path.join(folder, name)

    def restore_latest(self) -> str | None:
        """Restores the newest readable checkpoint; returns its path or None if none exist.

        Raises UserError if checkpoints exist but none matches this run's objects.
        """
        # the index file the manager keeps (read from disk: another worker may write it)
        candidates = list(reversed(checkpoint_paths(self.restore_from)))
        errors = []
        for path in candidates:
            try:
                status = self.checkpoint.restore(path)
                status.assert_existing_objects_matched()
                return path
            except (tf.errors.OpError, AssertionError, ValueError) as e:
                errors.append(f"{path}: {type(e).__name__}: {str(e).splitlines()[0][:200]}")
                log.warning("Cannot restore %s (%s); trying an older checkpoint.", path, e)
        if errors:
            raise UserError(
                "No checkpoint in this workdir matches the run being resumed: "
                + "; ".join(errors)
            )
        return None
