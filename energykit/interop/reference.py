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

import torch
from torch import Tensor, nn

from energykit._io import load_torch
from energykit.fields import DotEnergy, EnergyField, ImplicitField, L2Energy
from energykit.nets.dit import SIZES, DiT, preset_kwargs

#: Prefixes that wrappers add to state-dict keys (DDP, torch.compile).
_PREFIXES = ("module.", "_orig_mod.")
#: The entries of a reference training checkpoint.
_CHECKPOINT_ENTRIES = ("model", "ema", "opt", "args")
#: The keys `infer_reference_kwargs` reads, with their ranks.
_RANKS = {
    "pos_embed": 3,
    "x_embedder.proj.weight": 4,
    "blocks.0.mlp.fc1.weight": 2,
    "final_layer.linear.weight": 2,
}
#: Keys every reference EqM state dict has (the blocks are checked against the model).
_REQUIRED = (
    "pos_embed",
    "x_embedder.proj.weight",
    "x_embedder.proj.bias",
    "t_embedder.mlp.0.weight",
    "t_embedder.mlp.0.bias",
    "t_embedder.mlp.2.weight",
    "t_embedder.mlp.2.bias",
    "blocks.0.mlp.fc1.weight",
    "final_layer.linear.weight",
    "final_layer.linear.bias",
    "final_layer.adaLN_modulation.1.weight",
    "final_layer.adaLN_modulation.1.bias",
)
#: What a reference EqM state dict holds, for error messages.
_HOLDS = (
    "a reference EqM state dict holds pos_embed, x_embedder.proj.*, t_embedder.mlp.*, "
    "y_embedder.embedding_table.weight (class-conditional), blocks.<i>.{attn,mlp,"
    "adaLN_modulation}.* and final_layer.{linear,adaLN_modulation.1}.* (see "
    "docs/reference-checkpoints.md)"
)
#: The reference constructor's keyword names.
_KWARGS = frozenset(
    {
        "input_size",
        "patch_size",
        "in_channels",
        "hidden_size",
        "depth",
        "num_heads",
        "mlp_ratio",
        "class_dropout_prob",
        "num_classes",
        "learn_sigma",
    }
)
#: The reference's energy heads (`ebm`, its `--ebm` choices).
HEADS = ("none", "dot", "l2")


