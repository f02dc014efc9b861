"""Sampling to files at scale: sharded across `torchrun` ranks, resumable, decoded by the VAE
into PNGs and an ADM-format `.npz` (`energykit sample`).

The `n` samples are cut into batches of `sample.batch`; batch `j` is drawn with seed
`sample.seed + 1_000_003 * j` and labels `(j * batch + i) % num_classes`, so the result does
not depend on how many processes draw it. Rank `r` draws the batches `j = r (mod world size)`
into `.OUT.parts/`, one atomic file `NNNNNN.pt` each (a restarted run skips finished
batches); rank 0 then joins them in order and writes exactly `n` samples. The parts folder's
`settings.json` (sampler settings, the model's step, kind and weights, decoding) is written
with the first finished batch, so a run that fails before finishing one leaves nothing behind
and a run with other settings is refused only when there are batches it would mix with
(`energykit._shards.ShardPlan` is the protocol, shared with latent encoding).

File formats:

- `.pt` / `.npz` without a VAE: `x` (samples, float32), `y`, `steps`, and `meta` (JSON).
- `.npz` with a VAE (latent models): ADM's layout, `arr_0` uint8 `(n, H, W, 3)` images
  and `arr_1` int64 labels (what the ADM / guided-diffusion evaluation suite reads), plus
  `meta`.

Failed samples (`sample.nonfinite="freeze"`, `energykit sample --nonfinite freeze`): a sample
the model turned NaN/inf is frozen at its last finite iterate instead of losing its batch. It
is still written, at its place, but it is not a sample of the model. The metadata lists them:
`failed_indices` (sorted positions in the file, i.e. in the global order) and `failed_count`;
the summary returned by `sample_to_file` carries the same two keys.

A full disk (`energykit._io.DiskFullError`) stops the run with the parts folder kept
(`energykit.sampling.parts`): its finished batches are the work done, and rerunning the same
command once space is freed resumes from them.
"""

from __future__ import annotations

import functools
import json
import math
import shutil
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from energykit._distributed import DistInfo, barrier
from energykit._io import atomic_save, atomic_savez, load_npz, load_torch
from energykit._shards import ShardPlan
from energykit.descent import Progress, Solver, tqdm_progress
from energykit.sampling.config import SampleConfig
from energykit.sampling.generate import Sampleable, generate
from energykit.sampling.parts import PART_FILES, part_file, parts_folder
from energykit.sampling.source import BATCH_SEED_STRIDE, SampleSource, solver_for


