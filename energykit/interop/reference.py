"""Load checkpoints of the reference EqM release as energykit fields (paper sign).

The reference network outputs $-\\nabla E$ (it regresses $(x - \\epsilon)\\, c$ and samples
with $x \\leftarrow x + \\eta\\, \\text{out}$). Its explicit heads return the energy
$-\\langle x, f \\rangle$ (`ebm="dot"`) and $+\\tfrac12 \\lVert f \\rVert^2$ (`ebm="l2"`, despite
the printed formula), with the output equal to minus the gradient of the returned energy. So
the reference's returned energy *is* the paper-sign energy, and:

| `ebm` | energykit field |
|---|---|
| `"none"` | `ImplicitField(-net)` |
| `"dot"` | `DotEnergy(-net)`: $E = \\langle x, -f \\rangle$ |
| `"l2"` | `L2Energy(net, convention="reference")`: $E = +\\tfrac12 \\lVert f \\rVert^2$ |
"""

from __future__ import annotations

from argparse import Namespace
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from torch import Tensor, nn

from energykit._io import load_torch
from energykit.fields import DotEnergy, EnergyField, ImplicitField, L2Energy
from energykit.nets.dit import SIZES, DiT, preset_kwargs

#: Prefixes that wrappers add to state-dict keys (DDP, torch.compile).
_PREFIXES = ("module.", "_orig_mod.")


class Negated(nn.Module):
    """`-net(x, **cond)`: turns the reference's $-\\nabla E$ output into $\\nabla E$."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        return -self.net(x, *args, **kwargs)


def _strip(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    out = {}
    for k, v in state.items():
        for prefix in _PREFIXES:
            if k.startswith(prefix):
                k = k[len(prefix) :]
        out[k] = v
    return out


def reference_state_dict(
    source: str | Path | Mapping[str, Any], key: str = "ema"
) -> dict[str, Tensor]:
    """The network state dict inside a reference checkpoint (`{"model", "ema", "opt", "args"}`,
    `key` chosen, `"ema"` by default) or a bare state dict; wrapper prefixes are removed."""
    raw: Any = source
    if isinstance(source, (str, Path)):
        # The reference's files also hold its argparse Namespace ("args"): that one class is
        # allowed, nothing else; nothing in the file is ever executed.
        raw = load_torch(source, what="load_reference_eqm: checkpoint", allow=[Namespace])
    if not isinstance(raw, Mapping):
        raise TypeError(f"load_reference_eqm: expected a path or a state dict, got {type(raw)}")
    if "x_embedder.proj.weight" not in _strip(raw) and key in raw:
        raw = raw[key]
    state = _strip(raw)
    if "x_embedder.proj.weight" not in state:
        raise ValueError(
            "load_reference_eqm: not a reference EqM state dict (no 'x_embedder.proj.weight'; "
            f"top-level keys: {sorted(raw)[:8]})"
        )
    return state


def infer_reference_kwargs(state: Mapping[str, Tensor]) -> dict[str, Any]:
    """The reference constructor's arguments implied by the tensor shapes of `state`."""
    w = state["x_embedder.proj.weight"]  # (D, C, p, p)
    hidden, channels, patch = w.shape[0], w.shape[1], w.shape[2]
    tokens = state["pos_embed"].shape[1]
    depth = 1 + max(int(k.split(".")[1]) for k in state if k.startswith("blocks."))
    out = state["final_layer.linear.weight"].shape[0] // (patch * patch)
    heads = next((s.num_heads for s in SIZES.values() if s.hidden_size == hidden), None)
    kwargs: dict[str, Any] = {
        "input_size": round(tokens**0.5) * patch,
        "patch_size": patch,
        "in_channels": channels,
        "hidden_size": hidden,
        "depth": depth,
        "mlp_ratio": state["blocks.0.mlp.fc1.weight"].shape[0] / hidden,
        "learn_sigma": out == 2 * channels,
    }
    if heads is not None:
        kwargs["num_heads"] = heads
    table = state.get("y_embedder.embedding_table.weight")
    if table is None:
        kwargs["num_classes"] = None
    else:
        kwargs["num_classes"] = table.shape[0] - 1  # the null row is there when trained with CFG
        kwargs["class_dropout_prob"] = 0.1
    return kwargs


def load_reference_eqm(
    state_dict_or_path: str | Path | Mapping[str, Any],
    *,
    model: str | None = None,
    ebm: Literal["none", "dot", "l2"] = "none",
    key: str = "ema",
    uncond: bool = False,
    **reference_kwargs: Any,
) -> EnergyField:
    """Build an energykit field (paper sign) from reference EqM weights.

    Args:
        state_dict_or_path: A reference checkpoint file or dict (`{"model", "ema", "opt",
            "args"}`) or a bare state dict.
        model: A preset such as `"EqM-XL/2"` that fills the constructor arguments.
        ebm: The reference head: `"none"` (implicit), `"dot"` or `"l2"`.
        key: Which weights of a full checkpoint to load (`"ema"` or `"model"`).
        uncond: Accepted for the reference's signature; an unconditional checkpoint simply
            has no label table.
        **reference_kwargs: The reference constructor's names (`input_size`, `patch_size`,
            `in_channels`, `hidden_size`, `depth`, `num_heads`, `mlp_ratio`,
            `class_dropout_prob`, `num_classes`, `learn_sigma`); missing ones are inferred
            from the tensor shapes.

    Returns:
        `ImplicitField`, `DotEnergy` or `L2Energy` wrapping the `DiT`, in eval mode.
    """
    del uncond
    state = reference_state_dict(state_dict_or_path, key)
    kwargs = infer_reference_kwargs(state)
    if model is not None:
        kwargs.update(preset_kwargs(model))
    kwargs.update(reference_kwargs)
    # Keep the stored precision (float64 weights give a float64 model).
    net = DiT(**kwargs).to(state["x_embedder.proj.weight"].dtype)
    try:
        missing, unexpected = net.load_state_dict(state, strict=False)
    except RuntimeError as err:  # shape mismatches
        raise ValueError(
            f"load_reference_eqm: state dict does not match the model {kwargs}: {err}"
        ) from None
    if missing or unexpected:
        raise ValueError(
            f"load_reference_eqm: state dict does not match the model; missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}"
        )
    net.eval()
    if ebm == "none":
        return ImplicitField(Negated(net)).eval()
    if ebm == "dot":
        return DotEnergy(Negated(net)).eval()
    if ebm == "l2":
        return L2Energy(net, convention="reference").eval()
    raise ValueError(f"load_reference_eqm ebm: expected 'none', 'dot' or 'l2', got {ebm!r}")
