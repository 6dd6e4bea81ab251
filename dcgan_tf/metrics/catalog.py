"""The metric registry, as StyleGAN's metric_main: `METRICS` names every metric (fid, kid,
is, pr, swd, ms_ssim, fd, kd, cond_acc, modes, confident), one function each over an
Evaluation (dcgan_tf.metrics.evaluation), shared by `python -m dcgan_tf.evaluate` and the
training callback (`--eval_every`). Adding a metric is one function and its `@metric` line.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from dcgan_tf.utils.errors import UserError
from dcgan_tf.utils.registry import Registry

METRICS: Registry = Registry("metric")


@dataclasses.dataclass
class Metric:
    fn: object
    min_samples: int
    extractor: str | None  # "inception", "classifier", "features" (--features) or None
    primary: str | None = None  # the key of its one number ("" = the value itself)
    higher_is_better: bool = False

    def score(self, value) -> float:
        """The metric's one number (what --eval_best compares)."""
        return float(value if not self.primary else value[self.primary])


def metric(name: str, min_samples: int, extractor: str | None = None, primary=None,
           higher_is_better=False):
    def register(fn):
        METRICS.register(name, Metric(fn, min_samples, extractor, primary, higher_is_better))
        return fn
    return register


def _round(value, digits=6):
    """`digits` significant digits (a distance of 3e-9 stays 3e-9, not 0)."""
    return float(f"{float(value):.{digits}g}")


@metric("fid", 50, "inception", primary="")
def _fid(ev):
    from dcgan_tf.metrics.frechet import frechet_distance_of

    return _round(frechet_distance_of(ev.features("inception", "real")[0],
                                      ev.features("inception", "fake")[0]))


@metric("kid", 50, "inception", primary="value")
def _kid(ev):
    from dcgan_tf.metrics.kid import kernel_inception_distance

    out = kernel_inception_distance(ev.features("inception", "real")[0],
                                    ev.features("inception", "fake")[0], seed=ev.seed)
    return {k: _round(v) if isinstance(v, float) else v for k, v in out.items()}


@metric("is", 100, "inception", primary="value", higher_is_better=True)
def _is(ev):
    from dcgan_tf.metrics.inception_score import inception_score

    out = inception_score(ev.features("inception", "fake")[1], splits=10)
    return {k: _round(v) if isinstance(v, float) else v for k, v in out.items()}


@metric("pr", 10, "features")
def _pr(ev):
    from dcgan_tf.metrics.precision_recall import precision_recall

    out = precision_recall(ev.features("features", "real")[0],
                           ev.features("features", "fake")[0])
    out["features"] = ev.extractor("features").key
    return out


@metric("swd", 16, primary="mean")
def _swd(ev):
    from dcgan_tf.metrics.swd import swd

    n = min(len(ev.real.images), len(ev.fake.images))
    rng = np.random.default_rng(ev.seed)
    real = ev.real.floats[rng.permutation(len(ev.real.images))[:n]]
    fake = ev.fake.floats[rng.permutation(len(ev.fake.images))[:n]]
    if real.shape[1] < 16:
        raise UserError(f"swd needs images of at least 16x16, got {real.shape[1]}.")
    return {str(k): _round(v) for k, v in swd(fake, real, seed=ev.seed).items()}


@metric("ms_ssim", 20)
def _ms_ssim(ev):
    from dcgan_tf.metrics.ms_ssim import pairwise_diversity

    return {"generated": _round(pairwise_diversity(ev.fake.floats, seed=ev.seed)),
            "real": _round(pairwise_diversity(ev.real.floats, seed=ev.seed))}


