"""The Stable Diffusion VAE (diffusers' `AutoencoderKL`), loaded offline.

EqM trains on SD-VAE latents (`stabilityai/sd-vae-ft-ema`, 4 x 32 x 32 for 256 px images,
scaled by 0.18215). energykit never downloads at run time: give a local folder (the output of
`save_pretrained`, or of `hf download stabilityai/sd-vae-ft-ema --local-dir DIR`)
or a model id that is already in the Hugging Face cache.
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from energykit._extras import install_hint

#: The VAE the paper uses.
PAPER_VAE = "stabilityai/sd-vae-ft-ema"


def load_vae(
    source: str | Path, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32
) -> Any:
    """An `AutoencoderKL` in eval mode from a local folder or the local Hugging Face cache.

    Raises:
        ImportError: diffusers is not installed (names the extra).
        FileNotFoundError: `source` is neither a folder nor a cached model id; the message
            says how to fetch it on a machine with network access.
    """
    if importlib.util.find_spec("diffusers") is None:
        raise ImportError(f"the VAE needs diffusers: {install_hint('latents')}")
    from diffusers import AutoencoderKL

    path = Path(source)
    with warnings.catch_warnings():
        # diffusers passes a deprecated argument to huggingface_hub; nothing for the user to do.
        warnings.filterwarnings("ignore", message=".*local_dir_use_symlinks.*")
        vae = _load(AutoencoderKL, path, source)
    return vae.to(device=device, dtype=dtype).eval().requires_grad_(False)


def _load(cls: Any, path: Path, source: str | Path) -> Any:
    try:
        if path.is_dir():
            return cls.from_pretrained(path, low_cpu_mem_usage=False)
        if path.is_file():
            return cls.from_single_file(str(path))
        return cls.from_pretrained(str(source), local_files_only=True, low_cpu_mem_usage=False)
    except OSError as err:
        raise FileNotFoundError(
            f"vae: {str(source)!r} is not a local folder, a weights file or a model in the "
            "Hugging Face cache, and energykit does not download at run time. On a machine "
            f"with network access run `hf download {PAPER_VAE} --local-dir "
            "DIR` (or `AutoencoderKL.from_pretrained(...).save_pretrained(DIR)`), then pass "
            f"--vae DIR ({err.__class__.__name__}: {str(err).splitlines()[0][:200]})"
        ) from None


def vae_scaling_factor(vae: Any) -> float:
    """The factor latents are multiplied by for training (0.18215 for the SD VAE)."""
    return float(getattr(vae.config, "scaling_factor", 0.18215))


@torch.no_grad()
def encode_moments(vae: Any, images: Tensor) -> Tensor:
    """Posterior mean and std `(B, 2, C, h, w)` of images `(B, 3, H, W)` in $[-1, 1]$."""
    dist = vae.encode(images.to(vae.dtype)).latent_dist
    return torch.stack([dist.mean, dist.std], dim=1).float()


@torch.no_grad()
def decode_latents(vae: Any, z: Tensor, scaling_factor: float | None = None) -> Tensor:
    """Images `(B, 3, H, W)` as uint8 from scaled latents `(B, C, h, w)`: divide by the scaling
    factor, decode, map $[-1, 1]$ to $[0, 255]$ with rounding (the ADM export)."""
    s = vae_scaling_factor(vae) if scaling_factor is None else scaling_factor
    x = vae.decode((z / s).to(vae.dtype)).sample.float()
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


__all__ = ["PAPER_VAE", "decode_latents", "encode_moments", "load_vae", "vae_scaling_factor"]
