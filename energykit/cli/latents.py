"""`energykit latents IMAGE_DIR --out DIR --vae VAE` and `energykit refbatch IMAGE_DIR --out
REF.npz`: the ImageNet pipeline's encoding and reference-batch commands."""

from __future__ import annotations

import argparse
import functools
from pathlib import Path

import numpy as np
import torch

from energykit._config import ConfigError
from energykit.cli._common import check_folder, check_out_file
from energykit.train.device import device_and_rank


def cmd_latents(args: argparse.Namespace) -> int:
    """Encode an image folder into cached VAE latents (or `--verify` a latent folder)."""
    from energykit.data.latents import verify_latents

    if args.verify:
        bad = verify_latents(args.out)
        print(f"latents {args.out}: " + ("all checksums match" if not bad else f"BAD: {bad}"))
        return 0 if not bad else 1
    if args.images is None or args.vae is None:
        raise ConfigError("latents: give IMAGE_DIR and --vae (or --verify with --out)")
    check_folder(args.out, "--out", "a latent folder")
    from energykit.data.encode import encode_folder
    from energykit.interop.vae import encode_moments, load_vae, vae_scaling_factor

    device, dist = device_and_rank(args.device, "--device")
    dtype = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
    vae = load_vae(args.vae, device, dtype[args.dtype])
    manifest = encode_folder(
        args.images,
        args.out,
        functools.partial(encode_moments, vae),
        scaling_factor=vae_scaling_factor(vae),
        device=device,
        dist=dist,
        image_size=args.image_size,
        batch=args.batch,
        shard_size=args.shard_size,
        flip=not args.no_flip,
        workers=args.workers,
        vae_name=str(args.vae),
        progress=not args.no_progress,
    )
    if manifest is not None:
        print(
            f"latents: {manifest.count} images, {len(manifest.classes)} classes, latent "
            f"{tuple(manifest.latent_shape)} x {manifest.views} view(s) -> {args.out}"
        )
    return 0


def cmd_refbatch(args: argparse.Namespace) -> int:
    """Centre-cropped reference images (a random subset) as an ADM `.npz`."""
    from energykit._io import atomic_savez
    from energykit.data.folder import ImageFolder

    check_out_file(args.out, "--out")
    if Path(args.out).suffix != ".npz":
        raise ConfigError(f"--out: expected an .npz file, got {args.out!r}")
    folder = ImageFolder(args.images, args.image_size, flip=False)
    n = len(folder) if args.n is None else min(args.n, len(folder))
    idx = torch.randperm(len(folder), generator=torch.Generator().manual_seed(args.seed))[:n]
    images = np.stack([folder.load(int(i)) for i in idx.sort().values])
    labels = np.array([folder.samples[int(i)][1] for i in idx.sort().values], dtype=np.int64)
    atomic_savez(args.out, {"arr_0": images, "arr_1": labels})
    print(f"refbatch: {n} images {images.shape[1:]} -> {args.out}")
    return 0
