"""Operators reject what is not a field or a real number, with clear messages."""

from __future__ import annotations

import pytest
import torch

from tests.helpers import explicit_zoo


def test_adding_something_else_names_both_sides():
    a = explicit_zoo(2, 0)["gaussian"]
    with pytest.raises(TypeError, match="Gaussian \\+ str: expected an EnergyField or a real"):
        a + "x"  # type: ignore[operator]
    with pytest.raises(TypeError, match="expected an EnergyField or a real number, got Tensor"):
        a + torch.ones(2)  # type: ignore[operator]
    with pytest.raises(TypeError, match="got bool"):
        a * True  # type: ignore[operator]
    with pytest.raises(TypeError, match="got list"):
        [1] + a  # type: ignore[operator]  # noqa: RUF005


def test_products_of_fields_and_bad_numbers_are_rejected():
    zoo = explicit_zoo(2, 0)
    with pytest.raises(TypeError, match="weighted sums"):
        zoo["gaussian"] * zoo["dot"]  # type: ignore[operator]
    with pytest.raises(ZeroDivisionError, match="non-zero"):
        zoo["gaussian"] / 0
    with pytest.raises(ValueError, match="finite"):
        zoo["gaussian"] * float("nan")
