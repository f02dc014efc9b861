"""The ImageNet-256 recipes pin the paper's settings (SPEC section 4 and 5) and each one trains
and samples, tiny, on a CPU latent folder."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
import torch

pytest.importorskip("diffusers")

from energykit.data.encode import encode_folder
from energykit.interop.vae import encode_moments, load_vae
from energykit.sampling import generate
from energykit.testing import tiny_image_folder, tiny_vae
from energykit.train import Trainer, load_config

FOLDER = Path(__file__).resolve().parents[2] / "recipes" / "imagenet256"
PAPER = ["eqm-b2", "eqm-xl2", "eqm-e-dot-b2", "fm-b2"]


@pytest.mark.parametrize("name", PAPER)
def test_paper_settings_are_pinned(name):
    c = load_config(FOLDER / f"{name}.yaml")
    assert (c.optim.name, c.optim.lr, c.optim.weight_decay, c.optim.betas) == (
        "adamw",
        1e-4,
        0.0,
        (0.9, 0.999),
    )
    assert c.optim.grad_clip is None and not c.train.bf16 and c.train.tf32
    assert (c.train.batch, c.train.ema_decay, c.train.device) == (256, 0.9999, "cuda")
    assert c.data.class_conditional and c.data.label_dropout == 0.1 and c.data.flip
    assert c.net.kind == "dit" and c.net.learn_sigma
    xl = name == "eqm-xl2"
    assert c.net.preset == ("EqM-XL/2" if xl else "EqM-B/2")
    assert c.train.steps == (7_000_000 if xl else 400_000)  # 1400 / 80 epochs of 5,004 steps
    if name != "fm-b2":
        o = c.objective
        assert (o.schedule, o.a, o.scale) == ("truncated", 0.8, 4.0)
    s = c.sample
    if xl:  # FID 1.90
        assert (s.sampler, s.lr, s.momentum, s.steps) == ("nag", 0.0017, 0.3, 250)
        assert (s.cfg_scale, s.cfg_channels) == (1.5, 3)
    elif name == "fm-b2":
        assert (s.sampler, s.steps, s.cfg_scale) == ("euler", 250, 1.0)
    else:  # FID 32.85
        assert (s.sampler, s.lr, s.steps, s.cfg_scale) == ("gd", 0.003, 250, 1.0)
    assert s.n == 50_000


@pytest.fixture(scope="module")
def latents(tmp_path_factory):
    root = tmp_path_factory.mktemp("in")
    vae = load_vae(tiny_vae(root / "vae"))
    images = tiny_image_folder(root / "img", classes=2, per_class=2)
    encode = functools.partial(encode_moments, vae)
    encode_folder(
        images, root / "lat", encode, scaling_factor=0.18215, image_size=16, progress=False
    )
    return root / "lat"


@pytest.mark.parametrize("name", [*PAPER, "smoke"])
def test_recipe_trains_and_samples_tiny(name, latents):
    tiny = [
        f"data.path={latents}",
        "train.device=cpu",
        "train.steps=1",
        "train.batch=4",
        "train.grad_accum=1",
        "net.dit_depth=1",
        "net.dit_width=32",
        "net.dit_heads=2",
    ]
    cfg = load_config(FOLDER / f"{name}.yaml", tiny)
    trainer = Trainer(cfg, progress=False)
    trainer.fit()
    s = generate(
        trainer.trained().sampleable(),
        trainer.data.shape,
        cfg.sample,
        num_classes=trainer.num_classes,
        n=3,
        steps=2,
    )
    assert s.x.shape == (3, 4, 8, 8) and bool(torch.isfinite(s.x).all())
