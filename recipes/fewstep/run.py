"""Few-evaluation sampling on 8x8 digits: EqM's default, calibrated solvers and FM, per seed.

    python recipes/fewstep/run.py --out runs/fewstep          # what `make fewstep` runs
    python recipes/fewstep/run.py --out runs/quick --seeds 0 --train-steps 1000 --n 200

For each training seed it trains `recipes/digits/eqm.yaml` and `recipes/digits/fm.yaml` with
`train.steps=9000` (resuming a run folder that is already there), then scores on the same 1,000
noise seeds (`sample.seed=0`):

- the reference: EqM with the paper's sampler, NAG-GD step 0.0017, look-ahead 0.3, 250 steps;
- EqM at K = 3, 5, 10, 20, 50 evaluations with the training-free default (`sampler: auto`),
  with NAG-GD at the paper's step rule 0.425 / K, and with solvers calibrated on that model
  (`energykit.sampling.calibration`), and with the solver calibrated on seed 0's model
  (transfer);
- FM with Euler, Heun (K // 2 steps, 2 evaluations each) and Adams-Bashforth 2 at the same K,
  and Euler at 250 steps (FM's converged figure);
- the ablation at K = 5 and 10: the plateau schedule alone (K equal GD steps with the default's
  path), the final jump (GD), the multistep (AB2, the default) and calibration.

Each row has R_K = FID_proxy / FID_proxy(reference of the same seed) and the guardrails
(class entropy, escaped, median distance to the nearest training image against the
reference's). `OUT/rows.json` holds every row; `OUT/report.md` the tables; `OUT/fewstep.png`
the quality-against-NFE figure.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import torch

from energykit.descent.fewstep import default_solver, plateau_length
from energykit.descent.solver import Solver, multistep_solver
from energykit.sampling import SampleConfig, generate
from energykit.sampling.calibration import calibrate_model
from energykit.train import TrainedModel, Trainer, load_config, load_trained
from energykit.train.scoring import classifier_for, data_floor
from energykit.viz import markdown_table, plot_quality_vs_nfe, pyplot, save_samples

RECIPES = Path(__file__).resolve().parents[1] / "digits"


@dataclasses.dataclass(frozen=True)
class FewstepConfig:
    """What the study measures (defaults are what `make fewstep` runs).

    Attributes:
        budgets: Evaluations per sample K of the table.
        calibrated: The budgets with calibrated solvers.
        ablation: The budgets of the ablation.
        iterations: Adam iterations per calibration (the `energykit calibrate` default).
    """

    budgets: tuple[int, ...] = (3, 5, 10, 20, 50)
    calibrated: tuple[int, ...] = (3, 5, 10, 20)
    ablation: tuple[int, ...] = (5, 10)
    iterations: int = 300


#: What `--smoke` runs (the recipe's CPU test): tiny, every code path.
SMOKE = FewstepConfig(budgets=(3, 5), calibrated=(3, 5), ablation=(5,), iterations=2)
#: The paper's sampler, the reference of every ratio.
REFERENCE = {"sampler": "nag", "lr": 0.0017, "momentum": 0.3, "steps": 250}


def train(kind: str, seed: int, steps: int, out: Path) -> TrainedModel:
    """`recipes/digits/<kind>.yaml` trained `steps` steps with `seed` (resumed when there)."""
    overrides = [f"train.steps={steps}", f"train.seed={seed}", f"train.ckpt_every={steps}"]
    run = out / "runs" / f"{kind}-s{seed}"
    if not (run / "last.pt").is_file() or load_trained(run / "last.pt").step < steps:
        print(f"[fewstep] training {kind} seed {seed} for {steps} steps", flush=True)
        Trainer(load_config(RECIPES / f"{kind}.yaml", overrides), run, progress=False).fit()
    return load_trained(run / "last.pt")


class Scorer:
    """FID proxy, class entropy, escaped share and nearest-training-image distance."""

    def __init__(self, data: Any) -> None:
        self.data, self.clf = data, classifier_for(data)
        assert self.clf is not None and data.x_train is not None
        self.train = data.x_train.flatten(1).double()

    def __call__(self, x: torch.Tensor) -> dict[str, float]:
        escaped = float((x.flatten(1).abs().amax(1) > 2.0).double().mean())
        x = x.clamp(-1, 1)
        nn = torch.cdist(x.flatten(1).double(), self.train).min(1).values.median()
        return {
            "fid_proxy": self.clf.fid(x, self.data.x_train),
            "class_entropy": self.clf.class_entropy(x),
            "escaped": escaped,
            "nn_median": float(nn),
        }


def draw(model: TrainedModel, cfg: SampleConfig, solver: Solver | None = None, **kw: Any) -> Any:
    """Samples of `model` on the evaluation noise (`cfg.seed`)."""
    return generate(
        model.sampleable(), model.shape, cfg, landscape=model.landscape, solver=solver, **kw
    )


def ablation(k: int, model: TrainedModel) -> dict[str, Solver]:
    """The default's parts at `k` evaluations, each added to the one before."""
    land = model.landscape
    assert land is not None
    plateau = plateau_length(k) * land.a / land.scale
    jump = default_solver(k, land).lr[-1]
    return {
        "NAG-GD 0.425/K": multistep_solver([0.425 / k] * k, 0.3, 1),
        "schedule alone (GD, equal steps)": multistep_solver([(plateau + jump) / k] * k, 0.0, 1),
        "+ final jump (GD)": multistep_solver([plateau / (k - 1)] * (k - 1) + [jump], 0.0, 1),
        "+ multistep (AB2) = default": default_solver(k, land),
    }


