"""Calibrated few-evaluation solvers: fit a `Solver`'s per-step coefficients so that $K$ field
evaluations land where a long reference descent lands.

Given calibration noise $x_0^{(i)}$ and the reference samples $x_\\star^{(i)}$ (by default the
paper's 250-step NAG-GD from the same noise), `calibrate` minimises

$$L(\\theta) = \\frac{1}{n} \\sum_i \\frac{1}{D} \\lVert \\Phi_\\theta(x_0^{(i)}) - x_\\star^{(i)}
\\rVert^2 + \\frac{1}{\\sqrt{D}}\\,\\mathcal{E}\\big(\\{\\Phi_\\theta(x_0^{(i)})\\},
\\{x_\\star^{(i)}\\}\\big)$$

(paired pixel MSE plus the energy distance $\\mathcal{E}$ of the two sets; pixel MSE alone
regresses a short solver towards the blurred conditional mean, which the distribution term
prevents; `calibration_loss`)

over the $K$ step sizes (as logarithms, so they stay positive), look-aheads (clamped at 0) and
history weights $\\theta$ of the unrolled $K$-step `Multistep` descent $\\Phi_\\theta$ (`unroll`),
with Adam, backpropagating through every field evaluation (the field's own parameters are
held fixed). The distance is measured in the space the field lives in (pixels, or latents
for a latent model), never in a metric's feature space. A few hundred numbers at most are
fitted, from a few hundred noise seeds, so a fit takes seconds to minutes on a CPU.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from energykit._checks import check_int, check_real
from energykit.descent.solver import Solver
from energykit.fields.base import EnergyField


@dataclass(frozen=True)
class CalibrationLog:
    """What a fit did, per logged iteration.

    Attributes:
        iteration: Iteration numbers.
        loss: The calibration loss there.
    """

    iteration: list[int]
    loss: list[float]


def unroll(
    field: EnergyField,
    x0: Tensor,
    lr: Tensor,
    momentum: Tensor,
    weights: Tensor,
    **cond: Any,
) -> Tensor:
    """The $K$-step multistep descent from `x0`, differentiable in the coefficients.

    The same maths, in the same order of operations, as `Multistep` driven by a `Descender`
    (so `Solver.descender(field).run(x0)` gives the same samples up to rounding).

    Args:
        field: The landscape.
        x0: Starting points `(B, *shape)`.
        lr: Step sizes `(K,)`.
        momentum: Look-aheads `(K,)`.
        weights: History weights `(K, H)`, row $k$ newest first; entries past $k$ are unused.
        **cond: Conditioning for the field.

    Returns:
        $x_K$, `(B, *shape)`.
    """
    x = x_prev = x0
    history = weights.shape[1]
    grads: list[Tensor] = []  # newest first, at most `history`
    for k in range(lr.shape[0]):
        p = x + (x - x_prev) * momentum[k]
        grads.insert(0, field.gradient(p, **cond))
        del grads[history:]
        direction = grads[0] * weights[k, 0]
        for j in range(1, min(history, k + 1)):
            direction = direction + grads[j] * weights[k, j]
        x_prev, x = x, x - lr[k] * direction
    return x


#: Calibration losses: paired pixel MSE to the reference, the energy distance between the
#: solver's samples and the reference set (distribution-level, in the field's own space), or
#: their sum.
LOSSES = ("mse", "energy", "mse+energy")


def calibration_loss(out: Tensor, target: Tensor, loss: str) -> Tensor:
    """The calibration loss of solver samples `out` against reference samples `target`, both
    `(n, *shape)`.

    `mse`: $\frac{1}{nD}\\sum_i \\lVert o_i - t_i \rVert^2$ (paired: the same noise seed).
    `energy`: the energy distance $2\\,\\mathbb{E}\\lVert o - t \rVert - \\mathbb{E}\\lVert o - o'
    \rVert - \\mathbb{E}\\lVert t - t' \rVert$ over all pairs, divided by $\\sqrt{D}$ (unpaired: it
    compares the two sets as distributions, so it does not reward the blur of a regression to
    the mean). `mse+energy`: their sum.

    Raises:
        ValueError: an unknown `loss`.
    """
    if loss not in LOSSES:
        raise ValueError(f"loss: expected one of {list(LOSSES)}, got {loss!r}")
    o, t = out.flatten(1), target.flatten(1)
    total = out.new_zeros(())
    if "mse" in loss:
        total = total + (o - t).pow(2).mean(1).mean()
    if "energy" in loss:
        scale = o.shape[1] ** 0.5
        cross = _pair_distance(o, t).mean()
        within = _pair_distance(o, o).mean() + _pair_distance(t, t).mean()
        total = total + (2 * cross - within) / scale
    return total


def _pair_distance(a: Tensor, b: Tensor) -> Tensor:
    """Euclidean distances of all rows of `a` to all rows of `b`, `(n, m)`, with a gradient
    that stays finite at zero distance."""
    sq = (a.pow(2).sum(1, keepdim=True) + b.pow(2).sum(1) - 2 * a @ b.T).clamp(min=0.0)
    return (sq + 1e-12).sqrt()


@dataclass
class _Coefficients:
    """The fitted numbers: log step sizes `(K,)`, look-aheads `(K,)`, weights `(K, H)`."""

    log_lr: Tensor
    momentum: Tensor
    weights: Tensor

    @classmethod
    def of(cls, init: Solver, history: int, like: Tensor, fit_momentum: bool) -> _Coefficients:
        dt, dev = like.dtype, like.device
        log_lr = torch.tensor([math.log(max(v, 1e-8)) for v in init.lr], dtype=dt, device=dev)
        w = torch.zeros(init.steps, history, dtype=dt, device=dev)
        for i, row in enumerate(init.weights):
            w[i, : min(history, len(row))] = torch.tensor(row[:history], dtype=dt, device=dev)
        mu = torch.tensor(init.momentum, dtype=dt, device=dev)
        return cls(log_lr.requires_grad_(), mu.requires_grad_(fit_momentum), w.requires_grad_())

    def trainable(self) -> list[Tensor]:
        return [t for t in (self.log_lr, self.momentum, self.weights) if t.requires_grad]

    def descend(self, field: EnergyField, x0: Tensor, cond: dict[str, Any]) -> Tensor:
        lr, mu = self.log_lr.exp(), self.momentum.clamp(min=0.0)
        return unroll(field, x0, lr, mu, self.weights, **cond)

    def solver(self, fit: dict[str, Any]) -> Solver:
        k, h = self.weights.shape
        rows = [self.weights.detach()[i, : min(h, i + 1)].tolist() for i in range(k)]
        lrs = self.log_lr.detach().exp().tolist()
        mus = self.momentum.detach().clamp(min=0.0).tolist()
        return Solver(tuple(lrs), tuple(mus), tuple(map(tuple, rows)), {}, fit)


def _fit(
    coef: _Coefficients,
    objective: Callable[[], Tensor],
    iterations: int,
    step: float,
    log_every: int,
    callback: Callable[[int, float], None] | None,
) -> CalibrationLog:
    """Full-batch Adam on `coef` for `iterations`; the loss logged every `log_every`."""
    opt = torch.optim.Adam(coef.trainable(), lr=step)
    logged = CalibrationLog([], [])
    for it in range(1, iterations + 1):
        opt.zero_grad(set_to_none=True)
        value = objective()
        value.backward()
        opt.step()
        if it % log_every == 0 or it == iterations:
            logged.iteration.append(it)
            logged.loss.append(float(value.detach()))
            if callback is not None:
                callback(it, logged.loss[-1])
    return logged


def calibrate(
    field: EnergyField,
    x0: Tensor,
    target: Tensor,
    init: Solver,
    *,
    loss: str = "mse+energy",
    history: int | None = None,
    iterations: int = 300,
    step: float = 0.02,
    fit_momentum: bool = True,
    log_every: int = 50,
    callback: Callable[[int, float], None] | None = None,
    **cond: Any,
) -> tuple[Solver, CalibrationLog]:
    # long function: a public entry point; most of its lines document its arguments.
    """Fit `init`'s coefficients so that its descent from `x0` lands on `target`.

    Full-batch Adam over the calibration set (deterministic: the same inputs give the same
    solver).

    Args:
        field: The landscape (guided, if the samples will be guided).
        x0: Calibration noise `(n, *shape)`; keep it disjoint from evaluation seeds.
        target: Where the reference descent lands from `x0`, `(n, *shape)`.
        init: The starting solver (e.g. the training-free default for the budget); its
            number of steps is the budget $K$.
        loss: One of `LOSSES` (see `calibration_loss`).
        history: History weights per step to fit (default: `init`'s longest row, at least 2);
            weights beyond `init`'s rows start at 0.
        iterations: Adam iterations.
        step: Adam's learning rate for the coefficients (log step sizes, look-aheads, weights).
        fit_momentum: Fit the look-aheads too (else they stay at `init`'s).
        log_every: Iterations between logged losses.
        callback: Called as `callback(iteration, loss)` at logged iterations.
        **cond: Conditioning for the field, batched tensors with `n` rows.

    Returns:
        The fitted solver (its `fit` records the loss before and after, iterations, samples,
        history and seconds; `model` is empty: bind it with `dataclasses.replace`) and the log.

    Raises:
        ValueError: `x0` and `target` differ in shape, an unknown `loss`, settings out of range.
    """
    if x0.shape != target.shape:
        raise ValueError(
            f"calibrate: x0 {tuple(x0.shape)} and target {tuple(target.shape)} differ in shape"
        )
    if loss not in LOSSES:  # refused before any work
        raise ValueError(f"loss: expected one of {list(LOSSES)}, got {loss!r}")
    iterations = check_int("iterations", iterations, minimum=1)
    log_every = check_int("log_every", log_every, minimum=1)
    step = check_real("step", step, minimum=0.0, strict=True)
    h = max(2, init.history) if history is None else check_int("history", history, minimum=1)
    coef = _Coefficients.of(init, h, x0, fit_momentum)
    frozen = [p for p in field.parameters() if p.requires_grad]
    start = time.perf_counter()
    try:
        for p in frozen:  # the field's own weights are not fitted: no gradient for them
            p.requires_grad_(False)

        def objective() -> Tensor:
            return calibration_loss(coef.descend(field, x0, cond), target, loss)

        with torch.no_grad():
            before = float(objective())
        logged = _fit(coef, objective, iterations, step, log_every, callback)
        with torch.no_grad():
            after = float(objective())
    finally:
        for p in frozen:
            p.requires_grad_(True)
    fit = {
        "loss": loss,
        "loss_before": before,
        "loss_after": after,
        "iterations": iterations,
        "samples": int(x0.shape[0]),
        "history": h,
        "step": step,
        "seconds": round(time.perf_counter() - start, 2),
    }
    return coef.solver(fit), logged


__all__ = ["LOSSES", "CalibrationLog", "calibrate", "calibration_loss", "unroll"]
