"""torch.distributed helpers under `torchrun` (kept here for compatibility; they live in
`energykit._distributed`, shared by training, sampling and latent encoding)."""

from energykit._distributed import (
    DistInfo,
    any_true,
    barrier,
    gather,
    init_from_env,
    rank_device,
)

__all__ = ["DistInfo", "any_true", "barrier", "gather", "init_from_env", "rank_device"]
