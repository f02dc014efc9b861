"""Bad reference checkpoints are refused with one clear line that names the problem."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor

from energykit._io import UnreadableFileError
from energykit.interop import infer_reference_kwargs, load_reference_eqm, reference_state_dict
from energykit.nets.dit import DiT
from tests.helpers import TINY_REFERENCE_KW

KW: dict[str, Any] = dict(TINY_REFERENCE_KW)


def _state(**changes: Any) -> dict[str, Any]:
    """A tiny reference-shaped state dict; `changes` replace entries (`None` removes one)."""
    state: dict[str, Any] = dict(DiT(**KW).state_dict())
    for k, v in changes.items():
        k = k.replace("__", ".")
        if v is None:
            state.pop(k)
        else:
            state[k] = v
    return state


def _without(*prefixes: str) -> dict[str, Any]:
    return {k: v for k, v in _state().items() if not k.startswith(prefixes)}


def _with_value(name: str, value: float) -> dict[str, Any]:
    state = _state()
    state[name] = state[name].clone()
    state[name].view(-1)[1] = value
    return state


def _b2_state() -> dict[str, Tensor]:
    """EqM-B/2's keys and shapes (4x4 input, 2 channels) as zero-stride tensors (no memory)."""
    with torch.device("meta"):
        shapes = DiT.preset("EqM-B/2", input_size=4, in_channels=2, num_classes=3).state_dict()
    return {k: torch.zeros(()).expand(v.shape) for k, v in shapes.items()}


def _saved(payload: Any) -> Callable[[Path], Path]:
    def write(tmp: Path) -> Path:
        path = tmp / "ckpt.pt"
        torch.save(payload, path)
        return path

    return write


HEADS = 2
TRAINER = {"format": "energykit.trainer/1", "step": 2, "ema": _state(), "model": _state()}

