"""Full-state checkpoints: networks, both optimizers, counters, RNG state, fixed noise.

A thin layer over tf.train.Checkpoint that
- never writes a checkpoint holding a non-finite value (returns None instead);
- reads every checkpoint back when written (TensorFlow checks each tensor's checksum) and
  then writes its manifest, PREFIX.manifest.json (each file's size), atomically; only
  then is it listed in the index, and only then are checkpoints beyond --keep_checkpoints
  deleted: a damaged write never displaces an intact checkpoint, and a damaged checkpoint
  never counts among the kept ones (the rotation deletes it);
- checks a checkpoint against its manifest before restoring it (cheap: file sizes;
  TensorFlow's checksums catch the rest while it reads), reports a damaged one in one line
  and falls back to the newest intact one (`restore_latest`); with none left, one line;
- asserts on restore that every object of the run found its saved values.
The index is written after the data and the manifest, atomically, so a process killed at
any moment leaves the index listing complete checkpoints only. Checkpoints written before
manifests existed are read without one (a read error then marks them damaged).

The formats of a run's checkpoints live here, writer and reader together: the index
(`checkpoint_paths`, `_write_index`: the `checkpoint` file of tf.train.CheckpointManager,
which tf.train.latest_checkpoint reads), the manifests (`checkpoint_problem`), the best
checkpoint's `best.json` (`write_best` / `read_best`).
"""

from __future__ import annotations

import glob
import json
import logging
import os
import re
import shutil

import numpy as np
import tensorflow as tf

from dcgan_tf.utils.errors import UserError
from dcgan_tf.utils.atomic_files import atomic_write_text
from dcgan_tf.utils.progress import warn as default_warn

log = logging.getLogger(__name__)

BEST_FILE = "best.json"
INDEX_FILE = "checkpoint"  # the name tf.train.CheckpointManager and latest_checkpoint use
MANIFEST_SUFFIX = ".manifest.json"


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


def _write_index(directory: str, paths: list[str]) -> None:
    """The index (`checkpoint`, CheckpointState text format) listing `paths`, oldest first,
    by their names relative to `directory`; atomically. No paths: the index is removed."""
    index = os.path.join(directory, INDEX_FILE)
    if not paths:
        if os.path.exists(index):
            os.remove(index)
        return
    names = [json.dumps(os.path.basename(p)) for p in paths]
    lines = [f"model_checkpoint_path: {names[-1]}"]
    lines += [f"all_model_checkpoint_paths: {n}" for n in names]
    atomic_write_text(index, "\n".join(lines) + "\n")


def _files(prefix: str) -> list[str]:
    """The files of checkpoint `prefix` on disk (its manifest not included)."""
    return sorted(glob.glob(glob.escape(prefix) + ".index")
                  + glob.glob(glob.escape(prefix) + ".data-?????-of-?????"))


def _remove(prefix: str) -> None:
    """Deletes the files of checkpoint `prefix`, its manifest last (and the temporary
    folder TensorFlow writes the shards in, left by a failed write)."""
    shutil.rmtree(prefix + "_temp", ignore_errors=True)
    for path in _files(prefix) + [prefix + MANIFEST_SUFFIX]:
        try:
            os.remove(path)
        except FileNotFoundError:
            pass


def read_error(prefix: str) -> str | None:
    """Reads every tensor of checkpoint `prefix` (TensorFlow checks each one's checksum);
    None when all read, else the error in a few words."""
    try:
        reader = tf.train.load_checkpoint(prefix)
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except (tf.errors.OpError, IndexError, ValueError, OSError) as e:
        return _short(e)
    return None


def _short(error: BaseException) -> str:
    """An error's reason in a few words: TensorFlow's op names and, after a file name,
    only the reason ("PATH; No space left on device" -> "No space left on device")."""
    text = (getattr(error, "message", None) or str(error) or type(error).__name__)
    text = re.sub(r"\{\{[^}]*\}\}\s*", "", text.splitlines()[0])
    text = re.sub(r"\s*\[Op:\w+\].*$", "", text)
    return text.rsplit("; ", 1)[-1][:160]


def write_manifest(prefix: str) -> str | None:
    """Reads checkpoint `prefix` back and writes its manifest (each file's size) next to it,
    atomically. Returns None, or the read error (no manifest is written then)."""
    error = read_error(prefix)
    if error is None and not any(p.endswith(".index") for p in _files(prefix)):
        error = "no .index file"
    if error is not None:
        return error
    sizes = {os.path.basename(p): os.path.getsize(p) for p in _files(prefix)}
    atomic_write_text(prefix + MANIFEST_SUFFIX, json.dumps({"files": sizes}, indent=1) + "\n")
    return None


