"""The GPU table of issue 13, side by side in one process: training images/s of a bare loop
against `energykit.train.Trainer` (fp32, bf16, `train.compile` with and without bf16), eager
against compiled, EqM-E against EqM, sampling in fp32 against bf16, the `Descender` against a
hand loop, and k bindings batched against k calls.

    PYTHONPATH=. python benchmarks/gpu.py --out gpu.md         # one H200: about 4.5 minutes
    PYTHONPATH=. python benchmarks/gpu.py --tiny --device cpu  # the dry run (seconds)

"bare" is a hand-written loop of `EqMLoss` + backward + AdamW (fused on CUDA) + a foreach EMA
update on one fixed batch on the device; the `Trainer` runs the ImageNet recipe
(`recipes/imagenet256/eqm-b2.yaml`, `eqm-xl2.yaml`) on a folder of random cached latents, as a
user would. Every group of variants is warmed up once (compilation is timed there and reported
apart), then timed in interleaved rounds with the device synchronised around each timed
region; rates come from the median round, ratios are medians (min-max) of per-round ratios.
Peak memory is what the variant would need alone: its own tensors (weights, gradients,
optimiser state, EMA, batch) plus the peak it allocated during its rounds.

Sections run in priority order, each with an estimate; `--budget-s` skips what no longer
fits, so the table is always printed. Features other engineers may not have landed yet
(`LoopConfig.compile`, `SampleConfig.dtype`) are detected: their rows say "not available in
this checkout". The comparison with the reference EqM code in the issue is not repeated here
(no reference code on the device).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import functools
import gc
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import Tensor, nn

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python benchmarks/gpu.py` without PYTHONPATH
    sys.path.insert(0, str(ROOT))

import energykit as ek  # noqa: E402
from benchmarks.cases_descent import LR, MU, hand_gd, hand_nag, mlp_field  # noqa: E402
from benchmarks.dit_step import perturbed  # noqa: E402
from benchmarks.harness import Group, measure_group  # noqa: E402
from energykit.objectives import EqMLoss, TruncatedDecay  # noqa: E402
from energykit.viz import markdown_table  # noqa: E402

NOT_HERE = "not available in this checkout"
RECIPES = ROOT / "recipes" / "imagenet256"
SAMPLE_LR = 0.003  # the EqM-B/2 recipe's GD step
PAPER_SAMPLE_STEPS = 250


@dataclass(frozen=True)
class Sizes:
    """Every size the script uses: the issue's (`FULL`) or seconds on a CPU (`TINY`)."""

    dit: dict[str, int]  # DiT overrides (empty: the paper's sizes)
    latent: tuple[int, int, int]
    classes: int
    images: int  # in the random latent folder
    batches: tuple[int, int]  # "batch 32" and "batch 256"
    xl_batch: int
    train_steps: dict[int, int]  # timed steps per round, by batch
    xl_steps: int
    sample_batch: int
    sample_steps: int  # timed; rates are scaled to 250 steps
    mlp_batch: int
    mlp_steps: int
    bind_batches: tuple[int, int]
    bind_calls: int
    rounds: int
    estimates: dict[str, float] = field(default_factory=dict)  # seconds by section key


FULL = Sizes(
    dit={},
    latent=(4, 32, 32),
    classes=1000,
    images=1024,
    batches=(32, 256),
    xl_batch=32,
    train_steps={32: 10, 256: 4},
    xl_steps=3,
    sample_batch=125,
    sample_steps=25,
    mlp_batch=4096,
    mlp_steps=250,
    bind_batches=(64, 256),
    bind_calls=10,
    rounds=3,
    estimates={
        "b2-256": 30,
        "b2-32": 12,
        "b2-256-compiled-bf16": 75,
        "eqm-e": 12,
        "sample": 22,
        "mlp": 6,
        "bind": 8,
        "xl-32": 40,
        "b2-256-compiled-fp32": 60,
        "b2-32-compiled": 90,
    },
)
TINY = Sizes(
    dit={"depth": 1, "hidden_size": 32, "num_heads": 2},
    latent=(4, 8, 8),
    classes=10,
    images=32,
    batches=(4, 8),
    xl_batch=4,
    train_steps={4: 2, 8: 2},
    xl_steps=2,
    sample_batch=4,
    sample_steps=3,
    mlp_batch=256,
    mlp_steps=5,
    bind_batches=(4, 8),
    bind_calls=2,
    rounds=2,
)


