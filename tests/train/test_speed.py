"""The Trainer's fast paths: train.compile, bf16, prefetch, and the EMA warm-up."""

from __future__ import annotations

import math
import warnings

import pytest
import torch

from energykit.train import EMA, ConfigError, Trainer, load_checkpoint, load_config, load_trained
from energykit.train.ema import warmup_decay
from energykit.train.prefetch import BatchPrefetcher

TINY = ["net.width=16", "net.depth=1", "train.batch=8", "train.log_every=2", "train.ckpt_every=0"]


def _weights(trainer: Trainer) -> dict[str, torch.Tensor]:
    return {
        **{f"model.{k}": v.clone() for k, v in trainer.state.model.state_dict().items()},
        **{f"ema.{k}": v.clone() for k, v in trainer.state.ema.model.state_dict().items()},
    }


@pytest.mark.parametrize("bf16", [False, True])
def test_compiled_training_runs_and_saves_plain_names(tmp_path, bf16):
    """`train.compile` trains a tiny recipe on the CPU (with and without bf16); the
    checkpoint holds the plain module's names, and an eager run resumes it."""
    ov = [*TINY, "train.compile=true", f"train.bf16={str(bf16).lower()}", "train.steps=4"]
    trainer = Trainer(load_config(None, ov), tmp_path, progress=False)
    history = trainer.fit()
    assert [r["step"] for r in history] == [2, 4]
    assert all(math.isfinite(r["loss"]) for r in history)
    payload = load_checkpoint(tmp_path / "last.pt")
    assert not any("_orig_mod" in k for k in (*payload["model"], *payload["ema"]))
    assert payload["model"].keys() == trainer.state.model.state_dict().keys()
    eager = load_config(None, [*ov[:-3], f"train.bf16={str(bf16).lower()}", "train.steps=5"])
    resumed = Trainer(eager, tmp_path, progress=False)  # train.compile=false: same trajectory
    assert resumed.step == 4
    for k, v in _weights(trainer).items():
        assert torch.equal(v, _weights(resumed)[k]), k
    resumed.fit()


@pytest.mark.parametrize("kind", ["eqm-dot", "eqm-l2"])
def test_compile_is_refused_for_explicit_heads(kind):
    with pytest.raises(ConfigError, match=rf"train\.compile: .*{kind}.*double backward"):
        load_config(None, [f"objective.kind={kind}", "train.compile=true"])


def test_prefetch_draws_what_a_plain_run_draws():
    """The same batches in the same order, and the generator state of a plain run (before
    the batch drawn ahead) is what a checkpoint saves."""
    cfg = load_config(None, ["data.name=digits"])
    from energykit.train.data import build_data

    data = build_data(cfg.data)
    plain = BatchPrefetcher(data, 4, torch.Generator().manual_seed(3), torch.device("cpu"), False)
    ahead = BatchPrefetcher(data, 4, torch.Generator().manual_seed(3), torch.device("cpu"), True)
    for _ in range(3):
        (xa, _), (xb, _) = plain.next(), ahead.next()
        assert torch.equal(xa, xb)
        assert torch.equal(plain.generator_state(), ahead.generator_state())
    ahead.discard()
    assert torch.equal(plain.generator.get_state(), ahead.generator.get_state())
    assert torch.equal(plain.next()[0], ahead.next()[0])


def test_warmup_decay_schedule():
    assert warmup_decay(0.999, 0, True) == pytest.approx(0.1)
    assert warmup_decay(0.999, 90, True) == pytest.approx(91 / 100)
    assert warmup_decay(0.999, 10**6, True) == 0.999
    assert warmup_decay(0.999, 0, False) == 0.999


