"""Loading never executes code: a malicious pickle, in the format each loader expects, is
refused by every loader of the API and the CLI with one line naming the file; so are empty,
truncated and text files; genuine files still load."""

from __future__ import annotations

import argparse
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from energykit._io import UnreadableFileError, load_npz
from energykit.cli import main
from energykit.interop import load_reference_eqm, reference_state_dict
from energykit.metrics import classifier
from energykit.nets.dit import DiT
from energykit.sampling import load_samples, save_samples
from energykit.train import Trainer, load_config, load_trained
from tests.helpers import TINY_REFERENCE_KW

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "toy2d" / "eqm.yaml"
TINY = ["train.steps=2", "train.batch=16", "net.width=32", "net.depth=1", "sample.n=8"]
REF_KW: dict[str, Any] = dict(TINY_REFERENCE_KW)
MARKER = "PWNED"
FLIPPED: list[str] = []


def _flip(note: str) -> None:
    """A payload target that leaves a trace in this process."""
    FLIPPED.append(note)


class Evil:
    """Unpickling this creates `path` (`open(path, "w")`): a stand-in for any code."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.path, "w"))


class Flip:
    """Unpickling this calls `_flip` (a function of an importable module)."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (_flip, ("executed",))


def _ref_state() -> dict[str, torch.Tensor]:
    return dict(DiT(**REF_KW).state_dict())


def _save(payload: Any, path: Path) -> Path:
    torch.save(payload, path)
    return path


def _trainer_payload(evil: Any) -> dict[str, Any]:
    return {"format": "energykit.trainer/1", "step": 2, "config": {}, "ema": evil}


#: name -> (writes an evil file into a directory, given the marker path)
PAYLOADS: dict[str, Callable[[Path, Path], Path]] = {
    "reference-args": lambda d, m: _save({"ema": _ref_state(), "args": Evil(m)}, d / "ref-args.pt"),
    "reference-namespace-field": lambda d, m: _save(
        {"ema": _ref_state(), "args": argparse.Namespace(model=Evil(m))}, d / "ref-ns.pt"
    ),
    "reference-in-state-dict": lambda d, m: _save(
        {"ema": {**_ref_state(), "pos_embed": Evil(m)}}, d / "ref-state.pt"
    ),
    "reference-flip": lambda d, m: _save({"ema": _ref_state(), "args": Flip()}, d / "flip.pt"),
    "trainer": lambda d, m: _save(_trainer_payload(Evil(m)), d / "last.pt"),
    "samples-pt": lambda d, m: _save({"x": torch.zeros(4, 2), "kind": Evil(m)}, d / "s.pt"),
    "samples-npz": lambda d, m: _savez(d / "s.npz", x=np.array([Evil(m)], dtype=object)),
}


def _savez(path: Path, **arrays: Any) -> Path:
    np.savez(path, **arrays)  # object arrays are pickled
    return path


def _load_trainer_resume(path: Path) -> Any:
    """`Trainer` resuming from `path`, which must be `OUT/last.pt`."""
    assert path.name == "last.pt"
    return Trainer(load_config(RECIPE, TINY), path.parent, progress=False)


