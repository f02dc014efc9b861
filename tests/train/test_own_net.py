"""Trainer with a network and data of the user's own: exact resume for every kind of data,
the config as recorded, load_trained round trips, and one clear error per bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn
from torch.utils.data import Dataset, IterableDataset, TensorDataset

import energykit as ek
from energykit.train import (
    CHECKPOINT_FORMAT,
    DataSource,
    TrainConfig,
    Trainer,
    load_checkpoint,
    load_config,
    load_trained,
    save_checkpoint,
)
from energykit.train.own_data import SHOWN

TINY = ["train.steps=8", "train.batch=8", "train.log_every=1", "train.ckpt_every=3"]
COND = ["data.class_conditional=true"]


class TinyNet(nn.Module):
    """A user's backbone: (B, 2) -> (B, 2), optionally class-conditional (one extra embedding
    row for the null label of label dropout)."""

    def __init__(self, width: int = 16, num_classes: int | None = None) -> None:
        super().__init__()
        self.inp = nn.Linear(2, width)
        self.out = nn.Linear(width, 2)
        self.emb = None if num_classes is None else nn.Embedding(num_classes + 1, width)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        h = self.inp(x)
        if self.emb is not None and y is not None:
            h = h + self.emb(y)
        return self.out(torch.nn.functional.silu(h))


class Pairs(Dataset):
    """A map-style Dataset of (x, y) items (labels as Python ints)."""

    def __init__(self, x: Tensor, y: Tensor) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        return self.x[i], int(self.y[i])


def _xy(n: int = 64) -> tuple[Tensor, Tensor]:
    gen = torch.Generator().manual_seed(1)
    return torch.randn(n, 2, generator=gen), torch.randint(0, 3, (n,), generator=gen)


def _data(kind: str) -> tuple[Any, list[str], int | None]:
    """(data, extra overrides, classes) for each kind of data a user may pass."""
    x, y = _xy()
    if kind == "tensor":
        return x, [], None
    if kind == "tensordataset":  # num_classes inferred (max label + 1)
        return TensorDataset(x, y), COND, 3
    if kind == "dataset":  # num_classes given: a Dataset's labels are not scanned
        return Pairs(x, y), [*COND, "data.num_classes=3"], 3
    source = DataSource("mine", (2,), x[:16], y[:16], 3, x, y)
    return source, COND, 3


def _net(classes: int | None, width: int = 16) -> TinyNet:
    torch.manual_seed(0)  # the same initial weights for every run of a comparison
    return TinyNet(width, classes)


def _state(trainer: Trainer) -> dict[str, Tensor]:
    out = {f"model.{k}": v for k, v in trainer.state.model.state_dict().items()}
    out |= {f"ema.{k}": v for k, v in trainer.state.ema.model.state_dict().items()}
    for i, s in trainer.state.optimizer.state_dict()["state"].items():
        out |= {f"optim.{i}.{k}": v for k, v in s.items()}
    return out


@pytest.mark.parametrize("kind", ["tensor", "tensordataset", "dataset", "datasource"])
def test_resume_with_own_net_and_data_is_bit_identical(tmp_path, kind):
    data, extra, classes = _data(kind)
    cfg = load_config(None, [*TINY, *extra])
    straight = Trainer(cfg, tmp_path / "a", net=_net(classes), data=data, progress=False)
    straight.fit()
    first = Trainer(cfg, tmp_path / "b", net=_net(classes), data=data, progress=False)
    first.fit(until=4)
    del first  # "kill": nothing survives but the files
    resumed = Trainer(cfg, tmp_path / "b", net=_net(classes), data=data, progress=False)
    assert resumed.step == 4 and resumed.num_classes == classes
    resumed.fit()
    a, b = _state(straight), _state(resumed)
    assert a.keys() == b.keys() and any(k.startswith("optim.") for k in a)
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_config_records_the_users_net_and_data(tmp_path):
    x, _ = _xy()
    Trainer(load_config(None, TINY), tmp_path, net=_net(None), data=x, progress=False).fit(2)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["net"] == {"kind": "custom", "class_name": "TinyNet"}
    assert saved["data"]["name"] == "custom" and saved["data"]["source"] == "Tensor (64 samples)"
    assert "preset" not in saved["net"] and "test_fraction" not in saved["data"]
    assert load_checkpoint(tmp_path / "last.pt")["config"] == saved
    # A run's config.json trains on, given the net and data again (and refuses without).
    cfg = TrainConfig.from_dict(saved)
    again = Trainer(cfg, tmp_path, net=_net(None), data=x, progress=False)
    assert again.step == 2 and again.config == cfg
    with pytest.raises(ValueError, match=r"Trainer net: .*class 'TinyNet'.*net=module"):
        Trainer(cfg, tmp_path, data=x, progress=False)
    with pytest.raises(ValueError, match=r"Trainer data: .*'Tensor \(64 samples\)'.*data="):
        Trainer(cfg, tmp_path, net=_net(None), progress=False)


def test_a_config_without_net_and_data_sections_works():
    raw = {"objective": {"kind": "eqm-dot"}, "optim": {"lr": 1e-3}, "train": {"batch": 8}}
    cfg = TrainConfig.from_dict(raw)
    trainer = Trainer(cfg, net=_net(None), data=_xy()[0], progress=False)
    trainer.fit(until=2)
    assert trainer.trained().field().has_energy


def test_builtin_net_on_own_data_and_own_net_on_builtin_data(tmp_path):
    x, _ = _xy()
    cfg = load_config(None, [*TINY, "net.width=8", "net.depth=1"])
    mlp = Trainer(cfg, tmp_path / "mlp", data=x, progress=False)
    mlp.fit(until=2)
    assert mlp.config.net.kind == "mlp" and mlp.config.data.name == "custom"
    assert load_trained(tmp_path / "mlp" / "last.pt").shape == (2,)  # no net= needed
    toy = load_config(None, [*TINY, "data.name=moons"])
    mine = Trainer(toy, tmp_path / "toy", net=_net(None), progress=False)
    mine.fit(until=2)
    assert mine.config.data.name == "moons" and mine.config.net.kind == "custom"


def test_load_trained_round_trip(tmp_path):
    data, extra, classes = _data("tensordataset")
    cfg = load_config(None, [*TINY, *extra])
    trainer = Trainer(cfg, tmp_path, net=_net(classes), data=data, progress=False)
    trainer.fit()
    model = load_trained(tmp_path / "last.pt", net=TinyNet(16, 3))
    assert (model.shape, model.num_classes, model.step, model.kind) == ((2,), 3, 8, "eqm")
    for name, value in trainer.state.ema.model.state_dict().items():
        assert torch.equal(model.net.state_dict()[name], value), name
    x = torch.randn(5, 2)
    y = torch.zeros(5, dtype=torch.long)
    expected = trainer.trained().field().gradient(x, y=y)
    assert torch.equal(model.field().gradient(x, y=y), expected)
    samples = ek.sampling.generate(
        model.field(), model.shape, cfg.sample, num_classes=model.num_classes, n=4, steps=5
    )
    assert samples.x.shape == (4, 2) and samples.y is not None
    with pytest.raises(ValueError, match=r"class 'TinyNet'.*net=TinyNet\(\.\.\.\)"):
        load_trained(tmp_path / "last.pt")
    with pytest.raises(ValueError, match=r"do not fit TinyNet \(.*shape \(checkpoint vs net\)"):
        load_trained(tmp_path / "last.pt", net=TinyNet(8, 3))
    with pytest.raises(TypeError, match=r"load_trained net: expected a torch\.nn\.Module"):
        load_trained(tmp_path / "last.pt", net="TinyNet")  # type: ignore[arg-type]


def test_load_trained_names_missing_keys(tmp_path):
    path = tmp_path / "partial.pt"
    save_checkpoint({"format": CHECKPOINT_FORMAT, "config": {}, "step": 1}, path)
    with pytest.raises(
        ValueError, match=r"missing the keys 'shape', 'num_classes', 'ema_counters', 'ema'"
    ):
        load_trained(path)


def test_resume_refuses_another_net(tmp_path):
    x, _ = _xy()
    cfg = load_config(None, TINY)
    Trainer(cfg, tmp_path, net=_net(None), data=x, progress=False).fit(until=3)
    with pytest.raises(ValueError, match=r"do not fit TinyNet .*inp.weight \(16, 2\) vs \(8, 2\)"):
        Trainer(cfg, tmp_path, net=_net(None, width=8), data=x, progress=False)

    class OtherNet(TinyNet):
        pass

    with pytest.raises(ValueError, match=r"net.class_name: checkpoint 'TinyNet'"):
        Trainer(cfg, tmp_path, net=OtherNet(), data=x, progress=False)
    with pytest.raises(ValueError, match=r"data.source: checkpoint 'Tensor \(64 samples\)'"):
        Trainer(cfg, tmp_path, net=_net(None), data=x[:32], progress=False)


def test_bf16_and_grad_accum_with_own_net():
    cfg = load_config(None, [*TINY, "train.bf16=true", "train.grad_accum=2"])
    trainer = Trainer(cfg, net=_net(None), data=_xy()[0], progress=False)
    assert all(torch.isfinite(torch.tensor(r["loss"])) for r in trainer.fit(until=2))


def test_dataset_items_are_checked_when_drawn(tmp_path):
    x = torch.randn(SHOWN + 40, 2)

    class LaterRagged(Dataset):
        def __len__(self) -> int:
            return len(x)

        def __getitem__(self, i: int) -> Tensor:
            return x[i] if i < SHOWN else torch.zeros(3)

    trainer = Trainer(load_config(None, TINY), net=_net(None), data=LaterRagged(), progress=False)
    with pytest.raises(ValueError, match=r"data\[\d+\]: expected a sample of shape \(2,\)"):
        trainer.fit()


# -- every bad input: (net, data, overrides) -> error type and a message naming the argument


class Items(Dataset):
    def __init__(self, items: list[Any]) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> Any:
        return self.items[i]


class Stream(IterableDataset):
    def __iter__(self):
        yield torch.zeros(2)


class Fails(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(3, 3)

    def forward(self, x: Tensor) -> Tensor:
        return self.lin(x)


class Plain(nn.Module):
    """Takes no labels."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(2, 2)

    def forward(self, x: Tensor) -> Tensor:
        return self.lin(x)


class TwoOutputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(2, 3)

    def forward(self, x: Tensor) -> Tensor:
        return self.lin(x)


_X, _Y = _xy()
_NAN = _X.clone()
_NAN[5, 1] = float("nan")

BAD = {
    "net not a module": ("net", _X, [], TypeError, "Trainer net: expected a torch.nn.Module"),
    "net an energy field": (
        ek.ImplicitField(TinyNet()), _X, [], TypeError, "Trainer net: .*energy field"
    ),
    "net without parameters": (nn.Identity(), _X, [], ValueError, "no trainable parameters"),
    "net output shape": (TwoOutputs(), _X, [], ValueError, r"shaped like its input \(1, 2\)"),
    "net forward fails": (Fails(), _X, [], ValueError, r"Trainer net: a forward pass of Fails"),
    "net without labels": (
        Plain(), TensorDataset(_X, _Y), COND, ValueError, r"y=labels \(B,\) in \[0, 3\]"
    ),
    "dtype mismatch": (TinyNet(), _X.double(), [], TypeError, "Trainer data: .*float64"),
    "data a list": (TinyNet(), [_X], [], TypeError, "data: expected a tensor"),
    "data empty": (TinyNet(), _X[:0], [], ValueError, "data: expected at least one sample"),
    "data no sample dim": (TinyNet(), _X[:, 0], [], ValueError, "data: .*sample dimension"),
    "data integer": (TinyNet(), _Y[:, None], [], TypeError, "data: expected floating-point"),
    "data non-finite": (TinyNet(), _NAN, [], ValueError, r"data: .*1 holding NaN.*index 5"),
    "data iterable": (TinyNet(), Stream(), [], TypeError, "data: an IterableDataset"),
    "dataset ragged": (
        TinyNet(), Items([_X[0], torch.zeros(3)]), [], ValueError, r"data\[1\]: .*shape \(2,\)"
    ),
    "dataset item type": (TinyNet(), Items([{"x": 1}]), [], TypeError, r"data\[0\]: expected"),
    "dataset x type": (TinyNet(), Items([("a", 1)]), [], TypeError, r"data\[0\]: expected x"),
    "dataset empty": (TinyNet(), Items([]), [], ValueError, "data: .*empty Dataset"),
    "dataset label type": (
        TinyNet(3), Items([(_X[0], 0.5)]), [*COND, "data.num_classes=3"], TypeError,
        r"data\[0\]: expected an integer class label",
    ),
    "dataset label missing": (
        TinyNet(3), Items([_X[0]]), [*COND, "data.num_classes=3"], ValueError,
        r"data\[0\]: labels are fed",
    ),
    "dataset needs num_classes": (
        TinyNet(3), Pairs(_X, _Y), COND, ValueError, "data.num_classes: required"
    ),
    "labels absent": (TinyNet(3), _X, COND, ValueError, "data.class_conditional: labels"),
    "labels float": (
        TinyNet(3), TensorDataset(_X, _Y.float()), COND, TypeError, "data labels: .*integer"
    ),
    "labels negative": (
        TinyNet(3), TensorDataset(_X, _Y - 1), COND, ValueError, "data labels: .*>= 0"
    ),
    "labels out of range": (
        TinyNet(3), TensorDataset(_X, _Y), [*COND, "data.num_classes=2"], ValueError,
        r"data labels: expected labels in \[0, data.num_classes=2\)",
    ),
    "labels shape": (
        TinyNet(3), TensorDataset(_X, _Y[:, None]), COND, ValueError, r"data labels: .*\(64,\)"
    ),
    "num_classes unconditional": (
        TinyNet(), _X, ["data.num_classes=3"], ValueError, "data.num_classes: used only"
    ),
    "datasource without classes": (
        TinyNet(3), DataSource("mine", (2,), _X, None, None, _X), COND, ValueError,
        "data.class_conditional: .*num_classes=None",
    ),
    "datasource classes differ": (
        TinyNet(3), DataSource("mine", (2,), _X, _Y, 3, _X, _Y), [*COND, "data.num_classes=4"],
        ValueError, "data.num_classes: expected the DataSource's own 3",
    ),
    "datasource shape": (
        TinyNet(), DataSource("mine", (3,), _X, None, None, _X), [], ValueError,
        r"data: DataSource 'mine'.batch",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_gets_one_clear_error(case):
    net, data, extra, error, message = BAD[case]
    cfg = load_config(None, [*TINY, *extra])
    with pytest.raises(error, match=message) as info:
        Trainer(cfg, net=net, data=data, progress=False)
    assert "\n" not in str(info.value)


def test_config_of_the_wrong_type():
    with pytest.raises(TypeError, match="Trainer config: expected a TrainConfig, got dict"):
        Trainer({"train": {}}, net=TinyNet(), data=_X)  # type: ignore[arg-type]


# -- two ranks (gloo on CPU): the user's net resumes exactly under DDP and trains under FSDP2

SCRIPT = """
import sys, torch
from torch import nn
from energykit.train import Trainer, load_config, load_checkpoint

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.f = nn.Sequential(nn.Linear(2, 8), nn.SiLU(), nn.Linear(8, 2))

    def forward(self, x):
        return self.f(x)

def net():
    torch.manual_seed(0)
    return Net()

out = sys.argv[1]
x = torch.randn(64, 2, generator=torch.Generator().manual_seed(1))
cfg = load_config(None, ["train.steps=4", "train.batch=8", "train.ckpt_every=2"])
Trainer(cfg, out + "/a", net=net(), data=x, progress=False).fit()
Trainer(cfg, out + "/b", net=net(), data=x, progress=False).fit(until=2)
resumed = Trainer(cfg, out + "/b", net=net(), data=x, progress=False)
assert resumed.step == 2
resumed.fit()
# FSDP2 shards the user's module too; trained() gathers the EMA into an unsharded copy.
fsdp = load_config(None, ["train.steps=2", "train.batch=8", "train.parallel=fsdp"])
sharded = Trainer(fsdp, out + "/f", net=net(), data=x, progress=False)
sharded.fit()
ema = sharded.trained().net.state_dict()  # collective: every rank calls it
if sharded.parallel.dist.is_main:
    saved = load_checkpoint(out + "/f/last.pt")["ema"]
    assert ema.keys() == saved.keys()
    assert all(torch.equal(ema[k].cpu(), v) for k, v in saved.items())
"""


@pytest.mark.skipif(not torch.distributed.is_available(), reason="no torch.distributed")
def test_two_rank_ddp_and_fsdp_with_own_net(tmp_path):
    script = tmp_path / "train_own.py"
    script.write_text(textwrap.dedent(SCRIPT))
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        str(script), str(tmp_path),
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path.cwd())}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    a, b = (load_checkpoint(tmp_path / name / "last.pt") for name in ("a", "b"))
    assert a["step"] == b["step"] == 4 and a["world_size"] == 2
    assert a["config"]["net"] == {"kind": "custom", "class_name": "Net"}
    for key in ("model", "ema"):
        for name, value in a[key].items():
            assert torch.equal(value, b[key][name]), (key, name)