def _real_halves(ev, real):
    """Two random halves of the real features (seeded): the floor of a distance."""
    order = np.random.default_rng(ev.seed).permutation(len(real))
    return real[order[: len(real) // 2]], real[order[len(real) // 2:]]


@metric("fd", 50, "classifier", primary="value")
def _fd(ev):
    from dcgan_tf.metrics.frechet import frechet_distance_of

    real = ev.features("classifier", "real")[0]
    fake = ev.features("classifier", "fake")[0]
    a, b = _real_halves(ev, real)
    return {"value": _round(frechet_distance_of(real, fake)),
            "real_halves": _round(frechet_distance_of(a, b))}


@metric("kd", 50, "classifier", primary="value")
def _kd(ev):
    """KID's estimator (cubic-kernel MMD^2 over subsets) in the classifier's features, as fd
    is FID's in them; the real set's two halves give its floor."""
    from dcgan_tf.metrics.kid import kernel_inception_distance

    real = ev.features("classifier", "real")[0]
    fake = ev.features("classifier", "fake")[0]
    a, b = _real_halves(ev, real)
    out = kernel_inception_distance(real, fake, seed=ev.seed)
    floor = kernel_inception_distance(a, b, seed=ev.seed)
    return {"value": _round(out["value"]), "std_error": _round(out["std_error"]),
            "real_halves": _round(floor["value"]), "subsets": out["subsets"],
            "subset_size": out["subset_size"]}


@metric("cond_acc", 10, "classifier", primary="value", higher_is_better=True)
def _cond_acc(ev):
    if ev.fake.labels is None or not ev.num_classes:
        raise UserError("cond_acc needs a conditional model (--model with classes).")
    probs = ev.features("classifier", "fake")[1]
    if probs.ndim != 2 or probs.shape[1] != ev.num_classes:
        raise UserError(f"cond_acc: the model has {ev.num_classes} classes, the classifier "
                        f"{probs.shape[-1]}.")
    hits = probs.argmax(axis=1) == ev.fake.labels
    per = [float(hits[ev.fake.labels == k].mean()) for k in range(ev.num_classes)
           if (ev.fake.labels == k).any()]
    return {"value": _round(np.mean(per)), "per_class": [_round(p) for p in per]}


@metric("modes", 10, "classifier", primary="covered", higher_is_better=True)
def _modes(ev):
    from dcgan_tf.metrics.modes import mode_coverage, stacked_modes

    def modes_of(probs):
        if probs.ndim == 3:  # one digit per channel
            return stacked_modes(probs.argmax(axis=2)), probs.shape[2] ** probs.shape[1]
        return probs.argmax(axis=1), probs.shape[1]

    real_modes, count = modes_of(ev.features("classifier", "real")[1])
    fake_modes, _ = modes_of(ev.features("classifier", "fake")[1])
    labels = ev.real.labels
    if labels is not None and len(labels) and 0 <= labels.min() and labels.max() < count:
        reference, source = np.bincount(labels, minlength=count), "real labels"
    else:  # unlabelled real data: what the classifier says of it
        reference, source = np.bincount(real_modes, minlength=count), "classifier on reals"
    out = mode_coverage(fake_modes, count, reference)
    out["real_covered"] = int((reference > 0).sum())
    out["reference"] = source
    out["kl"] = _round(out["kl"])
    return out


CONFIDENCE = 0.9  # source 003's target: >= 85% of samples classified with confidence >= 0.9


def _confidence_and_class(probs):
    """(confidence [N], class [N], class count) from a classifier's probabilities:
    [N, K] -> max softmax probability and argmax; stacked [N, C, K] (one digit per channel)
    -> product of the per-channel max probabilities (the probability of the argmax
    combination, channels read independently) and the combination's index, K^C classes."""
    from dcgan_tf.metrics.modes import stacked_modes

    probs = np.asarray(probs, np.float64)
    if probs.ndim == 3:  # [N, C, K]
        return (probs.max(axis=2).prod(axis=1), stacked_modes(probs.argmax(axis=2)),
                probs.shape[2] ** probs.shape[1])
    return probs.max(axis=1), probs.argmax(axis=1), probs.shape[1]


@metric("confident", 10, "classifier", primary="value", higher_is_better=True)
def _confident(ev):
    """Share of generated samples the classifier names with confidence >= 0.9 (`value`),
    the same share of the real images (`real`, the reference), and how many classes the
    samples' decisions cover (`classes_drawn` of `classes`): source 003's "every class
    drawn; >= 85% of samples classified with confidence >= 0.9". Confidence is the max
    softmax probability; for a stacked classifier (probabilities [N, C, K], one digit per
    channel) it is the product of the per-channel max probabilities, and a class is one
    combination of digits (K^C of them)."""
    fake_conf, fake_class, count = _confidence_and_class(ev.features("classifier", "fake")[1])
    real_conf, _, _ = _confidence_and_class(ev.features("classifier", "real")[1])
    return {"value": _round(np.mean(fake_conf >= CONFIDENCE)),
            "real": _round(np.mean(real_conf >= CONFIDENCE)),
            "threshold": CONFIDENCE,
            "classes_drawn": int(np.unique(fake_class).size),
            "classes": int(count)}


# ---------------------------------------------------------------------- names


def needs_classifier(names) -> bool:
    """Whether any of these metrics reads classifier features (or --features)."""
    return any(METRICS[n].extractor in ("classifier", "features") for n in names)


def parse_metrics(text: str) -> list[str]:
    names = [n.strip() for n in (text or "").split(",") if n.strip()]
    if not names:
        raise UserError(f"--metrics is empty; choose from {','.join(METRICS)}.")
    bad = [n for n in names if n not in METRICS]
    if bad:
        raise UserError(f"Unknown metric(s) {','.join(bad)}; choose from {','.join(METRICS)}.")
    return list(dict.fromkeys(names))


def training_metrics(config) -> list[str]:
    """The metric names of a run's --eval_metrics, checked with --eval_best (UserError)."""
    names = parse_metrics(config.eval_metrics or "swd")
    if config.eval_best:
        if config.eval_best not in names:
            raise UserError(f"--eval_best={config.eval_best} is not one of --eval_metrics "
                            f"({','.join(names)}).")
        if METRICS[config.eval_best].primary is None:
            raise UserError(f"--eval_best={config.eval_best} has no single number to rank "
                            "checkpoints by; choose another metric.")
    return names


def flat_numbers(metrics: dict) -> dict:
    """{"fd": {"value": 1.0}, "fid": 2.0} -> {"fd_value": 1.0, "fid": 2.0} (numbers only)."""
    out = {}
    for name, value in metrics.items():
        if isinstance(value, dict):
            for key, inner in value.items():
                if isinstance(inner, (int, float)) and not isinstance(inner, bool):
                    out[f"{name}_{key}"] = float(inner)
        elif isinstance(value, (int, float)):
            out[name] = float(value)
    return out
