"""The 2-D toy demo: train EqM on a toy in about a minute, sample by NAG-GD, write a report.

Run: `python -m energykit.toy_demo --out runs/toy-demo` (one CPU thread is plenty).

The report holds `samples.png` (data and samples, the learned descent field, the histogram of
per-sample steps under adaptive compute), `metrics.md` / `metrics.json` (mode hit rate,
modes covered, MMD to held-out data, steps and function evaluations per sampler; the JSON also
holds the config, training time and final loss).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

import energykit as ek
from energykit.data import eight_gaussians_modes, sample_toy
from energykit.metrics import mmd, mode_stats


@dataclass(frozen=True)
class DemoConfig:
    """Settings of the demo; the defaults are what `make demo` runs.

    Attributes:
        dataset: Toy distribution name.
        train_steps: AdamW steps.
        batch: Training batch size.
        width: MLP width.
        depth: MLP residual blocks.
        lr: AdamW learning rate.
        seed: Seed for weights, data, noise and sampling.
        n_samples: Samples drawn per sampler.
        sample_lr: Descent step size.
        momentum: NAG-GD look-ahead $\\mu$.
        max_steps: Descent step budget.
        g_min: Adaptive-compute threshold on the gradient norm.
    """

    dataset: str = "8gaussians"
    train_steps: int = 3000
    batch: int = 512
    width: int = 256
    depth: int = 3
    lr: float = 1e-3
    seed: int = 0
    n_samples: int = 2000
    sample_lr: float = 0.05
    momentum: float = 0.3
    max_steps: int = 250
    g_min: float = 0.05


def train_eqm(cfg: DemoConfig) -> tuple[ek.ImplicitField, list[float]]:
    """Train an implicit EqM field on `cfg.dataset`; returns the field (eval mode) and losses."""
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    field = ek.ImplicitField(ek.nets.MLP(2, cfg.width, cfg.depth))
    opt = torch.optim.AdamW(field.parameters(), lr=cfg.lr, weight_decay=0.0)
    objective = ek.EqMLoss()
    losses = []
    for _ in range(cfg.train_steps):
        x = sample_toy(cfg.dataset, cfg.batch, generator=gen)
        out = objective(field, x, generator=gen)
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        opt.step()
        losses.append(float(out.loss.detach()))
    return field.eval(), losses


def evaluate(
    field: ek.EnergyField, cfg: DemoConfig
) -> tuple[list[dict[str, Any]], torch.Tensor, ek.DescentResult]:
    """Sample with GD and NAG-GD, fixed budget and adaptive; score every run.

    The first row scores a fresh draw of the data itself: the floor every sampler is
    measured against.

    Returns:
        The metric rows, the held-out data, and the adaptive NAG-GD result (for the plot).
    """
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    x0 = torch.randn(cfg.n_samples, 2, generator=gen)
    held_out = sample_toy(cfg.dataset, cfg.n_samples, generator=gen)
    fresh = sample_toy(cfg.dataset, cfg.n_samples, generator=gen)
    nag = {"momentum": cfg.momentum}
    rows: list[dict[str, Any]] = [_score("data (fresh draw)", fresh, held_out, cfg)]
    results = {}
    for label, name, kw, steps, g_min in [
        ("gd", "gd", {}, cfg.max_steps, None),
        ("nag", "nag", nag, cfg.max_steps, None),
        ("nag + g_min", "nag", nag, cfg.max_steps, cfg.g_min),
    ]:
        results[label] = _run(field, x0, held_out, cfg, label, name, kw, steps, g_min, rows)
    # A fixed budget as short as the slowest adaptive sample: does stopping early beat it?
    short = int(results["nag + g_min"].steps.max()) + 1
    _run(field, x0, held_out, cfg, f"nag, {short} steps", "nag", nag, short, None, rows)
    return rows, held_out, results["nag + g_min"]


def _run(
    field: ek.EnergyField,
    x0: torch.Tensor,
    held_out: torch.Tensor,
    cfg: DemoConfig,
    label: str,
    name: str,
    kw: dict[str, Any],
    steps: int,
    g_min: float | None,
    rows: list[dict[str, Any]],
) -> ek.DescentResult:
    """One descent, timed and scored into `rows`."""
    t0 = time.perf_counter()
    result = ek.Descender(field, name, lr=cfg.sample_lr, steps=steps, g_min=g_min, **kw).run(x0)
    seconds = time.perf_counter() - t0
    row = _score(label, result.x, held_out, cfg)
    row.update(
        steps_mean=float(result.steps.double().mean()),
        steps_min=int(result.steps.min()),
        steps_max=int(result.steps.max()),
        nfe_total=result.nfe_total,
        seconds=seconds,
    )
    rows.append(row)
    return result


def _score(label: str, x: torch.Tensor, held_out: torch.Tensor, cfg: DemoConfig) -> dict[str, Any]:
    row: dict[str, Any] = {"sampler": label, "mmd": float(mmd(x, held_out))}
    if cfg.dataset == "8gaussians":
        stats = mode_stats(x, eight_gaussians_modes(), radius=0.5)
        row.update(hit_rate=stats.hit_rate, modes_covered=stats.modes_covered)
    return row


def write_markdown(rows: list[dict[str, Any]], path: Path) -> str:
    """Write the metrics table as Markdown and return it."""
    keys = list(rows[-1])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for r in rows:
        cells = [_cell(r.get(k)) for k in keys]
        lines.append("| " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    path.write_text(text)
    return text


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def plot(
    field: ek.EnergyField, held_out: torch.Tensor, result: ek.DescentResult, path: Path
) -> None:
    """Samples over data, the descent direction field, and the steps histogram."""
    from energykit.viz import plot_steps_histogram, plot_streamlines, pyplot

    plt = pyplot()
    lim = 3.0
    fig, ax = plt.subplots(1, 3, figsize=(15, 4.8))
    ax[0].scatter(*held_out.T, s=2, c="0.75", label="data")
    ax[0].scatter(*result.x.T, s=2, c="C3", label="EqM samples (NAG-GD + g_min)")
    ax[0].set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", title="samples")
    ax[0].legend(loc="upper right", markerscale=4, fontsize=8)
    plot_streamlines(ax[1], field, lim=lim)
    plot_steps_histogram(ax[2], result.steps)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> Path:
    """Entry point of the toy demo; returns (and prints) the report directory."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=Path("runs/toy-demo"))
    parser.add_argument("--train-steps", type=int, default=DemoConfig.train_steps)
    parser.add_argument("--n-samples", type=int, default=DemoConfig.n_samples)
    parser.add_argument("--seed", type=int, default=DemoConfig.seed)
    parser.add_argument("--dataset", default=DemoConfig.dataset)
    args = parser.parse_args(argv)
    cfg = DemoConfig(
        dataset=args.dataset, train_steps=args.train_steps, n_samples=args.n_samples, seed=args.seed
    )
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    field, losses = train_eqm(cfg)
    train_seconds = time.perf_counter() - t0
    rows, held_out, adaptive = evaluate(field, cfg)
    plot(field, held_out, adaptive, args.out / "samples.png")
    table = write_markdown(rows, args.out / "metrics.md")
    summary = {
        "config": asdict(cfg),
        "train_seconds": train_seconds,
        "final_loss": losses[-1],
        "rows": rows,
    }
    (args.out / "metrics.json").write_text(json.dumps(summary, indent=2))
    print(f"trained {cfg.train_steps} steps in {train_seconds:.1f}s, final loss {losses[-1]:.3f}")
    print(table)
    print(f"report: {args.out.resolve()}")
    return args.out


if __name__ == "__main__":
    main()