# -- result rows ---------------------------------------------------------------------------
@dataclass
class Row:
    """One line of the table: `other` against `base` (either may be empty for a note)."""

    case: str
    base: str = ""
    other: str = ""
    base_rate: str = ""
    other_rate: str = ""
    ratio: str = ""
    peak: str = ""
    note: str = ""


HEADER = [
    "case",
    "base",
    "other",
    "base rate",
    "other rate",
    "time other/base (median, min-max)",
    "peak GiB base / other",
    "note",
]


def render(rows: list[Row]) -> str:
    cells = [[getattr(r, f.name) for f in dataclasses.fields(Row)] for r in rows]
    return markdown_table(HEADER, cells).rstrip("\n")


# -- context: device, timing, memory ------------------------------------------------------
@dataclass
class Ctx:
    """What every section needs: sizes, device, the presets and the latent folder."""

    sizes: Sizes
    device: torch.device
    latents: Path
    strict: bool
    rows: list[Row] = field(default_factory=list)
    compile_s: list[float] = field(default_factory=list)  # observed compile + warm-up

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize(self.device)

    def dit(self, preset: str, classes: int | None) -> nn.Module:
        """A paper DiT (or its tiny stand-in) with non-zero adaLN, on the CPU."""
        torch.manual_seed(0)
        c, s, _ = self.sizes.latent
        net = ek.nets.DiT.preset(
            preset, **self.sizes.dit, input_size=s, in_channels=c, num_classes=classes
        )
        return perturbed(net)


@dataclass
class Variant:
    """A way of doing work: `run` does one round; `work` is images (or steps) per round."""

    run: Callable[[], object]
    work: float
    tensors: Callable[[], Iterable[Tensor]] = lambda: ()
    peak: float | None = None  # GiB, filled while timing
    may_fail: bool = False  # a feature being built: its failure is a note even with --strict


def resident_gib(tensors: Iterable[Tensor]) -> float:
    """Bytes held by distinct storages among `tensors`, in GiB."""
    seen: dict[int, int] = {}
    for t in tensors:
        if isinstance(t, Tensor) and t.device.type == "cuda":
            st = t.untyped_storage()
            seen[st.data_ptr()] = st.nbytes()
    return sum(seen.values()) / 2**30


def tracked(ctx: Ctx, v: Variant) -> Callable[[], object]:
    """`v.run` that records the variant's peak memory (its own tensors + what it allocated)."""

    def run() -> object:
        if not ctx.cuda:
            return v.run()
        before = torch.cuda.memory_allocated(ctx.device)
        torch.cuda.reset_peak_memory_stats(ctx.device)
        out = v.run()
        extra = (torch.cuda.max_memory_allocated(ctx.device) - before) / 2**30
        peak = extra + resident_gib(v.tensors())
        v.peak = peak if v.peak is None else max(v.peak, peak)
        return out

    return run


def time_group(ctx: Ctx, variants: dict[str, Variant]) -> Group:
    runs = {k: tracked(ctx, v) for k, v in variants.items()}
    group = measure_group(runs, ctx.sizes.rounds, sync=ctx.sync)
    unexpected = {k: e for k, e in group.failed.items() if not variants[k].may_fail}
    if ctx.strict and unexpected:
        raise RuntimeError(f"benchmarks/gpu.py --strict: failed variants: {unexpected}")
    return group


def free(ctx: Ctx) -> None:
    gc.collect()
    if ctx.cuda:
        torch.cuda.empty_cache()


# -- formatting helpers --------------------------------------------------------------------
def _peak(v: Variant | None) -> str:
    return "-" if v is None or v.peak is None else f"{v.peak:.1f}"


def repeat(fn: Callable[[], object], n: int) -> Callable[[], object]:
    """`fn` run `n` times."""
    return lambda: [fn() for _ in range(n)]


