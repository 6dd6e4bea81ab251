"""tools/bench_small_data.py without training (a run with its evaluation takes ~15 s here):
the digits subsets per --subset_seeds, the settings, and the summary against plain."""

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "tools"))
import bench_small_data as bench  # noqa: E402
from dcgan_tf.config import Config  # noqa: E402


def test_each_subset_seed_draws_its_own_reproducible_subset():
    sets = bench.datasets(["digits200"], subset_seeds=(5, 7))
    assert sorted(sets) == [("digits200", 5), ("digits200", 7)]
    (train5, full, hold5), (train7, _, hold7) = sets["digits200", 5], sets["digits200", 7]
    assert train5.shape == (200, 32, 32, 1) and train5.dtype == np.uint8
    assert len(hold5) == len(full) - 200
    assert not np.array_equal(train5, train7)
    again = bench.datasets(["digits200"], subset_seeds=(7,))["digits200", 7]
    np.testing.assert_array_equal(again[0], train7)
    np.testing.assert_array_equal(again[2], hold7)
    # subset seed 0 is the subset of the earlier figures (one permutation seeded with 0)
    train0, held0 = bench.digits_subset(full, 200, 0)
    order = np.random.default_rng(0).permutation(len(full))
    np.testing.assert_array_equal(train0, full[order[:200]])
    # the training images and the held-out ones partition the digits
    rows = {x.tobytes() for x in full[order[:200]]}
    assert not any(x.tobytes() in rows for x in held0[:300])


def test_bad_sets_are_named():
    with pytest.raises(SystemExit, match="digits0"):
        bench.datasets(["digits0"])
    with pytest.raises(SystemExit, match="unknown set 'digitsx'"):
        bench.datasets(["digitsx"])


def test_settings_are_valid_configs_and_translation_has_no_ema():
    for name, fields in bench.SETTINGS.items():
        Config(**fields)  # raises on a bad value
    assert bench.SETTINGS["translation"] == {"diffaugment": "translation"}
    assert bench.SETTINGS["ema"] == {"ema_decay": 0.999}


def _row(setting, subset, seed, fd, swd=1.0):
    return dict(set="digits200", subset=subset, setting=setting, seed=seed, fd=fd, swd=swd)


def test_summary_pairs_each_setting_with_plain_on_the_same_subset_and_seed():
    results = [_row("plain", 5, 0, 10.0), _row("plain", 5, 1, 20.0),
               _row("plain", 7, 0, 30.0), _row("plain", 7, 1, 40.0),
               # beats plain on (5, 0) and (7, 1) only; its mean is below plain's
               _row("recipe", 5, 0, 9.0), _row("recipe", 5, 1, 21.0),
               _row("recipe", 7, 0, 31.0), _row("recipe", 7, 1, 20.0)]
    faces = [dict(set="lfw100", subset=None, setting=s, seed=0, swd=v)
             for s, v in (("plain", 2.0), ("recipe", 1.0))]
    entries = bench.summary(results + faces, ["digits200", "lfw100"], ["plain", "recipe"])
    by = {(e["set"], e["setting"]): e for e in entries}
    recipe, plain = by["digits200", "recipe"], by["digits200", "plain"]
    assert (recipe["wins"], recipe["compared"], recipe["pairs"]) == (2, 4, 4)
    assert recipe["fd_mean"] == pytest.approx(20.25)
    assert recipe["vs_plain"] == pytest.approx(20.25 / 25.0 - 1.0)
    assert plain["wins"] is None and plain["vs_plain"] is None
    # the faces have no FD: ranked by SWD
    assert by["lfw100", "recipe"]["fd_mean"] is None and by["lfw100", "recipe"]["wins"] == 1
    lines = bench.summary_lines(entries)
    assert any("recipe" in line and "2/4 (50%)" in line and "-19.0%" in line
               for line in lines)
    table = bench.table_lines(results, ["digits200"], ["plain", "recipe"])
    assert len(table) == 1 + 4 and table[1].split()[:3] == ["digits200", "5", "plain"]
