"""The 2-D toy demo: EqM on 8 Gaussians in about 3 minutes on a CPU, sampled by GD and NAG-GD.

    python recipes/demo/toy2d.py --out runs/toy-demo        # what `make toy-demo` runs
    python recipes/demo/toy2d.py --out runs/moons --dataset moons --seed 1
    python recipes/demo/toy2d.py --out runs/quick --train-steps 500 train.batch=128

It loads `recipes/toy2d/eqm.yaml` as it is (batch 256, the budget's step 0.425 / steps),
applies the flags and any `section.key=value` overrides, and trains with
`energykit.train.Trainer` (checkpoint in `OUT/eqm/last.pt`). The EMA field is sampled from
the same noise by GD and NAG-GD at the recipe's budget and step (`step_size`), by NAG-GD with
adaptive compute (`--g-min`; default the recipe's `sample.g_min`, else `G_MIN` = 0.5), and by
NAG-GD with the same step and a fixed budget as short as the slowest adaptive sample. It
writes `OUT/samples.png` (samples over held-out data, the descent direction $-\\nabla E$, the
histogram of per-sample steps under adaptive compute), `OUT/metrics.md` and
`OUT/metrics.json` (rows, config, the `g_min` used, training time, final loss).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

import energykit as ek
from energykit.data import eight_gaussians_modes, sample_toy
from energykit.descent import default_lr
from energykit.metrics import mmd, mode_stats
from energykit.sampling import SampleConfig
from energykit.train import TrainConfig, Trainer, load_config
from energykit.viz import markdown_table, save_landscape

RECIPE = Path(__file__).resolve().parents[1] / "toy2d" / "eqm.yaml"
#: The adaptive-compute threshold on the gradient's norm of the demo's `nag + g_min` row when
#: the recipe sets no `sample.g_min`. At the budget's step 0.05 stops almost no sample (247.6
#: of 250 steps on average, seed 0); 0.5 saves ~20% of the evaluations at a slightly lower
#: MMD (recipes/toy2d/README.md).
G_MIN = 0.5


def step_size(s: SampleConfig) -> float:
    """The GD / NAG-GD step the sample section gives at its budget, as `energykit sample`
    takes it: `lr` (or the budget's `0.425 / steps`) times `lr_scale`."""
    return (default_lr(s.steps) if s.lr is None else s.lr) * s.lr_scale


def run(
    cfg: TrainConfig, out: Path, *, g_min: float | None = None, progress: bool = True
) -> dict[str, Any]:
    """Train, sample, score and plot into `out`; returns the summary written to `metrics.json`.

    `g_min` is the adaptive-compute threshold of the `nag + g_min` row (unset: the recipe's
    `sample.g_min`, else `G_MIN`; `metrics.json` records the one used); the other rows run
    their whole budget.
    """
    g_min = adaptive_g_min(g_min, cfg)
    out.mkdir(parents=True, exist_ok=True)
    trainer = Trainer(cfg, out / "eqm", progress=progress, resume=False)
    t0 = time.perf_counter()
    history = trainer.fit()
    train_seconds = time.perf_counter() - t0
    field = trainer.trained().field()  # the EMA weights as an EnergyField
    rows, held_out, adaptive = evaluate(field, cfg, g_min)
    save_landscape(
        out / "samples.png",
        adaptive.x,
        field=field,
        data=held_out,
        steps=adaptive.steps,
        title="EqM samples (NAG-GD + g_min)",
    )
    keys = list(rows[-1])
    table = markdown_table(keys, [[_cell(r.get(k)) for k in keys] for r in rows])
    (out / "metrics.md").write_text(table)
    final_loss = history[-1]["loss"] if history else None
    summary = {
        "config": cfg.to_dict(),
        "g_min": g_min,
        "train_seconds": train_seconds,
        "final_loss": final_loss,
        "rows": rows,
    }
    (out / "metrics.json").write_text(json.dumps(summary, indent=2))
    loss = "n/a" if final_loss is None else f"{final_loss:.3f}"
    print(f"trained {cfg.train.steps} steps in {train_seconds:.1f}s, final loss {loss}")
    print(table)
    return summary


def evaluate(
    field: ek.EnergyField, cfg: TrainConfig, g_min: float = G_MIN
) -> tuple[list[dict[str, Any]], torch.Tensor, ek.DescentResult]:
    """Sample with GD and NAG-GD, fixed budget and adaptive, from the same noise; score each.

    The first row scores a fresh draw of the data itself: the floor every sampler is
    measured against.

    Returns:
        The metric rows, the held-out data `(n, 2)`, and the adaptive NAG-GD result.
    """
    s = cfg.sample
    gen = torch.Generator().manual_seed(cfg.train.seed + 1)
    x0 = torch.randn(s.n, 2, generator=gen)
    held_out = sample_toy(cfg.data.name, s.n, generator=gen)
    fresh = sample_toy(cfg.data.name, s.n, generator=gen)
    rows: list[dict[str, Any]] = [_score("data (fresh draw)", fresh, held_out, cfg)]
    nag = {"optimizer": "nag", "momentum": s.momentum}
    lr = step_size(s)  # every row takes the recipe's step, so the short row is a prefix of nag

    def descend(label: str, steps: int, stop: float | None, **opt: Any) -> ek.DescentResult:
        t0 = time.perf_counter()
        result = ek.Descender(field, lr=lr, steps=steps, g_min=stop, **opt).run(x0)
        row = _score(label, result.x, held_out, cfg)
        row.update(_cost(result, time.perf_counter() - t0))
        rows.append(row)
        return result

    descend("gd", s.steps, None, optimizer="gd")
    descend("nag", s.steps, None, **nag)
    adaptive = descend("nag + g_min", s.steps, g_min, **nag)
    # A fixed budget as short as the slowest adaptive sample: does stopping early beat it?
    short = int(adaptive.steps.max()) + 1
    descend(f"nag, {short} steps", short, None, **nag)
    return rows, held_out, adaptive


def _cost(result: ek.DescentResult, seconds: float) -> dict[str, Any]:
    return {
        "steps_mean": float(result.steps.double().mean()),
        "steps_min": int(result.steps.min()),
        "steps_max": int(result.steps.max()),
        "nfe_total": result.nfe_total,
        "seconds": seconds,
    }


def _score(label: str, x: torch.Tensor, held_out: torch.Tensor, cfg: TrainConfig) -> dict[str, Any]:
    row: dict[str, Any] = {"sampler": label, "mmd": float(mmd(x, held_out))}
    if cfg.data.name == "8gaussians":
        stats = mode_stats(x, eight_gaussians_modes(), radius=0.5)
        row.update(hit_rate=stats.hit_rate, modes_covered=stats.modes_covered)
    return row


def _cell(v: Any) -> Any:
    return f"{v:.4g}" if isinstance(v, float) else v


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The recipe, then the flags, then the free overrides."""
    flags = [f"train.seed={args.seed}", f"sample.seed={args.seed}"]
    if args.train_steps is not None:
        flags.append(f"train.steps={args.train_steps}")
    if args.n_samples is not None:
        flags.append(f"sample.n={args.n_samples}")
    if args.dataset is not None:
        flags.append(f"data.name={args.dataset}")
    return load_config(args.recipe, [*flags, *args.overrides])


def adaptive_g_min(flag: float | None, cfg: TrainConfig) -> float:
    """The adaptive row's threshold: `--g-min` if given, else the recipe's `sample.g_min`
    (after the overrides), else `G_MIN`."""
    if flag is not None:
        return flag
    return G_MIN if cfg.sample.g_min is None else cfg.sample.g_min


def main(argv: list[str] | None = None) -> Path:
    """Entry point of `make toy-demo`; prints and returns the report directory."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=Path("runs/toy-demo"))
    parser.add_argument("--recipe", type=Path, default=RECIPE)
    parser.add_argument("--train-steps", type=int, help="default: the recipe's (3000)")
    parser.add_argument("--n-samples", type=int, help="default: the recipe's (2000)")
    parser.add_argument("--seed", type=int, default=0, help="weights, batches, noise, samples")
    parser.add_argument("--dataset", help="a toy name (default: the recipe's, 8gaussians)")
    parser.add_argument(
        "--g-min",
        type=float,
        help=f"adaptive row's threshold (default: the recipe's sample.g_min, else {G_MIN})",
    )
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("overrides", nargs="*", help="section.key=value, e.g. train.batch=256")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # a 2-D MLP: more threads only add overhead
    run(config_from_args(args), args.out, g_min=args.g_min, progress=not args.no_progress)
    print(f"report: {args.out.resolve()}")
    return args.out


if __name__ == "__main__":
    main()
