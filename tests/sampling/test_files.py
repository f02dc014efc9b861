"""Sampling to files through the shard protocol: a run that fails before its first batch
leaves no settings guard, a partly finished run resumes, and a refusal names the settings
that differ (the weights sampled among them)."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

import energykit as ek
from energykit.sampling import SampleConfig, load_samples, sample_to_file
from energykit.sampling.generate import generate


class Source:
    """A minimal `SampleSource`: the implicit field of $E = |x|^2 / 2$ in 3-D."""

    shape = (3,)
    num_classes = None
    step = 7
    kind = "eqm"
    dataset = "none"
    landscape = None

    def binding(self, cfg_scale: float = 1.0) -> dict:
        return {"kind": self.kind, "cfg_scale": cfg_scale}

    def sampleable(self) -> ek.EnergyField:
        return ek.ImplicitField(nn.Identity())


CFG = SampleConfig(sampler="gd", lr=0.1, steps=2, n=5, batch=2)


def _settings(cfg: SampleConfig) -> dict:
    """What the parts folder's `settings.json` holds."""
    return {
        "sampler": dict(cfg.__dict__),
        "step": 7,
        "kind": "eqm",
        "weights": "ema",
        "decoded": False,
    }


def _interrupt_at(monkeypatch, batch: int) -> None:
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) > batch:
            raise KeyboardInterrupt
        return generate(*args, **kwargs)

    monkeypatch.setattr("energykit.sampling.files.generate", failing)


def test_a_run_failing_before_its_first_batch_leaves_no_guard(tmp_path, monkeypatch):
    out = tmp_path / "s.pt"
    _interrupt_at(monkeypatch, 0)
    with pytest.raises(KeyboardInterrupt):
        sample_to_file(Source(), out, CFG, progress=False)
    assert not (tmp_path / ".s.pt.parts" / "settings.json").exists()
    monkeypatch.undo()
    other = SampleConfig(**{**CFG.__dict__, "steps": 3})
    assert sample_to_file(Source(), out, other, progress=False)["n"] == 5


def test_a_partly_finished_run_resumes_and_other_settings_are_named(tmp_path, monkeypatch):
    out = tmp_path / "s.pt"
    _interrupt_at(monkeypatch, 1)
    with pytest.raises(KeyboardInterrupt):
        sample_to_file(Source(), out, CFG, progress=False)
    parts = tmp_path / ".s.pt.parts"
    assert sorted(p.name for p in parts.iterdir()) == ["000000.pt", "settings.json"]
    assert (parts / "settings.json").read_text() == json.dumps(_settings(CFG))
    monkeypatch.undo()
    other = SampleConfig(**{**CFG.__dict__, "steps": 3})
    with pytest.raises(ValueError) as info:
        sample_to_file(Source(), out, other, progress=False)
    assert "\n" not in str(info.value)
    assert "holds batches of another run (sampler.steps: 2 -> 3)" in str(info.value)
    temp = parts / ".000001.pt.0123abcd.tmp"  # killed while writing batch 1
    temp.write_bytes(b"partial")
    sample_to_file(Source(), out, CFG, progress=False)
    assert not parts.exists()
    fresh = tmp_path / "f.pt"
    sample_to_file(Source(), fresh, CFG, progress=False)
    assert torch.equal(load_samples(out)[0], load_samples(fresh)[0])


def test_a_leftover_guard_without_batches_does_not_refuse(tmp_path):
    # The guard is written just before the first batch; if that batch's write fails (a full
    # disk), the guard is left with no batch beside it.
    parts = tmp_path / ".s.pt.parts"
    parts.mkdir()
    (parts / "settings.json").write_text(json.dumps(_settings(CFG)))
    other = SampleConfig(**{**CFG.__dict__, "steps": 3})
    assert sample_to_file(Source(), tmp_path / "s.pt", other, progress=False)["n"] == 5


class RawSource(Source):
    """The same source, sampling its raw (not EMA) weights, as a `TrainedModel` can."""

    weights = "raw"


def test_raw_and_ema_batches_are_never_mixed(tmp_path, monkeypatch):
    out = tmp_path / "s.pt"
    _interrupt_at(monkeypatch, 1)
    with pytest.raises(KeyboardInterrupt):
        sample_to_file(RawSource(), out, CFG, progress=False)
    monkeypatch.undo()
    with pytest.raises(ValueError, match="weights: 'raw' -> 'ema'"):
        sample_to_file(Source(), out, CFG, progress=False)
    assert sample_to_file(RawSource(), out, CFG, progress=False)["n"] == 5
    assert load_samples(out)[1]["weights"] == "raw"