def to_uint8_images(x: Tensor) -> Tensor:
    """Samples `(n, C, H, W)` in $[-1, 1]$ as uint8 `(n, H, W, C)` (clipped, rounded)."""
    if x.ndim != 4:
        raise ValueError(f"to_uint8_images x: expected (n, C, H, W), got {tuple(x.shape)}")
    return ((x.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1)


def write_pngs(images: Tensor, folder: Path, start: int) -> None:
    """Write uint8 images `(n, H, W, C)` as `folder/{start + i:06d}.png`."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(images.numpy()):
        Image.fromarray(img[..., 0] if img.shape[-1] == 1 else img).save(
            folder / f"{start + i:06d}.png"
        )


def save_samples(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write a samples file atomically: tensors as arrays, everything else as JSON `meta`."""
    path = Path(path)
    tensors = {k: v for k, v in payload.items() if isinstance(v, Tensor)}
    meta = {k: v for k, v in payload.items() if not isinstance(v, Tensor)}
    if path.suffix == ".npz":
        arrays = {k: v.numpy() for k, v in tensors.items()}
        return atomic_savez(path, {**arrays, "meta": np.array(json.dumps(meta))})
    if path.suffix == ".pt":
        return atomic_save(payload, path)
    raise ValueError(f"--out: expected a .pt or .npz file, got {str(path)!r}")


def load_samples(path: str | Path) -> tuple[Tensor, dict[str, Any]]:
    """Read a samples file (`.pt`, or `.npz` with `x` or ADM's `arr_0`): samples and metadata.

    ADM files give uint8 images `(n, H, W, 3)`; the others float samples `(n, *shape)`.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"samples: no file at {str(path)!r}")
    if path.suffix == ".npz":
        f = load_npz(path, what="samples")
        meta = json.loads(str(f["meta"])) if "meta" in f else {}
        if "x" in f:
            return torch.from_numpy(f["x"]), meta
        if "arr_0" in f:
            return torch.from_numpy(f["arr_0"]), meta
        raise ValueError(
            f"samples {str(path)!r}: expected an array 'x' or 'arr_0', got {list(f.keys())}"
        )
    payload = load_torch(path, what="samples")
    if isinstance(payload, Tensor):
        return payload, {}
    return payload["x"], {k: v for k, v in payload.items() if not isinstance(v, Tensor)}


def _parts_plan(
    out: Path, model: SampleSource, cfg: SampleConfig, decoded: bool, dist: DistInfo
) -> ShardPlan:
    """The batches of `out` in `.OUT.parts/`, guarded by the sampler settings, the model's
    step, kind and weights (EMA or raw), and whether samples are decoded."""
    parts = parts_folder(out)
    settings = {
        "sampler": dict(cfg.__dict__),
        "step": model.step,
        "kind": model.kind,
        "weights": _weights(model),
        "decoded": decoded,
    }
    return ShardPlan(
        parts,
        math.ceil(cfg.n / cfg.batch),
        settings,
        dist,
        files=PART_FILES,
        is_done=lambda j: part_file(parts, j).is_file(),
        sync=lambda: barrier(dist),
    )


def _weights(model: SampleSource) -> str:
    """Which weights `model` samples: a `TrainedModel` says (`"ema"` or `"raw"`); any other
    source is its own weights, `"ema"` by convention."""
    return str(getattr(model, "weights", "ema"))


def sample_to_file(
    model: SampleSource,
    out: str | Path,
    cfg: SampleConfig,
    *,
    device: str | torch.device = "cpu",
    dist: DistInfo | None = None,
    decode: Callable[[Tensor], Tensor] | None = None,
    png_dir: str | Path | None = None,
    progress: bool = True,
    step_progress: bool = False,
    force_solver: bool = False,
    solver: Solver | None = None,
) -> dict[str, Any] | None:
    """Draw `cfg.n` samples, sharded over ranks, and write them to `out` (see the module doc).

    Args:
        model: The trained (EMA) model, e.g. a `TrainedModel`.
        out: `.npz` or `.pt` file (`.npz` when decoding with a VAE).
        cfg: Sampler settings (`n`, `batch`, `seed`, sampler, guidance).
        device: Where this rank samples.
        dist: This process's rank; `None` for one process.
        decode: Latent samples `(B, C, h, w)` to uint8 images `(B, 3, H, W)`, e.g.
            `functools.partial(energykit.interop.vae.decode_latents, vae)`; the output is
            then an ADM `.npz`.
        png_dir: Also write every image as a PNG here (decoded or image-shaped samples).
        progress: Print a line per batch to stderr.
        step_progress: Show a tqdm bar over each batch's descent steps (rank 0; needs tqdm).
        force_solver: Use `cfg.solver` with another model of the same kind and shape (e.g.
            another training seed of its recipe), not only the one it was fitted for.
        solver: A loaded solver instead of `cfg.solver`'s file (`TrainedModel.solver` of an
            exported folder), checked the same way; `cfg.steps` must be its steps.

    Returns:
        On rank 0 a summary (`n`, `nfe_mean`, `seconds`, `steps_mean`, `out`,
        `failed_count`, `failed_indices`); `None` elsewhere.

    Raises:
        FileNotFoundError, SolverFileError: `cfg.solver` is missing, malformed, or was fitted
            for another model.
        DiskFullError: a batch or `out` could not be written for lack of space; the parts
            folder (`parts_folder(out)`) keeps the finished batches, and the same call resumes
            from them once space is freed.

    Warns:
        RuntimeWarning: some samples failed (only with `cfg.nonfinite="freeze"`).
    """
    dist = dist or DistInfo()
    out = _check_out(out, decode)
    solver = _checked_solver(model, cfg, solver, force_solver)
    plan = _parts_plan(out, model, cfg, decode is not None, dist)
    plan.guard()
    bars = step_progress and dist.rank == 0
    _draw_batches(model, plan, cfg, device, decode, png_dir, (progress, bars), solver)
    return _finish(model, plan, out, cfg, decode is not None, solver is not None)


def _finish(
    model: SampleSource, plan: ShardPlan, out: Path, cfg: SampleConfig, decoded: bool, solved: bool
) -> dict[str, Any] | None:
    """Rank 0 joins the finished batches into `out`, removes the parts folder and returns the
    summary (naming the solver when one was used); `None` on the other ranks."""
    records = plan.join(lambda j: load_torch(part_file(plan.folder, j), what="sample batch"))
    if records is None:
        return None
    summary = _join_parts(model, records, out, cfg, plan.dist.world_size, decoded)
    if solved:
        summary["solver"] = cfg.solver or "embedded"
    shutil.rmtree(plan.folder, ignore_errors=True)
    return summary


def _checked_solver(
    model: SampleSource, cfg: SampleConfig, solver: Solver | None, force: bool
) -> Solver | None:
    """`solver` (a loaded one) or the file `cfg.solver` names, checked against `model`."""
    if solver is None:
        return solver_for(model, cfg, force=force)
    if cfg.solver is not None:
        raise ValueError(f"solver: give a loaded solver or cfg.solver, not both ({cfg.solver!r})")
    solver.check_model(model.binding(cfg.cfg_scale), force=force, where="solver")
    return solver


def _draw_batches(
    model: SampleSource,
    plan: ShardPlan,
    cfg: SampleConfig,
    device: str | torch.device,
    decode: Callable[[Tensor], Tensor] | None,
    png_dir: str | Path | None,
    progress: tuple[bool, bool],
    solver: Solver | None = None,
) -> None:
    """This rank's unfinished batches into the parts folder, one atomic file each; `progress`
    says whether to print a line per batch and whether to show a bar over its steps."""
    sampled = model.sampleable().to(device)
    lines, bars = progress
    for j in plan.pending():
        what = f"sample batch {j + 1}/{plan.n_shards}"
        bar = tqdm_progress("step_progress", desc=what, leave=False) if bars else False
        record = _draw_batch(sampled, model, cfg, j, device, decode, bar, solver)
        if png_dir is not None:
            images = record.get("images")
            start = j * cfg.batch
            write_pngs(
                to_uint8_images(record["x"]) if images is None else images, Path(png_dir), start
            )
        plan.commit(functools.partial(atomic_save, record, part_file(plan.folder, j)))
        if lines:
            size = min(cfg.batch, cfg.n - j * cfg.batch)
            print(f"{what} done ({size} samples)", file=sys.stderr)


def _check_out(out: str | Path, decode: Callable[[Tensor], Tensor] | None) -> Path:
    """`out` as a path, refused unless it is a `.pt` or `.npz` file (`.npz` when decoding)."""
    out = Path(out)
    if decode is not None and out.suffix != ".npz":
        raise ValueError(f"--out: decoded images are written as an ADM .npz, got {str(out)!r}")
    if out.suffix not in (".npz", ".pt"):
        raise ValueError(f"--out: expected a .pt or .npz file, got {str(out)!r}")
    return out


def _draw_batch(
    sampled: Sampleable,
    model: SampleSource,
    cfg: SampleConfig,
    j: int,
    device: str | torch.device,
    decode: Callable[[Tensor], Tensor] | None,
    progress: Progress = False,
    solver: Solver | None = None,
) -> dict[str, Any]:
    """Batch `j` (seed `cfg.seed + BATCH_SEED_STRIDE * j`, labels from `j * cfg.batch`) as
    the record of its part file, on the CPU; `progress` is the descent's bar."""
    size = min(cfg.batch, cfg.n - j * cfg.batch)
    s = generate(
        sampled,
        model.shape,
        cfg,
        num_classes=model.num_classes,
        device=device,
        label_offset=j * cfg.batch,
        n=size,
        seed=cfg.seed + BATCH_SEED_STRIDE * j,
        progress=progress,
        landscape=model.landscape,
        solver=solver,
    )
    record: dict[str, Any] = {"nfe": s.nfe_total, "seconds": s.seconds}
    record["step_sizes"] = s.step_sizes
    record["y"] = None if s.y is None else s.y.cpu()
    record["steps"] = None if s.steps is None else s.steps.cpu()
    record["failed"] = [] if s.failed is None else _failed_indices(s.failed, j * cfg.batch)
    if decode is not None:
        record["images"] = decode(s.x).permute(0, 2, 3, 1).cpu()
    else:
        record["x"] = s.x.cpu()
    return record