def checkpoint_problem(prefix: str) -> str | None:
    """Why checkpoint `prefix` cannot be used, in a few words, or None. Checked against its
    manifest: a missing or shorter/longer file is found without reading the data. A
    checkpoint without a manifest (written before they existed) only needs its .index;
    errors while reading it show what else is wrong."""
    name = os.path.basename(prefix)
    try:
        with open(prefix + MANIFEST_SUFFIX) as f:
            sizes = json.load(f)["files"]
        sizes = {str(k): int(v) for k, v in sizes.items()}
    except FileNotFoundError:
        return None if os.path.exists(prefix + ".index") else f"{name}.index is missing"
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return f"its manifest {name}{MANIFEST_SUFFIX} is unreadable"
    folder = os.path.dirname(prefix)
    for file, size in sorted(sizes.items()):
        try:
            actual = os.path.getsize(os.path.join(folder, file))
        except OSError:
            return f"{file} is missing"
        if actual != size:
            return f"{file} has {actual:,} of {size:,} bytes"
    return None


def read_best(folder: str) -> dict | None:
    """{"step", "metric", "value", "checkpoint"} of the best checkpoint kept in `folder`
    (FOLDER/best.json, see `RunCheckpoint.write_best`), or None when there is none.
    UserError in one line when best.json is there but cannot be read."""
    path = os.path.join(folder, BEST_FILE)
    try:
        with open(path) as f:
            info = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise UserError(f"{path} is damaged ({_short(e)}).") from None
    if not (isinstance(info, dict) and isinstance(info.get("checkpoint"), str)
            and isinstance(info.get("step"), int)):
        raise UserError(f"{path} is damaged (no step and checkpoint in it).")
    return info


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
    """Saves and restores `items` (name -> trackable) under `directory`, keeping the newest
    `max_to_keep` intact checkpoints (module doc). `warn` gets the one-line reports of
    damaged checkpoints (default: stderr)."""

    def __init__(self, directory: str, items: dict, max_to_keep: int = 3,
                 restore_from: str | None = None, warn=None):
        self.items = dict(items)
        self.directory = directory
        self.max_to_keep = max(1, int(max_to_keep))
        # Where restores look (a multi-worker run's other workers save to scratch but
        # resume from the chief's checkpoints); the saving directory by default.
        self.restore_from = restore_from if restore_from is not None else directory
        self.checkpoint = tf.train.Checkpoint(**self.items)
        self.checkpoint.save_counter  # created now: every checkpoint holds it
        self.warn = warn or default_warn
        self._current = None  # the checkpoint whose state this process holds unchanged
        self._unreadable = {}  # name -> error of checkpoints without manifest that failed

    @property
    def latest(self) -> str | None:
        """The newest checkpoint the index lists (intact or not), or None."""
        paths = checkpoint_paths(self.directory)
        return paths[-1] if paths else None

    def save(self, step: int) -> str | None:
        """Writes a checkpoint for `step`, unless some value is non-finite (then None).
        UserError in one line when it does not read back whole (a full disk): the
        checkpoints before it are kept, and it is not listed."""
        if self._current is not None and checkpoint_step(self._current) == step \
                and checkpoint_problem(self._current) is None:
            return self._current  # this step is saved already
        if not all_finite(self.items):
            log.warning("Not saving a checkpoint at step %d: it holds non-finite values.", step)
            return None
        os.makedirs(self.directory, exist_ok=True)
        prefix = os.path.join(self.directory, f"ckpt-{step}")
        if os.path.exists(prefix + MANIFEST_SUFFIX):
            os.remove(prefix + MANIFEST_SUFFIX)  # an older checkpoint of this step goes
        self.checkpoint.save_counter.assign_add(1)
        try:
            path = self.checkpoint.write(prefix)
            error = write_manifest(path)
        except (tf.errors.OpError, OSError) as e:
            path, error = prefix, _short(e)
        if error is not None:
            listed = checkpoint_paths(self.directory)
            _write_index(self.directory, [p for p in listed
                                          if os.path.basename(p) != os.path.basename(prefix)])
            _remove(prefix)
            raise UserError(f"The checkpoint of step {step} did not write whole ({error}); "
                            f"the checkpoints before it are kept in {self.directory}: free "
                            f"space if the disk is full, then run the same command to resume.")
        try:
            self._keep(path)
        except OSError as e:  # the index did not write: it still lists the older ones
            raise UserError(f"Cannot update the checkpoint index in {self.directory} "
                            f"({e.strerror or e}); the checkpoints it lists are kept: free "
                            f"space if the disk is full, then run the same command to "
                            f"resume.") from None
        self._current = path
        return path

    def _keep(self, new: str) -> None:
        """Lists `new` as the newest checkpoint and deletes, after the index is written,
        the damaged ones and the oldest intact ones beyond max_to_keep."""
        listed = [p for p in checkpoint_paths(self.directory)
                  if os.path.basename(p) != os.path.basename(new)]
        problems = {p: checkpoint_problem(p) or self._unreadable.get(os.path.basename(p))
                    for p in listed}
        damaged = [p for p in listed if problems[p]]
        intact = [p for p in listed if p not in damaged] + [new]
        kept = intact[-self.max_to_keep:]
        _write_index(self.directory, kept)
        for path in damaged:
            self.warn(f"Removed the damaged checkpoint {path} ({problems[path]}).")
        for path in damaged + intact[:-self.max_to_keep]:
            _remove(path)

    def write_best(self, folder: str, step: int, info: dict) -> str | None:
        """Writes the state to FOLDER/ckpt-STEP outside the rotation, reads it back with its
        manifest, then writes FOLDER/best.json (atomically) naming it, then removes the
        previous best's files: at every moment best.json names a complete checkpoint.
        None when the state is non-finite or did not write whole (the previous best stays;
        one line says so)."""
        if not all_finite(self.items):
            return None
        os.makedirs(folder, exist_ok=True)
        name = f"ckpt-{step}"
        checkpoint = tf.train.Checkpoint(**self.items)
        checkpoint.save_counter  # created, so the file reads like a rotation's checkpoint
        prefix = os.path.join(folder, name)
        try:
            checkpoint.write(prefix)
            error = write_manifest(prefix)
        except (tf.errors.OpError, OSError) as e:
            error = _short(e)
        if error is not None:
            _remove(prefix)
            self.warn(f"Warning: the best checkpoint of step {step} did not write whole "
                      f"({error}); the previous best is kept.")
            return None
        try:
            atomic_write_text(os.path.join(folder, BEST_FILE),
                              json.dumps(dict(info, step=step, checkpoint=name), indent=2) + "\n")
        except OSError as e:
            _remove(prefix)
            self.warn(f"Warning: could not write {BEST_FILE} for step {step} "
                      f"({e.strerror or e}); the previous best is kept.")
            return None
        for entry in os.listdir(folder):
            if entry.startswith("ckpt-") and not entry.startswith(name + "."):
                os.remove(os.path.join(folder, entry))
        return prefix

    def restore_latest(self) -> str | None:
        """Restores the newest intact checkpoint; returns its path or None if none exist.
        Damaged newer ones are reported in one line (through `warn`) and skipped.

        Raises UserError if checkpoints exist but all are damaged, or none matches this
        run's objects.
        """
        # the index (read from disk: another worker may write it)
        candidates = list(reversed(checkpoint_paths(self.restore_from)))
        damaged, errors = [], []
        for path in candidates:
            problem = checkpoint_problem(path)
            if problem is None:
                try:
                    status = self.checkpoint.restore(path)
                    status.assert_existing_objects_matched()
                except (tf.errors.OpError, IndexError) as e:  # the files do not read
                    problem = _short(e)
                    if self.restore_from == self.directory:  # the rotation leaves it out
                        self._unreadable[os.path.basename(path)] = problem
                except (AssertionError, ValueError) as e:  # another run's objects
                    errors.append(f"{path}: {type(e).__name__}: {_short(e)[:200]}")
                    log.warning("Cannot restore %s (%s); trying an older checkpoint.", path, e)
                    continue
            if problem is not None:
                damaged.append(f"{os.path.basename(path)}: {problem}")
                continue
            if damaged:
                self.warn(f"Warning: damaged checkpoint(s) in {self.restore_from} skipped: "
                          f"{'; '.join(damaged)}; resuming from {os.path.basename(path)}.")
            self._current = path
            return path
        if errors:
            raise UserError(
                "No checkpoint in this workdir matches the run being resumed: "
                + "; ".join(errors)
            )
        if damaged:
            raise UserError(f"Every checkpoint in {self.restore_from} is damaged ("
                            f"{'; '.join(damaged)}); nothing to resume from. Move the "
                            f"workdir aside to train afresh.")
        return None
