"""`energykit export CHECKPOINT DIR [--weights raw] [--solver S.json] [--vae NAME]
[--reference HEAD --preset P]`: a checkpoint as an exported folder (`model.safetensors`,
`config.json`, `README.md`), never its optimiser state."""

from __future__ import annotations

import argparse
from typing import Any

import torch

from energykit.cli._common import check_folder
from energykit.cli._reference import load_ours
from energykit.cli.sample import reference_model
from energykit.train import ConfigError, TrainConfig, TrainedModel, build_net
from energykit.train.checkpoint import check_weights_fit
from energykit.train.pretrained_config import LatentVAE

#: The scaling factor of the paper's SD VAE latents (`--vae-scale` default).
SD_VAE_SCALE = 0.18215


def cmd_export(args: argparse.Namespace) -> int:
    """Export a checkpoint of `energykit train` (or, with `--reference`, of the reference EqM
    release) as a folder `load_trained(DIR)` and `energykit sample DIR` read."""
    check_folder(args.dir, "DIR", "a folder for the exported model")
    if args.reference is None and (args.preset is not None or args.num_heads is not None):
        flag = "--preset" if args.preset is not None else "--num-heads"
        raise ConfigError(f"{flag}: only for reference checkpoints (with --reference)")
    if args.reference is not None and args.weights != "ema":
        raise ConfigError("--weights: only for energykit checkpoints (not with --reference)")
    model = (
        load_ours(args.checkpoint, "cpu", args.weights, "export")
        if args.reference is None
        else native_reference(args.checkpoint, args.reference, args.preset, args.num_heads)
    )
    solver = None
    if args.solver is not None:
        from energykit.sampling import Solver

        solver = Solver.load(args.solver)
    vae = _vae(args, model)
    folder = model.save_pretrained(args.dir, solver=solver, vae=vae)
    size = (folder / "model.safetensors").stat().st_size
    params = sum(p.numel() for p in model.net.parameters())
    print(
        f"{model.kind} model ({params:,} parameters, {model.weights} weights) -> {folder} "
        f"(model.safetensors {size:,} bytes"
        + (f", solver of {solver.steps} evaluations" if solver is not None else "")
        + ")"
    )
    return 0


def _vae(args: argparse.Namespace, model: TrainedModel) -> LatentVAE | None:
    """The VAE `--vae` / `--vae-scale` record, refused for a pixel model and `--vae-scale`
    refused without `--vae` (it would be ignored)."""
    if args.vae is None:
        if args.vae_scale is not None:
            raise ConfigError(f"--vae-scale: only with --vae, got --vae-scale {args.vae_scale}")
        return None
    if model.config.data.name != "latents":
        raise ConfigError(
            f"--vae: only for latent models (data.name='latents'), got {model.config.data.name!r}"
        )
    return LatentVAE(args.vae, SD_VAE_SCALE if args.vae_scale is None else args.vae_scale)


def native_reference(
    path: str, ebm: str, preset: str | None, num_heads: int | None
) -> TrainedModel:
    """A reference EqM checkpoint as an energykit model of its own recipe: the reference's
    $-\\nabla E$ output becomes $\\nabla E$ by negating the last linear layer (exact in
    floating point), so the DiT loads as an `eqm` (`none` head) or `eqm-dot` (`dot`) model
    whose gradient equals the converted reference field's bit for bit (checked on a probe).

    Raises:
        ConfigError: `ebm="l2"`, whose reference energy $+\\frac12 \\lVert f \\rVert^2$ has
            no energykit objective kind (sample it with `energykit sample --reference l2`).
    """
    if ebm == "l2":
        raise ConfigError(
            "--reference l2: its energy +1/2 ||f||^2 (the reference's sign) is no energykit "
            "objective kind, so it cannot be exported; sample it with `energykit sample "
            "CHECKPOINT --reference l2`"
        )
    ref = reference_model(path, ebm, preset, num_heads)
    dit: Any = ref.net.net  # Negated(DiT)
    raw = ref.config.to_dict()
    raw["net"] = {
        "kind": "dit",
        "preset": f"EqM-S/{dit.patch_size}",  # the patch; the sizes below replace the rest
        "dit_depth": len(dit.blocks),
        "dit_width": dit.x_embedder.proj.out_channels,
        "dit_heads": dit.blocks[0].attn.heads,
        "learn_sigma": dit.out_channels == 2 * dit.in_channels,
    }
    raw["objective"] = {"kind": "eqm" if ebm == "none" else "eqm-dot"}
    cfg = TrainConfig.from_dict(raw)
    state = dict(dit.state_dict())
    dtype = state["x_embedder.proj.weight"].dtype  # the stored precision, kept
    net = build_net(cfg.net, cfg.objective, ref.shape, ref.num_classes).to(dtype)
    check_weights_fit(net, state, f"reference checkpoint {path!r}")
    for key in ("final_layer.linear.weight", "final_layer.linear.bias"):
        state[key] = -state[key]
    net.load_state_dict(state)
    model = TrainedModel(net.eval(), cfg.objective.kind, ref.shape, ref.num_classes, cfg, 0)
    _check_same_gradient(ref, model)
    return model


def _check_same_gradient(ref: TrainedModel, model: TrainedModel) -> None:
    """The converted model's gradient equals the reference field's on a seeded probe."""
    gen = torch.Generator().manual_seed(0)
    dtype = next(model.net.parameters()).dtype
    x = torch.randn((2, *model.shape), generator=gen, dtype=dtype)
    cond = {} if model.num_classes is None else {"y": torch.tensor([0, model.num_classes - 1])}
    with torch.no_grad():
        same = torch.equal(ref.field().gradient(x, **cond), model.field().gradient(x, **cond))
    if not same:
        raise RuntimeError(
            "export --reference: the converted gradient differs from the reference's"
        )
