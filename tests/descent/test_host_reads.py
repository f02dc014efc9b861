"""No host read of a tensor's value in a descent step that is not a read-back step.

A read (`.item()`, `float()`, `bool()`, `.tolist()`, a data-dependent shape such as
`nonzero` or boolean-mask indexing) would stall an accelerator every step. The counter sees
every aten op the step runs (`TorchDispatchMode`) plus `Tensor.tolist`/`Tensor.numpy`, which
bypass the dispatcher; on the CPU it proves the same code path makes no sync on CUDA.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import Tensor, nn
from torch.utils._python_dispatch import TorchDispatchMode

import energykit as ek

#: aten ops whose result depends on tensor values on the host (a device sync on CUDA).
READS = {
    torch.ops.aten._local_scalar_dense.default,
    torch.ops.aten.nonzero.default,
    torch.ops.aten.masked_select.default,
    torch.ops.aten.is_nonzero.default,
    torch.ops.aten.equal.default,
    torch.ops.aten.unique_consecutive.default,
    torch.ops.aten._unique2.default,
}

EVERY = 4


class HostReads(TorchDispatchMode):
    """Counts host reads of tensor values while active."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[str] = []

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None):
        kwargs = kwargs or {}
        mask_index = func is torch.ops.aten.index.Tensor and any(
            isinstance(i, Tensor) and i.dtype == torch.bool for i in args[1]
        )
        if func in READS or mask_index:
            self.reads.append(str(func))
        return func(*args, **kwargs)


def _count(fn: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    mode = HostReads()
    for name in ("tolist", "numpy"):
        original = getattr(Tensor, name)

        def counted(self: Tensor, *a: Any, _o: Any = original, _n: str = name) -> Any:
            mode.reads.append(f"Tensor.{_n}")
            return _o(self, *a)

        monkeypatch.setattr(Tensor, name, counted)
    with mode:
        fn()
    monkeypatch.undo()
    return mode.reads


class Poison(ek.EnergyField):
    """An MLP field that returns NaN for sample 1 (by its id, passed as conditioning so it
    follows the evaluated rows) from its `after`-th call on."""

    def __init__(self, after: int) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.inner = ek.ImplicitField(nn.Sequential(nn.Linear(2, 32), nn.SiLU(), nn.Linear(32, 2)))
        self.after, self.calls = after, 0

    def gradient(self, x: Tensor, **cond: Any) -> Tensor:
        g = self.inner.gradient(x)
        self.calls += 1
        if self.calls > self.after:
            g = torch.where(cond["ids"][:, None] == 1, float("nan"), g)
        return g


MODES = [
    pytest.param({}, id="fixed-budget"),
    pytest.param({"g_min": 0.1}, id="g_min"),
    pytest.param({"nonfinite": "freeze"}, id="freeze"),
    pytest.param({"g_min": 0.1, "nonfinite": "freeze"}, id="g_min-freeze"),
]


@pytest.mark.parametrize("kw", MODES)
@pytest.mark.parametrize("opt", ["gd", "nag"])
def test_no_host_read_between_read_backs(kw, opt, monkeypatch):
    field = Poison(after=1 if kw.get("nonfinite") == "freeze" else 10**9)
    d = ek.Descender(field, opt, lr=0.3, steps=3 * EVERY, check_every=EVERY, **kw)
    x0 = torch.randn(16, 2, generator=torch.Generator().manual_seed(0))
    state = d.start(x0, ids=torch.arange(16))
    per_step = []
    while not state.done:
        per_step.append(_count(lambda: d.step(state), monkeypatch))
    assert len(per_step) == 3 * EVERY
    for k, reads in enumerate(per_step):
        if (k + 1) % EVERY:
            assert reads == [], (k, reads)
    assert per_step[EVERY - 1], "the counter sees the read-back"
    result = state.result()
    if "g_min" in kw:
        assert bool(result.converged.any())  # rows stopped between read-backs
    if "nonfinite" in kw:
        assert result.failed.tolist() == [i == 1 for i in range(16)]


def test_run_reads_only_at_read_backs(monkeypatch):
    # A whole run: the start's input check and one read per read-back, never per step.
    field = Poison(after=10**9)
    d = ek.Descender(field, "nag", lr=0.1, steps=64, check_every=16)
    x0 = torch.randn(8, 2)
    reads = _count(lambda: d.run(x0, ids=torch.arange(8)), monkeypatch)
    assert len(reads) <= 1 + 64 // 16, reads
