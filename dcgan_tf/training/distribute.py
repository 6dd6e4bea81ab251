"""Where a run trains: one device, several devices of one machine, several machines, a TPU.

    strategy = make_strategy(config.strategy)     # first, before any TensorFlow op
    with strategy.scope():
        gan = build_gan(config)                   # dcgan_tf.gan.assemble
    role = WorkerRole.of(strategy)                # chief writes the workdir, others scratch

Only tf.distribute is used. What each strategy means here:

    default       tf.distribute's default strategy: one device (the first GPU, else CPU).
    mirrored      MirroredStrategy over every GPU of this machine (the CPU when there is
                  none): one replica per device, gradients summed across them.
    multi_worker  MultiWorkerMirroredStrategy over the machines TF_CONFIG lists; each
                  machine runs the same command with its own TF_CONFIG task.
    tpu           TPUStrategy on the TPU the environment names (TPU VM or TPU_NAME).

--batch_size is the GLOBAL batch: each of R replicas gets batch_size / R images, losses
are divided by the global batch (dcgan_tf.gan.losses.reduce_per_replica) and every replica
draws its own latent noise (GAN.next_seed folds in the replica id).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile

import tensorflow as tf

from dcgan_tf.config import STRATEGIES
from dcgan_tf.utils.errors import UserError
from dcgan_tf.utils.registry import check_choice


def _multi_worker() -> tf.distribute.Strategy:
    raw = os.environ.get("TF_CONFIG", "")
    if raw:
        try:
            spec = json.loads(raw)
            workers = spec["cluster"]["worker"]
            spec["task"]["type"], int(spec["task"]["index"])
        except (ValueError, KeyError, TypeError):
            raise UserError("TF_CONFIG must be JSON like {\"cluster\": {\"worker\": "
                            "[\"host1:port\", \"host2:port\"]}, \"task\": {\"type\": "
                            f"\"worker\", \"index\": 0}}}}; got {raw[:200]!r}.") from None
        if not isinstance(workers, list) or not workers:
            raise UserError("TF_CONFIG's cluster lists no workers.")
    try:
        return tf.distribute.MultiWorkerMirroredStrategy()
    except RuntimeError as e:  # collectives configured after TensorFlow started
        raise UserError(f"--strategy=multi_worker could not start: {e}") from e


def _tpu() -> tf.distribute.Strategy:
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise UserError(f"--strategy=tpu found no TPU here ({first[:160]}); run on a TPU VM "
                        "or set TPU_NAME.") from e
    return tf.distribute.TPUStrategy(resolver)


def make_strategy(name: str) -> tf.distribute.Strategy:
    """The tf.distribute strategy `name` (one of STRATEGIES). Call it before any other
    TensorFlow work: MultiWorkerMirroredStrategy must configure collectives at start-up."""
    check_choice("strategy", name, STRATEGIES)
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        return _multi_worker()
    return _tpu()


def check_batch(strategy: tf.distribute.Strategy, batch_size: int) -> None:
    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise UserError(f"--batch_size={batch_size} is the global batch and must split evenly "
                        f"over the {replicas} replicas; use a multiple of {replicas}.")


class WorkerRole:
    """Which worker this process is and where it writes.

    The chief (the `chief` task, else worker 0, else the only process) writes the workdir.
    Other workers run the same code, saving checkpoints too (a multi-worker save is a
    collective every worker joins), but into a private scratch folder removed at the end;
    they restore from the chief's checkpoints, so the workdir must be on storage every
    machine sees (NFS, GCS) for a resume.
    """

    def __init__(self, chief: bool, task: str = ""):
        self.chief = chief
        self.task = task
        self._scratch = None

    @classmethod
    def of(cls, strategy: tf.distribute.Strategy) -> "WorkerRole":
        resolver = getattr(strategy, "cluster_resolver", None)
        task_type = getattr(resolver, "task_type", None)
        if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or not task_type:
            return cls(True)
        task_id = int(getattr(resolver, "task_id", 0) or 0)
        jobs = resolver.cluster_spec().as_dict()
        chief = task_type == "chief" or (task_type == "worker" and task_id == 0
                                          and "chief" not in jobs)
        return cls(chief, f"{task_type}-{task_id}")

    def write_path(self, workdir: str) -> str:
        """Where this process writes: the workdir for the chief, scratch for the others."""
        if self.chief:
            return workdir
        if self._scratch is None:
            # one fixed place per workdir and task: a killed worker's leftovers are
            # replaced by the next run instead of piling up
            key = hashlib.sha1(os.path.abspath(workdir).encode()).hexdigest()[:12]
            self._scratch = os.path.join(tempfile.gettempdir(), f"dcgan_tf_{self.task}_{key}")
            shutil.rmtree(self._scratch, ignore_errors=True)
            os.makedirs(self._scratch)
        return self._scratch

    def cleanup(self) -> None:
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None


def barrier(strategy: tf.distribute.Strategy) -> None:
    """Waits until every worker of a multi-worker run reaches this point (an all-reduce of
    a constant); nothing to wait for otherwise."""
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        strategy.reduce(tf.distribute.ReduceOp.SUM,
                        strategy.run(lambda: tf.constant(1.0)), axis=None)
