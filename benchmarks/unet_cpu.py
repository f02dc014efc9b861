"""The convolutional backbone on a CPU: seconds per EqM training step, and quality after equal
wall-clock training, side by side with the full-resolution layout and torchcfm's `UNetModel`.

    python benchmarks/unet_cpu.py                            # s/step table, about 2 min
    python benchmarks/unet_cpu.py --quality 10 --out runs/unet-bench   # + 10 min of training each

torchcfm is optional (`torchcfm` row): it depends on another torch and on Lightning, so it
belongs in a separate virtual environment, installed with `--no-deps`, never in `dev`:

    python -m venv /tmp/cfm && /tmp/cfm/bin/pip install torch==2.13.0 numpy einops pot scipy
    /tmp/cfm/bin/pip install --no-deps torchcfm==1.0.7
    PYTHONPATH=. OMP_NUM_THREADS=1 /tmp/cfm/bin/python benchmarks/unet_cpu.py

Every variant trains the same way: `recipes/mnist/unet-eqm.yaml` (MNIST-5k, class-conditional
with label dropout 0.1, EqM loss, AdamW 1e-3, batch 128, EMA 0.999) through `energykit.Trainer`,
one thread. The speed rows time `Trainer.train_step()` in interleaved rounds
(`benchmarks.harness.measure_group`). "Equal wall-clock" is made reproducible and independent of
machine load: each variant trains `round(minutes * 60 / s_per_step)` steps, with its own median
seconds per step from the speed rounds; then 1,000 samples with the recipe's sampler and the
classifier FID proxy against the train split (`energykit.train.scoring.score_samples`), at
`--nfe` evaluations of the recipe's sampler (`auto`, EqM's few-step default; default 25).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from energykit.sampling import generate
from energykit.train import Trainer, load_config
from energykit.train.data import build_data
from energykit.train.scoring import data_floor, score_samples
from energykit.viz import markdown_table

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "mnist" / "unet-eqm.yaml"


class TorchCFMUNet(nn.Module):
    """torchcfm's `UNetModel(dim=(1, 28, 28), num_channels=32, num_res_blocks=1)` behind
    energykit's net signature `net(x, t=None, y=None)`: EqM feeds `t = 0`; the class table
    has 11 rows (the tenth digit plus the null class of label dropout)."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        from torchcfm.models.unet import UNetModel

        self.net = UNetModel(
            dim=(1, 28, 28),
            num_channels=32,
            num_res_blocks=1,
            num_classes=num_classes + 1,
            class_cond=True,
        )
        self.label_rows = num_classes + 1

    def forward(self, x: Tensor, t: Tensor | None = None, y: Tensor | None = None) -> Tensor:
        t0 = torch.zeros(x.shape[0], device=x.device, dtype=x.dtype) if t is None else t
        return self.net(t0, x, y=None if y is None else y.long().expand(x.shape[0]))


def variants() -> dict[str, Any]:
    """Label -> (net factory or `None` for the recipe's own net, `net.*` overrides)."""
    out: dict[str, Any] = {
        "energykit UNet (32, 64), patch 2, attention (recipe)": (None, []),
        "energykit UNet (32, 64), full resolution (patch 1, no attention)": (
            None,
            ["net.patch=1", "net.attention=false"],
        ),
    }
    try:
        import torchcfm  # noqa: F401
    except ImportError:
        print("torchcfm not importable: its row is left out (see the module docstring)")
    else:
        out["torchcfm UNetModel, 32 channels, 1 res block"] = (TorchCFMUNet, ["net.kind=custom"])
    return out


def trainer_for(label: str, extra: list[str], out: Path | None, steps: int = 1) -> Trainer:
    factory, overrides = variants()[label]
    cfg = load_config(RECIPE, [*overrides, *extra, f"train.steps={steps}", "train.log_every=0"])
    net = None if factory is None else factory()
    return Trainer(cfg, out, net=net, progress=False, resume=False)


def speed(repeats: int) -> dict[str, dict[str, float]]:
    """Median seconds per training step of every variant, interleaved."""
    from benchmarks.harness import measure_group

    trainers = {label: trainer_for(label, [], None) for label in variants()}
    group = measure_group({k: t.train_step for k, t in trainers.items()}, repeats, catch=False)
    return {
        k: {"s_per_step": group.median(k), "params": float(t.n_parameters)}
        for k, t in trainers.items()
    }


def quality(label: str, steps: int, out: Path, nfe: int) -> dict[str, Any]:
    """Train `label` for `steps`, then sample and score 1,000 digits with the recipe's sampler
    (`auto`: EqM's few-step default) at `nfe` evaluations."""
    trainer = trainer_for(label, ["train.ckpt_every=0"], out / _slug(label), steps=steps)
    t0 = time.perf_counter()
    trainer.fit()
    train_s = time.perf_counter() - t0
    model = trainer.trained()
    cfg = model.config.sample
    s = generate(
        model.sampleable(),
        model.shape,
        cfg,
        num_classes=model.num_classes,
        landscape=model.landscape,
        steps=nfe,
    )
    scores = score_samples(s.x, trainer.data)
    torch.save(s.x[:100].clone(), out / f"{_slug(label)}-samples.pt")
    return {"steps": steps, "train_s": train_s, "sampler": cfg.sampler, "nfe": nfe, **scores}


def _slug(label: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in label.lower()).strip("-")[:40]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quality", type=float, default=0.0, help="also train each this many minutes, and score"
    )
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--nfe", type=int, default=25, help="evaluations per quality sample")
    parser.add_argument("--out", type=Path, default=Path("runs/unet-bench"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    rates = speed(args.repeats)
    recipe_s = rates[next(iter(rates))]["s_per_step"]
    rows = []
    for label, r in rates.items():
        rows.append(
            [
                label,
                f"{r['params']:,.0f}",
                f"{r['s_per_step']:.3f}",
                f"{r['s_per_step'] / recipe_s:.2f}",
            ]
        )
    text = markdown_table(["backbone", "parameters", "s / step (B=128)", "x recipe"], rows)
    print(text, flush=True)
    record: dict[str, Any] = {"speed": rates, "torch": torch.__version__}
    if args.quality > 0:
        floor = data_floor(build_data(load_config(RECIPE).data))
        record["floor_fid_proxy"] = floor["fid_proxy"]
        qrows = []
        for label, r in rates.items():
            steps = max(1, round(args.quality * 60 / r["s_per_step"]))
            q = quality(label, steps, args.out, args.nfe)
            record.setdefault("quality", {})[label] = q
            fid, entropy = f"{q['fid_proxy']:.2f}", f"{q['class_entropy']:.3f}"
            qrows.append([label, f"{steps:,}", fid, entropy, f"{q['memorization']:.2f}"])
            print(label, q, flush=True)
        text += "\n\n" + markdown_table(
            [
                "backbone",
                f"steps in {args.quality:g} min",
                f"fid_proxy @ {args.nfe} NFE (floor {floor['fid_proxy']:.2f})",
                "class entropy",
                "memorization",
            ],
            qrows,
        )
        print(text, flush=True)
    (args.out / "unet_cpu.json").write_text(json.dumps(record, indent=2))
    (args.out / "unet_cpu.md").write_text(text + "\n")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
