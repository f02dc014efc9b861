"""Two-process DDP training on CPU (gloo) under torchrun: exact resume, explicit heads."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from energykit.train import load_checkpoint

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
TINY = ["net.width=16", "net.depth=1", "train.batch=8", "train.ckpt_every=2", "--no-progress"]


def torchrun(recipe: str, out: Path, *overrides: str) -> None:
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        "-m", "energykit", "train", str(RECIPES / recipe), "--out", str(out), *TINY, *overrides,
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]


pytestmark = pytest.mark.skipif(
    not torch.distributed.is_available(), reason="torch built without torch.distributed"
)


def test_two_rank_training_resumes_exactly(tmp_path):
    torchrun("digits/eqm.yaml", tmp_path / "straight", "train.steps=4")
    torchrun("digits/eqm.yaml", tmp_path / "resumed", "train.steps=2")
    torchrun("digits/eqm.yaml", tmp_path / "resumed", "train.steps=4")
    a = load_checkpoint(tmp_path / "straight" / "last.pt")
    b = load_checkpoint(tmp_path / "resumed" / "last.pt")
    assert a["step"] == b["step"] == 4 and a["world_size"] == 2 and len(a["rng_ranks"]) == 2
    assert not torch.equal(a["rng_ranks"][0]["data"], a["rng_ranks"][1]["data"])
    for key in ("model", "ema"):
        for name, value in a[key].items():
            assert torch.equal(value, b[key][name]), (key, name)


def test_explicit_head_trains_under_ddp(tmp_path):
    # Parameters outside grad_x E would stall DDP without the zero-weighted term.
    torchrun("digits/eqm-dot.yaml", tmp_path / "dot", "train.steps=2")
    assert load_checkpoint(tmp_path / "dot" / "last.pt")["step"] == 2


EXIT_SCRIPT = """
import atexit, os, sys
import torch
import torch.distributed as dist
from energykit._distributed import init_from_env

def report():  # registered before the group exists, so it runs after energykit's exit hook
    with open(os.path.join(sys.argv[1], "rank" + os.environ["RANK"]), "w") as f:
        f.write(str(dist.is_initialized()))

atexit.register(report)
init_from_env(torch.device("cpu"))
total = torch.ones(1)
dist.all_reduce(total)
assert total.item() == 2
"""


def test_group_energykit_joined_is_destroyed_before_interpreter_exit(tmp_path):
    # A gloo group alive at finalisation can SIGABRT its rank; a user script need not clean up.
    script = tmp_path / "exit.py"
    script.write_text(EXIT_SCRIPT)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(RECIPES.parent)}
    done = subprocess.run(
        [*cmd, str(script), str(tmp_path)], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert [(tmp_path / f"rank{r}").read_text() for r in (0, 1)] == ["False", "False"]
