"""Detection metrics for out-of-distribution scores (higher score = more out-of-distribution).

- `auroc`: $P(s_{out} > s_{in})$ with ties counting one half (the Mann-Whitney statistic),
  exact, from ranks.
- `fpr_at_tpr`: keep the in-distribution inputs whose score is at most the `tpr` quantile
  (95% of them by default); the fraction of out-of-distribution inputs that also pass is the
  FPR ("FPR95"; lower is better).
- `aupr`: average precision with the out-of-distribution inputs as the positive class.
"""

from __future__ import annotations

import torch
from torch import Tensor

from energykit._checks import check_real


def _scores(name: str, scores: object) -> Tensor:
    """One score per input: a 1-D real tensor (a list works too), as float64 on the CPU."""
    try:
        t = torch.as_tensor(scores).detach()
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(
            f"{name}: expected a 1-D tensor of scores, got {type(scores).__name__}"
        ) from None
    if t.ndim != 1:
        raise ValueError(
            f"{name}: expected a 1-D tensor of scores (one per input), got shape "
            f"{tuple(t.shape)}; flatten it yourself if that is what you mean"
        )
    if t.dtype == torch.bool or t.is_complex():
        raise TypeError(f"{name}: expected real scores, got dtype {t.dtype}")
    return t.double().cpu()


def _pair(scores_in: Tensor, scores_out: Tensor) -> tuple[Tensor, Tensor]:
    a, b = _scores("scores_in", scores_in), _scores("scores_out", scores_out)
    for name, t in (("scores_in", a), ("scores_out", b)):
        if len(t) == 0:
            raise ValueError(f"{name}: expected at least one score, got none")
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name}: expected finite scores, got NaN/inf")
    return a, b


def auroc(scores_in: Tensor, scores_out: Tensor) -> float:
    """Area under the ROC curve: $P(s_{out} > s_{in}) + \\tfrac12 P(s_{out} = s_{in})$."""
    a, b = _pair(scores_in, scores_out)
    both = torch.cat([a, b])
    # Average ranks (1-based) handle ties exactly.
    _, inverse, counts = torch.unique(both, return_inverse=True, return_counts=True)
    ends = torch.cumsum(counts, 0).double()
    avg_rank = ends - (counts.double() - 1) / 2
    ranks = avg_rank[inverse]
    n_in, n_out = len(a), len(b)
    u = ranks[n_in:].sum() - n_out * (n_out + 1) / 2
    return float(u / (n_in * n_out))


def fpr_at_tpr(scores_in: Tensor, scores_out: Tensor, tpr: float = 0.95) -> float:
    """Fraction of out-of-distribution scores at or below the threshold that keeps a `tpr`
    fraction of the in-distribution scores (the smallest in-distribution score with at least
    `ceil(tpr * n)` scores at or below it)."""
    tpr = check_real("tpr", tpr)
    if not 0.0 < tpr <= 1.0:
        raise ValueError(f"tpr: expected a value in (0, 1], got {tpr}")
    a, b = _pair(scores_in, scores_out)
    k = max(1, int(torch.ceil(torch.tensor(tpr * len(a))).item()))
    threshold = a.sort().values[k - 1]
    return float((b <= threshold).double().mean())


def aupr(scores_in: Tensor, scores_out: Tensor) -> float:
    """Average precision, out-of-distribution as positives: $\\sum_k (R_k - R_{k-1}) P_k$ over
    thresholds at each distinct score, highest first."""
    a, b = _pair(scores_in, scores_out)
    scores = torch.cat([a, b])
    labels = torch.cat([torch.zeros(len(a)), torch.ones(len(b))]).double()
    order = torch.argsort(scores, descending=True, stable=True)
    s_sorted, tp = scores[order], torch.cumsum(labels[order], 0)
    # One threshold per distinct score: the last position of each run of equal scores.
    last = torch.ones(len(s_sorted), dtype=torch.bool)
    last[:-1] = s_sorted[1:] != s_sorted[:-1]
    tp, chosen = tp[last], (torch.nonzero(last).flatten() + 1).double()
    precision, recall = tp / chosen, tp / len(b)
    steps = torch.diff(recall, prepend=torch.zeros(1, dtype=recall.dtype))
    return float((steps * precision).sum())


__all__ = ["aupr", "auroc", "fpr_at_tpr"]
