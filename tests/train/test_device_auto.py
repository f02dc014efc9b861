"""`train.device: auto` (the default) and `--device auto`: CUDA when present, else the CPU;
a resume compares the device type the checkpoint trained on, not the word."""

from __future__ import annotations

import pytest
import torch

from energykit._config import ConfigError, parse_device, resolve_device_name
from energykit.train import Trainer, load_checkpoint, load_config
from energykit.train.checkpoint import DIGEST_KEY, payload_digest

TINY = ["net.width=16", "net.depth=1", "train.batch=8", "train.log_every=1", "train.steps=2"]


@pytest.mark.parametrize("cuda", [False, True])
def test_auto_resolves_to_cuda_only_when_present(monkeypatch, cuda):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    assert resolve_device_name("auto") == ("cuda" if cuda else "cpu")
    assert parse_device("auto", "train.device") == torch.device("cuda" if cuda else "cpu")
    assert resolve_device_name("cpu") == "cpu" and resolve_device_name("cuda:1") == "cuda:1"


def test_auto_is_the_default_and_a_bad_word_is_named():
    assert load_config(None, []).train.device == "auto"
    with pytest.raises(ConfigError, match=r"train\.device: expected 'auto' or a device"):
        load_config(None, ["train.device=gpu"])


def test_auto_on_this_machine_trains_where_cuda_would_be_chosen(tmp_path):
    trainer = Trainer(load_config(None, TINY), tmp_path, progress=False)
    want = "cuda" if torch.cuda.is_available() else "cpu"
    assert trainer.parallel.device.type == want
    trainer.fit()
    assert load_checkpoint(tmp_path / "last.pt")["device_type"] == want


def test_resume_compares_the_resolved_device_not_the_word(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("checks the CPU side; on a CUDA machine auto resolves to cuda")
    Trainer(load_config(None, [*TINY, "train.device=cpu"]), tmp_path, progress=False).fit()
    # The word differs (cpu -> auto) but both are the CPU here: the resume goes on.
    more = Trainer(load_config(None, [*TINY, "train.steps=3"]), tmp_path, progress=False)
    assert more.step == 2
    more.fit()
    # A checkpoint that says it trained on CUDA is refused on the CPU, naming both.
    payload = torch.load(tmp_path / "last.pt", weights_only=True)
    payload.pop(DIGEST_KEY)
    payload["device_type"] = "cuda"
    payload[DIGEST_KEY] = payload_digest(payload)
    torch.save(payload, tmp_path / "last.pt")
    with pytest.raises(ValueError, match=r"trained on 'cuda'; this run resolves train\.device="):
        Trainer(load_config(None, [*TINY, "train.steps=4"]), tmp_path, progress=False)
