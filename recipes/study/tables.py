"""Markdown tables from a study directory: `python recipes/study/tables.py runs/study`."""

from __future__ import annotations

import json
import statistics
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from energykit.viz import markdown_table

KINDS = ("eqm", "fm", "fm-uncond")
#: Each family of tables: its recipes, the study part that trains them, and the training budget
#: at which its descent optimisers, step sizes and adaptive compute were measured.
FAMILIES = {
    "digits": ("digits/{}.yaml", "main", "3x"),
    "mnist": ("mnist/{}.yaml", "main", "3x"),
    "mnist-unet": ("mnist/unet-{}.yaml", "unet", "1x"),
}
#: The dataset (and so the data floor) of each family.
DATASET = {"digits": "digits", "mnist": "mnist", "mnist-unet": "mnist"}
LABEL = {"eqm": "EqM (NAG-GD)", "fm": "FM (Euler)", "fm-uncond": "uncond FM (Euler)"}
#: Step-size rows: EqM rows are per descent sampler, FM rows per model.
STEP_LABEL = {"eqm": "EqM ({sampler})", "fm": LABEL["fm"], "fm-uncond": LABEL["fm-uncond"]}


def _load(root: Path) -> list[dict[str, Any]]:
    return [
        json.loads(p.read_text())
        for p in sorted((root / "results").glob("*.json"))
        if p.name != "timing.json"
    ]


def _ms(values: Iterable[float], digits: int = 1) -> str:
    v = [x for x in values if x is not None]
    if not v:
        return "-"
    if len(v) == 1:
        return f"{v[0]:.{digits}f}"
    return f"{statistics.mean(v):.{digits}f} ± {statistics.stdev(v):.{digits}f}"


def _rows(
    results: list[dict[str, Any]], pred: Callable[[dict[str, Any]], bool], budget: str, what: str
) -> list[dict[str, Any]]:
    out = []
    for r in results:
        if pred(r):
            for row in r["evals"].get(budget, []):
                if row["what"] == what:
                    out.append({**row, "seed": r["seed"], "job": r["job"]})
    return out


def _metric(row: dict[str, Any], key: str) -> float | None:
    if "diverged" in row:
        return None
    return row.get(key)


def _floor(floor: dict[str, Any], key: str) -> float:
    value = _metric(floor, key)
    return float("nan") if value is None else value


def _kind(r: dict[str, Any]) -> str:
    return Path(r["recipe"]).stem


def _of(ds: str, kind: str) -> Callable[[dict[str, Any]], bool]:
    """Whether a result is family `ds`'s run of objective `kind`."""
    recipe, part, _ = FAMILIES[ds]
    return lambda r: r["part"] == part and r["recipe"] == recipe.format(kind)


def main_table(results: list[dict[str, Any]], ds: str, key: str = "fid_proxy") -> str:
    rows = []
    nfes = sorted({row["steps"] for row in _rows(results, lambda r: True, "1x", "nfe")})
    for kind in KINDS:
        for budget in ("1x", "3x"):
            sel = _rows(results, _of(ds, kind), budget, "nfe")
            if not sel:
                continue
            cells = [_ms(_metric(x, key) for x in sel if x["steps"] == n) for n in nfes]
            last = [x for x in sel if x["steps"] == nfes[-1]]
            ent = _ms((x.get("class_entropy") for x in last), 3)
            esc = _ms((x.get("escaped") for x in last), 3)
            mem = _ms((x.get("memorization") for x in last), 2)
            seeds = len({x["seed"] for x in sel})
            rows.append([LABEL[kind], budget, str(seeds), *cells, ent, esc, mem])
    header = ["model", "training", "seeds", *[f"{key} @ {n} NFE" for n in nfes]]
    last_cols = [f"class entropy @ {nfes[-1]}", f"escaped @ {nfes[-1]}", "memorization"]
    return markdown_table([*header, *last_cols], rows)


