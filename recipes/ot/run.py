"""Minibatch OT couplings on 8x8 digits: sample quality with `objective.coupling` none / ot /
sinkhorn, at the converged budget and at a few steps, for EqM and FM.

    python recipes/ot/run.py --out runs/ot                           # the table of docs/training.md
    python recipes/ot/run.py --out runs/ot-quick --train-steps 500 --n 200 --couplings none ot

For each coupling and training seed it trains `recipes/digits/eqm.yaml` and
`recipes/digits/fm.yaml` with `train.steps=9000 train.seed=S objective.coupling=C` (the same
run as `energykit train RECIPE --out OUT/runs/KIND-C-sS train.steps=9000 train.seed=S
train.ckpt_every=9000 objective.coupling=C`; a run folder already there is used, not
retrained), then scores 1,000 samples (`sample.seed=0`) with the FID proxy of
`recipes/fewstep/run.py` (its `Scorer`, the same evaluation noise and reference sampler):

- EqM: NAG-GD 250 (the paper's sampler, step 0.0017, look-ahead 0.3) and the default
  few-step sampler (`sampler: auto`) at K = 10 and 5; R_K = FID_proxy(K) / FID_proxy(NAG-GD
  250) of the same model, as in `docs/fewstep.md`;
- FM: Euler and Adams-Bashforth 2 at 100 and 10 steps.

Each row also has the FID proxy against the held-out test digits (`fid_proxy_test`; the
training-set proxy rewards samples that copy training images) and the median distance to
the nearest training image. `OUT/rows.json` holds every row, `OUT/report.md` the tables.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

from energykit.train import TrainedModel, Trainer, load_config, load_trained
from energykit.train.scoring import data_floor
from energykit.viz import markdown_table

HERE = Path(__file__).resolve().parent
RECIPES = HERE.parent / "digits"
#: EqM's samplers (name, budget, sampler keywords) and FM's.
EQM_SAMPLERS = [
    ("NAG-GD 250", 250, {"sampler": "nag", "lr": 0.0017, "momentum": 0.3, "steps": 250}),
    ("default (auto) K=10", 10, {"sampler": "auto", "steps": 10}),
    ("default (auto) K=5", 5, {"sampler": "auto", "steps": 5}),
]
FM_SAMPLERS = [
    ("Euler 100", 100, {"sampler": "euler", "steps": 100}),
    ("AB2 100", 100, {"sampler": "ab2", "steps": 100}),
    ("Euler 10", 10, {"sampler": "euler", "steps": 10}),
    ("AB2 10", 10, {"sampler": "ab2", "steps": 10}),
]


def _fewstep() -> Any:
    """`recipes/fewstep/run.py` as a module (its scorer and sampling helper)."""
    spec = importlib.util.spec_from_file_location("fewstep_run", HERE.parent / "fewstep/run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def train(kind: str, coupling: str, seed: int, steps: int, out: Path) -> TrainedModel:
    """`recipes/digits/<kind>.yaml` with `coupling`, trained unless its run is there."""
    run = out / "runs" / f"{kind}-{coupling}-s{seed}"
    overrides = [
        f"train.steps={steps}",
        f"train.seed={seed}",
        f"train.ckpt_every={steps}",
        "train.sample_every=0",
        f"objective.coupling={coupling}",
    ]
    if not (run / "last.pt").is_file() or load_trained(run / "last.pt").step < steps:
        print(f"[ot] training {kind} coupling={coupling} seed {seed}", flush=True)
        Trainer(load_config(RECIPES / f"{kind}.yaml", overrides), run, progress=False).fit()
    model = load_trained(run / "last.pt")
    assert model.config.objective.coupling == coupling
    return model


def score_model(
    model: TrainedModel,
    samplers: list[tuple[str, int, dict[str, Any]]],
    n: int,
    fs: Any,
    score: Any,
) -> list[dict[str, Any]]:
    """One row per sampler; `R` is relative to the first sampler's FID proxy."""
    cfg = dataclasses.replace(model.config.sample, n=n, batch=n, seed=0)
    rows: list[dict[str, Any]] = []
    for name, budget, kw in samplers:
        t0 = time.perf_counter()
        s = fs.draw(model, cfg, **kw)
        r = {"sampler": name, "budget": budget, "nfe": s.nfe_mean, **score(s.x)}
        # The proxy against the held-out digits too: the training-set one rewards copies.
        r["fid_proxy_test"] = score.clf.fid(s.x.clamp(-1, 1), score.data.x_test)
        r["seconds"] = time.perf_counter() - t0
        r["R"] = r["fid_proxy"] / (rows[0]["fid_proxy"] if rows else r["fid_proxy"])
        rows.append(r)
    return rows