def _join_parts(
    model: SampleSource,
    records: list[dict[str, Any]],
    out: Path,
    cfg: SampleConfig,
    world_size: int,
    decoded: bool,
) -> dict[str, Any]:
    """Join the batches' records, in order, into `out` (rank 0); returns the summary."""
    x = torch.cat([r["images" if decoded else "x"] for r in records])
    if len(x) != cfg.n:
        raise RuntimeError(f"sample: joined {len(x)} samples, expected {cfg.n}")
    nfe = sum(r["nfe"] for r in records)
    failed = sorted(i for r in records for i in r["failed"])
    summary: dict[str, Any] = {
        "n": cfg.n,
        "nfe_mean": nfe / cfg.n,
        "seconds": sum(r["seconds"] for r in records),
        "out": str(out),
        "failed_count": len(failed),
        "failed_indices": failed,
    }
    meta: dict[str, Any] = {
        "nfe_total": nfe,
        "seconds": summary["seconds"],
        "dataset": model.dataset,
        "kind": model.kind,
        "weights": _weights(model),
        "sampler": dict(cfg.__dict__),
        "step_sizes": records[0]["step_sizes"],
        "world_size": world_size,
        "failed_count": len(failed),
        "failed_indices": failed,
    }
    if failed:
        _warn_failed(failed, cfg.n, out)
    labels = None if records[0]["y"] is None else torch.cat([r["y"] for r in records])
    steps = None
    if records[0]["steps"] is not None:
        steps = torch.cat([r["steps"] for r in records])
        summary["steps_mean"] = float(steps.double().mean())
    _write_joined(out, x, labels, steps, meta, decoded)
    return summary


