"""Trackers read back with their own readers: TensorBoard's event accumulator, `MlflowClient`
on the run's SQLite store, W&B's offline files; a kill and a resume leave each step once."""

from __future__ import annotations

import json
import sys
from typing import ClassVar

import numpy as np
import pytest
import torch

from energykit._config import ConfigError
from energykit.track import STATE_FILE, parse_track
from energykit.train import Callback, Trainer, load_checkpoint, load_config

TINY = [
    "net.width=16",
    "net.depth=1",
    "train.batch=8",
    "train.log_every=2",
    "train.steps=8",
    "train.ckpt_every=4",
]


class Crash(Callback):
    """Raises in the evaluation of `step`, after the trackers got its log: a killed process
    (`train.eval_every` must name the step)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_eval(self, step, model, out):
        if step == self.step:
            raise KeyboardInterrupt


def _losses(out):
    lines = (json.loads(line) for line in (out / "log.jsonl").read_text().splitlines())
    return {r["step"]: r["loss"] for r in lines if "loss" in r}


def _tensorboard(out, tag="loss"):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(out / "tensorboard"), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return acc, [(e.step, e.value) for e in acc.Scalars(tag)]


def _mlflow(out, key="loss"):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{out / 'mlflow.db'}")
    run_id = json.loads((out / STATE_FILE).read_text())["mlflow"]["run_id"]
    history = sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))
    return client.get_run(run_id), history


def test_parse_track():
    assert parse_track("none") == () and parse_track("") == ()
    assert parse_track("tensorboard, mlflow") == ("tensorboard", "mlflow")
    for bad in ("banana", "tensorboard,tensorboard", "none,mlflow"):
        with pytest.raises(ConfigError, match=r"train\.track: expected 'none' or comma-sep"):
            parse_track(bad)
    with pytest.raises(ConfigError, match="'tensorboard', 'mlflow', 'wandb'"):
        load_config(None, ["train.track=tensorbord"])


def test_a_missing_tracker_package_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)
    trainer = Trainer(load_config(None, [*TINY, "train.track=mlflow"]), tmp_path, progress=False)
    with pytest.raises(ImportError, match=r"'mlflow' needs the mlflow package; install it"):
        trainer.fit()


def test_trackers_need_a_run_folder():
    trainer = Trainer(load_config(None, [*TINY, "train.track=tensorboard"]), progress=False)
    with pytest.raises(ConfigError, match="needs a run folder"):
        trainer.fit()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_tensorboard_and_mlflow_hold_the_logged_losses_once_after_a_kill(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = load_config(None, [*TINY, "train.track=tensorboard,mlflow"])
    straight = tmp_path / "straight"
    Trainer(cfg, straight, progress=False).fit()
    want = _losses(straight)
    assert sorted(want) == [2, 4, 6, 8]

    out = tmp_path / "killed"
    with pytest.raises(KeyboardInterrupt):  # after step 6 was sent; last.pt is at step 4
        crashing = load_config(
            None, [*TINY, "train.track=tensorboard,mlflow", "train.eval_every=6"]
        )
        Trainer(crashing, out, callbacks=[Crash(6)], progress=False).fit()
    assert [s for s, _ in _tensorboard(out)[1]] == [2, 4, 6]
    assert [s for s, _ in _mlflow(out)[1]] == [2, 4, 6]
    run_before, _ = _mlflow(out)
    resumed = Trainer(cfg, out, progress=False)
    assert resumed.step == 4
    resumed.fit()

    for run in (straight, out):
        _, tb = _tensorboard(run)
        assert [s for s, _ in tb] == [2, 4, 6, 8]  # each step once: purged, then rewritten
        assert [v for _, v in tb] == pytest.approx([want[s] for s in (2, 4, 6, 8)], rel=1e-6)
        mlrun, history = _mlflow(run)
        assert history == [(s, want[s]) for s in (2, 4, 6, 8)]  # exact: resume is exact
        assert mlrun.data.params["train.steps"] == "8"
    assert _mlflow(out)[0].info.run_id == run_before.info.run_id  # the same MLflow run


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_sample_grids_are_written_and_sent_to_tensorboard(tmp_path):
    from PIL import Image

    grid = ["data.name=digits", "train.sample_every=4", "train.track=tensorboard"]
    cfg = load_config(None, [*TINY, *grid, "sample.steps=5"])
    Trainer(cfg, tmp_path / "a", progress=False).fit()
    Trainer(cfg, tmp_path / "b", progress=False).fit()
    names = sorted(p.name for p in (tmp_path / "a" / "samples").iterdir())
    assert names == ["step_0000004.png", "step_0000008.png"]
    a = np.asarray(Image.open(tmp_path / "a" / "samples" / names[-1]))
    b = np.asarray(Image.open(tmp_path / "b" / "samples" / names[-1]))
    assert a.shape == (8 * 9 + 1, 8 * 9 + 1) and np.array_equal(a, b)  # 8x8 tiles, fixed seed
    acc, _ = _tensorboard(tmp_path / "a")
    assert [e.step for e in acc.Images("samples")] == [4, 8]
    # Grids and trackers change no trajectory: the same weights as a run without them.
    Trainer(load_config(None, [*TINY, "data.name=digits"]), tmp_path / "c", progress=False).fit()
    with_grids, without = (load_checkpoint(tmp_path / r / "last.pt") for r in ("a", "c"))
    for part in ("model", "ema"):
        assert all(torch.equal(v, without[part][k]) for k, v in with_grids[part].items())


def test_two_d_grids_are_scatter_plots(tmp_path):
    pytest.importorskip("matplotlib")
    from PIL import Image

    grid = ["data.name=8gaussians", "train.sample_every=4", "sample.steps=5"]
    Trainer(load_config(None, [*TINY, *grid]), tmp_path, progress=False).fit()
    names = sorted(p.name for p in (tmp_path / "samples").iterdir())
    assert names == ["step_0000004.png", "step_0000008.png"]
    image = np.asarray(Image.open(tmp_path / "samples" / names[-1]).convert("RGB"))
    assert image.shape == (320, 320, 3) and image.std() > 0  # 4 x 4 inches at 80 dpi, drawn


def test_wandb_offline_writes_its_run_files(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    cfg = load_config(None, [*TINY, "train.track=wandb"])
    Trainer(cfg, tmp_path, progress=False).fit()
    run_id = json.loads((tmp_path / STATE_FILE).read_text())["wandb"]["run_id"]
    files = list((tmp_path / "wandb").glob(f"offline-run-*-{run_id}/run-{run_id}.wandb"))
    assert len(files) == 1 and files[0].stat().st_size > 0


class Recorder:
    """A tracker that keeps what it is sent (shared across its sessions)."""

    points: ClassVar[list[tuple[str, int]]] = []

    def __init__(self, run_id):
        self.run_id = run_id or "rec0"

    def log_metrics(self, step, metrics):
        Recorder.points += [(key, step) for key in metrics]

    def log_image(self, step, key, image):
        Recorder.points.append((key, step))

    def close(self):
        pass


def test_a_tracker_that_cannot_be_read_back_skips_the_steps_it_holds(tmp_path, monkeypatch):
    # W&B's case: `trackers.json` says which steps it holds, and a resume sends only newer.
    import energykit.track.tracking as tracking

    monkeypatch.setattr(tracking, "open_tracker", lambda name, out, cfg, step, rid: Recorder(rid))
    Recorder.points = []
    cfg = load_config(None, [*TINY, "train.track=wandb", "train.eval_every=4", "sample.n=16"])
    with pytest.raises(KeyboardInterrupt):
        Trainer(cfg, tmp_path, callbacks=None, progress=False).fit(6)
        raise KeyboardInterrupt
    Trainer(cfg, tmp_path, progress=False).fit()
    losses = [step for key, step in Recorder.points if key == "loss"]
    evals = sorted({step for key, step in Recorder.points if key.startswith("eval/")})
    assert losses == [2, 4, 6, 8] and evals == [4, 6, 8]
    assert len(Recorder.points) == len(set(Recorder.points))  # no point twice
    state = json.loads((tmp_path / STATE_FILE).read_text())["wandb"]
    assert state == {"run_id": "rec0", "held": {"metrics": 8, "eval": 8}}