class Negated(nn.Module):
    """`-net(x, **cond)`: turns the reference's $-\\nabla E$ output into $\\nabla E$."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        return -self.net(x, *args, **kwargs)


def _strip(state: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in state.items():
        if not isinstance(k, str):
            raise ValueError(
                f"load_reference_eqm: state dict keys must be parameter names, got {k!r}"
            )
        for prefix in _PREFIXES:
            if k.startswith(prefix):
                k = k[len(prefix) :]
        out[k] = v
    return out


def reference_state_dict(
    source: str | Path | Mapping[str, Any], key: str = "ema"
) -> dict[str, Tensor]:
    """The network state dict inside a reference checkpoint (`{"model", "ema", "opt", "args"}`,
    `key` chosen, `"ema"` by default) or a bare state dict; wrapper prefixes are removed.

    A file is read with `torch.load(weights_only=True)`: tensors, plain containers and the
    reference's `argparse.Namespace` under `"args"`, nothing else; nothing in it is executed.
    The weights are checked: every entry a tensor, every float finite, the keys a reference
    EqM network needs present.

    Raises:
        FileNotFoundError: no file at `source`.
        UnreadableFileError: the file is empty, truncated, not a torch file, or holds objects
            other than tensors and plain containers (a `ValueError`).
        ValueError: not a reference EqM checkpoint (an energykit `Trainer` checkpoint, no
            `key` entry, missing keys, non-tensor entries, NaN or inf weights).
        TypeError: `source` is neither a path nor a mapping.
    """
    raw: Any = source
    where = "state dict"
    if isinstance(source, (str, Path)):
        where = f"checkpoint {str(source)!r}"
        # The reference's files also hold its argparse Namespace ("args"): that one class is
        # allowed, nothing else; nothing in the file is ever executed.
        raw = load_torch(source, what="load_reference_eqm: checkpoint", allow=[Namespace])
        if not isinstance(raw, Mapping):
            raise ValueError(
                f"load_reference_eqm: {where} holds a {type(raw).__name__}, not a dict of "
                "weights (a reference checkpoint is {'model', 'ema', 'opt', 'args'} or a state "
                "dict)"
            )
    elif not isinstance(source, Mapping):
        raise TypeError(
            f"load_reference_eqm: expected a path or a state dict, got {type(source).__name__}"
        )
    state = _strip(_select(raw, key, where))
    if "x_embedder.proj.weight" not in state:
        raise ValueError(
            f"load_reference_eqm: {where} is not a reference EqM state dict (no "
            f"'x_embedder.proj.weight'; keys: {_preview(state)}); {_HOLDS}"
        )
    _check_tensors(state, where)
    _check_required(state, where)
    return state


def _select(raw: Mapping[Any, Any], key: str, where: str) -> Mapping[Any, Any]:
    """The state dict in `raw`: `raw` itself, or `raw[key]` for a full checkpoint."""
    if str(raw.get("format", "")).startswith("energykit."):
        raise ValueError(
            f"load_reference_eqm: {where} is an energykit Trainer checkpoint (format "
            f"{raw.get('format')!r}), not a reference one; load it with "
            "energykit.train.load_trained"
        )
    if any(isinstance(k, str) and k.endswith("x_embedder.proj.weight") for k in raw):
        return raw  # a bare (possibly wrapped) state dict
    if key in raw:
        inner = raw[key]
        if not isinstance(inner, Mapping):
            raise ValueError(
                f"load_reference_eqm key: {where}[{key!r}] is a {type(inner).__name__}, not a "
                "state dict"
            )
        return inner
    if any(k in raw for k in _CHECKPOINT_ENTRIES):
        raise ValueError(
            f"load_reference_eqm key: {where} has no {key!r} entry; it holds "
            f"{_preview(raw)} (pass key= one of those)"
        )
    return raw


def _check_tensors(state: Mapping[str, Any], where: str) -> None:
    """Every entry a tensor and every floating tensor finite."""
    others = [k for k, v in state.items() if not isinstance(v, Tensor)]
    if others:
        raise ValueError(
            f"load_reference_eqm: {where} holds non-tensor entries {_preview(others)}; a state "
            "dict maps parameter names to tensors"
        )
    bad = [
        k
        for k, v in state.items()
        if (v.is_floating_point() or v.is_complex())
        and not v.is_meta
        and not bool(torch.isfinite(v).all())
    ]
    if bad:
        raise ValueError(
            f"load_reference_eqm: {where} has non-finite weights (NaN or inf) in {len(bad)} "
            f"tensor(s): {_preview(bad)}; the file is corrupt"
        )


def _check_required(state: Mapping[str, Any], where: str = "state dict") -> None:
    """The keys `infer_reference_kwargs` reads, with the ranks it expects."""
    missing = [k for k in _REQUIRED if k not in state]
    if missing:
        raise ValueError(
            f"load_reference_eqm: {where} lacks {len(missing)} key(s) a reference EqM network "
            f"needs: {_preview(missing)}; {_HOLDS}"
        )
    wrong = [
        f"{k} {tuple(state[k].shape)} (expected {ndim}-D)"
        for k, ndim in _RANKS.items()
        if getattr(state[k], "ndim", None) != ndim
    ]
    if wrong:
        raise ValueError(f"load_reference_eqm: {where} has tensors of the wrong rank: {wrong}")


def _preview(keys: Any, n: int = 8) -> str:
    """`['a', 'b', ...]` with at most `n` names and the total count when there are more."""
    names = sorted(str(k) for k in keys)
    more = f" and {len(names) - n} more" if len(names) > n else ""
    return f"{names[:n]}{more}"


def _block_index(key: str) -> int:
    """`i` of `blocks.i.*`."""
    index = key.split(".")[1]
    if not index.isdigit():
        raise ValueError(f"load_reference_eqm: unexpected key {key!r} (expected blocks.<i>.*)")
    return int(index)


def infer_reference_kwargs(state: Mapping[str, Tensor]) -> dict[str, Any]:
    """The reference constructor's arguments implied by the tensor shapes of `state`.

    Raises:
        ValueError: `state` lacks a key the inference reads (`pos_embed`,
            `x_embedder.proj.weight`, `blocks.0.mlp.fc1.weight`, `final_layer.linear.weight`,
            ...), or one of them has the wrong rank.
    """
    _check_required(state)
    w = state["x_embedder.proj.weight"]  # (D, C, p, p)
    hidden, channels, patch = w.shape[0], w.shape[1], w.shape[2]
    tokens = state["pos_embed"].shape[1]
    depth = 1 + max(_block_index(k) for k in state if k.startswith("blocks."))
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

    Raises:
        FileNotFoundError: no file at the path.
        UnreadableFileError: the file is empty, truncated, not a torch file, or holds objects
            other than tensors, plain containers and the reference's `argparse.Namespace`
            (nothing in it is ever executed); a `ValueError`.
        ValueError: not reference EqM weights (see `reference_state_dict`), an unknown `ebm`
            or `model`, or weights that do not match the model (missing or unexpected keys,
            shapes); the message names them.
        TypeError: an unknown keyword argument.
    """
    del uncond
    _check_options(ebm, reference_kwargs)
    state = reference_state_dict(state_dict_or_path, key)
    kwargs = infer_reference_kwargs(state)
    if model is not None:
        try:
            kwargs.update(preset_kwargs(model))
        except ValueError as err:
            raise ValueError(f"load_reference_eqm model: {err}") from None
    kwargs.update(reference_kwargs)
    _check_fits(state, kwargs, model)
    dtype = state["x_embedder.proj.weight"].dtype
    # Keep the stored precision (float64 weights give a float64 model).
    net = DiT(**kwargs).to(dtype)
    net.load_state_dict(state)  # strict; `_check_fits` has compared every key and shape
    net.eval()
    if ebm == "none":
        return ImplicitField(Negated(net)).eval()
    if ebm == "dot":
        return DotEnergy(Negated(net)).eval()
    return L2Energy(net, convention="reference").eval()