#: (call on a tmp dir, error type, substring of the message)
CASES = [
    pytest.param(
        lambda tmp: load_reference_eqm(_state(pos_embed=None), num_heads=HEADS),
        ValueError,
        "'pos_embed'",
        id="missing-pos_embed",
    ),
    pytest.param(
        lambda tmp: load_reference_eqm(_without("final_layer."), num_heads=HEADS),
        ValueError,
        "final_layer.linear.weight",
        id="missing-final_layer",
    ),
    pytest.param(
        lambda tmp: load_reference_eqm(_without("blocks."), num_heads=HEADS),
        ValueError,
        "blocks.0.mlp.fc1.weight",
        id="no-blocks",
    ),
    pytest.param(
        lambda tmp: infer_reference_kwargs(_state(pos_embed=None)),
        ValueError,
        "a reference EqM state dict holds",
        id="infer-missing-pos_embed",
    ),
    pytest.param(
        lambda tmp: load_reference_eqm(_state(blocks__0__attn__proj__bias=None), num_heads=HEADS),
        ValueError,
        "missing keys ['blocks.0.attn.proj.bias']",
        id="missing-block-tensor",
    ),
    pytest.param(
        lambda tmp: load_reference_eqm(
            _with_value("blocks.0.attn.qkv.weight", float("nan")), num_heads=HEADS
        ),
        ValueError,
        "non-finite weights (NaN or inf) in 1 tensor(s): ['blocks.0.attn.qkv.weight']",
        id="nan-weight",
    ),
    pytest.param(
        lambda tmp: reference_state_dict(_with_value("final_layer.linear.bias", float("inf"))),
        ValueError,
        "['final_layer.linear.bias']",
        id="inf-weight",
    ),
    pytest.param(
        lambda tmp: load_reference_eqm(
            _b2_state(), model="EqM-XL/2", input_size=4, in_channels=2, num_classes=3
        ),
        ValueError,
        "model='EqM-XL/2'",
        id="B2-weights-XL2-preset",
    ),
    pytest.param(
        lambda tmp: load_reference_eqm(_state(), num_heads=HEADS, hidden_size=32),
        ValueError,
        "shape mismatch: ",
        id="wrong-shapes-kwargs",
    ),
    pytest.param(
        lambda tmp: load_reference_eqm(_state(), ebm="cosine", num_heads=HEADS),  # type: ignore[arg-type]
        ValueError,
        "ebm: expected 'none', 'dot' or 'l2', got 'cosine'",
        id="unknown-ebm",
    ),
    pytest.param(
        lambda tmp: load_reference_eqm(_state(), model="EqM-Q/2"),
        ValueError,
        "load_reference_eqm model: DiT preset name: expected one of",
        id="unknown-preset",
    ),
    pytest.param(
        lambda tmp: load_reference_eqm(_state(), num_heads=HEADS, depthh=2),
        TypeError,
        "unexpected keyword argument(s) ['depthh']",
        id="unknown-kwarg",
    ),
    pytest.param(
        lambda tmp: load_reference_eqm(
            _saved({"ema": _state(), "args": argparse.Namespace(model="EqM-tiny")})(tmp),
            key="model",
            num_heads=HEADS,
        ),
        ValueError,
        "has no 'model' entry; it holds ['args', 'ema']",
        id="key-model-absent",
    ),
    pytest.param(
        lambda tmp: load_reference_eqm({"ema": torch.zeros(3)}),
        ValueError,
        "['ema'] is a Tensor, not a state dict",
        id="key-not-a-dict",
    ),
    pytest.param(
        lambda tmp: load_reference_eqm(_saved(torch.zeros(3))(tmp)),
        ValueError,
        "holds a Tensor, not a dict of weights",
        id="file-bare-tensor",
    ),
    pytest.param(
        lambda tmp: load_reference_eqm(_saved([1, 2])(tmp)),
        ValueError,
        "holds a list, not a dict of weights",
        id="file-list",
    ),
    pytest.param(
        lambda tmp: load_reference_eqm(torch.zeros(3)),  # type: ignore[arg-type]
        TypeError,
        "expected a path or a state dict, got Tensor",
        id="argument-tensor",
    ),
    pytest.param(
        lambda tmp: load_reference_eqm(
            _state(extra__weight=torch.zeros(2), **{"blocks.1.mlp.fc1.weight": torch.zeros(1)}),
            num_heads=HEADS,
            depth=1,
        ),
        ValueError,
        "unexpected keys ['blocks.1.mlp.fc1.weight', 'extra.weight']",
        id="extra-keys",
    ),
    pytest.param(
        lambda tmp: load_reference_eqm(TRAINER, num_heads=HEADS),
        ValueError,
        "energykit Trainer checkpoint (format 'energykit.trainer/1'), not a reference one; "
        "load it with energykit.train.load_trained",
        id="trainer-checkpoint-dict",
    ),
    pytest.param(
        lambda tmp: load_reference_eqm(_saved(TRAINER)(tmp), num_heads=HEADS),
        ValueError,
        "load it with energykit.train.load_trained",
        id="trainer-checkpoint-file",
    ),
    pytest.param(
        lambda tmp: load_reference_eqm({"net.0.weight": torch.zeros(2, 2)}),
        ValueError,
        "not a reference EqM state dict (no 'x_embedder.proj.weight'; keys: ['net.0.weight'])",
        id="foreign-state-dict",
    ),
    pytest.param(
        lambda tmp: load_reference_eqm(_state(pos_embed="not a tensor"), num_heads=HEADS),
        ValueError,
        "non-tensor entries ['pos_embed']",
        id="non-tensor-entry",
    ),
    pytest.param(
        lambda tmp: load_reference_eqm(
            _state(x_embedder__proj__weight=torch.zeros(16, 2)), num_heads=HEADS
        ),
        ValueError,
        "x_embedder.proj.weight (16, 2) (expected 4-D)",
        id="wrong-rank",
    ),
    pytest.param(
        lambda tmp: load_reference_eqm({0: torch.zeros(1)}),  # type: ignore[dict-item]
        ValueError,
        "keys must be parameter names, got 0",
        id="non-string-key",
    ),
    pytest.param(
        lambda tmp: load_reference_eqm(_state(blocks__x__mlp__fc1__weight=torch.zeros(1))),
        ValueError,
        "unexpected key 'blocks.x.mlp.fc1.weight'",
        id="bad-block-index",
    ),
    pytest.param(
        lambda tmp: load_reference_eqm(tmp / "absent.pt"),
        FileNotFoundError,
        "no file at",
        id="no-file",
    ),
    pytest.param(
        lambda tmp: load_reference_eqm(_empty(tmp)),
        UnreadableFileError,
        "the file is empty",
        id="empty-file",
    ),
]


def _empty(tmp: Path) -> Path:
    path = tmp / "empty.pt"
    path.write_bytes(b"")
    return path


@pytest.mark.parametrize(("call", "error", "text"), CASES)
def test_bad_reference_input_is_refused_with_one_clear_line(
    call: Callable[[Path], Any], error: type[Exception], text: str, tmp_path: Path
) -> None:
    with pytest.raises(error) as info:
        call(tmp_path)
    message = str(info.value)
    assert text in message
    assert "\n" not in message
    assert "weights_only=False" not in message


def test_a_good_state_dict_still_loads_and_is_not_changed() -> None:
    state = {f"module.{k}": v for k, v in _state().items()}
    field = load_reference_eqm(state, num_heads=HEADS)
    net: Any = field.net
    net = net.net  # ImplicitField(Negated(DiT))
    for k, v in net.state_dict().items():
        torch.testing.assert_close(v, state[f"module.{k}"], rtol=0, atol=0)


def test_meta_weights_pass_the_finite_check() -> None:
    with torch.device("meta"):
        state = DiT(**KW).state_dict()
    assert set(reference_state_dict(state)) == set(state)