def eqm_rows(
    model: TrainedModel,
    seed: int,
    cfg: SampleConfig,
    score: Scorer,
    transfer: dict[int, Solver],
    study: FewstepConfig,
) -> tuple[list[dict[str, Any]], dict[int, Solver], dict[str, torch.Tensor]]:
    """Every EqM row of one training seed; the solvers it calibrated; grids to draw."""
    ref = draw(model, cfg, **REFERENCE)
    base = score(ref.x)
    rows: list[dict[str, Any]] = []
    grids = {"reference": ref.x[:100]}

    def add(sampler: str, k: int, s: Any, extra: dict[str, Any] | None = None) -> None:
        rows.append(row("EqM", seed, sampler, k, s, score(s.x), base, ref.x, extra))

    add("reference (NAG-GD 250)", 250, ref)
    for k in study.budgets:
        auto = draw(model, cfg, sampler="auto", steps=k)
        add("default (auto)", k, auto)
        if k in (5, 10):
            grids[f"default-k{k}"] = auto.x[:100]
        add("NAG-GD 0.425/K", k, draw(model, cfg, sampler="nag", steps=k))
    fitted: dict[int, Solver] = {}
    for k in study.calibrated:
        solver, _ = calibrate_model(model, k, cfg, iterations=study.iterations)
        fitted[k] = solver
        cal = draw(model, cfg, solver=solver, steps=k)
        add("calibrated", k, cal, {"calibration_seconds": solver.fit["seconds"]})
        if k == 5:
            grids["calibrated-k5"] = cal.x[:100]
        if k in transfer and seed != 0:
            add("calibrated on seed 0", k, draw(model, cfg, solver=transfer[k], steps=k))
    # At 3 evaluations the paired term pulls towards the blurred mean: the set distance alone.
    solver, _ = calibrate_model(model, 3, cfg, iterations=study.iterations, loss="energy")
    extra = {"calibration_seconds": solver.fit["seconds"]}
    add("calibrated (energy loss)", 3, draw(model, cfg, solver=solver, steps=3), extra)
    for k in study.ablation:
        for name, solver in ablation(k, model).items():
            add(f"ablation: {name}", k, draw(model, cfg, solver=solver, steps=k))
        add("ablation: + calibration", k, draw(model, cfg, solver=fitted[k], steps=k))
    return rows, fitted, grids