def _check_options(ebm: object, reference_kwargs: Mapping[str, Any]) -> None:
    """`ebm` and the constructor keywords, checked before anything is loaded."""
    if ebm not in HEADS:
        raise ValueError(f"load_reference_eqm ebm: expected 'none', 'dot' or 'l2', got {ebm!r}")
    unknown = sorted(set(reference_kwargs) - _KWARGS)
    if unknown:
        raise TypeError(
            f"load_reference_eqm: unexpected keyword argument(s) {unknown}; the reference "
            f"constructor's names are {sorted(_KWARGS)}"
        )


def _check_fits(state: Mapping[str, Tensor], kwargs: dict[str, Any], model: str | None) -> None:
    """The keys and shapes of `state` against a model built (on the meta device, so no
    memory is spent) from `kwargs`; one line naming every difference."""
    if not state["x_embedder.proj.weight"].is_floating_point():
        raise ValueError(
            "load_reference_eqm: expected floating-point weights, got "
            f"{state['x_embedder.proj.weight'].dtype} for 'x_embedder.proj.weight'"
        )
    arch = f"model={model!r}, {kwargs}" if model is not None else str(kwargs)
    try:
        with torch.device("meta"):
            expected = DiT(**kwargs).state_dict()
    except ValueError as err:
        raise ValueError(f"load_reference_eqm: cannot build the model {arch}: {err}") from None
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [
        f"{k} {tuple(state[k].shape)} in the file vs {tuple(v.shape)} in the model"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    problems = []
    if missing:
        problems.append(f"missing keys {_preview(missing)}")
    if unexpected:
        problems.append(f"unexpected keys {_preview(unexpected)}")
    if shapes:
        more = f" and {len(shapes) - 3} more" if len(shapes) > 3 else ""
        problems.append(f"shape mismatch: {', '.join(shapes[:3])}{more}")
    if problems:
        raise ValueError(
            f"load_reference_eqm: the state dict does not match the model ({arch}): "
            + "; ".join(problems)
        )