def pair(
    group: Group,
    variants: dict[str, Variant],
    case: str,
    base: str,
    other: str,
    rate: Callable[[float, Variant], str],
    note: str = "",
) -> Row:
    """The row comparing two timed labels (or saying why one is missing)."""
    missing = [k for k in (base, other) if k not in group.seconds]
    if missing:
        why = "; ".join(f"{k}: {group.failed.get(k, NOT_HERE)}" for k in missing)
        return Row(case, base, other, note=f"failed: {why}")
    r, lo, hi = group.ratio(base, other)
    notes = [note] if note else []
    for k in (base, other):
        if "compiled" in k:
            notes.append(f"{k}: compile + warm-up {group.warmup_s[k]:.0f} s")
    return Row(
        case,
        base,
        other,
        rate(group.median(base), variants[base]),
        rate(group.median(other), variants[other]),
        f"{r:.2f} ({lo:.2f}-{hi:.2f})",
        f"{_peak(variants[base])} / {_peak(variants[other])}",
        "; ".join(notes),
    )


def images_per_s(seconds: float, v: Variant) -> str:
    return f"{v.work / seconds:,.0f} img/s"


# -- training: bare loop and Trainer ------------------------------------------------------
class BareLoop:
    """`EqMLoss` + backward + AdamW + EMA on one fixed batch on the device."""

    def __init__(
        self,
        ctx: Ctx,
        net: nn.Module,
        batch: int,
        *,
        bf16: bool = False,
        compiled: bool = False,
        head: str = "eqm",
    ) -> None:
        dev = ctx.device
        self.net = net.to(dev)
        model = cast(nn.Module, torch.compile(net)) if compiled else net
        self.field = ek.DotEnergy(model) if head == "dot" else ek.ImplicitField(model)
        self.params: list[Tensor] = [p for p in net.parameters() if p.requires_grad]
        fused = True if ctx.cuda else None
        self.opt = torch.optim.AdamW(self.params, lr=1e-4, weight_decay=0.0, fused=fused)
        self.ema = [p.detach().clone() for p in self.params]
        self.loss = EqMLoss(TruncatedDecay(a=0.8, scale=4.0))
        gen = torch.Generator().manual_seed(1)
        self.x = torch.randn(batch, *ctx.sizes.latent, generator=gen).to(dev)
        self.y = torch.randint(ctx.sizes.classes, (batch,), generator=gen).to(dev)
        self.autocast = (
            (lambda: torch.autocast(dev.type, dtype=torch.bfloat16)) if bf16 else nullcontext
        )

    def step(self) -> None:
        with self.autocast():
            loss = self.loss(self.field, self.x, y=self.y).loss
        self.opt.zero_grad(set_to_none=True)
        loss.float().backward()
        self.opt.step()
        with torch.no_grad():
            torch._foreach_lerp_(self.ema, self.params, 1 - 0.9999)

    def tensors(self) -> Iterator[Tensor]:
        yield from self.params
        yield from (p.grad for p in self.params if p.grad is not None)
        yield from self.ema
        yield from _optimizer_tensors(self.opt)
        yield from (self.x, self.y)


def _optimizer_tensors(opt: torch.optim.Optimizer) -> Iterator[Tensor]:
    for state in opt.state.values():
        yield from (t for t in state.values() if isinstance(t, Tensor))


def has_train_compile() -> bool:
    """Whether this checkout's `Trainer` has the `train.compile` switch."""
    from energykit.train.config import LoopConfig

    return "compile" in {f.name for f in dataclasses.fields(LoopConfig)}


def has_sample_dtype() -> bool:
    """Whether this checkout's `SampleConfig` has a `dtype` field."""
    return "dtype" in {f.name for f in dataclasses.fields(ek.sampling.SampleConfig)}


class TrainerLoop:
    """`Trainer` on the ImageNet recipe `recipe` and the random latent folder (no output dir:
    no checkpoints; logging as in the recipe)."""

    def __init__(
        self, ctx: Ctx, recipe: str, batch: int, *, bf16: bool = False, compiled: bool = False
    ) -> None:
        from energykit.train import Trainer, load_config

        overrides = [
            f"data.path={ctx.latents}",
            f"train.batch={batch}",
            f"train.device={ctx.device}",
            "train.steps=1000000000",
            "train.ckpt_every=0",
            "train.keep_every=0",
            "train.eval_every=0",
            f"train.bf16={str(bf16).lower()}",
        ]
        if compiled:
            overrides.append("train.compile=true")
        names = {"depth": "dit_depth", "hidden_size": "dit_width", "num_heads": "dit_heads"}
        overrides += [f"net.{names[k]}={v}" for k, v in ctx.sizes.dit.items()]
        cfg = load_config(RECIPES / recipe, overrides)
        self.trainer = Trainer(cfg, None, progress=False, resume=False)

    def steps(self, n: int) -> None:
        self.trainer.fit(until=self.trainer.step + n)

    def tensors(self) -> Iterator[Tensor]:
        t = self.trainer
        yield from t.state.model.parameters()
        yield from (p.grad for p in t.state.model.parameters() if p.grad is not None)
        yield from t.state.ema.model.state_dict().values()
        yield from _optimizer_tensors(t.state.optimizer)


