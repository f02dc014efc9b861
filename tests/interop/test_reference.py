"""Reference checkpoints load in paper sign, with each head's sign convention."""

from __future__ import annotations

import argparse

import pytest
import torch

import energykit as ek
from energykit.interop import load_reference_eqm
from energykit.nets.dit import DiT
from tests.helpers import TINY_REFERENCE_KW

KW = dict(TINY_REFERENCE_KW)


def _reference_net(seed: int = 0, **overrides: int) -> DiT:
    net = DiT(**{**KW, **overrides}).double()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(0.3 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    return net


def _x() -> torch.Tensor:
    return torch.randn(3, 2, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(2))


Y = torch.tensor([0, 1, 3])


def test_implicit_checkpoint_file_uses_ema_and_flips_the_sign(tmp_path):
    ema, model = _reference_net(0).float(), _reference_net(1).float()
    path = tmp_path / "0400000.pt"
    torch.save(
        {
            "model": model.state_dict(),
            "ema": ema.state_dict(),
            "opt": {},
            "args": argparse.Namespace(model="EqM-tiny"),
        },
        path,
    )
    field = load_reference_eqm(path, num_heads=2)
    x = _x().float()
    with torch.no_grad():
        torch.testing.assert_close(field.gradient(x, y=Y), -ema(x, y=Y), rtol=0, atol=0)
    assert isinstance(field, ek.ImplicitField) and not field.has_energy
    other = load_reference_eqm(path, key="model", num_heads=2)
    with torch.no_grad():
        torch.testing.assert_close(other.gradient(x, y=Y), -model(x, y=Y), rtol=0, atol=0)


@pytest.mark.parametrize("ebm", ["dot", "l2"])
def test_explicit_heads_match_the_reference_semantics(ebm):
    f = _reference_net()
    state = {f"module.{k}": v for k, v in f.state_dict().items()}  # a DDP-wrapped save
    field = load_reference_eqm(state, ebm=ebm, num_heads=2).double()
    x = _x().requires_grad_(True)
    out = f(x, y=Y)
    # The reference returns E_ref = -<x, f> (dot) or +1/2 |f|^2 (l2) and outputs -grad E_ref.
    e_ref = -(x * out).flatten(1).sum(1) if ebm == "dot" else 0.5 * out.flatten(1).square().sum(1)
    ref_output = -torch.autograd.grad(e_ref.sum(), x)[0]
    torch.testing.assert_close(field.energy(x, y=Y), e_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(field.gradient(x, y=Y), -ref_output, rtol=1e-12, atol=1e-12)


def test_shapes_are_inferred_and_presets_resolve():
    f = _reference_net()
    field = load_reference_eqm(f.state_dict(), num_heads=2)
    net = field.net.net  # ImplicitField(Negated(DiT))
    assert (net.input_size, net.patch_size, net.in_channels, net.num_classes) == (4, 2, 2, 3)
    with torch.device("meta"):
        big = DiT.preset("EqM-B/2", input_size=4, in_channels=2)
    with pytest.raises(ValueError, match="does not match"):
        load_reference_eqm(big.state_dict(), model="EqM-S/2", input_size=4, in_channels=2)


def test_errors():
    with pytest.raises(ValueError, match="not a reference EqM state dict"):
        load_reference_eqm({"weight": torch.zeros(1)})
    with pytest.raises(FileNotFoundError, match="no file at"):
        load_reference_eqm("/nonexistent/ckpt.pt")
    with pytest.raises(ValueError, match="ebm"):
        load_reference_eqm(_reference_net().state_dict(), ebm="cosine", num_heads=2)


def test_guidance_on_three_channels_reproduces_the_reference_cfg():
    f = _reference_net(in_channels=4)  # latents have 4 channels; 0-2 are guided
    field = load_reference_eqm(f.state_dict(), num_heads=2)
    x = torch.randn(3, 4, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    y, scale, null = torch.tensor([0, 1, 2]), 1.5, 3
    # The reference's forward_with_cfg: one doubled batch, channels 0-2 guided, the rest
    # taken from the conditional half; its output is -grad E.
    with torch.no_grad():
        out = f(torch.cat([x, x]), y=torch.cat([y, torch.full_like(y, null)]))
        cond, uncond = out[:3], out[3:]
        ref = cond.clone()
        ref[:, :3] = uncond[:, :3] + scale * (cond[:, :3] - uncond[:, :3])
        guided = ek.Guided(field, scale, null, channels=(0, 1, 2))
        torch.testing.assert_close(guided.gradient(x, y=y), -ref, rtol=1e-12, atol=1e-12)


def test_cli_samples_a_reference_checkpoint_with_its_guidance(tmp_path):
    from energykit.cli import main
    from energykit.descent import Descender
    from energykit.fields import Guided
    from energykit.sampling import load_samples

    net = _reference_net().float()
    path = tmp_path / "ref.pt"
    torch.save({"ema": net.state_dict(), "model": net.state_dict()}, path)
    out = tmp_path / "s.pt"
    args = ["sample", str(path), "--reference", "none", "--num-heads", "2", "--out", str(out)]
    flags = ["--n", "3", "--steps", "2", "--sampler", "gd", "--lr", "0.1"]
    assert main([*args, *flags, "--cfg-scale", "1.5", "--cfg-channels", "1"]) == 0
    x, _ = load_samples(out)
    # Oracle: the same descent by hand on load_reference_eqm's field, guided on channel 0.
    field = Guided(load_reference_eqm(path, num_heads=2), 1.5, 3, channels=[0])
    x0 = torch.randn((3, 2, 4, 4), generator=torch.Generator().manual_seed(0))
    want = Descender(field, "gd", lr=0.1, steps=2).run(x0, y=torch.arange(3) % 3).x
    torch.testing.assert_close(x, want)
