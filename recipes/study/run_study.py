"""The small-scale EqM study: EqM vs flow matching on digits, MNIST-5k and 2-D toys.

    python recipes/study/run_study.py --out runs/study --jobs 2      # the full study (`make study`)
    python recipes/study/run_study.py --out /tmp/s --quick           # seconds: the CI smoke run
    python recipes/study/run_study.py --out runs/study --jobs 2 --only mnist-unet   # one part

Every job trains one recipe from `recipes/` (with `key=value` overrides, exactly as
`energykit train RECIPE --out DIR key=value ...` would), then samples and scores it at each
training budget as soon as training reaches it. Results go to `OUT/results/<job>.json`, written
after each budget (`"partial": true` until the last); finished budgets are skipped and training
resumes from its checkpoint, so an interrupted study resumes where it stopped.
`recipes/study/tables.py OUT` turns the results into the Markdown tables of the docs.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from energykit.descent.defaults import DEFAULT_STEP_BUDGET
from energykit.sampling import generate
from energykit.train import Trainer, load_config, load_trained
from energykit.train.scoring import data_floor, score_samples

RECIPES = Path(__file__).resolve().parents[1]
SEEDS = (0, 1, 2)
NFES = (25, 50, 100, 250)
LR_SCALES = (0.4, 0.6, 0.8, 1.0, 1.5, 2.0, 2.5)
STEP_SIZE_STEPS = 100
# Adam's step is per coordinate: lr = 1.0 / steps (0.004 at 250 steps). Budgets 0.5, 1.0 and 2.5
# were tried on one MNIST model (FID 671 / 254 / 998 at 250 steps); 1.0 is used throughout.
ADAM_LR_BUDGET = 1.0
# Adaptive compute: g_min as a fraction of the median gradient norm at the start (pure noise),
# about 4 sqrt(d) E|eps - x| / sqrt(d): the same fractions mean the same thing in any dimension.
GMIN_FRACTIONS = (0.05, 0.1, 0.2, 0.3, 0.5)
SCHEDULES = {
    "constant": ["objective.schedule=constant", "objective.scale=1"],
    "linear": ["objective.schedule=linear", "objective.scale=1"],
    "truncated-0.5": ["objective.schedule=truncated", "objective.a=0.5", "objective.scale=1"],
    "truncated-0.8": ["objective.schedule=truncated", "objective.a=0.8", "objective.scale=1"],
    "truncated-0.9": ["objective.schedule=truncated", "objective.a=0.9", "objective.scale=1"],
    "piecewise-b0.8": ["objective.schedule=piecewise", "objective.b=0.8", "objective.scale=1"],
    "piecewise-b1.4": ["objective.schedule=piecewise", "objective.b=1.4", "objective.scale=1"],
    **{
        f"scale-{lam}": ["objective.schedule=truncated", f"objective.scale={lam}"]
        for lam in (2, 3, 5, 6)
    },
}


#: Few-step rows of the U-Net part: the recipe default (`auto`) for EqM, AB2 for FM.
FEWSTEP_NFES = (10, 25)


@dataclass
class Job:
    """One training run and the evaluations made on it.

    Attributes:
        extras_at: The budget at which the descent optimisers, step sizes and adaptive compute
            are measured (`None`: not measured for this job).
    """

    name: str
    part: str
    recipe: str
    overrides: list[str]
    seed: int
    budgets: tuple[int, ...] = (1,)
    extras_at: int | None = None
    evals: dict[str, Any] = field(default_factory=dict)


#: Settings the published numbers were measured with, where the recipes have moved on since.
PUBLISHED = ["train.ema_warmup=false"]


def plan(quick: bool) -> list[Job]:
    """Every job of the study, heaviest first (so two workers finish together)."""
    jobs: list[Job] = []
    seeds = SEEDS[:1] if quick else SEEDS
    # MNIST on the U-Net: seed 0 of every kind first, so the first rows arrive soonest; the
    # descent extras on seed 0 at 1x (the recipe's own budget).
    for s in seeds:
        for kind in ("eqm", "fm", "fm-uncond"):
            if kind == "fm-uncond" and s != 0:
                continue
            budgets = (1,) if kind == "fm-uncond" else (1, 3)
            recipe = f"mnist/unet-{kind}.yaml"
            extras = 1 if s == 0 and kind != "fm-uncond" else None
            jobs.append(Job(f"mnist-unet-{kind}-s{s}", "unet", recipe, [], s, budgets, extras))
    datasets = ("digits",) if quick else ("mnist", "digits")
    for ds in datasets:
        for kind in ("eqm", "fm", "fm-uncond"):
            for s in seeds:
                jobs.append(
                    Job(f"{ds}-main-{kind}-s{s}", "main", f"{ds}/{kind}.yaml", [], s, (1, 3), 3)
                )
    for kind in ("eqm-dot", "eqm-l2"):
        for s in seeds:
            jobs.append(Job(f"digits-eqme-{kind}-s{s}", "eqme", f"digits/{kind}.yaml", [], s))
    schedules = dict(list(SCHEDULES.items())[:2]) if quick else SCHEDULES
    for label, ov in schedules.items():
        for s in seeds:
            jobs.append(Job(f"digits-schedule-{label}-s{s}", "schedule", "digits/eqm.yaml", ov, s))
    for toy in ("8gaussians",) if quick else ("8gaussians", "spirals"):
        for kind in ("eqm", "fm"):
            for s in seeds:
                ov = [f"data.name={toy}"]
                jobs.append(Job(f"toy-{toy}-{kind}-s{s}", "toy", f"toy2d/{kind}.yaml", ov, s))
    return jobs


def _sample_and_score(trained: Any, data: Any, n: int, **kw: Any) -> dict[str, Any]:
    try:
        s = generate(
            trained.sampleable(),
            trained.shape,
            trained.config.sample,
            n=n,
            num_classes=trained.num_classes,
            landscape=trained.landscape,
            **kw,
        )
    except FloatingPointError as err:  # a diverged descent is a result, not a crash
        return {**kw, "diverged": str(err)}
    row: dict[str, Any] = {**kw, "nfe_mean": s.nfe_mean, "seconds": s.seconds}
    if s.steps is not None:
        row["steps_hist"] = torch.bincount(s.steps, minlength=kw.get("steps", 0) + 1).tolist()
    try:
        row.update(score_samples(s.x, data))
    except FloatingPointError as err:  # a diverged sampler is a result, not a crash
        row["diverged"] = str(err)
    return row


def evaluate_budget(
    job: Job, budget: int, trainer: Trainer, out: Path, quick: bool
) -> list[dict[str, Any]]:
    """Sample and score the checkpoint of `job` at training budget `budget` (1x, 3x, ...)."""
    data = trainer.data
    steps1 = trainer.config.train.steps // max(job.budgets)
    n = 64 if quick else trainer.config.sample.n
    nfes = (5, 10) if quick else NFES
    target = steps1 * budget
    ckpt = out / f"step_{target:07d}.pt"
    if not ckpt.is_file():
        if trainer.step != target:
            raise FileNotFoundError(
                f"{job.name}: no checkpoint {ckpt.name} for the {budget}x budget, and the run "
                f"is at step {trainer.step}; delete {out} to train it again"
            )
        ckpt = out / "last.pt"
    trained = load_trained(ckpt)
    eqm = not trained.spec.flow_matching
    base = "nag" if eqm else "euler"
    rows = []
    if job.part in ("main", "toy", "unet"):
        for k in nfes if job.part != "toy" else nfes[-1:]:
            rows.append(
                {
                    "what": "nfe",
                    "sampler": base,
                    **_sample_and_score(trained, data, n, sampler=base, steps=k),
                }
            )
    if job.part == "unet":
        few = "auto" if eqm else "ab2"
        for k in (3, 5) if quick else FEWSTEP_NFES:
            rows.append(
                {
                    "what": "fewstep",
                    "sampler": few,
                    **_sample_and_score(trained, data, n, sampler=few, steps=k),
                }
            )
    if job.part in ("schedule", "eqme"):
        k = nfes[-1]
        rows.append(
            {
                "what": "nfe",
                "sampler": "nag",
                **_sample_and_score(trained, data, n, sampler="nag", steps=k),
            }
        )
        scale = trained.config.objective.scale
        if job.part == "schedule" and scale != 4.0:
            # Gradients scale with lambda: also descend with the step normalised by 4 / lambda.
            lr = DEFAULT_STEP_BUDGET / k * 4.0 / scale
            rows.append(
                {
                    "what": "normalised-lr",
                    "sampler": "nag",
                    **_sample_and_score(trained, data, n, sampler="nag", steps=k, lr=lr),
                }
            )
    if budget == job.extras_at:
        k_ss = 10 if quick else STEP_SIZE_STEPS
        for scale in LR_SCALES if not quick else (0.5, 2.0):
            # The U-Net part drops GD, which repeats NAG-GD (within a few per cent at every
            # step size in `main`), to keep its seed-0 extras to about half an hour of CPU.
            descents = ("nag",) if job.part == "unet" else ("gd", "nag")
            for sampler in descents if eqm else ("euler",):
                rows.append(
                    {
                        "what": "step-size",
                        "sampler": sampler,
                        **_sample_and_score(
                            trained, data, n, sampler=sampler, steps=k_ss, lr_scale=scale
                        ),
                    }
                )
        if eqm:
            for sampler in ("adam",) if job.part == "unet" else ("gd", "adam"):
                for k in nfes:
                    kw: dict[str, Any] = {"lr": ADAM_LR_BUDGET / k} if sampler == "adam" else {}
                    rows.append(
                        {
                            "what": "optimiser",
                            "sampler": sampler,
                            **_sample_and_score(trained, data, n, sampler=sampler, steps=k, **kw),
                        }
                    )
            k = nfes[-1]
            x0 = torch.randn((n, *trained.shape), generator=torch.Generator().manual_seed(0))
            cond = {}
            if trained.num_classes is not None:  # the labels generate() gives: balanced
                cond["y"] = torch.arange(n) % trained.num_classes
            with torch.no_grad():
                g = trained.field().gradient(x0, **cond)
            start = float(g.reshape(len(g), -1).norm(dim=1).median())
            for frac in GMIN_FRACTIONS:
                row = _sample_and_score(
                    trained, data, n, sampler="nag", steps=k, g_min=frac * start
                )
                rows.append(
                    {
                        "what": "adaptive",
                        "sampler": "nag",
                        "g_factor": frac,
                        "start_grad_median": start,
                        **row,
                    }
                )
    return rows


def run_job(args: tuple[Job, str, bool]) -> str:
    """Train one job (resuming if interrupted), evaluate it, write its result file."""
    job, out_dir, quick = args
    torch.set_num_threads(1)
    root = Path(out_dir)
    result_path = root / "results" / f"{job.name}.json"
    record = json.loads(result_path.read_text()) if result_path.is_file() else {}
    if record and not record.get("partial"):
        return f"{job.name}: done before"
    # The published study (docs/study.md) was measured before the recipes turned the EMA
    # warm-up on; keep it off so its numbers reproduce. The U-Net part uses the recipes as-is.
    published = [] if job.part == "unet" else PUBLISHED
    overrides = [*job.overrides, f"train.seed={job.seed}", *published]
    cfg0 = load_config(RECIPES / job.recipe, overrides)
    steps1 = 20 if quick else cfg0.train.steps
    total = steps1 * max(job.budgets)
    overrides += [f"train.steps={total}", f"train.keep_every={steps1}", "train.log_every=50"]
    if quick:
        overrides += ["net.width=32", "net.depth=1", "net.channels=[8, 8]"]
    cfg = load_config(RECIPES / job.recipe, overrides)
    run_dir = root / "runs" / job.name
    trainer = Trainer(cfg, run_dir, progress=False)
    command = f"energykit train recipes/{job.recipe} --out {run_dir} " + " ".join(overrides)
    evals: dict[str, Any] = dict(record.get("evals", {}))
    train_s = float(record.get("train_seconds", 0.0))
    for budget in sorted(job.budgets):
        if f"{budget}x" in evals:
            continue
        t0 = time.perf_counter()
        if trainer.step < steps1 * budget:  # a resumed run may be past this budget already
            trainer.fit(until=steps1 * budget)
        train_s += time.perf_counter() - t0
        evals[f"{budget}x"] = evaluate_budget(job, budget, trainer, run_dir, quick)
        rates = [r["it_per_s"] for r in trainer.history if "it_per_s" in r]
        record = {
            "job": job.name,
            "part": job.part,
            "recipe": job.recipe,
            "seed": job.seed,
            "overrides": job.overrides,
            "command": command,
            "params": trainer.n_parameters,
            "train_seconds": train_s,
            "it_per_s": statistics.median(rates) if rates else record.get("it_per_s"),
            "final_loss": trainer.history[-1]["loss"]
            if trainer.history
            else record.get("final_loss"),
            "evals": evals,
            "partial": not all(f"{b}x" in evals for b in job.budgets),
        }
        result_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = result_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record))
        os.replace(tmp, result_path)
    return f"{job.name}: {train_s:.0f}s"


def timing(out: Path, quick: bool) -> None:
    """Time per training step of implicit, dot and L2 heads, interleaved in one process."""
    path = out / "results" / "timing.json"
    if path.is_file():
        return
    torch.set_num_threads(1)
    trainers = {
        k: Trainer(load_config(RECIPES / f"digits/{k}.yaml", ["train.log_every=0"]), progress=False)
        for k in ("eqm", "eqm-dot", "eqm-l2")
    }
    times: dict[str, list[float]] = {k: [] for k in trainers}
    for _ in range(2 if quick else 6):
        for k, tr in trainers.items():
            t0 = time.perf_counter()
            for _ in range(5 if quick else 50):
                tr.train_step()
            times[k].append((time.perf_counter() - t0) / (5 if quick else 50))
    ms = {k: 1000 * statistics.median(v) for k, v in times.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"ms_per_step": ms, "rounds": times}))


def main(argv: list[str] | None = None) -> None:
    """Run the study (see the module docstring)."""
    parser = argparse.ArgumentParser(description="energykit small-scale study")
    parser.add_argument("--out", type=Path, default=Path("runs/study"))
    parser.add_argument("--jobs", type=int, default=1, help="parallel worker processes")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    parser.add_argument("--only", default="", help="run only jobs whose name contains this")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    jobs = [j for j in plan(args.quick) if args.only in j.name]
    args.out.mkdir(parents=True, exist_ok=True)
    floors = {}
    for ds in ("digits",) if args.quick else ("digits", "mnist", "8gaussians", "spirals"):
        from energykit.train.config import DataConfig
        from energykit.train.data import build_data

        floors[ds] = data_floor(build_data(DataConfig(name=ds)))  # type: ignore[arg-type]
    (args.out / "floors.json").write_text(json.dumps(floors, indent=2))
    work = [(j, str(args.out), args.quick) for j in jobs]
    if args.jobs > 1:
        with mp.get_context("spawn").Pool(args.jobs) as pool:
            for msg in pool.imap_unordered(run_job, work):
                print(msg, flush=True)
    else:
        for item in work:
            print(run_job(item), flush=True)
    timing(args.out, args.quick)
    print(f"results: {(args.out / 'results').resolve()}")


if __name__ == "__main__":
    main()