Mode = tuple[str, bool, bool]  # (name, bf16, compiled)
FP32: Mode = ("fp32", False, False)
BF16: Mode = ("bf16", True, False)
FP32_C: Mode = ("fp32 compiled", False, True)
BF16_C: Mode = ("bf16 compiled", True, True)


def train_variants(
    ctx: Ctx, preset: str, recipe: str, batch: int, bare: list[Mode], trainer: list[Mode]
) -> tuple[dict[str, Variant], list[str]]:
    """`bare <mode>` and `Trainer <mode>` variants; notes for the Trainers not built."""
    steps = ctx.sizes.xl_steps if "XL" in preset else ctx.sizes.train_steps[batch]
    base = ctx.dit(preset, ctx.sizes.classes)
    variants: dict[str, Variant] = {}
    notes = []
    for name, bf16, compiled in bare:
        loop = BareLoop(ctx, copy.deepcopy(base), batch, bf16=bf16, compiled=compiled)
        variants[f"bare {name}"] = Variant(repeat(loop.step, steps), batch * steps, loop.tensors)
    del base
    for name, bf16, compiled in trainer:
        if compiled and not has_train_compile():
            notes.append(f"Trainer {name}: `train.compile` is {NOT_HERE}")
            continue
        try:
            tl = TrainerLoop(ctx, recipe, batch, bf16=bf16, compiled=compiled)
        except Exception as err:
            if ctx.strict and not compiled:
                raise
            notes.append(f"Trainer {name}: failed to build: {type(err).__name__}: {err}"[:200])
            continue
        variants[f"Trainer {name}"] = Variant(
            functools.partial(tl.steps, steps), batch * steps, tl.tensors, may_fail=compiled
        )
    return variants, notes


def train_section(
    ctx: Ctx,
    preset: str,
    batch: int,
    bare: list[Mode],
    trainer: list[Mode],
    pairs: list[tuple[str, str]],
) -> None:
    """Time the variants together; one row per `(base, other)` pair of labels built."""
    recipe = "eqm-xl2.yaml" if "XL" in preset else "eqm-b2.yaml"
    if any(compiled for _, _, compiled in bare + trainer):
        torch._dynamo.reset()  # fresh guards: no recompile limit, no dynamic batch dim
    variants, notes = train_variants(ctx, preset, recipe, batch, bare, trainer)
    group = time_group(ctx, variants)
    label = f"{preset} train, batch {batch}"
    for base, other in pairs:
        if base in variants and other in variants:
            ctx.rows.append(
                pair(group, variants, f"{label}: {other} / {base}", base, other, images_per_s)
            )
    ctx.compile_s += [
        s for k, s in group.warmup_s.items() if k.startswith("bare") and "compiled" in k
    ]
    ctx.rows += [Row(label, note=n) for n in notes]
    del variants, group
    free(ctx)


def eager_section(ctx: Ctx, preset: str, batch: int) -> None:
    """Bare and Trainer, fp32 and bf16."""
    pairs = [
        ("bare fp32", "Trainer fp32"),
        ("bare bf16", "Trainer bf16"),
        ("bare fp32", "bare bf16"),
        ("Trainer fp32", "Trainer bf16"),
    ]
    train_section(ctx, preset, batch, [FP32, BF16], [FP32, BF16], pairs)