def _warn_failed(failed: list[int], n: int, out: Path) -> None:
    warnings.warn(
        f"sample: {len(failed)} of {n} samples hit NaN/inf and were frozen at their "
        f"last finite iterate (indices {failed[:10]}{' ...' if len(failed) > 10 else ''}; "
        f"all in {str(out)!r} metadata 'failed_indices')",
        RuntimeWarning,
        stacklevel=4,
    )


def _write_joined(
    out: Path,
    x: Tensor,
    labels: Tensor | None,
    steps: Tensor | None,
    meta: dict[str, Any],
    decoded: bool,
) -> None:
    """Write the joined samples: ADM's `arr_0`/`arr_1` when decoded, else `x`/`y`/`steps`."""
    if decoded:  # `out` is an .npz (`_check_out`)
        images: dict[str, Any] = {"arr_0": x}
        if labels is not None:
            images["arr_1"] = labels.long()
        save_samples(out, {**images, **meta})
        return
    payload: dict[str, Any] = {"x": x, **meta}
    if labels is not None:
        payload["y"] = labels
    if steps is not None:
        payload["steps"] = steps
    save_samples(out, payload)


def _failed_indices(failed: Tensor, offset: int) -> list[int]:
    """Global indices of a batch's failed samples: `failed` `(B,)` bool, batch starting at
    `offset`."""
    return [offset + int(i) for i in failed.nonzero().flatten().tolist()]


__all__ = [
    "load_samples",
    "sample_to_file",
    "save_samples",
    "to_uint8_images",
    "write_pngs",
]
