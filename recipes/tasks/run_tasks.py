"""What EqM can do that flow matching can't: partial denoising, OOD detection, composition and
inpainting on digits and MNIST-5k, with models trained from the recipes.

    python recipes/tasks/run_tasks.py --out runs/tasks --jobs 2     # `make tasks`
    python recipes/tasks/run_tasks.py --out /tmp/t --quick          # seconds: the CI smoke run

Trains (or resumes) the models it needs under `OUT/models/`, runs the four experiments, and
writes `OUT/results.json`, `OUT/report.md` (the tables of docs/tasks.md) and PNG figures.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

import energykit as ek
from energykit.descent.defaults import DEFAULT_STEP_BUDGET, PAPER_MOMENTUM
from energykit.fields import Gaussian
from energykit.flows import Velocity
from energykit.metrics import auroc, fpr_at_tpr
from energykit.tasks import denoise, inpaint, noise, ood_scores
from energykit.train import Trainer, load_config, load_trained
from energykit.train.data import build_data
from energykit.train.scoring import classifier_for
from energykit.viz import markdown_table

RECIPES = Path(__file__).resolve().parents[1]
LEVELS = (1.0, 0.75, 0.5, 0.25, 0.0)  # noise level = 1 - gamma
STEPS = 250

#: name -> (recipe, overrides); digits models get 3x the recipe budget (9,000 steps).
MODELS: dict[str, tuple[str, list[str]]] = {
    "digits-eqm": ("digits/eqm.yaml", ["train.steps=9000"]),
    "digits-fm": ("digits/fm.yaml", ["train.steps=9000"]),
    "digits-eqm-cond": ("digits/eqm.yaml", ["train.steps=9000", "data.class_conditional=true"]),
    "mnist-eqm": ("mnist/eqm.yaml", []),
    "mnist-fm": ("mnist/fm.yaml", []),
    "mnist-eqm-dot": ("mnist/eqm-dot.yaml", []),
}


def train_model(args: tuple[str, str, bool]) -> str:
    name, out, quick = args
    torch.set_num_threads(1)
    recipe, overrides = MODELS[name]
    if quick:
        overrides = [*overrides, "train.steps=20"]
    # docs/tasks.md was measured before the recipes turned the EMA warm-up on: keep it off.
    cfg = load_config(
        RECIPES / recipe, [*overrides, "train.ckpt_every=1000", "train.ema_warmup=false"]
    )
    t0 = time.perf_counter()
    Trainer(cfg, Path(out) / "models" / name, progress=False).fit()
    return f"{name}: {time.perf_counter() - t0:.0f} s"


def psnr(a: Tensor, b: Tensor, mask: Tensor | None = None) -> float:
    """Mean PSNR (dB) of images in [-1, 1] (peak-to-peak 2), over `mask == 1` entries if given."""
    a, b = a.clamp(-1, 1), b.clamp(-1, 1)
    err = (a - b).square()
    if mask is None:
        mse = err.flatten(1).mean(1)
    else:
        m = mask.expand_as(err)
        mse = (err * m).flatten(1).sum(1) / m.flatten(1).sum(1)
    return float((10 * torch.log10(4.0 / mse.clamp(min=1e-10))).mean())


def fm_from(velocity: Velocity, x: Tensor, t0: float, steps: int) -> Tensor:
    """Euler on the FM velocity from time `t0` to 1 (the control told the true level)."""
    if t0 >= 1.0:
        return x
    k = max(1, round(steps * (1.0 - t0)))
    return velocity.integrate(x, steps=k, t_start=t0).x


def denoising(out: Path, family: str, quick: bool) -> dict[str, Any]:
    eqm, fm = load_trained(out / "models" / f"{family}-eqm" / "last.pt"), None
    fm = load_trained(out / "models" / f"{family}-fm" / "last.pt")
    data = build_data(eqm.config.data)
    clf = classifier_for(data)
    assert clf is not None and data.x_train is not None
    x = data.x_test[: 64 if quick else 1000]
    field = eqm.field()
    rows = []
    grid = []
    for level in LEVELS:
        gamma = 1.0 - level
        x_noisy = noise(x, gamma, generator=torch.Generator().manual_seed(1))
        res = {
            "EqM (descent, no level)": denoise(field, x_noisy, steps=STEPS).x,
            "FM from t = 0 (no level)": fm.velocity().integrate(x_noisy, steps=STEPS).x,
            "FM told t (control)": fm_from(fm.velocity(), x_noisy, gamma, STEPS),
        }
        row: dict[str, Any] = {"level": level}
        for name, y in res.items():
            y = y.clamp(-1, 1)
            row[name] = {"fid_proxy": clf.fid(y, data.x_train), "psnr": psnr(y, x)}
        row["input"] = {
            "fid_proxy": clf.fid(x_noisy.clamp(-1, 1), data.x_train),
            "psnr": psnr(x_noisy, x),
        }
        rows.append(row)
        grid += [x_noisy[:8], *(v[:8] for v in res.values())]
    ek.viz.save_samples(torch.cat(grid).clamp(-1, 1), out / f"denoise-{family}.png", nrow=8)
    return {"rows": rows, "n": len(x)}


def upsampled_digits(n: int) -> Tensor:
    digits = ek.data.load_images("digits").x_test
    reps = math.ceil(n / len(digits))
    big = F.interpolate(digits.repeat(reps, 1, 1, 1)[:n], size=(28, 28), mode="bilinear")
    return big.clamp(-1, 1)


def ood(out: Path, quick: bool) -> dict[str, Any]:
    dot = load_trained(out / "models" / "mnist-eqm-dot" / "last.pt")
    imp = load_trained(out / "models" / "mnist-eqm" / "last.pt")
    data = build_data(dot.config.data)
    assert data.x_train is not None
    n = 64 if quick else 1000
    x_in = data.x_test[:n]
    g = torch.Generator().manual_seed(3)
    sets = {
        "uniform noise": torch.rand((n, 1, 28, 28), generator=g) * 2 - 1,
        "Gaussian noise": (0.5 * torch.randn((n, 1, 28, 28), generator=g)).clamp(-1, 1),
        "constant images": (torch.rand((n, 1, 1, 1), generator=g) * 2 - 1).expand(n, 1, 28, 28),
        "inverted digits": -x_in,
        "sklearn digits, upsampled": upsampled_digits(n),
    }
    # Baseline: a full-covariance Gaussian fitted to the training pixels (ridge 0.1).
    flat = data.x_train.flatten(1).double()
    cov = torch.cov(flat.T) + 0.1 * torch.eye(flat.shape[1], dtype=torch.float64)
    gauss = Gaussian(flat.mean(0), cov)
    dot_field = dot.field()
    imp_field = imp.field()
    scorers = {
        "EqM-E dot: energy": lambda z: ood_scores(dot_field, z.contiguous()),
        "EqM implicit: gradient norm": lambda z: ood_scores(
            imp_field, z.contiguous(), method="grad_norm"
        ),
        "EqM implicit: descent distance": lambda z: ood_scores(
            imp_field, z.contiguous(), method="descent_distance", steps=50
        ),
        "Gaussian on pixels (baseline)": lambda z: ood_scores(gauss, z.flatten(1).double()),
    }
    table: dict[str, dict[str, dict[str, float]]] = {}
    for sname, score in scorers.items():
        s_in = score(x_in)
        table[sname] = {}
        for oname, x_out in sets.items():
            s_out = score(x_out)
            table[sname][oname] = {"auroc": auroc(s_in, s_out), "fpr95": fpr_at_tpr(s_in, s_out)}
        table[sname]["average"] = {
            k: sum(v[k] for v in table[sname].values()) / len(sets) for k in ("auroc", "fpr95")
        }
    return {"table": table, "n": n}


PAIRS = ((0, 1), (3, 8), (4, 9), (2, 7))
NOT_PAIRS = ((8, 3), (9, 4), (7, 1))


def composition(out: Path, quick: bool) -> dict[str, Any]:
    model = load_trained(out / "models" / "digits-eqm-cond" / "last.pt")
    data = build_data(model.config.data)
    clf = classifier_for(data)
    assert clf is not None
    base = model.field()
    n = 32 if quick else 300
    x0 = torch.randn((n, *model.shape), generator=torch.Generator().manual_seed(4))
    lr0 = DEFAULT_STEP_BUDGET / STEPS
    rows, grid = [], []

    def run(name: str, field: Any, a: int, b: int) -> None:
        weight = field.positive_weight if hasattr(field, "positive_weight") else 1.0
        lr = lr0 / weight
        x = ek.Descender(field, "nag", lr=lr, momentum=PAPER_MOMENTUM, steps=STEPS).run(x0).x
        x = x.clamp(-1, 1)
        pred = clf.predict(x)
        rows.append(
            {
                "composition": name,
                "a": a,
                "b": b,
                "as_a": float((pred == a).double().mean()),
                "as_b": float((pred == b).double().mean()),
                "other": float(((pred != a) & (pred != b)).double().mean()),
            }
        )
        grid.append(x[:10])

    for a, b in PAIRS:
        run(f"{a} alone", base.bind(y=a), a, b)
        run(f"{a} + {b}", base.bind(y=a) + base.bind(y=b), a, b)
    for a, b in NOT_PAIRS:
        run(f"{a} - 0.5 x {b} (a and not b)", base.bind(y=a) - 0.5 * base.bind(y=b), a, b)
    ek.viz.save_samples(torch.cat(grid), out / "compose-digits.png", nrow=10)
    return {"rows": rows, "n": n, "chance": 0.1}


def inpainting(out: Path, family: str, quick: bool) -> dict[str, Any]:
    model = load_trained(out / "models" / f"{family}-eqm" / "last.pt")
    data = build_data(model.config.data)
    clf = classifier_for(data)
    assert clf is not None and data.y_test is not None and data.x_train is not None
    n = 64 if quick else 1000
    x, y = data.x_test[:n], data.y_test[:n]
    h = x.shape[-2]
    mask = torch.ones_like(x[:1])
    mask[..., h // 2 :, :] = 0  # bottom half unknown
    field = model.field()
    gen = torch.Generator().manual_seed(5)
    filled = inpaint(field, x, mask, steps=STEPS, generator=gen).x.clamp(-1, 1)
    mean_fill = mask * x + (1 - mask) * data.x_train.mean(0, keepdim=True)
    from_mean = inpaint(field, x, mask, steps=STEPS, init=mean_fill).x.clamp(-1, 1)
    fills = {
        "EqM inpainted": filled,
        "EqM inpainted, from the mean fill": from_mean,
        "mean-image fill (baseline)": mean_fill,
    }
    agree = {"original": float((clf.predict(x) == y).double().mean())}
    agree.update({k: float((clf.predict(v) == y).double().mean()) for k, v in fills.items()})
    unknown = 1 - mask
    ek.viz.save_samples(
        torch.cat([x[:10], (mask * x - unknown)[:10], filled[:10], from_mean[:10], mean_fill[:10]]),
        out / f"inpaint-{family}.png",
        nrow=10,
    )
    return {
        "n": n,
        "psnr_masked": {k: psnr(v, x, unknown) for k, v in fills.items()},
        "accuracy": agree,
    }


def report(results: dict[str, Any]) -> str:
    lines = ["## Partial denoising", ""]
    for family in ("digits", "mnist"):
        r = results["denoise"][family]
        lines += [
            f"**{family}** ({r['n']} test images; FID proxy against the train split / PSNR in dB"
            " against the clean image):",
            "",
        ]
        fills = ["input", "EqM (descent, no level)", "FM from t = 0 (no level)"]
        fills.append("FM told t (control)")
        cells = [
            [row["level"], *[f"{row[k]['fid_proxy']:.1f} / {row[k]['psnr']:.1f}" for k in fills]]
            for row in r["rows"]
        ]
        lines += [markdown_table(["noise level", *fills], cells)]
    lines += ["## Out-of-distribution detection (MNIST test in-distribution)", ""]
    t = results["ood"]["table"]
    sets = list(next(iter(t.values())).keys())
    cells = [
        [sname, *[f"{row[s]['auroc']:.3f} ({row[s]['fpr95']:.2f})" for s in sets]]
        for sname, row in t.items()
    ]
    lines += [markdown_table(["score", *sets], cells).rstrip("\n")]
    lines += ["", "AUROC (FPR at 95% TPR in brackets).", "", "## Composition (digits)", ""]
    c = results["compose"]
    lines += [
        f"{c['n']} samples each; fractions read as class a, as class b, or neither, by the "
        "feature classifier (chance 0.1 each):",
        "",
    ]
    cells = [
        [row["composition"], *[f"{row[k]:.2f}" for k in ("as_a", "as_b", "other")]]
        for row in c["rows"]
    ]
    lines += [markdown_table(["field", "as a", "as b", "neither"], cells).rstrip("\n")]
    lines += ["", "## Inpainting (bottom half unknown)", ""]
    cells = []
    for family in ("digits", "mnist"):
        r = results["inpaint"][family]
        acc = r["accuracy"]
        cells.append([family, "original image", "-", f"{acc['original']:.3f}"])
        cells += [[family, k, f"{v:.2f}", f"{acc[k]:.3f}"] for k, v in r["psnr_masked"].items()]
    header = ["data", "fill", "PSNR of the filled half (dB)", "classifier accuracy"]
    return "\n".join(lines) + "\n" + markdown_table(header, cells)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/tasks")
    p.add_argument("--quick", action="store_true", help="tiny models and sets (CI smoke)")
    p.add_argument("--jobs", type=int, default=1, help="models trained in parallel")
    args = p.parse_args(argv)
    out = Path(args.out)
    torch.set_num_threads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    t0 = time.perf_counter()
    todo = [(name, str(out), args.quick) for name in MODELS]
    if args.jobs > 1:
        with mp.get_context("spawn").Pool(args.jobs) as pool:
            for line in pool.imap_unordered(train_model, todo):
                print(line, flush=True)
    else:
        for job in todo:
            print(train_model(job), flush=True)
    t1 = time.perf_counter()
    results: dict[str, Any] = {
        "denoise": {f: denoising(out, f, args.quick) for f in ("digits", "mnist")},
        "ood": ood(out, args.quick),
        "compose": composition(out, args.quick),
        "inpaint": {f: inpainting(out, f, args.quick) for f in ("digits", "mnist")},
        "seconds": {"training": t1 - t0, "experiments": time.perf_counter() - t1},
    }
    (out / "results.json").write_text(json.dumps(results, indent=2))
    (out / "report.md").write_text(report(results))
    print(f"report: {out / 'report.md'}")
    return results


if __name__ == "__main__":
    main()
