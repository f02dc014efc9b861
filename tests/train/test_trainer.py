"""Trainer: exact resume, atomic checkpoints, the NaN guard, EMA maths, logs."""

from __future__ import annotations

import json

import pytest
import torch

from energykit import _io as io_module
from energykit.fields import ImplicitField
from energykit.sampling import generate
from energykit.train import (
    EMA,
    NonFiniteError,
    Trainer,
    load_checkpoint,
    load_config,
    load_trained,
    save_checkpoint,
)

TINY = ["net.width=32", "net.depth=1", "train.batch=16", "train.log_every=1", "train.ckpt_every=3"]


def _weights(trainer: Trainer) -> dict[str, torch.Tensor]:
    return {
        **{f"model.{k}": v.clone() for k, v in trainer.state.model.state_dict().items()},
        **{f"ema.{k}": v.clone() for k, v in trainer.state.ema.model.state_dict().items()},
    }


@pytest.mark.parametrize(
    "overrides",
    [
        ["objective.kind=eqm"],
        ["objective.kind=eqm-dot"],
        ["objective.kind=fm", "sample.sampler=euler"],
        ["train.prefetch=true", "train.ema_warmup=true"],
        [
            "data.name=digits",
            "data.class_conditional=true",
            "train.prefetch=true",
            "train.grad_accum=2",
        ],
        ["objective.kind=eqm", "data.class_conditional=true", "optim.grad_clip=1.0"],
        ["objective.kind=eqm", "data.name=moons"],
        ["objective.coupling=sinkhorn", "data.name=digits", "data.class_conditional=true"],
        ["objective.kind=fm", "sample.sampler=euler", "objective.coupling=ot"],
    ],
)
def test_resume_is_bit_identical(tmp_path, overrides):
    cfg = load_config(None, [*TINY, "train.steps=10", *overrides])
    straight = Trainer(cfg, tmp_path / "a", progress=False)
    straight.fit()
    first = Trainer(cfg, tmp_path / "b", progress=False)
    first.fit(until=4)  # checkpoints at 3 and 4 (the end of this call)
    del first  # "kill": nothing survives but the files
    resumed = Trainer(cfg, tmp_path / "b", progress=False)
    assert resumed.step == 4
    resumed.fit()
    a, b = _weights(straight), _weights(resumed)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    sa, sb = (
        straight.state.optimizer.state_dict()["state"],
        resumed.state.optimizer.state_dict()["state"],
    )
    for i in sa:
        assert torch.equal(sa[i]["exp_avg_sq"], sb[i]["exp_avg_sq"])


def test_resume_from_a_periodic_checkpoint_after_a_kill(tmp_path):
    cfg = load_config(None, [*TINY, "train.steps=9"])
    straight = Trainer(cfg, tmp_path / "a", progress=False)
    straight.fit()
    run = Trainer(cfg, tmp_path / "b", progress=False)
    for _ in range(5):  # step 3 is checkpointed, steps 4 and 5 are lost with the process
        run.train_step()
        if run.step % 3 == 0:
            run.save()
    resumed = Trainer(cfg, tmp_path / "b", progress=False)
    assert resumed.step == 3
    resumed.fit()
    for k, v in _weights(straight).items():
        assert torch.equal(v, _weights(resumed)[k]), k