def compiled_section(ctx: Ctx, batch: int, modes: list[Mode]) -> None:
    """Bare eager and compiled for each dtype of `modes` and the Trainer compiled; at the
    big batch in bf16 also the recipe's default Trainer fp32 (what the fast settings gain)."""
    bare: list[Mode] = []
    trainer: list[Mode] = []
    pairs: list[tuple[str, str]] = []
    for mode in modes:
        eager = FP32 if mode[0].startswith("fp32") else BF16
        bare += [eager, mode]
        trainer.append(mode)
        pairs += [
            (f"bare {mode[0]}", f"Trainer {mode[0]}"),
            (f"bare {eager[0]}", f"bare {mode[0]}"),
        ]
    if BF16_C in modes and batch == ctx.sizes.batches[1] and has_train_compile():
        trainer.insert(0, FP32)
        pairs.append(("Trainer fp32", "Trainer bf16 compiled"))
    train_section(ctx, "EqM-B/2", batch, bare, trainer, pairs)


def sec_eqm_e(ctx: Ctx) -> None:
    """EqM-E (dot head, double backward) against EqM, bare loops, fp32."""
    batch = ctx.sizes.batches[0]
    steps = ctx.sizes.train_steps[batch]
    base = ctx.dit("EqM-B/2", ctx.sizes.classes)
    variants = {}
    for head in ("eqm", "dot"):
        loop = BareLoop(ctx, copy.deepcopy(base), batch, head=head)
        variants[f"EqM{'-E dot' if head == 'dot' else ''}"] = Variant(
            repeat(loop.step, steps), batch * steps, loop.tensors
        )
    group = time_group(ctx, variants)
    ctx.rows.append(
        pair(
            group,
            variants,
            f"EqM-E (dot) / EqM, B/2 batch {batch}, fp32 (bare)",
            "EqM",
            "EqM-E dot",
            images_per_s,
            "target <= 2.3",
        )
    )
    free(ctx)


# -- sampling ------------------------------------------------------------------------------
@torch.no_grad()
def hand_descent(field: ek.EnergyField, x0: Tensor, y: Tensor, steps: int) -> Tensor:
    """GD with the samples in `x0`'s dtype, the field evaluated in its weights' dtype (the
    issue's hand-made cast wrapper when they differ)."""
    dtype = next(field.parameters()).dtype
    x = x0.clone()
    for _ in range(steps):
        x = x - SAMPLE_LR * field.gradient(x.to(dtype), y=y).to(x.dtype)
    return x


def bf16_value(annotation: str) -> object:
    """What to put in `SampleConfig.dtype` for bfloat16, from the field's annotation."""
    if "bfloat16" in annotation or annotation in ("str", "str | None"):
        return "bfloat16"
    if "bf16" in annotation:
        return "bf16"
    return torch.bfloat16  # e.g. `torch.dtype | None`


