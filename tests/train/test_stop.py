"""Stop signals lose nothing: SIGTERM or SIGINT during `fit` finishes the step, writes
`last.pt` and raises `TrainingStoppedError`; resuming equals the uninterrupted run bit for bit;
`energykit train` prints one line and exits with 128 + the signal; a second signal exits at
once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from energykit._distributed import DistInfo
from energykit.train import Callback, Trainer, TrainingStoppedError, load_checkpoint, load_config
from energykit.train.stop import StopRequests, stop_agreed

ROOT = Path(__file__).resolve().parents[2]
TINY = ["net.width=32", "net.depth=1", "train.batch=16", "train.log_every=1", "train.steps=8"]


class SignalAt(Callback):
    """Sends `signum` to this process while the log hook of step `step` runs."""

    def __init__(self, step: int, signum: int) -> None:
        self.step, self.signum = step, signum

    def on_log(self, step, metrics, out):
        if step == self.step:
            os.kill(os.getpid(), self.signum)


def _weights(trainer: Trainer) -> dict[str, torch.Tensor]:
    s = trainer.state
    return {
        **{f"model.{k}": v for k, v in s.model.state_dict().items()},
        **{f"ema.{k}": v for k, v in s.ema.model.state_dict().items()},
    }


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_saves_the_step_and_resume_is_exact(tmp_path, signum):
    cfg = load_config(None, TINY)
    straight = Trainer(cfg, tmp_path / "straight", progress=False)
    straight.fit()
    out = tmp_path / "stopped"
    stopped = Trainer(cfg, out, callbacks=[SignalAt(3, signum)], progress=False)
    with pytest.raises(TrainingStoppedError) as info:
        stopped.fit()
    err = info.value
    assert (err.signum, err.step, err.path) == (signum, 3, out / "last.pt")
    assert err.exit_code == 128 + signum
    assert load_checkpoint(out / "last.pt")["step"] == 3
    assert signal.getsignal(signum) is not None  # handlers restored after fit
    resumed = Trainer(cfg, out, progress=False)
    assert resumed.step == 3
    resumed.fit()
    a, b = _weights(straight), _weights(resumed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_handlers_are_restored_after_fit(tmp_path):
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    Trainer(load_config(None, [*TINY, "train.steps=2"]), tmp_path, progress=False).fit()
    assert {s: signal.getsignal(s) for s in before} == before


def test_a_second_sigint_interrupts_at_once():
    """The second signal runs the handler that was there before: Python's, which raises
    `KeyboardInterrupt` (installed here, since a background job may start with SIGINT
    ignored)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with StopRequests() as stop, pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            assert stop.signum == signal.SIGINT
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)  # never reached: the second signal raised
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_second_sigterm_ends_the_process():
    script = textwrap.dedent(
        """
        import os, signal, time
        from energykit.train.stop import StopRequests
        with StopRequests() as stop:
            os.kill(os.getpid(), signal.SIGTERM)
            assert stop.signum == signal.SIGTERM
            print("first kept", flush=True)
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(30)
        print("not reached")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == -signal.SIGTERM
    assert done.stdout == "first kept\n"


def test_a_single_process_stops_at_once_and_ranks_agree_only_where_they_sync():
    stop = StopRequests()
    single = DistInfo()
    assert not stop_agreed(stop, single, synchronising=False)
    stop.signum = signal.SIGTERM
    assert stop_agreed(stop, single, synchronising=False)
    # Under torchrun a step that does not synchronise never stops a rank on its own.
    assert not stop_agreed(stop, DistInfo(rank=0, world_size=2), synchronising=False)


def test_energykit_train_on_sigterm_exits_143_with_one_line(tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    overrides = [*TINY[:-1], "train.steps=1000000", "train.ckpt_every=0"]
    recipe = str(ROOT / "recipes" / "digits" / "eqm.yaml")
    command = [sys.executable, "-m", "energykit", "train", recipe, "--out", str(out)]
    proc = subprocess.Popen(
        [*command, "--no-progress", *overrides],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    log = out / "log.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (log.is_file() and log.read_text().count("\n") >= 3):
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err
    line = err.strip().splitlines()[-1]
    assert "stopped by SIGTERM after step" in line and str(out / "last.pt") in line
    assert f"--out {out}" in line and "train.steps=1000000" in line
    step = int(line.split("after step ")[1].split(":")[0])
    assert load_checkpoint(out / "last.pt")["step"] == step
