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
import atexit, os, sys, time
import torch
import torch.distributed as dist
from energykit._distributed import init_from_env

def report():  # registered before the group exists, so it runs after energykit's exit hook
    with open(os.path.join(sys.argv[1], "rank" + os.environ["RANK"]), "w") as f:
        f.write(str(dist.is_initialized()))
    if dist.is_initialized():  # the user's own group: theirs to destroy
        time.sleep(0.2)
        dist.destroy_process_group()

def own_group():  # a fresh store: the torchrun one already holds the first group's keys
    store = dist.FileStore(os.path.join(sys.argv[1], "store"), 2)
    dist.init_process_group("gloo", store=store, rank=int(os.environ["RANK"]), world_size=2)

atexit.register(report)
if sys.argv[2] == "own":
    own_group()
init_from_env(torch.device("cpu"))
if sys.argv[2] == "replaced":
    dist.destroy_process_group()
    own_group()
total = torch.ones(1)
dist.all_reduce(total)
assert total.item() == 2
"""


@pytest.mark.parametrize(
    ("group", "alive_at_exit"), [("joined", "False"), ("own", "True"), ("replaced", "True")]
)
def test_exit_hook_destroys_only_the_group_energykit_joined(tmp_path, group, alive_at_exit):
    # A gloo group alive at finalisation can SIGABRT its rank: energykit destroys the group it
    # joined, so a user script need not; a group the user made, before or in its place, stays
    # theirs.
    script = tmp_path / "exit.py"
    script.write_text(EXIT_SCRIPT)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(RECIPES.parent)}
    done = subprocess.run(
        [*cmd, str(script), str(tmp_path), group],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert [(tmp_path / f"rank{r}").read_text() for r in (0, 1)] == [alive_at_exit] * 2