def sec_sample(ctx: Ctx) -> None:
    """B/2 sampling, GD: hand loop vs Descender (fp32), and bf16 against fp32."""
    from energykit.sampling import SampleConfig, generate

    n, k = ctx.sizes.sample_batch, ctx.sizes.sample_steps
    net = ctx.dit("EqM-B/2", ctx.sizes.classes).to(ctx.device).eval()
    field32 = ek.ImplicitField(net)
    field16 = ek.ImplicitField(copy.deepcopy(net).to(torch.bfloat16)).eval()
    gen = torch.Generator().manual_seed(2)
    x0 = torch.randn(n, *ctx.sizes.latent, generator=gen).to(ctx.device)
    y = torch.randint(ctx.sizes.classes, (n,), generator=gen).to(ctx.device)

    def descender(field: ek.EnergyField) -> Callable[[], object]:
        return lambda: ek.Descender(field, "gd", lr=SAMPLE_LR, steps=k).run(x0, y=y)

    def autocast_descender() -> object:
        with torch.autocast(ctx.device.type, dtype=torch.bfloat16):
            return descender(field32)()

    v = {
        "hand fp32": Variant(lambda: hand_descent(field32, x0, y, k), n),
        "Descender fp32": Variant(descender(field32), n),
        "hand, bf16 net": Variant(lambda: hand_descent(field16, x0, y, k), n),
        # Issue 13, item 2 (in progress): may fail in this checkout, noted in the table.
        "Descender, bf16 net": Variant(descender(field16), n, may_fail=True),
        "Descender under autocast": Variant(autocast_descender, n, may_fail=True),
    }
    cfg = SampleConfig(sampler="gd", lr=SAMPLE_LR, steps=k, n=n, batch=n, seed=0)
    shape, classes = ctx.sizes.latent, ctx.sizes.classes
    v["generate fp32"] = Variant(
        lambda: generate(field32, shape, cfg, num_classes=classes, device=ctx.device), n
    )
    dtype_note = ""
    if has_sample_dtype():
        f = next(f for f in dataclasses.fields(SampleConfig) if f.name == "dtype")
        bf16 = bf16_value(str(f.type))
        extra: dict[str, Any] = {"dtype": bf16}  # a field this checkout may lack
        cfg16 = dataclasses.replace(cfg, **extra)
        v["generate dtype=bf16"] = Variant(
            lambda: generate(field32, shape, cfg16, num_classes=classes, device=ctx.device),
            n,
            may_fail=True,
        )
    else:
        dtype_note = f"`SampleConfig.dtype` is {NOT_HERE}"
    group = time_group(ctx, v)

    def rate(seconds: float, var: Variant) -> str:  # images/s of a 250-step run
        return f"{var.work / (seconds / k * PAPER_SAMPLE_STEPS):,.1f} img/s"

    what = f"sampling B/2, batch {n}, GD ({k} steps timed, rates for 250)"
    ctx.rows += [
        pair(
            group,
            v,
            f"{what}: Descender / hand loop (DiT)",
            "hand fp32",
            "Descender fp32",
            rate,
            "target <= 1.03",
        ),
        pair(
            group,
            v,
            f"{what}: bf16 net / fp32, hand loop",
            "hand fp32",
            "hand, bf16 net",
            rate,
            "samples stay fp32",
        ),
        pair(
            group,
            v,
            f"{what}: bf16 net / fp32, Descender",
            "Descender fp32",
            "Descender, bf16 net",
            rate,
            "target <= 1/1.7 = 0.59",
        ),
        pair(
            group,
            v,
            f"{what}: autocast(bf16) / fp32, Descender",
            "Descender fp32",
            "Descender under autocast",
            rate,
        ),
    ]
    ctx.rows.append(
        pair(
            group, v, f"{what}: generate / Descender, fp32", "Descender fp32", "generate fp32", rate
        )
    )
    if dtype_note:
        ctx.rows.append(Row(f"{what}: generate, SampleConfig.dtype bf16 / fp32", note=dtype_note))
    else:
        ctx.rows.append(
            pair(
                group,
                v,
                f"{what}: generate, SampleConfig.dtype bf16 / fp32",
                "generate fp32",
                "generate dtype=bf16",
                rate,
                "target <= 1/1.7 = 0.59",
            )
        )
    del v, group
    free(ctx)


def sec_mlp(ctx: Ctx) -> None:
    """The Descender against a hand loop on the MLP 2-256-256-2 (GD and NAG-GD)."""
    b, k = ctx.sizes.mlp_batch, ctx.sizes.mlp_steps
    field = mlp_field().to(ctx.device)
    x0 = torch.randn(b, 2, generator=torch.Generator().manual_seed(3)).to(ctx.device)
    v = {
        "hand GD": Variant(lambda: hand_gd(field, x0, k), k),
        "Descender GD": Variant(lambda: ek.Descender(field, "gd", lr=LR, steps=k).run(x0), k),
        "hand NAG-GD": Variant(lambda: hand_nag(field, x0, k), k),
        "Descender NAG-GD": Variant(
            lambda: ek.Descender(field, "nag", lr=LR, steps=k, momentum=MU).run(x0), k
        ),
    }
    group = time_group(ctx, v)

    def rate(seconds: float, var: Variant) -> str:
        return f"{seconds / var.work * 1e6:,.0f} us/step"

    for m in ("GD", "NAG-GD"):
        ctx.rows.append(
            pair(
                group,
                v,
                f"descent {k} steps, {m}: MLP 2-256-256-2, B={b}",
                f"hand {m}",
                f"Descender {m}",
                rate,
                "target <= 1.05",
            )
        )
    free(ctx)


