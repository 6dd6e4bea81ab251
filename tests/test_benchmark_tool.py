"""tools/benchmark.py: variants parse, every benchmark config resolves, and (where PyTorch
is installed: it is a benchmark-only dependency) the reference networks of
tools/torch_reference.py have exactly our parameter counts."""

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "tools"))
import benchmark  # noqa: E402
import torch_reference  # noqa: E402


def test_variants_parse_and_bad_ones_are_named():
    assert benchmark.parse_variant("fp32") == ({}, {})
    assert benchmark.parse_variant("xla+spe8+onednn0") == (
        {"jit_compile": True, "steps_per_execution": 8}, {"onednn": "0"})
    assert benchmark.parse_variant("fp32_onednn1") == ({}, {"onednn": "1"})
    assert benchmark.parse_variant("kerasbn+inter1+intra2") == (
        {}, {"kerasbn": True, "inter": 1, "intra": 2})
    with pytest.raises(SystemExit, match="unknown variant part 'interx'"):
        benchmark.parse_variant("interx")
    with pytest.raises(SystemExit, match="unknown variant part 'tpu'"):
        benchmark.parse_variant("xla+tpu")


@pytest.mark.parametrize("model", sorted(benchmark.CONFIGS))
def test_benchmark_configs_resolve(model):
    config = benchmark.tf_config(model, 8, {"mixed_precision": "bf16"})
    assert config.batch_size == 8 and config.mixed_precision == "bf16"
    if model == "pggan32":
        assert config.start_resolution == config.resolution == 32


@pytest.mark.parametrize("model", sorted(benchmark.CONFIGS))
def test_pytorch_reference_has_our_parameter_counts(model):
    pytest.importorskip("torch")
    from dcgan_tf.gan.assemble import build_from_config

    pair = build_from_config(benchmark.tf_config(model, 8, {}))
    G, D, *_ = torch_reference.torch_nets(model)
    for ours, theirs in ((pair.generator, G), (pair.discriminator, D)):
        count = sum(int(np.prod(v.shape)) for v in ours.trainable_variables)
        assert count == sum(p.numel() for p in theirs.parameters())
