"""`make mnist-demo`: EqM and flow matching on MNIST-5k with the convolutional backbone.

    python recipes/demo/mnist.py --out runs/mnist-demo          # what `make mnist-demo` runs
    python recipes/demo/mnist.py --out runs/q --train-steps 200 --n-samples 200   # minutes
    python recipes/demo/mnist.py --out runs/s --checkpoints EQM.pt FM.pt   # score trained models

It trains `recipes/mnist/unet-eqm.yaml` and `recipes/mnist/unet-fm.yaml` as they are (the same
`UNet(1, (32, 64))`, class-conditional, 2,500 AdamW steps), one process and one thread each,
both at once, so the two models share the two cores the way the study's jobs do. Each then
samples 1,000 digits from the same noise and labels (`sample.seed`): EqM with the recipe's
sampler (`auto`: NAG-GD at 250 steps) and its few-step default at 25 and 10 evaluations, flow
matching with Euler at 250 and 25 steps and AB2 at 10. `OUT/report.md` holds the table
(classifier FID proxy, class coverage, memorisation ratio, NFE, seconds) and the side-by-side
grid `OUT/grid.png` (real test digits, EqM, FM: the same noise and label in each cell);
`OUT/metrics.json` the rows; checkpoints `OUT/eqm/last.pt` and `OUT/fm/last.pt`.
`--checkpoints EQM.pt FM.pt` skips training and samples those models instead (for example the
seed-0 runs of `energykit train recipes/mnist/unet-eqm.yaml` and `unet-fm.yaml`, which are the
models the demo trains: seeded training is exact).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import time
from pathlib import Path
from typing import Any

import torch

RECIPES = Path(__file__).resolve().parents[1] / "mnist"
#: Rows per model: (label, sampler, steps); `None` means the recipe's own.
ROWS = {
    "eqm": [
        ("EqM, recipe sampler (NAG-GD 250 steps)", None, None),
        ("EqM, few-step default, 25 steps", "auto", 25),
        ("EqM, few-step default, 10 steps", "auto", 10),
    ],
    "fm": [
        ("FM, Euler 250 steps", None, None),
        ("FM, Euler 25 steps", "euler", 25),
        ("FM, AB2 10 steps", "ab2", 10),
    ],
}
#: The draw each model shows in the side-by-side grid (its first row: the recipe's sampler).
GRID_ROW = 0


def overrides(train_steps: int | None, n_samples: int | None, seed: int) -> list[str]:
    """The demo's `key=value` changes to the recipes (none at the defaults but the seed)."""
    out = [f"train.seed={seed}", f"sample.seed={seed}"]
    if train_steps is not None:
        out += [f"train.steps={train_steps}", f"train.ckpt_every={max(1, train_steps // 5)}"]
    if n_samples is not None:
        out.append(f"sample.n={n_samples}")
    return out


def train_and_sample(args: tuple[str, str, list[str], bool, str | None]) -> dict[str, Any]:
    """Train one recipe into `out/<kind>` (or load `checkpoint`), draw its rows, save the grid
    draw; in a worker."""
    kind, out, extra, progress, checkpoint = args
    torch.set_num_threads(1)
    from energykit.sampling import generate
    from energykit.train import Trainer, load_config, load_trained
    from energykit.train.data import build_data
    from energykit.train.scoring import score_samples

    (Path(out) / kind).mkdir(parents=True, exist_ok=True)
    if checkpoint is None:
        cfg = load_config(RECIPES / f"unet-{kind}.yaml", extra)
        trainer = Trainer(cfg, Path(out) / kind, progress=progress, resume=False)
        t0 = time.perf_counter()
        trainer.fit()
        train_s: float | None = time.perf_counter() - t0
        model, data, params = trainer.trained(), trainer.data, trainer.n_parameters
    else:
        model, train_s = load_trained(checkpoint), None
        data = build_data(model.config.data)
        cfg = load_config(RECIPES / f"unet-{kind}.yaml", extra)  # its sample section
        params = sum(p.numel() for p in model.net.parameters())
    rows = []
    for i, (label, sampler, steps) in enumerate(ROWS[kind]):
        kw: dict[str, Any] = {}
        if sampler is not None:
            kw = {"sampler": sampler, "steps": steps}
        s = generate(
            model.sampleable(),
            model.shape,
            cfg.sample,
            num_classes=model.num_classes,
            landscape=model.landscape,
            **kw,
        )
        if i == GRID_ROW:
            y = torch.arange(len(s.x)) % 10 if s.y is None else s.y
            torch.save({"x": s.x[:100].clone(), "y": y[:100].clone()}, Path(out) / kind / "grid.pt")
        rows.append(
            {
                "model / sampler": label,
                **score_samples(s.x, data),
                "nfe_per_sample": s.nfe_mean,
                "sample_seconds": s.seconds,
                "train_seconds": train_s,
                "params": params,
            }
        )
    return {"kind": kind, "rows": rows, "steps": model.step, "n": cfg.sample.n}


