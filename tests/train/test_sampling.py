"""Sampling to files: batch seeding independent of the world size, exact counts, resume,
classifier-free guidance for both model families, gradient accumulation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from energykit._distributed import DistInfo
from energykit.fields import Guided, ImplicitField
from energykit.flows import Velocity, guided_velocity
from energykit.sampling import BATCH_SEED_STRIDE, generate, load_samples, sample_to_file
from energykit.train import ConfigError, Trainer, load_config

TINY = ["net.width=32", "net.depth=1", "train.batch=16", "train.steps=2"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    cfg = load_config(None, [*TINY, "data.class_conditional=true"])
    trainer = Trainer(cfg, None, progress=False)
    trainer.fit()
    return trainer.trained()


def test_batches_are_seeded_by_index_and_the_count_is_exact(trained, tmp_path):
    cfg = trained.config.sample
    cfg = type(cfg)(**{**cfg.__dict__, "n": 7, "batch": 3, "steps": 3, "seed": 5})
    out = tmp_path / "s.pt"
    summary = sample_to_file(trained, out, cfg, progress=False)
    x, meta = load_samples(out)
    assert x.shape == (7, 1, 8, 8) and summary["n"] == 7 and meta["nfe_total"] == 21
    # Oracle: batch j is generate() with seed + STRIDE * j and labels offset by j * batch.
    for j, (lo, hi) in enumerate([(0, 3), (3, 6), (6, 7)]):
        ref = generate(
            trained.field(),
            trained.shape,
            cfg,
            num_classes=trained.num_classes,
            n=hi - lo,
            seed=5 + BATCH_SEED_STRIDE * j,
            label_offset=lo,
            landscape=trained.landscape,
        )
        assert torch.equal(x[lo:hi], ref.x)
    assert torch.load(out, weights_only=True)["y"].tolist() == [0, 1, 2, 3, 4, 5, 6]
    assert not (tmp_path / ".s.pt.parts").exists()


def test_ranks_split_batches_and_rank0_joins_them(trained, tmp_path, monkeypatch):
    # Simulate two ranks in one process: rank 1 draws its batches, then rank 0 joins.
    monkeypatch.setattr("energykit.sampling.files.barrier", lambda dist: None)
    cfg = trained.config.sample
    cfg = type(cfg)(**{**cfg.__dict__, "n": 5, "batch": 2, "steps": 2})
    out = tmp_path / "two.npz"
    assert sample_to_file(trained, out, cfg, dist=DistInfo(1, 2, 1), progress=False) is None
    parts = sorted(p.name for p in (tmp_path / ".two.npz.parts").glob("0*.pt"))
    assert parts == ["000001.pt"]
    sample_to_file(trained, out, cfg, dist=DistInfo(0, 2, 0), progress=False)
    one = tmp_path / "one.npz"
    sample_to_file(trained, one, cfg, progress=False)
    assert torch.equal(load_samples(out)[0], load_samples(one)[0])


def test_a_restart_skips_finished_batches_and_other_settings_are_refused(
    trained, tmp_path, monkeypatch
):
    cfg = trained.config.sample
    cfg = type(cfg)(**{**cfg.__dict__, "n": 4, "batch": 2, "steps": 2})
    out = tmp_path / "r.pt"
    calls = []
    real = generate

    def counting(*args, **kwargs):
        calls.append(kwargs["label_offset"])
        if len(calls) == 2:
            raise KeyboardInterrupt  # killed during the second batch
        return real(*args, **kwargs)

    monkeypatch.setattr("energykit.sampling.files.generate", counting)
    with pytest.raises(KeyboardInterrupt):
        sample_to_file(trained, out, cfg, progress=False)
    bad = type(cfg)(**{**cfg.__dict__, "steps": 3})
    with pytest.raises(ValueError, match="holds batches of another run"):
        sample_to_file(trained, out, bad, progress=False)
    calls.clear()
    monkeypatch.setattr("energykit.sampling.files.generate", real)
    sample_to_file(trained, out, cfg, progress=False)
    fresh = tmp_path / "f.pt"
    sample_to_file(trained, fresh, cfg, progress=False)
    assert torch.equal(load_samples(out)[0], load_samples(fresh)[0])


def test_png_export_writes_every_sample(trained, tmp_path):
    pytest.importorskip("PIL")
    cfg = trained.config.sample
    cfg = type(cfg)(**{**cfg.__dict__, "n": 3, "batch": 2, "steps": 2})
    sample_to_file(trained, tmp_path / "p.npz", cfg, png_dir=tmp_path / "png", progress=False)
    assert sorted(p.name for p in (tmp_path / "png").iterdir()) == [
        "000000.png",
        "000001.png",
        "000002.png",
    ]


def _label_net():
    torch.manual_seed(0)
    lin = torch.nn.Linear(3, 3)
    table = torch.nn.Embedding(4, 3)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin, self.table = lin, table

        def forward(self, x, t=None, y=None):
            out = self.lin(x.flatten(1)) + self.table(y)
            if t is not None:
                out = out * (1 + t.reshape(-1, 1))
            return out.reshape(x.shape)

    return Net()


def test_guided_velocity_is_the_cfg_formula_on_chosen_channels():
    net = _label_net()
    x, t, y = torch.randn(5, 3), torch.rand(5), torch.tensor([0, 1, 2, 0, 1])
    v = guided_velocity(net, 1.5, 3, channels=[0, 2])(x, t, y=y)
    v_c, v_u = net(x, t, y=y), net(x, t, y=torch.full_like(y, 3))
    want = v_c.clone()
    want[:, [0, 2]] = (v_u + 1.5 * (v_c - v_u))[:, [0, 2]]
    torch.testing.assert_close(v, want)
    full = guided_velocity(net, 1.5, 3)(x, t, y=y)
    torch.testing.assert_close(full, v_u + 1.5 * (v_c - v_u))
    with pytest.raises(TypeError, match="expected the class as keyword 'y'"):
        guided_velocity(net, 1.5, 3)(x, t)


def test_generate_applies_guidance_for_both_families(trained):
    net = _label_net()
    cfg = trained.config.sample
    cfg = type(cfg)(**{**cfg.__dict__, "n": 4, "steps": 3, "sampler": "gd", "lr": 0.1})
    got = generate(ImplicitField(net), (3,), cfg, num_classes=3, cfg_scale=2.0, cfg_channels=2)
    # Hand loop: x <- x - lr * guided gradient, field = ImplicitField (gradient = -net).
    field = Guided(ImplicitField(net), 2.0, 3, channels=range(2))
    x = torch.randn((4, 3), generator=torch.Generator().manual_seed(cfg.seed))
    y = torch.arange(4) % 3
    for _ in range(3):
        x = x - 0.1 * field.gradient(x, y=y)
    torch.testing.assert_close(got.x, x)
    fm_cfg = type(cfg)(**{**cfg.__dict__, "sampler": "euler"})
    a = generate(Velocity(net), (3,), fm_cfg, num_classes=3, cfg_scale=2.0)
    b = generate(Velocity(net), (3,), fm_cfg, num_classes=3)
    assert not torch.allclose(a.x, b.x)
    with pytest.raises(ValueError, match="guidance needs a class-conditional model"):
        generate(ImplicitField(net), (3,), cfg, cfg_scale=2.0)


def test_gradient_accumulation_averages_micro_batch_gradients():
    cfg = load_config(None, [*TINY, "train.grad_accum=2", "train.batch=8"])
    trainer = Trainer(cfg, None, progress=False)
    data_state = trainer.state.batches.generator.get_state()
    noise_state = trainer.state.noise_gen.get_state()
    # Oracle: the mean of the two micro-batch losses, drawn in the trainer's order.
    ref = Trainer(cfg, None, progress=False)
    ref.state.batches.generator.set_state(data_state)
    ref.state.noise_gen.set_state(noise_state)
    loss = ref.loss_fn
    losses = []
    for _ in range(2):
        x, _ = ref.data.batch(4, ref.state.batches.generator)
        losses.append(loss.objective(loss.target, x, generator=ref.state.noise_gen).loss)
    total = (losses[0] + losses[1]) / 2
    grads = torch.autograd.grad(total, list(ref.state.model.parameters()))
    stats = trainer.train_step()
    assert stats["loss"] == pytest.approx(float(total.detach()), rel=1e-6)
    for p, g in zip(trainer.state.model.parameters(), grads, strict=True):
        torch.testing.assert_close(p.grad, g, rtol=1e-5, atol=1e-7)
    with pytest.raises(ConfigError, match=r"multiple of train\.grad_accum"):
        load_config(None, ["train.grad_accum=3", "train.batch=8"])


def test_adm_npz_round_trip(tmp_path):
    from energykit._io import atomic_savez

    images = np.random.default_rng(0).integers(0, 255, (3, 4, 4, 3), dtype=np.uint8)
    atomic_savez(tmp_path / "a.npz", {"arr_0": images})
    x, meta = load_samples(tmp_path / "a.npz")
    assert x.dtype == torch.uint8 and np.array_equal(x.numpy(), images) and meta == {}


def test_plot_reads_adm_images(tmp_path):
    pytest.importorskip("matplotlib")
    from energykit._io import atomic_savez
    from energykit.cli import main

    images = np.random.default_rng(0).integers(0, 255, (4, 8, 8, 3), dtype=np.uint8)
    atomic_savez(tmp_path / "a.npz", {"arr_0": images})
    assert main(["plot", str(tmp_path / "a.npz"), "--out", str(tmp_path / "g.png")]) == 0
    assert (tmp_path / "g.png").stat().st_size > 0