def test_ema_with_warmup_matches_the_formula():
    """After T updates toward a fixed target the initial copy weighs prod d_t exactly."""
    net = torch.nn.Linear(2, 2)
    ema = EMA(net, 0.999, warmup=True)
    start = net.weight.detach().clone()
    with torch.no_grad():
        net.weight.add_(1.0)
    for _ in range(5):
        ema.update(net)
    expected = math.prod((1 + t) / (10 + t) for t in range(5))
    assert ema.initial_weight == pytest.approx(expected)
    torch.testing.assert_close(ema.model.weight, start + (1 - expected))


def test_short_run_warns_when_its_ema_is_mostly_the_initial_copy(tmp_path):
    cfg = load_config(None, [*TINY, "data.name=moons", "train.steps=4"])
    Trainer(cfg, tmp_path / "plain", progress=False).fit()
    with pytest.warns(UserWarning, match=r"EMA after 4 steps still weighs its initial"):
        load_trained(tmp_path / "plain" / "last.pt")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        raw = load_trained(tmp_path / "plain" / "last.pt", weights="raw")
        warm_cfg = load_config(
            None, [*TINY, "data.name=moons", "train.steps=4", "train.ema_warmup=true"]
        )
        run = Trainer(warm_cfg, tmp_path / "warm", progress=False)
        run.fit()
        warm = load_trained(tmp_path / "warm" / "last.pt")
    payload = load_checkpoint(tmp_path / "warm" / "last.pt")
    assert payload["ema_counters"]["updates"] == 4
    expected = math.prod((1 + t) / (10 + t) for t in range(4))  # 9! 4! / 13!
    assert payload["ema_counters"]["initial_weight"] == pytest.approx(expected)
    raw_warm = load_trained(tmp_path / "warm" / "last.pt", weights="raw")
    for k, v in run.state.model.state_dict().items():  # raw = the trained weights, not the EMA
        assert torch.equal(v, raw_warm.net.state_dict()[k]), k
    for k, v in run.state.ema.model.state_dict().items():
        assert torch.equal(v, warm.net.state_dict()[k]), k
    assert raw.step == 4
    with pytest.raises(ValueError, match="weights"):
        load_trained(tmp_path / "warm" / "last.pt", weights="best")


def test_data_already_on_a_device_is_not_pinned():
    """Only dense CPU tensors can be pinned: a user's device tensor passes through as it is
    (the meta device stands in for CUDA here)."""
    from energykit.train.prefetch import _pinned

    on_device = torch.empty(3, device="meta")
    assert _pinned(on_device, True) is on_device
    cpu = torch.ones(3)
    assert _pinned(cpu, False) is cpu


@pytest.mark.parametrize("setting", ["sample.dtype=bfloat16", "sample.compile=true"])
def test_flow_matching_refuses_descent_only_sample_settings(setting):
    """Refused when the recipe loads, not at the first evaluation hours later."""
    key = setting.split("=")[0].replace(".", r"\.")
    with pytest.raises(ConfigError, match=rf"^{key}: low precision and compilation apply"):
        load_config(None, ["objective.kind=fm", "sample.sampler=euler", setting])


def test_raw_and_ema_samples_never_share_a_resumed_file(tmp_path):
    """The parts guard of `energykit sample` records the weights sampled, so an interrupted
    EMA run is not completed with raw samples."""
    from energykit._distributed import DistInfo
    from energykit.sampling import SampleConfig
    from energykit.sampling.files import _parts_plan

    cfg = load_config(None, [*TINY, "train.steps=2"])
    Trainer(cfg, tmp_path / "run", progress=False).fit()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a 2-step EMA is mostly its initial copy
        ema = load_trained(tmp_path / "run" / "last.pt")
        raw = load_trained(tmp_path / "run" / "last.pt", weights="raw")
    dist, sample = DistInfo(), SampleConfig(n=4, batch=2)
    out = tmp_path / "s.pt"
    assert _parts_plan(out, ema, sample, False, dist).settings["weights"] == "ema"
    assert _parts_plan(out, raw, sample, False, dist).settings["weights"] == "raw"
