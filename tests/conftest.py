"""Test-wide set-up: one torch thread (two shared cores make more threads far slower)."""

import torch
from hypothesis import settings

torch.set_num_threads(1)

# Random nets are slow to build compared with hypothesis' default deadline.
settings.register_profile("energykit", deadline=None, max_examples=25, derandomize=True)
settings.load_profile("energykit")