def sec_bind(ctx: Ctx) -> None:
    """4 bindings of EqM-S/2 in one batched call against 4 calls."""
    net = ctx.dit("EqM-S/2", ctx.sizes.classes).to(ctx.device).eval()
    model = ek.ImplicitField(net)
    classes = [0, 1, 2, 3]
    composed = sum((model.bind(y=c) for c in classes[1:]), start=model.bind(y=0))
    calls = ctx.sizes.bind_calls
    v: dict[str, Variant] = {}
    for b in ctx.sizes.bind_batches:
        x = torch.randn(b, *ctx.sizes.latent, generator=torch.Generator().manual_seed(4))
        x = x.to(ctx.device)
        ys = [torch.full((b,), c, device=ctx.device) for c in classes]

        @torch.no_grad()
        def batched(x: Tensor = x) -> None:
            for _ in range(calls):
                composed.gradient(x)

        @torch.no_grad()
        def separate(x: Tensor = x, ys: list[Tensor] = ys) -> None:
            for _ in range(calls):
                sum(model.gradient(x, y=y) for y in ys)

        v[f"4 calls B={b}"] = Variant(separate, calls)
        v[f"batched B={b}"] = Variant(batched, calls)
    group = time_group(ctx, v)

    def rate(seconds: float, var: Variant) -> str:
        return f"{seconds / var.work * 1e3:,.2f} ms/gradient"

    for b in ctx.sizes.bind_batches:
        ctx.rows.append(
            pair(
                group,
                v,
                f"4 bindings of EqM-S/2, B={b}: batched / 4 calls",
                f"4 calls B={b}",
                f"batched B={b}",
                rate,
            )
        )
    free(ctx)


# -- sections, budget, main -----------------------------------------------------------------
@dataclass
class Section:
    key: str
    title: str
    run: Callable[[Ctx], None]
    compiles: int = 0  # compiled variants (their estimate follows the observed compile time)


def sections(ctx: Ctx) -> list[Section]:
    """In priority order: what the issue's targets need first."""
    small, big = ctx.sizes.batches
    return [
        Section(
            "b2-256",
            f"EqM-B/2 train, batch {big}, eager fp32 / bf16",
            lambda c: eager_section(c, "EqM-B/2", big),
        ),
        Section(
            "b2-32",
            f"EqM-B/2 train, batch {small}, eager fp32 / bf16",
            lambda c: eager_section(c, "EqM-B/2", small),
        ),
        Section(
            "b2-256-compiled-bf16",
            f"EqM-B/2 train, batch {big}, bf16 compiled",
            lambda c: compiled_section(c, big, [BF16_C]),
            2,
        ),
        Section("eqm-e", "EqM-E (dot) vs EqM", sec_eqm_e),
        Section("sample", "sampling EqM-B/2, fp32 vs bf16, Descender vs hand loop", sec_sample),
        Section("mlp", "Descender vs hand loop, MLP", sec_mlp),
        Section("bind", "4 bindings of EqM-S/2", sec_bind),
        Section(
            "xl-32",
            f"EqM-XL/2 train, batch {ctx.sizes.xl_batch}, eager fp32 / bf16",
            lambda c: eager_section(c, "EqM-XL/2", c.sizes.xl_batch),
        ),
        Section(
            "b2-256-compiled-fp32",
            f"EqM-B/2 train, batch {big}, fp32 compiled",
            lambda c: compiled_section(c, big, [FP32_C]),
            2,
        ),
        Section(
            "b2-32-compiled",
            f"EqM-B/2 train, batch {small}, compiled fp32 / bf16",
            lambda c: compiled_section(c, small, [FP32_C, BF16_C]),
            4,
        ),
    ]


def estimate(ctx: Ctx, s: Section) -> float:
    """Seconds the section should take: the table's estimate, with compilation re-estimated
    from what the first compiled section took (when one ran)."""
    est = ctx.sizes.estimates.get(s.key, 0.5)
    if s.compiles and ctx.compile_s and ctx.sizes.estimates:
        per = statistics.median(ctx.compile_s)
        est = est - 30 * s.compiles + per * s.compiles
    return max(est, 0.5)


@contextmanager
def compile_backend(backend: str | None) -> Iterator[None]:
    """Route every `torch.compile` call (the Trainer's too) to `backend` (the dry run uses
    `eager`: Dynamo traces, nothing is code-generated)."""
    if backend is None:
        yield
        return
    original = torch.compile

    def patched(*args: Any, **kwargs: Any) -> Any:
        kwargs["backend"] = backend
        kwargs.pop("mode", None)
        return original(*args, **kwargs)

    torch.compile = patched
    try:
        yield
    finally:
        torch.compile = original


