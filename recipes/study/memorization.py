"""Do the study's digits models copy their training images? Nearest-neighbour distances.

    python recipes/study/memorization.py runs/study

For the seed-0 models of `digits` at 1x and 3x training, it draws 1,000 samples with each
model's recipe sampler and reports the median distance from a sample to its nearest training
image, beside the same for held-out test images (a model that copies training images has
samples much *closer* to the train set than real unseen digits are), and the FID proxy against
the test split as well as the train split.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from energykit.metrics import nearest_distance
from energykit.sampling import generate
from energykit.train import load_trained
from energykit.train.config import DataConfig
from energykit.train.data import build_data
from energykit.train.scoring import classifier_for
from energykit.viz import markdown_table


def main(root: Path) -> str:
    torch.set_num_threads(1)
    data = build_data(DataConfig(name="digits"))
    clf = classifier_for(data)
    assert clf is not None and data.x_train is not None
    real = float(nearest_distance(data.x_test, data.x_train).median())
    rows = [
        ["real test digits", "-", f"{real:.2f}", f"{clf.fid(data.x_test, data.x_train):.1f}", "-"]
    ]
    for kind in ("eqm", "fm", "fm-uncond"):
        for budget, step in (("1x", 3000), ("3x", 9000)):
            path = root / "runs" / f"digits-main-{kind}-s0" / f"step_{step:07d}.pt"
            if not path.is_file():
                continue
            m = load_trained(path)
            x = generate(m.sampleable(), m.shape, m.config.sample).x.clamp(-1, 1)
            d = float(nearest_distance(x, data.x_train).median())
            fids = [f"{clf.fid(x, ref):.1f}" for ref in (data.x_train, data.x_test)]
            rows.append([kind, budget, f"{d:.2f}", *fids])
    header = ["model", "training", "median NN distance to train", "FID proxy vs train"]
    text = markdown_table([*header, "vs test"], rows)
    (root / "memorization.md").write_text(text)
    (root / "memorization.json").write_text(json.dumps({"table": text}))
    return text


if __name__ == "__main__":
    print(main(Path(sys.argv[1] if len(sys.argv) > 1 else "runs/study")))
