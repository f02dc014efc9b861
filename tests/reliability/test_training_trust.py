"""Training you can trust: injected divergence, corrupted checkpoints, kills during a save,
resume rules, logs and file permissions (issue: trust).

Oracles are exact: a run that hit a non-finite step must hold, bit for bit, the weights of a
clean run stopped just before that step; a resumed run must equal an uninterrupted one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import ClassVar

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from energykit import cli
from energykit._io import UnreadableFileError
from energykit.train import (
    CorruptCheckpointError,
    NonFiniteError,
    Trainer,
    load_checkpoint,
    load_config,
    load_trained,
)

TINY = ["net.width=32", "net.depth=1", "train.batch=16", "train.log_every=1", "train.ckpt_every=3"]


def _state(trainer: Trainer) -> dict[str, torch.Tensor]:
    out = {f"model.{k}": v.clone() for k, v in trainer.state.model.state_dict().items()}
    out |= {f"ema.{k}": v.clone() for k, v in trainer.state.ema.model.state_dict().items()}
    for i, s in trainer.state.optimizer.state_dict()["state"].items():
        out |= {f"opt.{i}.{k}": torch.as_tensor(v).clone() for k, v in s.items()}
    return out


def _assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def _logged_steps(run: Path) -> list[int]:
    records = [json.loads(s) for s in (run / "log.jsonl").read_text().splitlines()]
    return [r["step"] for r in records if "event" not in r]


def _poison_gradient_at(trainer: Trainer, step: int) -> None:
    """Make one gradient NaN during step `step` (1-based) while the loss stays finite."""
    p = next(trainer.state.model.parameters())
    p.register_hook(lambda g: g * float("nan") if trainer.step + 1 == step else g)


def _poison_loss_at(trainer: Trainer, step: int) -> None:
    inner = trainer.loss_fn

    def loss() -> torch.Tensor:
        value = inner()
        return value * float("inf") if trainer.step + 1 == step else value

    trainer.loss_fn = loss  # type: ignore[assignment]


# -- 2. no checkpoint ever holds a non-finite value -------------------------------------------
@pytest.mark.parametrize(
    ("poison", "quantity", "optim"),
    [
        (_poison_gradient_at, "gradient", "adamw"),
        (_poison_loss_at, "loss", "adamw"),
        (_poison_gradient_at, "gradient", "sgd"),
        (_poison_gradient_at, "gradient", "adam"),
    ],
)
def test_a_non_finite_step_is_never_applied(tmp_path, poison, quantity, optim):
    """Divergence injected at step 5: the run stops at the next logged step naming step 5
    and the quantity; weights, EMA and optimiser state equal a clean run stopped at step 4;
    `last.pt` stays the step-3 checkpoint."""
    ov = [*TINY, "train.steps=8", "train.log_every=2", f"optim.name={optim}"]
    cfg = load_config(None, ov)
    clean = Trainer(cfg, tmp_path / "clean", progress=False)
    clean.fit(until=4)
    run = Trainer(cfg, tmp_path / "run", progress=False)
    poison(run, 5)
    with pytest.raises(NonFiniteError, match=f"diverged at step 5: the {quantity} was NaN"):
        run.fit()
    assert run.step == 6  # detected at the logged step 6, without a sync at step 5
    _assert_same(_state(clean), _state(run))
    assert load_checkpoint(tmp_path / "run" / "last.pt")["step"] == 3
    records = [json.loads(s) for s in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert records[-1]["step"] == 6  # the bad logged step is in the log, as valid JSON


@pytest.mark.parametrize("lr", ["3000", "30"])
def test_the_issue_reproduction_stops_with_one_line(tmp_path, capsys, lr):
    """`optim.name=sgd optim.lr=3000` on digits eqm-dot: a finite loss (1e35) with NaN
    gradients at step 2, before any checkpoint; with lr 30 the loss is NaN at step 3."""
    out = tmp_path / "run"
    argv = [
        "train",
        "recipes/digits/eqm-dot.yaml",
        "--out",
        str(out),
        "optim.name=sgd",
        f"optim.lr={lr}",
        "train.steps=40",
        "train.ckpt_every=2",
        "train.log_every=1",
        "train.batch=32",
        "train.eval_every=0",
        "--no-progress",
    ]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("training eqm-dot on digits")  # the start banner, then one line
    assert len(err) == 2 and "diverged at step" in err[1] and "optim.lr" in err[1]
    assert (out / "last.pt").is_file() == (lr == "30")
    if lr == "30":
        payload = load_checkpoint(out / "last.pt")
        assert payload["step"] == 2
        for part in ("model", "ema"):
            assert all(torch.isfinite(v).all() for v in payload[part].values())
    for line in (out / "log.jsonl").read_text().splitlines():
        json.loads(line)  # strict JSON: NaN is written as null
    assert "NaN" not in (out / "log.jsonl").read_text()


def test_weights_that_overflow_are_never_saved(tmp_path):
    cfg = load_config(None, [*TINY, "train.steps=6"])
    run = Trainer(cfg, tmp_path, progress=False)
    run.fit(until=3)
    before = (tmp_path / "last.pt").read_bytes()
    with torch.no_grad():
        next(run.state.ema.model.parameters())[0] = float("inf")
    with pytest.raises(NonFiniteError, match=r"weights hold NaN or infinite.*step 3, is unchanged"):
        run.save()
    assert (tmp_path / "last.pt").read_bytes() == before


def test_log_writes_nan_as_null(tmp_path):
    cfg = load_config(None, [*TINY, "train.steps=2"])
    run = Trainer(cfg, tmp_path, progress=False)
    _poison_loss_at(run, 2)
    with pytest.raises(NonFiniteError):
        run.fit()
    records = [json.loads(s) for s in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert records[-1]["step"] == 2 and records[-1]["loss"] is None


# -- 3. corruption is caught, recovery is one command -----------------------------------------
def _trained_run(out: Path, steps: int = 6) -> list[str]:
    ov = [*TINY, f"train.steps={steps}", "train.keep_every=2"]
    Trainer(load_config(None, ov), out, progress=False).fit()
    return ov


def test_flipped_bytes_in_a_tensor_record_are_refused(tmp_path):
    _trained_run(tmp_path)
    path = tmp_path / "last.pt"
    payload = load_checkpoint(path)
    weight = next(iter(payload["model"].values()))
    raw = bytearray(path.read_bytes())
    at = raw.find(weight.numpy().tobytes())
    assert at > 0
    raw[at + 8 : at + 72] = bytes(b ^ 0xFF for b in raw[at + 8 : at + 72])
    path.write_bytes(bytes(raw))
    with pytest.raises(CorruptCheckpointError, match="does not match the checksum"):
        load_checkpoint(path)
    with pytest.raises(CorruptCheckpointError):
        load_trained(path)


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty"])
def test_a_damaged_last_checkpoint_names_the_intact_ones(tmp_path, damage):
    ov = _trained_run(tmp_path)
    path = tmp_path / "last.pt"
    raw = path.read_bytes()
    if damage == "flip":
        raw = raw[:-2000] + bytes(b ^ 0x5A for b in raw[-2000:-1936]) + raw[-1936:]
    path.write_bytes({"flip": raw, "truncate": raw[: len(raw) // 2], "empty": b""}[damage])
    with pytest.raises(UnreadableFileError) as info:
        Trainer(load_config(None, ov), tmp_path, progress=False)
    msg = str(info.value)
    assert "last.pt" in msg and "step_0000006.pt (step 6)" in msg and "--resume-from" in msg
    assert "\n" not in msg


def test_resume_from_a_chosen_checkpoint_is_exact(tmp_path):
    ov = [*TINY, "train.steps=6", "train.keep_every=2"]
    straight = Trainer(load_config(None, ov), tmp_path / "a", progress=False)
    straight.fit()
    _trained_run(tmp_path / "b")
    (tmp_path / "b" / "last.pt").write_bytes(b"")  # damaged
    resumed = Trainer(
        load_config(None, ov),
        tmp_path / "b",
        progress=False,
        resume=tmp_path / "b" / "step_0000004.pt",
    )
    assert resumed.step == 4
    resumed.fit()
    _assert_same(_state(straight), _state(resumed))
    assert _logged_steps(tmp_path / "b") == [1, 2, 3, 4, 5, 6]  # no duplicates of redone steps


_KILLED_SAVE = textwrap.dedent(
    """
    import os, signal, sys
    import torch
    from energykit import _io
    from energykit.train import Trainer, load_config

    torch.set_num_threads(1)
    real_save, calls = torch.save, []

    def save_then_die(obj, f):
        calls.append(1)
        if len(calls) == 3:  # the third checkpoint: half written, then SIGKILL
            f.write(b"PK half a checkpoint")
            f.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        real_save(obj, f)

    _io.torch.save = save_then_die
    cfg = load_config(None, sys.argv[2:])
    Trainer(cfg, sys.argv[1], progress=False).fit()
    """
)


def test_kill_during_save_then_resume(tmp_path):
    """A real `kill -9` in the middle of writing `last.pt`: the previous file survives, the
    temp file is cleaned up at the next start, the log has no duplicates, and the resumed run
    equals an uninterrupted one."""
    ov = [*TINY, "train.steps=8", "train.ckpt_every=2"]
    run = tmp_path / "run"
    script = tmp_path / "killed.py"
    script.write_text(_KILLED_SAVE)
    proc = subprocess.run(
        [sys.executable, str(script), str(run), *ov],
        capture_output=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        timeout=300,
    )
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    temps = [p.name for p in run.iterdir() if p.name.endswith(".tmp")]
    assert len(temps) == 1 and temps[0].startswith(".last.pt.")
    assert load_checkpoint(run / "last.pt")["step"] == 4
    resumed = Trainer(load_config(None, ov), run, progress=False)
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]
    assert resumed.step == 4
    resumed.fit()
    straight = Trainer(load_config(None, ov), tmp_path / "straight", progress=False)
    straight.fit()
    _assert_same(_state(straight), _state(resumed))
    assert _logged_steps(run) == list(range(1, 9))


def test_only_our_own_stale_temps_are_removed(tmp_path):
    """The cleanup at start touches nothing but `atomic_write` temps of checkpoints."""
    ours = [".last.pt.0123abcd.tmp", ".step_0000004.pt.deadbeef.tmp"]
    theirs = [".env.backup1.tmp", ".my.notes.ABCDEF.tmp", ".samples.pt.0123abcd.tmp", "a.tmp"]
    for name in ours + theirs:
        (tmp_path / name).write_bytes(b"x")
    Trainer(load_config(None, [*TINY, "train.steps=1"]), tmp_path, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(theirs)


def test_files_get_the_users_normal_permissions(tmp_path):
    _trained_run(tmp_path, steps=2)
    umask = os.umask(0)
    os.umask(umask)
    for name in ("last.pt", "step_0000002.pt", "log.jsonl", "config.json"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask, name


# -- 4. resume means the same run ---------------------------------------------------------------
@pytest.mark.parametrize(
    "change",
    [
        "train.seed=1",
        "train.batch=32",
        "train.ema_decay=0.9",
        "train.grad_accum=2",
        "optim.lr=0.01",
        "train.bf16=true",
        "objective.scale=2.0",
        "data.label_dropout=0.2",
    ],
)
def test_resume_refuses_a_changed_trajectory(tmp_path, change):
    _trained_run(tmp_path, steps=2)
    key = change.split("=")[0]
    with pytest.raises(ValueError, match=rf"{key.replace('.', '[.]')}: checkpoint .*--fresh"):
        Trainer(load_config(None, [*TINY, "train.steps=4", "train.keep_every=2", change]), tmp_path)


@pytest.mark.parametrize(
    "change", ["train.steps=9", "train.log_every=5", "train.ckpt_every=7", "sample.steps=3"]
)
def test_resume_allows_what_keeps_the_trajectory(tmp_path, change):
    _trained_run(tmp_path, steps=2)
    trainer = Trainer(
        load_config(None, [*TINY, "train.keep_every=2", "train.steps=4", change]), tmp_path
    )
    assert trainer.step == 2


def test_resume_with_fewer_steps_than_the_checkpoint_is_refused(tmp_path, capsys):
    ov = _trained_run(tmp_path, steps=4)
    with pytest.raises(ValueError, match=r"train\.steps: expected at least .* step 4"):
        Trainer(load_config(None, [*ov, "train.steps=2"]), tmp_path, progress=False)
    recipe = str(tmp_path / "config.json")  # the run's own config, as a recipe
    status = cli.main(["train", recipe, "--out", str(tmp_path), "--no-progress", "train.steps=2"])
    assert status == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "checkpoint's step 4" in err[0]


class _CountReads(TorchDispatchMode):
    """Counts device-to-host reads of tensor values: `.item()`, `float(t)`, `bool(t)`
    (`_local_scalar_dense`), data-dependent shapes (`nonzero`), `is_nonzero`, `equal`, and
    `.tolist()` / `.item()` called directly."""

    SYNCING: ClassVar[set[object]] = {
        torch.ops.aten._local_scalar_dense.default,
        torch.ops.aten.nonzero.default,
        torch.ops.aten.is_nonzero.default,
        torch.ops.aten.equal.default,
    }

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0
        self.seen: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        if func in self.SYNCING:
            self.reads += 1
            self.seen.append(str(func))
        return func(*args, **(kwargs or {}))


@pytest.fixture
def count_reads(monkeypatch):
    """A `_CountReads` that also counts `Tensor.tolist` / `Tensor.item` calls."""
    counter = _CountReads()
    for name in ("tolist", "item"):
        original = getattr(torch.Tensor, name)

        def counted(self, *a, _original=original, _name=name, **k):  # type: ignore[no-untyped-def]
            counter.reads += 1
            counter.seen.append(_name)
            return _original(self, *a, **k)

        monkeypatch.setattr(torch.Tensor, name, counted)
    return counter


@pytest.mark.parametrize(
    "extra",
    [
        ["optim.name=adamw"],
        ["optim.name=sgd"],
        ["optim.grad_clip=1.0", "train.grad_accum=2"],
        ["data.name=digits", "data.class_conditional=true", "train.ema_warmup=true"],
    ],
)
def test_a_training_step_reads_nothing_back_to_the_host(extra, count_reads):
    """A step that neither logs nor checkpoints reads no tensor value back to the host: the
    loss stays on the device, the guard's flag, the fused optimiser's `found_inf` and the EMA
    skip are device tensors, clipping keeps its norm on the device, and the losses' data check
    is skipped for the Trainer's own (already validated) data."""
    cfg = load_config(None, [*TINY, "train.log_every=0", *extra])
    trainer = Trainer(cfg, progress=False)
    trainer.train_step()  # the optimiser's state is created on the first step
    with count_reads:
        trainer.train_step()
    assert count_reads.reads == 0, count_reads.seen


def test_the_losses_still_check_a_users_data():
    """The Trainer's skip of the data check does not leak into user calls of the losses."""
    trainer = Trainer(load_config(None, [*TINY, "train.log_every=0"]), progress=False)
    trainer.train_step()
    x = torch.full((4, 2), float("nan"))
    with pytest.raises(ValueError, match="x"):
        trainer.loss_fn.objective(trainer.loss_fn.target, x)
