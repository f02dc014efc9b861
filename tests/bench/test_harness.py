"""The benchmark harness: interleaving, ratio bookkeeping and the table (no timing asserts)."""

from __future__ import annotations

from benchmarks.harness import Case, measure, table


def test_measure_interleaves_and_reports_every_round():
    calls: list[str] = []
    case = Case("c", "base", "other", lambda: calls.append("b"), lambda: calls.append("o"), 2.0)
    row = measure(case, repeats=4)
    # Warm-up (b, o), then alternating order per round.
    assert calls == ["b", "o", "b", "o", "o", "b", "b", "o", "o", "b"]
    assert row.low <= row.ratio <= row.high
    text = table([row])
    assert "| c | base | other |" in text and "<= 2" in text


def test_peer_cases_skip_cleanly_without_torchebm(monkeypatch):
    from benchmarks import cases_peer

    monkeypatch.setattr(cases_peer, "available", lambda: False)
    assert cases_peer.cases(quick=True) == []
