"""Callbacks get explicit data at the cadences the config names, never the Trainer; passing
them replaces the default evaluation; `train_step` takes the loss function it is given."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from energykit.train import Callback, SampleEvaluation, TrainedModel, Trainer, load_config
from energykit.train.step import train_step

TINY = ["net.width=32", "net.depth=1", "train.batch=16", "train.steps=6"]
CADENCES = ["train.log_every=2", "train.eval_every=3", "train.ckpt_every=4"]


class Recorder(Callback):
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def on_log(self, step: int, metrics: dict[str, float], out: Path | None) -> None:
        self.calls.append(("log", step, dict(metrics), out))

    def on_eval(self, step: int, model: TrainedModel, out: Path | None) -> dict[str, Any]:
        assert isinstance(model, TrainedModel) and model.step == step
        self.calls.append(("eval", step))
        return {"mine": float(step)}

    def on_checkpoint(self, step: int, path: Path) -> None:
        assert path.is_file()
        self.calls.append(("checkpoint", step, path.name))

    def on_end(self, step: int, history: list[dict[str, Any]], out: Path | None) -> None:
        self.calls.append(("end", step, len(history)))


def test_hooks_run_at_their_cadences_with_explicit_data(tmp_path):
    rec = Recorder()
    trainer = Trainer(load_config(None, [*TINY, *CADENCES]), tmp_path, callbacks=[rec])
    history = trainer.fit()
    kinds = [(c[0], c[1]) for c in rec.calls]
    assert kinds == [
        ("log", 2),
        ("eval", 3),
        ("log", 4),
        ("checkpoint", 4),
        ("log", 6),
        ("eval", 6),
        ("checkpoint", 6),
        ("end", 6),
    ]
    logged = {r["step"]: r for r in history if "loss" in r}
    for _, step, metrics, out in (c for c in rec.calls if c[0] == "log"):
        assert out == tmp_path and metrics["loss"] == logged[step]["loss"]
        assert set(metrics) == {"loss", "grad_norm", "it_per_s", "elapsed_s"}
    records = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["eval"] for r in records if "eval" in r] == [{"mine": 3.0}, {"mine": 6.0}]
    assert rec.calls[-1] == ("end", 6, len(history))


def test_hook_order_within_a_step_is_log_eval_checkpoint(tmp_path):
    rec = Recorder()
    cfg = load_config(None, [*TINY, "train.log_every=6", "train.eval_every=6"])
    Trainer(cfg, tmp_path, callbacks=[rec]).fit()
    assert [c[0] for c in rec.calls] == ["log", "eval", "checkpoint", "end"]


def test_callbacks_replace_the_default_evaluation(tmp_path):
    cfg = load_config(None, [*TINY, "train.eval_every=3", "sample.n=16", "sample.steps=3"])
    default = Trainer(cfg, None, progress=False).fit()
    evals = [r["eval"] for r in default if "eval" in r]
    assert len(evals) == 2 and all("fid_proxy" in e for e in evals)
    none = Trainer(cfg, None, callbacks=[], progress=False).fit()
    assert [r for r in none if "eval" in r] == []


def test_sample_evaluation_is_the_default(tmp_path):
    cfg = load_config(None, [*TINY, "train.eval_every=6", "sample.n=16", "sample.steps=3"])
    trainer = Trainer(cfg, None, progress=False)
    assert [type(cb) for cb in trainer.callbacks.callbacks] == [SampleEvaluation]
    evals = [r["eval"] for r in trainer.fit() if "eval" in r]
    assert len(evals) == 1 and evals[0]["nfe_per_sample"] == 3


def test_a_hook_without_the_base_class_is_called():
    class OnlyEnd:
        def __init__(self) -> None:
            self.ended: list[int] = []

        def on_end(self, step, history, out):
            self.ended.append(step)

    cb = OnlyEnd()
    Trainer(load_config(None, [*TINY, "train.steps=2"]), None, callbacks=[cb]).fit()
    assert cb.ended == [2]


def test_train_step_takes_the_loss_it_is_given():
    """SGD on the injected loss sum(p^2): each parameter becomes p - lr * 2p exactly."""
    cfg = load_config(None, [*TINY, "optim.name=sgd", "optim.lr=0.125", "train.log_every=0"])
    trainer = Trainer(cfg, None, progress=False)
    model = trainer.state.model
    before = [p.detach().clone() for p in model.parameters()]

    def loss() -> torch.Tensor:
        return sum((p**2).sum() for p in model.parameters())  # type: ignore[return-value]

    stats = train_step(
        trainer.state,
        loss,
        trainer.guard,
        trainer.parallel,
        trainer.wrapped,
        grad_accum=1,
        grad_clip=None,
        logged=True,
    )
    assert trainer.step == 1
    assert float(stats["loss"]) == pytest.approx(float(sum((b**2).sum() for b in before)))
    for p, b in zip(model.parameters(), before, strict=True):
        torch.testing.assert_close(p.detach(), b - 0.125 * 2 * b, rtol=0, atol=0)