def table(rows: list[dict[str, Any]], metric: str) -> str:
    """Per sampler and seed, `metric` of each coupling (with R_K for EqM's few-step rows
    when it is `fid_proxy`, and a `!` where class entropy fell by more than 0.005 below the
    uncoupled model's on the same sampler)."""
    couplings = list(dict.fromkeys(r["coupling"] for r in rows))
    keys = list(dict.fromkeys((r["model"], r["sampler"], r["seed"]) for r in rows))
    found = {(r["model"], r["sampler"], r["seed"], r["coupling"]): r for r in rows}

    def cell(key: tuple[str, str, int], coupling: str) -> str:
        r, base = found.get((*key, coupling)), found.get((*key, couplings[0]))
        if r is None:
            return "-"
        text = f"{r[metric]:.2f}"
        if metric == "fid_proxy" and r["model"] == "EqM" and r["budget"] < 250:
            text += f" (R {r['R']:.2f})"
        low = base is not None and r["class_entropy"] < base["class_entropy"] - 0.005
        return text + ("!" if low else "")

    body = [
        [m, smp, str(seed), *[cell((m, smp, seed), c) for c in couplings]] for m, smp, seed in keys
    ]
    return markdown_table(["model", "sampler", "seed", *couplings], body)


def report(rows: list[dict[str, Any]], floor: float, out: Path) -> str:
    """The Markdown report: the FID proxy against the training digits (the fewstep study's,
    with R_K), against the held-out digits, and the median distance to the nearest training
    image (lower: closer to copies)."""
    text = f"Real test digits against the training digits (floor): fid_proxy {floor:.2f}.\n"
    for title, metric in (
        ("FID proxy against the training digits", "fid_proxy"),
        ("FID proxy against the held-out test digits", "fid_proxy_test"),
        ("Median distance to the nearest training image", "nn_median"),
    ):
        text += f"\n## {title}\n\n{table(rows, metric)}"
    (out / "report.md").write_text(text)
    return text


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("runs/ot"))
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--couplings", nargs="+", default=["none", "ot", "sinkhorn"])
    p.add_argument("--train-steps", type=int, default=9000)
    p.add_argument("--n", type=int, default=1000, help="evaluation samples per row")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    fs, score, rows = _fewstep(), None, []
    for seed in args.seeds:
        for coupling in args.couplings:
            for kind, model_name, samplers in (
                ("eqm", "EqM", EQM_SAMPLERS),
                ("fm", "FM", FM_SAMPLERS),
            ):
                model = train(kind, coupling, seed, args.train_steps, args.out)
                if score is None:
                    score = fs.Scorer(fs.eqm_data(model))
                for r in score_model(model, samplers, args.n, fs, score):
                    rows.append({"model": model_name, "seed": seed, "coupling": coupling, **r})
                (args.out / "rows.json").write_text(json.dumps(rows, indent=1))
                print(f"[ot] scored {kind} coupling={coupling} seed {seed}", flush=True)
    assert score is not None
    print(report(rows, data_floor(score.data)["fid_proxy"], args.out))


if __name__ == "__main__":
    main()