def write_latents(folder: Path, sizes: Sizes) -> None:
    """A latent folder of random posterior moments (2 views) and labels."""
    from energykit.data.latents import LATENTS_FORMAT, write_json_atomic, write_shard

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    n = sizes.images
    moments = rng.standard_normal((n, 2, 2, *sizes.latent), dtype=np.float32)
    moments[:, :, 1] = 0.1 * np.abs(moments[:, :, 1])
    labels = rng.integers(sizes.classes, size=n).astype(np.int64)
    record = write_shard(folder, 0, moments, labels)
    manifest = {
        "format": LATENTS_FORMAT,
        "count": n,
        "latent_shape": list(sizes.latent),
        "views": 2,
        "scaling_factor": 0.18215,
        "classes": [f"class_{i}" for i in range(sizes.classes)],
        "image_size": 8 * sizes.latent[1],
        "vae": "random (benchmarks/gpu.py)",
        "shards": [record],
    }
    write_json_atomic(folder / "manifest.json", manifest)


def header(ctx: Ctx, tiny: bool) -> str:
    dev = torch.cuda.get_device_name(ctx.device) if ctx.cuda else "CPU"
    return (
        f"benchmarks/gpu.py{' --tiny' if tiny else ''} on {dev}, torch {torch.__version__}, "
        f"{time.strftime('%Y-%m-%d')}; fp32 matmuls in TF32 on CUDA (as the recipes); "
        f"`train.compile` {'present' if has_train_compile() else NOT_HERE}; "
        f"`SampleConfig.dtype` {'present' if has_sample_dtype() else NOT_HERE}. "
        "The reference EqM code is not on the device: no reference rows."
    )


def main(argv: list[str] | None = None) -> str:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tiny", "--quick", action="store_true", help="tiny sizes (the dry run)")
    p.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    p.add_argument("--budget-s", type=float, default=270.0, help="skip sections past this")
    p.add_argument("--out", type=Path, default=None, help="also write the table here")
    p.add_argument("--only", nargs="*", default=None, help="section keys to run")
    p.add_argument("--strict", action="store_true", help="raise instead of noting failures")
    p.add_argument(
        "--compile-backend",
        default=None,
        help="force this torch.compile backend (default: inductor; `eager` with --tiny)",
    )
    args = p.parse_args(argv)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    backend = args.compile_backend or ("eager" if args.tiny else None)
    if device.type == "cuda":
        try:  # what `energykit train` does for the recipes' `train.tf32: true`
            from energykit.cli import enable_tf32

            enable_tf32()
        except (ImportError, AttributeError):
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ek-gpu-") as tmp, compile_backend(backend):
        sizes = TINY if args.tiny else FULL
        ctx = Ctx(sizes, device, Path(tmp) / "latents", args.strict)
        write_latents(ctx.latents, sizes)
        top = header(ctx, args.tiny)
        print(top, flush=True)
        for s in sections(ctx):
            if args.only is not None and s.key not in args.only:
                continue
            est, spent = estimate(ctx, s), time.perf_counter() - start
            if spent + est > args.budget_s:
                ctx.rows.append(
                    Row(
                        s.title,
                        note=f"skipped: estimated {est:.0f} s, "
                        f"{max(args.budget_s - spent, 0):.0f} s left of --budget-s",
                    )
                )
                print(f"[{spent:5.0f} s] skip {s.key} (estimate {est:.0f} s)", flush=True)
                continue
            print(f"[{spent:5.0f} s] {s.key}: {s.title} (estimate {est:.0f} s)", flush=True)
            before = len(ctx.rows)
            try:
                s.run(ctx)
            except Exception as err:
                if args.strict:
                    raise
                msg = " ".join(f"{type(err).__name__}: {err}".split())[:200]
                ctx.rows.append(Row(s.title, note=f"failed: {msg}"))
            free(ctx)
            took = time.perf_counter() - start - spent
            print(render(ctx.rows[before:]), flush=True)
            print(f"  ({took:.0f} s)", flush=True)
            _write(args.out, top, ctx.rows, time.perf_counter() - start)
        text = _write(args.out, top, ctx.rows, time.perf_counter() - start)
    print("\n" + text, flush=True)
    return text


def _write(out: Path | None, top: str, rows: list[Row], total_s: float) -> str:
    text = f"{top}\n\n{render(rows)}\n\nTotal {total_s:.0f} s.\n"
    if out is not None:
        out.write_text(text)
    return text


if __name__ == "__main__":
    main()
