"""Printing a result shows shapes and summary numbers, never a batch of values."""

from __future__ import annotations

import torch

import energykit as ek
from energykit.fields import Gaussian
from energykit.sampling import SampleConfig, generate

#: A repr that printed its tensors would be far longer than this.
SHORT = 400


def test_descent_result_and_step():
    steps: list[ek.DescentStep] = []
    d = ek.Descender(
        Gaussian(torch.zeros(2)),
        "gd",
        lr=0.5,
        steps=30,
        g_min=1e-2,
        record=True,
        callback=steps.append,
    )
    result = d.run(torch.randn(64, 2, generator=torch.Generator().manual_seed(0)))
    text = repr(result)
    assert text.startswith("DescentResult(x=Tensor(64, 2) float32 cpu, steps mean ")
    assert f"nfe_total={result.nfe_total}" in text
    assert f"converged={int(result.converged.sum())}/64, failed=0/64" in text
    assert "trajectory=Tensor(" in text and len(text) < SHORT and "tensor(" not in text
    step = repr(steps[0])
    assert step.startswith("DescentStep(step=0, x=Tensor(64, 2) float32 cpu")
    assert "active=64/64" in step and len(step) < SHORT


def test_samples():
    cfg = SampleConfig(n=32, batch=32, steps=3, sampler="gd", lr=0.1)
    s = generate(Gaussian(torch.zeros(2)), (2,), cfg)
    text = repr(s)
    assert text.startswith("Samples(x=Tensor(32, 2) float32 cpu, nfe_total=96, nfe_mean=3, ")
    assert "steps mean 3 [3, 3]" in text and "failed=0/32" in text and len(text) < SHORT


def test_loss_output():
    net = torch.nn.Linear(2, 2)
    out = ek.objectives.EqMLoss()(ek.ImplicitField(net), torch.randn(128, 2))
    text = repr(out)
    assert text.startswith(
        f"LossOutput(loss={float(out.loss.detach()):.6g}, per_sample=Tensor(128,) "
    )
    assert "t mean " in text and len(text) < SHORT and "grad_fn" not in text
