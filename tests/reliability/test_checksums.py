"""Checksums are mandatory: a checkpoint whose digest is removed, renamed or not a digest is
refused (naming the file, and on resume the intact checkpoints beside it), even when the rest
of the file is a well-formed Trainer checkpoint whose weights were edited."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from energykit import cli
from energykit._io import UnreadableFileError
from energykit.train import (
    CorruptCheckpointError,
    Trainer,
    load_checkpoint,
    load_config,
    load_trained,
)
from energykit.train.checkpoint import DIGEST_KEY, payload_digest

TINY = ["net.width=32", "net.depth=1", "train.batch=16", "train.log_every=2"]
OVERRIDES = [*TINY, "train.steps=4", "train.ckpt_every=2", "train.keep_every=2"]


def _tamper(path: Path, how: str) -> None:
    """Edit a weight tensor of the checkpoint at `path`, then damage its digest by `how`."""
    payload = torch.load(path, weights_only=True)
    digest = payload.pop(DIGEST_KEY)
    name = next(iter(payload["ema"]))
    payload["ema"][name] = payload["ema"][name] + 1.0
    payload["model"][name] = payload["model"][name] + 1.0
    if how == "renamed":
        payload["sha255"] = digest
    elif how == "wrong type":
        payload[DIGEST_KEY] = bytes.fromhex(payload_digest(payload))
    elif how == "not hex":
        payload[DIGEST_KEY] = "z" * 64
    elif how == "recomputed":  # the honest control: a valid digest of the edited content
        payload[DIGEST_KEY] = payload_digest(payload)
    torch.save(payload, path)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run")
    Trainer(load_config(None, OVERRIDES), out, progress=False).fit()
    return out


@pytest.mark.parametrize("how", ["removed", "renamed", "wrong type", "not hex"])
def test_a_checkpoint_without_a_valid_digest_is_refused(run, tmp_path, how):
    path = tmp_path / "last.pt"
    path.write_bytes((run / "last.pt").read_bytes())
    _tamper(path, how)
    with pytest.raises(CorruptCheckpointError, match=rf"{path.name}'.*{DIGEST_KEY}"):
        load_checkpoint(path)
    with pytest.raises(CorruptCheckpointError):
        load_trained(path)


def test_the_tamper_is_real_so_the_refusals_can_fail(run, tmp_path):
    """With a digest recomputed over the edited weights the file loads, and its weights are
    the edited ones: the refusals above are about the digest alone."""
    path = tmp_path / "last.pt"
    path.write_bytes((run / "last.pt").read_bytes())
    _tamper(path, "recomputed")
    edited, original = load_trained(path), load_trained(run / "last.pt")
    name = next(iter(original.net.state_dict()))
    assert torch.equal(edited.net.state_dict()[name], original.net.state_dict()[name] + 1.0)


@pytest.mark.parametrize("how", ["removed", "renamed", "wrong type"])
def test_resume_refuses_it_and_names_the_intact_checkpoints(run, tmp_path, how):
    out = tmp_path / "copy"
    out.mkdir()
    for f in run.iterdir():
        (out / f.name).write_bytes(f.read_bytes())
    _tamper(out / "last.pt", how)
    with pytest.raises(UnreadableFileError) as info:
        Trainer(load_config(None, OVERRIDES), out, progress=False)
    message = str(info.value)
    assert "last.pt" in message and "intact checkpoints" in message
    assert "step_0000004.pt (step 4)" in message and "step_0000002.pt (step 2)" in message
    assert len(message.splitlines()) == 1


def test_the_cli_refuses_it_in_one_line(run, tmp_path, capsys):
    path = tmp_path / "last.pt"
    path.write_bytes((run / "last.pt").read_bytes())
    _tamper(path, "removed")
    code = cli.main(["sample", str(path), "--out", str(tmp_path / "s.pt"), "--n", "2"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert str(path) in err and DIGEST_KEY in err