def test_crash_during_checkpoint_write_keeps_previous(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint({"step": 1, "w": torch.ones(3)}, path)

    def broken_save(obj, f):
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(io_module.torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint({"step": 2, "w": torch.zeros(3)}, path)
    monkeypatch.undo()
    payload = load_checkpoint(path)
    assert payload["step"] == 1 and torch.equal(payload["w"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temp file left behind


def test_nan_loss_stops_with_step_and_keeps_last_checkpoint(tmp_path):
    cfg = load_config(None, [*TINY, "train.steps=8"])
    trainer = Trainer(cfg, tmp_path, progress=False)
    trainer.fit(until=3)
    before = load_checkpoint(tmp_path / "last.pt")
    with torch.no_grad():
        next(trainer.state.model.parameters()).fill_(float("nan"))
    with pytest.raises(NonFiniteError, match="at step 4"):
        trainer.fit()
    after = load_checkpoint(tmp_path / "last.pt")
    assert after["step"] == 3
    for k, v in before["model"].items():
        assert torch.equal(v, after["model"][k])


def test_ema_matches_the_recurrence():
    model = torch.nn.Linear(3, 2)
    ema = EMA(model, 0.9)
    ref = {k: v.clone() for k, v in model.state_dict().items()}
    for _ in range(3):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
        ema.update(model)
        for k, v in model.state_dict().items():
            ref[k] = 0.9 * ref[k] + 0.1 * v
    for k, v in ema.model.state_dict().items():
        torch.testing.assert_close(v, ref[k], rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="EMA decay"):
        EMA(model, 1.0)


def test_logs_config_and_trained_model_round_trip(tmp_path):
    cfg = load_config(None, [*TINY, "train.steps=6", "train.keep_every=3"])
    trainer = Trainer(cfg, tmp_path, progress=False)
    trainer.fit()
    lines = [json.loads(s) for s in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert lines[0]["event"] == "start" and lines[0]["params"] == trainer.n_parameters
    assert [r["step"] for r in lines[1:]] == [1, 2, 3, 4, 5, 6]
    assert all({"loss", "grad_norm", "it_per_s"} <= r.keys() for r in lines[1:])
    assert json.loads((tmp_path / "config.json").read_text()) == cfg.to_dict()
    assert (tmp_path / "step_0000003.pt").is_file() and (tmp_path / "step_0000006.pt").is_file()
    loaded = load_trained(tmp_path / "last.pt")
    assert loaded.step == 6 and loaded.shape == (1, 8, 8) and loaded.config == cfg
    for k, v in trainer.state.ema.model.state_dict().items():
        assert torch.equal(v, loaded.net.state_dict()[k])
    a = generate(loaded.field(), loaded.shape, cfg.sample, n=8, steps=3)
    b = generate(ImplicitField(trainer.state.ema.model), (1, 8, 8), cfg.sample, n=8, steps=3)
    assert torch.equal(a.x, b.x) and a.nfe_total == 24


def test_resume_refuses_a_different_recipe(tmp_path):
    Trainer(load_config(None, [*TINY, "train.steps=2"]), tmp_path, progress=False).fit()
    with pytest.raises(ValueError, match=r"net\.width: checkpoint 32, this run 16"):
        Trainer(load_config(None, [*TINY, "net.width=16"]), tmp_path, progress=False)


def test_bf16_autocast_trains():
    cfg = load_config(None, [*TINY, "train.steps=3", "train.bf16=true"])
    history = Trainer(cfg, progress=False).fit()
    assert len(history) == 3 and all(torch.isfinite(torch.tensor(r["loss"])) for r in history)


def test_eval_every_logs_sample_scores(tmp_path):
    cfg = load_config(
        None, [*TINY, "train.steps=4", "train.eval_every=2", "sample.n=16", "sample.steps=3"]
    )
    history = Trainer(cfg, tmp_path, progress=False).fit()
    evals = [r for r in history if "eval" in r]
    assert [r["step"] for r in evals] == [2, 4]
    assert {"class_entropy", "nfe_per_sample"} <= evals[0]["eval"].keys()
    assert {"fid", "fid_proxy"} & evals[0]["eval"].keys()  # renamed fid_proxy (issue 14)
    assert evals[0]["eval"]["nfe_per_sample"] == 3


def test_resume_accepts_checkpoints_written_before_a_config_key_existed(tmp_path):
    cfg = load_config(None, [*TINY, "train.steps=4"])
    trainer = Trainer(cfg, tmp_path, progress=False)
    trainer.fit(until=2)
    payload = load_checkpoint(tmp_path / "last.pt")
    del payload["config"]["net"]["skip"]  # as written by an older energykit
    save_checkpoint(payload, tmp_path / "last.pt")
    resumed = Trainer(cfg, tmp_path, progress=False)
    assert resumed.step == 2


@pytest.mark.parametrize("kind", ["eqm", "fm"])
def test_a_coupling_trains_and_travels_with_the_run(tmp_path, kind):
    """Each coupling takes a different trajectory from the same seed, and `config.json`
    and the checkpoint carry it."""
    extra = ["sample.sampler=euler"] if kind == "fm" else []
    weights = {}
    for coupling in ("none", "ot", "sinkhorn"):
        over = [*TINY, "train.steps=3", f"objective.kind={kind}", *extra]
        cfg = load_config(None, [*over, f"objective.coupling={coupling}"])
        trainer = Trainer(cfg, tmp_path / coupling, progress=False)
        trainer.fit()
        weights[coupling] = _weights(trainer)
        saved = json.loads((tmp_path / coupling / "config.json").read_text())
        assert saved["objective"]["coupling"] == coupling
        assert load_trained(tmp_path / coupling / "last.pt").config.objective.coupling == coupling
    key = next(iter(weights["none"]))
    assert not torch.equal(weights["none"][key], weights["ot"][key])
    assert not torch.equal(weights["ot"][key], weights["sinkhorn"][key])
