"""`sampler: auto`, calibrated solvers and the step sizes recorded, through `generate`,
`sample_to_file` and the `energykit` command."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

import energykit as ek
from energykit.cli import load_samples, main
from energykit.descent import Solver, SolverFileError
from energykit.descent.fewstep import Landscape, default_solver
from energykit.sampling import SampleConfig, generate, sample_to_file
from energykit.train import Trainer, load_config
from tests.helpers import tiny_mlp

FIELD = ek.ImplicitField(tiny_mlp(3, 0, torch.float32))
LAND = Landscape()


def test_auto_at_the_paper_budget_is_the_papers_nag_gd_bit_for_bit():
    cfg = SampleConfig(n=6, batch=6, steps=250)
    auto = generate(FIELD, (3,), cfg, landscape=LAND)
    nag = generate(FIELD, (3,), dataclasses.replace(cfg, sampler="nag"))
    assert torch.equal(auto.x, nag.x) and auto.step_sizes == [0.0017] * 250


def test_auto_below_it_is_the_few_step_default():
    cfg = SampleConfig(n=6, batch=6, steps=5)
    s = generate(FIELD, (3,), cfg, landscape=LAND)
    expected = default_solver(5, LAND).descender(FIELD).run(_noise(cfg)).x
    assert torch.equal(s.x, expected) and s.nfe_mean == 5
    assert s.step_sizes == list(default_solver(5, LAND).lr)
    # No landscape (an analytic or composite field): the generic NAG-GD 0.425 / K.
    generic = generate(FIELD, (3,), cfg)
    assert generic.step_sizes == [0.425 / 5] * 5


def _noise(cfg: SampleConfig) -> torch.Tensor:
    return torch.randn((cfg.n, 3), generator=torch.Generator().manual_seed(cfg.seed))


def test_lr_scale_scales_the_schedule():
    cfg = SampleConfig(n=4, batch=4, steps=5, lr_scale=0.5)
    s = generate(FIELD, (3,), cfg, landscape=LAND)
    assert s.step_sizes == pytest.approx([v * 0.5 for v in default_solver(5, LAND).lr])


@pytest.mark.parametrize(
    ("settings", "solver", "match"),
    [
        ({"lr": 0.1}, None, "lr: sampler 'auto' sets its own per-step sizes"),
        ({"steps": 4}, default_solver(5, LAND), "steps: the solver has 5 steps, got steps=4"),
        ({"steps": 5, "lr": 0.1}, default_solver(5, LAND), "lr: a solver sets its own"),
        ({"solver": "s.json"}, None, "generate takes the loaded solver"),
    ],
)
def test_conflicting_settings_are_named(settings, solver, match):
    with pytest.raises(ValueError, match=match):
        generate(FIELD, (3,), SampleConfig(n=2, batch=2, **settings), landscape=LAND, solver=solver)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    tiny = ["net.width=16", "net.depth=1", "train.batch=8", "train.steps=4", "train.seed=0"]
    Trainer(load_config(None, tiny), out, progress=False).fit()
    return out / "last.pt"


def test_calibrate_then_sample_with_the_solver(checkpoint, tmp_path, capsys):
    solver_file = tmp_path / "k3.json"
    args = ["calibrate", str(checkpoint), "--steps", "3", "--out", str(solver_file)]
    assert main([*args, "--samples", "16", "--iterations", "5"]) == 0
    printed = capsys.readouterr()
    assert "solver (3 evaluations per sample)" in printed.out
    # Below 5 steps the default measured better than calibration: the command says so.
    assert "calibrate: at 3 steps a calibrated solver measured worse" in printed.err
    solver = Solver.load(solver_file)
    assert (
        solver.steps == 3 and solver.model["kind"] == "eqm" and solver.fit["noise_seed"] == 10_000
    )
    out = tmp_path / "s.pt"
    assert (
        main(
            ["sample", str(checkpoint), "--out", str(out), "--n", "8", "--solver", str(solver_file)]
        )
        == 0
    )
    x, meta = load_samples(out)
    assert x.shape[0] == 8 and meta["nfe_total"] == 24  # honest: 3 evaluations per sample
    assert meta["step_sizes"] == list(solver.lr) and meta["sampler"]["solver"] == str(solver_file)
    # The same fit twice gives the same file (reproducible from its seed).
    again = tmp_path / "again.json"
    assert main([*args[:-1], str(again), "--samples", "16", "--iterations", "5"]) == 0
    capsys.readouterr()
    five = ["calibrate", str(checkpoint), "--steps", "5", "--out", str(tmp_path / "k5.json")]
    assert main([*five, "--samples", "16", "--iterations", "2"]) == 0
    assert "measured worse" not in capsys.readouterr().err
    a, b = json.loads(solver_file.read_text()), json.loads(again.read_text())
    a["fit"].pop("seconds"), b["fit"].pop("seconds")
    assert a == b


def test_a_solver_for_another_model_gets_one_line(checkpoint, tmp_path, capsys):
    bound = dataclasses.replace(
        default_solver(3, LAND), model={"weights_sha256": "0" * 64, "kind": "eqm"}
    )
    path = bound.save(tmp_path / "other.json")
    out = tmp_path / "s.pt"
    cmd = ["sample", str(checkpoint), "--out", str(out), "--n", "4", "--solver", str(path)]
    assert main(cmd) == 2
    err = capsys.readouterr().err
    assert "fitted for a model with weights_sha256" in err and len(err.strip().splitlines()) == 1
    assert main([*cmd, "--steps", "5"]) == 2
    assert "--steps: the solver" in capsys.readouterr().err
    assert main([*cmd, "--lr", "0.1"]) == 2
    assert "--lr: the solver" in capsys.readouterr().err


def test_sample_to_file_refuses_a_foreign_solver(checkpoint, tmp_path):
    from energykit.train import load_trained

    model = load_trained(checkpoint)
    path = dataclasses.replace(default_solver(3, LAND), model={"kind": "fm"}).save(
        tmp_path / "fm.json"
    )
    cfg = dataclasses.replace(model.config.sample, n=2, batch=2, steps=3, solver=str(path))
    with pytest.raises(SolverFileError, match="kind 'fm', this model has 'eqm'"):
        sample_to_file(model, tmp_path / "s.pt", cfg, progress=False)


def test_calibrate_refuses_flow_matching_and_bad_out(tmp_path, capsys):
    run = tmp_path / "fm"
    tiny = [
        "objective.kind=fm",
        "sample.sampler=euler",
        "net.width=16",
        "net.depth=1",
        "train.batch=8",
        "train.steps=2",
    ]
    Trainer(load_config(None, tiny), run, progress=False).fit()
    assert (
        main(["calibrate", str(run / "last.pt"), "--steps", "3", "--out", str(tmp_path / "s.json")])
        == 2
    )
    assert "flow matching" in capsys.readouterr().err
    assert (
        main(["calibrate", str(run / "last.pt"), "--steps", "3", "--out", str(tmp_path / "s.txt")])
        == 2
    )
    assert "--out: expected a .json solver file" in capsys.readouterr().err


def test_a_class_conditional_guided_model_calibrates_and_binds_its_scale(tmp_path):
    from energykit.sampling.calibration import calibrate_model
    from energykit.sampling.source import solver_for

    tiny = [
        "net.width=16",
        "net.depth=1",
        "train.batch=8",
        "train.steps=2",
        "data.class_conditional=true",
    ]
    trainer = Trainer(load_config(None, tiny), None, progress=False)
    trainer.fit()
    model = trainer.trained()
    cfg = dataclasses.replace(model.config.sample, cfg_scale=2.0, n=10, batch=10, steps=3)
    solver, log = calibrate_model(model, 3, cfg, n=12, iterations=4, log_every=2)
    assert solver.model["cfg_scale"] == 2.0 and solver.model["num_classes"] == 10
    assert log.iteration == [2, 4]
    path = solver.save(tmp_path / "g.json")
    s = generate(
        model.field(),
        model.shape,
        dataclasses.replace(cfg, solver=str(path)),
        num_classes=10,
        solver=solver_for(model, dataclasses.replace(cfg, solver=str(path))),
    )
    assert s.nfe_mean == 3 and s.y is not None
    unguided = dataclasses.replace(cfg, cfg_scale=1.0, solver=str(path))
    with pytest.raises(SolverFileError, match=r"cfg_scale 2\.0, this model has 1\.0"):
        solver_for(model, unguided)
    with pytest.raises(ValueError, match="seed: 0 is the noise seed of an evaluation batch"):
        calibrate_model(model, 3, dataclasses.replace(cfg, seed=0), seed=0)