def fewstep_table(results: list[dict[str, Any]], ds: str, key: str = "fid_proxy") -> str:
    """The few-step rows: EqM's training-free default (`auto`), FM's AB2."""
    by: dict[tuple[str, str], dict[int, list[float | None]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for kind in KINDS:
        for budget in ("1x", "3x"):
            for row in _rows(results, _of(ds, kind), budget, "fewstep"):
                by[(kind, budget)][row["steps"]].append(_metric(row, key))
    nfes = sorted({n for cells in by.values() for n in cells})
    rows = [
        [
            "EqM (few-step default)" if kind == "eqm" else f"{LABEL[kind].split(' (')[0]} (AB2)",
            budget,
            *[_ms(cells[n]) for n in nfes],
        ]
        for (kind, budget), cells in by.items()
    ]
    return markdown_table(["model", "training", *[f"{key} @ {n} NFE" for n in nfes]], rows)


def optimiser_table(results: list[dict[str, Any]], ds: str, key: str = "fid_proxy") -> str:
    pred, at = _of(ds, "eqm"), FAMILIES[ds][2]
    # NAG-GD's rows from the seeds the other optimisers were measured on.
    seeds = {
        r["seed"]
        for r in results
        if pred(r)
        for x in r["evals"].get(at, [])
        if x["what"] == "optimiser"
    }
    mine = lambda r: pred(r) and r["seed"] in seeds  # noqa: E731
    by: dict[tuple[str, int], list[float | None]] = defaultdict(list)
    for row in _rows(results, mine, at, "nfe") + _rows(results, mine, at, "optimiser"):
        by[(row["sampler"], row["steps"])].append(_metric(row, key))
    steps = sorted({s for _, s in by})
    names = [n for n in ("gd", "nag", "adam") if any(k[0] == n for k in by)]
    rows = [[name, *[_ms(by[(name, s)]) for s in steps]] for name in names]
    return markdown_table(["sampler", *[f"{key} @ {s} steps" for s in steps]], rows)


def _cell(rows: list[dict[str, Any]], key: str, digits: int = 1) -> str:
    """Mean ± sd over the finite runs, and how many diverged."""
    bad = sum("diverged" in r for r in rows)
    text = _ms((_metric(r, key) for r in rows), digits)
    if bad:
        text = f"{text} ({bad}/{len(rows)} diverged)" if bad < len(rows) else "diverged"
    return text


def step_size_table(results: list[dict[str, Any]], ds: str, key: str = "fid_proxy") -> str:
    by: dict[tuple[str, float], list[dict[str, Any]]] = defaultdict(list)
    for kind in KINDS:
        for row in _rows(results, _of(ds, kind), FAMILIES[ds][2], "step-size"):
            label = STEP_LABEL[kind].format(sampler=row["sampler"])
            by[(label, row["lr_scale"])].append(row)
    scales = sorted({s for _, s in by})
    labels = list(dict.fromkeys(lbl for lbl, _ in by))
    rows = [[lbl, *[_cell(by[(lbl, s)], key) for s in scales]] for lbl in labels]
    return markdown_table(["sampler", *[f"{s}x step" for s in scales]], rows)


def adaptive_table(results: list[dict[str, Any]], ds: str, key: str = "fid_proxy") -> str:
    pred, at = _of(ds, "eqm"), FAMILIES[ds][2]
    by: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for row in _rows(results, pred, at, "adaptive"):
        by[("adaptive", row["g_factor"])].append(row)
    # Fixed-budget rows from the seeds the adaptive rows come from (all of them in `main`).
    seeds = {r["seed"] for r in results if pred(r) and at in r["evals"]}
    if FAMILIES[ds][1] != "main":
        seeds = {0}
    for row in _rows(results, lambda r: pred(r) and r["seed"] in seeds, at, "nfe"):
        by[("fixed", row["steps"])].append(row)
    rows = []
    for (mode, v), sel in sorted(by.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        g = _ms((x["g_min"] for x in sel), 3) if mode == "adaptive" else "-"
        hists = [x["steps_hist"] for x in sel if "steps_hist" in x]
        lo = min((min(i for i, c in enumerate(h) if c) for h in hists), default=0)
        hi = max((max(i for i, c in enumerate(h) if c) for h in hists), default=0)
        name = f"g_min = {v} x initial norm" if mode == "adaptive" else f"fixed {v} steps"
        rows.append(
            [
                name,
                g,
                _ms((x.get("nfe_mean") for x in sel), 1),
                f"{lo}-{hi}",
                _cell(sel, key),
            ]
        )
    return markdown_table(
        ["NAG-GD, 250-step budget", "g_min", "mean NFE", "steps range", key], rows
    )


def schedule_table(results: list[dict[str, Any]], key: str = "fid_proxy") -> str:
    by: dict[str, dict[str, list[float | None]]] = defaultdict(lambda: defaultdict(list))
    for r in results:
        if r["part"] == "schedule":
            label = r["job"].split("schedule-")[1].rsplit("-s", 1)[0]
        elif r["part"] == "main" and r["recipe"] == "digits/eqm.yaml":
            label = "scale-4"
        else:
            continue
        for row in r["evals"]["1x"]:
            if row["what"] in ("nfe", "normalised-lr") and row.get("steps") == 250:
                by[label][row["what"]].append(_metric(row, key))
    order = [
        *(k for k in by if not k.startswith("scale")),
        *sorted(k for k in by if k.startswith("scale")),
    ]
    rows = [
        [
            k,
            _ms(by[k]["nfe"]),
            _ms(by[k]["normalised-lr"]) if by[k]["normalised-lr"] else _ms(by[k]["nfe"]),
        ]
        for k in order
    ]
    return markdown_table(
        ["c(gamma)", f"{key}, step 0.0017", f"{key}, step 0.0017 x 4 / lambda"], rows
    )


def eqme_table(results: list[dict[str, Any]], root: Path, key: str = "fid_proxy") -> str:
    timing_path = root / "results" / "timing.json"
    timing = json.loads(timing_path.read_text())["ms_per_step"] if timing_path.is_file() else {}
    rows = []
    for kind, label in (("eqm", "implicit"), ("eqm-dot", "dot"), ("eqm-l2", "L2")):
        sel = [
            row
            for r in results
            if r["recipe"] == f"digits/{kind}.yaml" and r["part"] in ("main", "eqme")
            for row in r["evals"]["1x"]
            if row["what"] == "nfe" and row["steps"] == 250
        ]
        ms = timing.get(kind)
        ratio = f"{ms / timing['eqm']:.2f}x" if ms and timing.get("eqm") else "-"
        rows.append([label, _ms(_metric(x, key) for x in sel), f"{ms:.1f}" if ms else "-", ratio])
    return markdown_table(
        ["head", f"{key} @ 250 NAG steps", "ms / train step", "vs implicit"], rows
    )


def toy_table(results: list[dict[str, Any]]) -> str:
    rows = []
    for toy in ("8gaussians", "spirals"):
        for kind in ("eqm", "fm"):
            sel = [
                row
                for r in results
                if r["part"] == "toy" and r["job"].startswith(f"toy-{toy}-{kind}-")
                for row in r["evals"]["1x"]
                if row["what"] == "nfe"
            ]
            if not sel:
                continue
            rows.append(
                [
                    toy,
                    LABEL[kind],
                    _ms((x["mmd"] for x in sel), 4),
                    _ms((x["sw"] for x in sel), 3),
                    _ms((x.get("hit_rate") for x in sel), 3),
                    _ms((x.get("modes_covered") for x in sel), 1),
                ]
            )
    return markdown_table(["data", "model", "MMD²", "sliced W2", "hit rate", "modes covered"], rows)


def render(root: Path) -> str:
    """All tables as one Markdown document."""
    root = Path(root)
    results = _load(root)
    floors = (
        json.loads((root / "floors.json").read_text()) if (root / "floors.json").is_file() else {}
    )
    parts = []
    for ds, (_, part, at) in FAMILIES.items():
        mine = [r for r in results if any(_of(ds, k)(r) for k in KINDS)]
        if not mine:
            continue
        f = floors.get(DATASET[ds], {})
        params = {_kind(r): r["params"] for r in mine}
        partial = [r["job"] for r in mine if r.get("partial")]
        parts += [
            f"## {ds}",
            f"data floor (test split vs train split): fid_proxy {_floor(f, 'fid_proxy'):.2f}, "
            f"class entropy {f.get('class_entropy', float('nan')):.3f}; parameters {params}",
            "",
            *(
                [f"partial (later budgets still training): {', '.join(partial)}", ""]
                * bool(partial)
            ),
            "### EqM vs flow matching",
            main_table(results, ds),
            *(["### Few-step samplers", fewstep_table(results, ds)] * (part == "unet")),
            f"### Descent optimisers ({at} training, seed{'s' if part == 'main' else ''} "
            f"{'0-2' if part == 'main' else '0'})",
            optimiser_table(results, ds),
            f"### Step-size robustness (100 steps, {at} training)",
            step_size_table(results, ds),
            f"### Adaptive compute ({at} training)",
            adaptive_table(results, ds),
        ]
    if any(r["part"] == "schedule" for r in results):
        parts += ["## c(gamma) on digits (1x training, NAG-GD 250 steps)", schedule_table(results)]
    if any(r["part"] in ("eqme",) for r in results):
        parts += ["## EqM-E heads on digits (1x training)", eqme_table(results, root)]
    if any(r["part"] == "toy" for r in results):
        parts += [
            "## 2-D toys (250 NFE)",
            f"floors: { {k: v for k, v in floors.items() if k in ('8gaussians', 'spirals')} }",
            "",
            toy_table(results),
        ]
    return "\n".join(parts)


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/study")
    text = render(out)
    (out / "tables.md").write_text(text)
    print(text)