def _load_classifier_cache(path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """`fit_classifier` finding `path`'s content as its disk cache entry."""
    x = torch.linspace(-1, 1, 16).reshape(8, 1, 2, 1)
    y = torch.tensor([0, 1] * 4)
    monkeypatch.setenv("ENERGYKIT_CACHE", str(path.parent / "cache"))
    entry = classifier._cache_dir() / f"{classifier._key(x, y, 0, 1)}.pt"
    entry.parent.mkdir(parents=True, exist_ok=True)
    entry.write_bytes(path.read_bytes())
    return classifier.fit_classifier(x, y, seed=0, steps=1)


#: loader id -> (payload kinds it is fed, loader)
API_LOADERS: dict[str, tuple[list[str], Callable[..., Any]]] = {
    "load_reference_eqm": (
        ["reference-args", "reference-namespace-field", "reference-in-state-dict", "trainer"],
        lambda p, mp: load_reference_eqm(p, num_heads=2),
    ),
    "reference_state_dict": (
        ["reference-args", "reference-in-state-dict", "reference-flip"],
        lambda p, mp: reference_state_dict(p),
    ),
    "load_trained": (["trainer", "reference-args"], lambda p, mp: load_trained(p)),
    "Trainer-resume": (["trainer"], lambda p, mp: _load_trainer_resume(p)),
    "load_samples": (["samples-pt", "samples-npz"], lambda p, mp: load_samples(p)),
    "classifier-cache": (["trainer", "samples-pt"], _load_classifier_cache),
}

API_CASES = [
    pytest.param(kind, loader, id=f"{name}-{kind}")
    for name, (kinds, loader) in API_LOADERS.items()
    for kind in kinds
]


def _assert_refused(message: str, path: Path) -> None:
    assert str(path) in message
    assert "\n" not in message.strip()
    assert "weights_only=False" not in message


def test_the_payloads_are_armed(tmp_path: Path) -> None:
    """Plain unpickling would run them: the tests below would notice execution."""
    marker = tmp_path / MARKER
    pickle.loads(pickle.dumps(Evil(marker)))
    assert marker.exists()
    pickle.loads(pickle.dumps(Flip()))
    assert FLIPPED == ["executed"]
    FLIPPED.clear()


@pytest.mark.parametrize(("kind", "loader"), API_CASES)
def test_api_loaders_never_execute_a_payload(
    kind: str, loader: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / MARKER
    path = PAYLOADS[kind](tmp_path, marker)
    with pytest.raises(UnreadableFileError) as info:
        loader(path, monkeypatch)
    shown = path if "classifier" not in str(info.value) else path.parent / "cache"
    _assert_refused(str(info.value), shown)
    assert "never runs code from a file" in str(info.value)
    assert not marker.exists()
    assert not FLIPPED


def _good_samples(d: Path) -> Path:
    return save_samples(d / "good.pt", {"x": torch.zeros(8, 2), "kind": "eqm"})


#: id -> (payload kind, argv given the evil file, a scratch dir and the good samples)
CLI_CASES: dict[str, tuple[str, Callable[[Path, Path, Path], list[str]]]] = {
    "sample": ("trainer", lambda p, d, g: ["sample", str(p), "--out", str(d / "o.pt")]),
    "sample-reference": (
        "reference-args",
        lambda p, d, g: ["sample", str(p), "--reference", "none", "--out", str(d / "o.pt")],
    ),
    "sample-reference-state": (
        "reference-in-state-dict",
        lambda p, d, g: ["sample", str(p), "--reference", "dot", "--out", str(d / "o.pt")],
    ),
    "evaluate-pt": ("samples-pt", lambda p, d, g: ["evaluate", str(p), "--ref", str(g)]),
    "evaluate-npz": ("samples-npz", lambda p, d, g: ["evaluate", str(p), "--ref", str(g)]),
    "evaluate-ref-npz": ("samples-npz", lambda p, d, g: ["evaluate", str(g), "--ref", str(p)]),
    "evaluate-ref-pt": ("samples-pt", lambda p, d, g: ["evaluate", str(g), "--ref", str(p)]),
    "plot-checkpoint": ("trainer", lambda p, d, g: ["plot", str(p), "--out", str(d / "o.png")]),
    "plot-samples-npz": (
        "samples-npz",
        lambda p, d, g: ["plot", str(p), "--out", str(d / "o.png")],
    ),
    "train-resume": (
        "trainer",
        lambda p, d, g: ["train", str(RECIPE), "--out", str(p.parent), "--no-progress", *TINY],
    ),
}


@pytest.mark.parametrize("case", list(CLI_CASES))
def test_cli_never_executes_a_payload(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kind, argv = CLI_CASES[case]
    marker = tmp_path / MARKER
    evil_dir = tmp_path / "evil"
    evil_dir.mkdir()
    path = PAYLOADS[kind](evil_dir, marker)
    good = _good_samples(tmp_path)
    capsys.readouterr()
    assert main(argv(path, tmp_path, good)) == 2
    err = capsys.readouterr().err
    _assert_refused(err, path)
    assert err.startswith(f"energykit {argv(path, tmp_path, good)[0]}: error: ")
    assert not marker.exists()
    assert not FLIPPED


# Degenerate files -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def genuine(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Genuine files of every format: a trainer run, a reference checkpoint, samples."""
    d = tmp_path_factory.mktemp("genuine")
    Trainer(load_config(RECIPE, TINY), d / "run", progress=False).fit()
    ref = _save(
        {
            "model": _ref_state(),
            "ema": _ref_state(),
            "opt": {},
            "args": argparse.Namespace(model="EqM-tiny", ebm="none", epochs=80),
        },
        d / "ref.pt",
    )
    return {
        "trainer": d / "run" / "last.pt",
        "reference": ref,
        "samples-pt": save_samples(d / "s.pt", {"x": torch.zeros(8, 2), "kind": "eqm"}),
        "samples-npz": save_samples(d / "s.npz", {"x": torch.zeros(8, 2), "kind": "eqm"}),
    }


#: loader id -> (which genuine file it reads, file name it needs, loader)
FILE_LOADERS: dict[str, tuple[str, str, Callable[..., Any]]] = {
    "load_reference_eqm": ("reference", "x.pt", lambda p, mp: load_reference_eqm(p, num_heads=2)),
    "reference_state_dict": ("reference", "x.pt", lambda p, mp: reference_state_dict(p)),
    "load_trained": ("trainer", "x.pt", lambda p, mp: load_trained(p)),
    "Trainer-resume": ("trainer", "last.pt", lambda p, mp: _load_trainer_resume(p)),
    "load_samples-pt": ("samples-pt", "x.pt", lambda p, mp: load_samples(p)),
    "load_samples-npz": ("samples-npz", "x.npz", lambda p, mp: load_samples(p)),
    "classifier-cache": ("trainer", "x.pt", _load_classifier_cache),
}

DAMAGE: dict[str, Callable[[bytes], bytes]] = {
    "empty": lambda b: b"",
    "truncated": lambda b: b[: len(b) // 2],
    "one-byte": lambda b: b[:1],
    "text": lambda b: b"hello world\n",
    "json": lambda b: b'{"step": 2}\n',
    "csv": lambda b: b"step,loss\n1,0.5\n2,0.4\n",
}
DAMAGES = list(DAMAGE)


@pytest.mark.parametrize(
    ("name", "damage"),
    [pytest.param(n, k, id=f"{n}-{k}") for n in FILE_LOADERS for k in DAMAGE],
)
def test_degenerate_files_are_refused_with_one_line(
    name: str,
    damage: str,
    genuine: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source, filename, loader = FILE_LOADERS[name]
    path = tmp_path / filename
    path.write_bytes(DAMAGE[damage](genuine[source].read_bytes()))
    with pytest.raises(UnreadableFileError) as info:
        loader(path, monkeypatch)
    shown = path if "classifier" not in str(info.value) else tmp_path / "cache"
    _assert_refused(str(info.value), shown)


#: id -> argv given the damaged file, a scratch dir and genuine samples
CLI_READERS: dict[str, Callable[[Path, Path, Path], list[str]]] = {
    "sample": lambda p, d, g: ["sample", str(p), "--out", str(d / "o.pt")],
    "sample-reference": lambda p, d, g: [
        "sample",
        str(p),
        "--reference",
        "l2",
        "--out",
        str(d / "o.pt"),
    ],
    "evaluate": lambda p, d, g: ["evaluate", str(p), "--ref", str(g)],
    "evaluate-ref": lambda p, d, g: ["evaluate", str(g), "--ref", str(p)],
    "plot": lambda p, d, g: ["plot", str(p), "--out", str(d / "o.png")],
}


@pytest.mark.parametrize("damage", DAMAGES)
@pytest.mark.parametrize("reader", list(CLI_READERS))
def test_cli_refuses_degenerate_files_with_one_line(
    reader: str,
    damage: str,
    genuine: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(DAMAGE[damage](genuine["trainer"].read_bytes()))
    capsys.readouterr()
    assert main(CLI_READERS[reader](bad, tmp_path, genuine["samples-pt"])) == 2
    _assert_refused(capsys.readouterr().err, bad)


# Genuine files still load ------------------------------------------------------------------


def test_a_genuine_reference_file_with_its_namespace_loads(genuine: dict[str, Path]) -> None:
    field = load_reference_eqm(genuine["reference"], num_heads=2)
    net: Any = field.net
    net = net.net  # ImplicitField(Negated(DiT))
    with torch.serialization.safe_globals([argparse.Namespace]):
        want = torch.load(genuine["reference"], weights_only=True)["ema"]
    for k, v in net.state_dict().items():
        torch.testing.assert_close(v, want[k], rtol=0, atol=0)


def test_a_genuine_trainer_checkpoint_loads_and_resumes(genuine: dict[str, Path]) -> None:
    model = load_trained(genuine["trainer"])
    assert model.step == 2 and model.shape == (2,)
    trainer = _load_trainer_resume(genuine["trainer"])
    assert trainer.step == 2


def test_genuine_samples_load(genuine: dict[str, Path]) -> None:
    for kind in ("samples-pt", "samples-npz"):
        x, meta = load_samples(genuine[kind])
        assert x.shape == (8, 2) and meta["kind"] == "eqm"


def test_load_npz_reads_only_the_keys_asked_for(tmp_path):
    """`evaluate --inception` reads an ADM reference's mu/sigma without its images again."""
    path = tmp_path / "ref.npz"
    np.savez(path, arr_0=np.zeros((3, 2, 2, 3), np.uint8), mu=np.ones(4), sigma=np.eye(4))
    stats = load_npz(path, what="--ref", keys=("mu", "sigma", "absent"))
    assert sorted(stats) == ["mu", "sigma"] and np.array_equal(stats["sigma"], np.eye(4))
    assert sorted(load_npz(path, what="--ref")) == ["arr_0", "mu", "sigma"]