def fm_rows(
    model: TrainedModel,
    seed: int,
    cfg: SampleConfig,
    score: Scorer,
    base: dict[str, float],
    budgets: tuple[int, ...],
) -> list[dict[str, Any]]:
    """FM rows of one seed: R divided by the EqM reference of the same seed, guardrails
    against FM's own converged sampler (Euler, 250 steps)."""
    s = draw(model, cfg, sampler="euler", steps=250)
    own = score(s.x)
    rows = [row("FM", seed, "Euler 250 (converged)", 250, s, own, base)]
    rows[0]["guardrails"] = True  # it is the guardrails' reference
    for k in budgets:
        for method, steps in (("euler", k), ("heun", k // 2), ("ab2", k)):
            if steps < 1:
                continue
            s = draw(model, cfg, sampler=method, steps=steps)
            r = row("FM", seed, method, k, s, score(s.x), base)
            r.update(guardrails(r, own), nn_ratio=r["nn_median"] / own["nn_median"])
            rows.append(r)
    return rows


def guardrails(r: dict[str, Any], against: dict[str, float]) -> dict[str, bool]:
    """Class entropy no lower than 0.005 below, escaped share at most 0.01 above, and median
    nearest-training-image distance within 5% of `against`'s."""
    ok = (
        r["class_entropy"] >= against["class_entropy"] - 0.005
        and r["escaped"] <= against["escaped"] + 0.01
        and abs(r["nn_median"] / against["nn_median"] - 1) <= 0.05
    )
    return {"guardrails": ok}


def row(
    model: str,
    seed: int,
    sampler: str,
    k: int,
    s: Any,
    scores: dict[str, float],
    base: dict[str, float],
    ref: torch.Tensor | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One table row: scores, R_K, guardrails (against the EqM reference of its seed)."""
    out = {"model": model, "seed": seed, "sampler": sampler, "budget": k}
    out.update(scores, nfe=s.nfe_mean, R=scores["fid_proxy"] / base["fid_proxy"])
    out["nn_ratio"] = scores["nn_median"] / base["nn_median"]
    out.update(guardrails(out, base))
    if ref is not None:  # paired: how far each sample lands from the reference's
        out["rmse_to_reference"] = float((s.x - ref).pow(2).mean().sqrt())
    out.update(extra or {})
    return out


def report(
    rows: list[dict[str, Any]], seeds: list[int], floor: float, out: Path, study: FewstepConfig
) -> str:
    """The Markdown report: R_K per seed, the ablation, and FM."""
    lines = ["# Few-evaluation sampling on 8x8 digits", ""]
    lines.append(
        f"Real test digits (floor), fid_proxy {floor:.2f}. `!` marks a failed guardrail "
        "(EqM rows against EqM's reference, FM rows against FM's Euler 250)."
    )

    def cell(model: str, sampler: str, k: int, seed: int) -> str:
        hit = [
            r
            for r in rows
            if (r["model"], r["sampler"], r["budget"], r["seed"]) == (model, sampler, k, seed)
        ]
        if not hit:
            return "-"
        r = hit[0]
        return f"{r['R']:.2f}{'' if r['guardrails'] else '!'}"

    samplers = [
        ("EqM", "default (auto)"),
        ("EqM", "calibrated"),
        ("EqM", "calibrated on seed 0"),
        ("EqM", "calibrated (energy loss)"),
        ("EqM", "NAG-GD 0.425/K"),
        ("FM", "euler"),
        ("FM", "heun"),
        ("FM", "ab2"),
    ]
    head = ["model", "sampler", "seed", *[f"R_{k}" for k in study.budgets]]
    body = [
        [m, smp, str(seed), *[cell(m, smp, k, seed) for k in study.budgets]]
        for m, smp in samplers
        for seed in seeds
    ]
    body = [line for line in body if any(c != "-" for c in line[3:])]
    lines += ["", "## R_K = FID_proxy(K evaluations) / FID_proxy(EqM, NAG-GD 250)", ""]
    lines.append(markdown_table(head, body))
    abl = sorted({r["sampler"] for r in rows if r["sampler"].startswith("ablation")}, key=_order)
    head = ["step", "seed", *[f"R_{k}" for k in study.ablation]]
    body = [
        [a[len("ablation: ") :], str(seed), *[cell("EqM", a, k, seed) for k in study.ablation]]
        for a in abl
        for seed in seeds
    ]
    lines += ["", "## Ablation (each row adds one part to the row above)", ""]
    lines.append(markdown_table(head, body))
    fm = [r for r in rows if r["sampler"] == "Euler 250 (converged)"]
    lines += ["", "## Converged figures (fid_proxy)", ""]
    refs = [r for r in rows if r["sampler"] == "reference (NAG-GD 250)"]
    body = [
        [r["model"], r["sampler"], str(r["seed"]), f"{r['fid_proxy']:.2f}", f"{r['R']:.2f}"]
        for r in refs + fm
    ]
    lines.append(markdown_table(["model", "sampler", "seed", "fid_proxy", "R"], body))
    text = "\n".join(lines) + "\n"
    (out / "report.md").write_text(text)
    return text


def _order(name: str) -> int:
    steps = ["NAG", "schedule", "jump", "multistep", "calibration"]
    return next(i for i, s in enumerate(steps) if s in name)


def figure(
    rows: list[dict[str, Any]], seeds: list[int], out: Path, budgets: tuple[int, ...]
) -> None:
    """R_K against NFE, mean over seeds with the min-max band."""
    curves = {}
    for model, sampler, label in (
        ("EqM", "default (auto)", "EqM, default (training-free)"),
        ("EqM", "calibrated", "EqM, calibrated"),
        ("EqM", "NAG-GD 0.425/K", "EqM, NAG-GD 0.425/K"),
        ("FM", "euler", "FM, Euler"),
        ("FM", "ab2", "FM, Adams-Bashforth 2"),
    ):
        ks = [k for k in budgets if all(_get(rows, model, sampler, k, s) for s in seeds)]
        curves[label] = (
            [float(k) for k in ks],
            [[_get(rows, model, sampler, k, s)["R"] for s in seeds] for k in ks],
        )
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    plot_quality_vs_nfe(ax, curves, ylabel="R_K (FID proxy / EqM NAG-GD 250)")
    ax.set_title(f"8x8 digits, 9,000 training steps, seeds {', '.join(map(str, seeds))}")
    fig.tight_layout()
    fig.savefig(out / "fewstep.png", dpi=110)
    plt.close(fig)


def _get(rows: list[dict[str, Any]], model: str, sampler: str, k: int, seed: int) -> Any:
    hit = [
        r
        for r in rows
        if (r["model"], r["sampler"], r["budget"], r["seed"]) == (model, sampler, k, seed)
    ]
    return hit[0] if hit else None


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("runs/fewstep"))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--train-steps", type=int, default=9000)
    p.add_argument("--n", type=int, default=1000, help="evaluation samples per row")
    p.add_argument("--smoke", action="store_true", help="tiny budgets and fits (a CPU test)")
    p.add_argument(
        "--report-only", action="store_true", help="redraw report and figure from OUT/rows.json"
    )
    args = p.parse_args(argv)
    study = SMOKE if args.smoke else FewstepConfig()
    if args.report_only:
        rows = json.loads((args.out / "rows.json").read_text())
        print(
            report(
                rows,
                args.seeds,
                data_floor(eqm_data_of(rows, args.out))["fid_proxy"],
                args.out,
                study,
            )
        )
        figure(rows, args.seeds, args.out, study.budgets)
        return
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    rows: list[dict[str, Any]] = []
    transfer: dict[int, Solver] = {}
    score = None
    for seed in args.seeds:
        eqm = train("eqm", seed, args.train_steps, args.out)
        fm = train("fm", seed, args.train_steps, args.out)
        if score is None:
            score = Scorer(eqm_data(eqm))
        cfg = dataclasses.replace(eqm.config.sample, n=args.n, batch=args.n, seed=0)
        new, fitted, grids = eqm_rows(eqm, seed, cfg, score, transfer, study)
        if seed == args.seeds[0]:
            transfer = fitted
            for name, x in grids.items():
                save_samples(x, args.out / f"grid-{name}.png", title=f"EqM, {name}")
            for solver_k, solver in fitted.items():
                solver.save(args.out / f"solver-eqm-s{seed}-k{solver_k}.json")
        base = next(r for r in new if r["sampler"].startswith("reference"))
        fm_cfg = dataclasses.replace(fm.config.sample, n=args.n, batch=args.n, seed=0)
        rows += new + fm_rows(fm, seed, fm_cfg, score, base, study.budgets)
        (args.out / "rows.json").write_text(json.dumps(rows, indent=1))
        print(f"[fewstep] seed {seed} scored ({time.perf_counter() - t0:.0f}s)", flush=True)
    assert score is not None
    floor = data_floor(score.data)["fid_proxy"]
    print(report(rows, args.seeds, floor, args.out, study))
    figure(rows, args.seeds, args.out, study.budgets)
    print(f"[fewstep] done in {time.perf_counter() - t0:.0f}s; report {args.out / 'report.md'}")


def eqm_data_of(rows: list[dict[str, Any]], out: Path) -> Any:
    """The digits data of the study's first EqM model."""
    return eqm_data(load_trained(out / "runs" / f"eqm-s{rows[0]['seed']}" / "last.pt"))


def eqm_data(model: TrainedModel) -> Any:
    """The digits data the models were trained on."""
    from energykit.train.data import build_data

    return build_data(model.config.data)


if __name__ == "__main__":
    main()