def save_grid(out: Path, real: torch.Tensor, labels: torch.Tensor) -> Path:
    """Real test digits, EqM and FM side by side: the models' cells share noise and label,
    and the real cell holds a test digit of that label (cell i: digit i mod 10)."""
    from energykit.viz import image_grid, pyplot

    drawn = torch.load(out / "eqm" / "grid.pt")["y"][:100]
    pick = [int((labels == int(c)).nonzero()[k // 10, 0]) for k, c in enumerate(drawn)]
    panels = [("real test digits", real[pick])]
    for kind, title in (("eqm", "EqM (NAG-GD, 250 steps)"), ("fm", "FM (Euler, 250 steps)")):
        panels.append((title, torch.load(out / kind / "grid.pt")["x"]))
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.4))
    for ax, (title, x) in zip(axes, panels, strict=True):
        ax.imshow(image_grid(x.clamp(-1, 1), nrow=10).squeeze(-1).numpy(), cmap="gray")
        ax.set_title(title)
        ax.axis("off")
    fig.tight_layout()
    path = out / "grid.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def run(
    out: Path,
    extra: list[str],
    *,
    progress: bool = False,
    checkpoints: tuple[str, str] | None = None,
) -> Path:
    """Train (or load `checkpoints`, EqM then FM) and sample both models in two workers,
    then write the grid and the report."""
    from energykit.train import load_config
    from energykit.train.data import build_data
    from energykit.train.scoring import data_floor, floor_size
    from energykit.viz import markdown_table

    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    ckpts = checkpoints or (None, None)
    work = [(k, str(out), extra, progress, c) for k, c in zip(("eqm", "fm"), ckpts, strict=True)]
    with mp.get_context("spawn").Pool(2) as pool:
        results = {r["kind"]: r for r in pool.map(train_and_sample, work)}
    cfg = load_config(RECIPES / "unet-eqm.yaml", extra)
    data = build_data(cfg.data)
    floor = {"model / sampler": "real test digits (floor)", **data_floor(data, cfg.sample.n)}
    rows = [floor, *results["eqm"]["rows"], *results["fm"]["rows"]]
    save_grid(out, data.x_test, data.y_test)
    keys = ["model / sampler", "fid_proxy", "class_entropy", "memorization", "escaped"]
    keys += ["nfe_per_sample", "sample_seconds", "train_seconds"]
    table = markdown_table(keys, [[_fmt(r.get(k, "-")) for k in keys] for r in rows])
    wall = time.perf_counter() - t0
    steps, n = results["eqm"]["steps"], results["eqm"]["n"]
    text = f"""# energykit MNIST demo: EqM vs flow matching on a convolutional backbone

`recipes/mnist/unet-eqm.yaml` and `unet-fm.yaml` ({", ".join(extra)}): `UNet(1, (32, 64))`
(pixel-unshuffle stem, attention at 7x7), class-conditional, AdamW 1e-3, batch 128,
{steps} steps, EMA 0.999; {n} samples per row from the same noise and labels. Whole run
{wall / 60:.1f} min.

{table}

- `fid_proxy`: Frechet distance of a small classifier's features, against the train split
  (not Inception FID); the floor row is {floor_size(data, n)} real held-out test digits.
- `memorization`: median distance from a sample to its nearest training image, over the same
  for real held-out digits (about 1: no copying; well below 1: the model reproduces its
  training set).

![EqM and FM samples beside real digits](grid.png)
"""
    (out / "report.md").write_text(text)
    (out / "metrics.json").write_text(json.dumps({"rows": rows, "overrides": extra}, indent=2))
    print(table, flush=True)
    return out / "report.md"


def _fmt(v: Any) -> Any:
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}"
    return v


def main(argv: list[str] | None = None) -> Path:
    """Entry point of `make mnist-demo`; prints the table, returns the report path."""
    parser = argparse.ArgumentParser(description="EqM vs flow matching on MNIST-5k (U-Net)")
    parser.add_argument("--out", type=Path, default=Path("runs/mnist-demo"))
    parser.add_argument("--train-steps", type=int, default=None, help="default: the recipe's")
    parser.add_argument("--n-samples", type=int, default=None, help="default: the recipe's")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--checkpoints", nargs=2, metavar=("EQM", "FM"), help="sample these instead of training"
    )
    args = parser.parse_args(argv)
    ckpts = None if args.checkpoints is None else tuple(args.checkpoints)
    extra = overrides(args.train_steps, args.n_samples, args.seed)
    return run(args.out, extra, checkpoints=ckpts)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
