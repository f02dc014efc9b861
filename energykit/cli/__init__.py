"""The `energykit` command: `train`, `sample`, `calibrate`, `export`, `evaluate`, `plot`,
`latents`, `refbatch`.

```
energykit train RECIPE.yaml --out DIR [section.key=value ...]
energykit sample CHECKPOINT_OR_DIR --out FILE [--sampler auto --lr L --steps K --g-min G --n N]
                 [--solver SOLVER.json --cfg-scale W --cfg-channels K --vae VAE --png-dir DIR]
energykit calibrate CHECKPOINT --steps K --out SOLVER.json [--samples 256 --iterations 300]
energykit export CHECKPOINT DIR [--weights raw --solver SOLVER.json --vae NAME]
energykit evaluate SAMPLES [--data NAME | --ref REFERENCE [--inception NET.pt]] [--json FILE]
energykit plot SAMPLES_OR_CHECKPOINT --out FILE.png
energykit latents IMAGE_DIR --out LATENT_DIR --vae VAE [--image-size 256]
energykit refbatch IMAGE_DIR --out REF.npz [--n 50000]
```

`train`, `sample` and `latents` run sharded under `torchrun --nproc_per_node=N -m energykit`.

Every user error (a bad flag or `key=value` override, a missing, unreadable or wrong kind of
file, a device this machine lacks, a non-finite loss) exits with status 2 and one line on stderr,
`energykit COMMAND: error: MESSAGE`, naming the flag or key and what was expected. Anything else
(a bug) exits with status 1 and one line naming the exception type. `--debug` (or the
environment variable `ENERGYKIT_DEBUG=1`) also prints the traceback.

One module per command (`train`, `sample`, `calibrate`, `export`, `evaluate`, `latents`,
`plot`), the parser in `parser`, `main` in `app`. `main` runs the `cmd_*` function of this
package that the parser names, so it can be replaced here (tests do).
"""

from __future__ import annotations

import importlib
from typing import Any

from energykit.cli.app import USER_ERRORS, main
from energykit.cli.parser import build_parser

#: Names loaded on first use (PEP 562), so that `energykit --help` runs before torch is
#: imported: each command's module imports torch and the library.
_LAZY = {
    "cmd_calibrate": "energykit.cli.calibrate",
    "cmd_evaluate": "energykit.cli.evaluate",
    "cmd_export": "energykit.cli.export",
    "cmd_latents": "energykit.cli.latents",
    "cmd_refbatch": "energykit.cli.latents",
    "cmd_plot": "energykit.cli.plot",
    "cmd_sample": "energykit.cli.sample",
    "cmd_train": "energykit.cli.train",
    "enable_tf32": "energykit.cli.train",
    "load_samples": "energykit.sampling",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'energykit.cli' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value  # later reads, and a test's monkeypatch, see a plain attribute
    return value


__all__ = [
    "USER_ERRORS",
    "build_parser",
    "cmd_calibrate",
    "cmd_evaluate",
    "cmd_export",
    "cmd_latents",
    "cmd_plot",
    "cmd_refbatch",
    "cmd_sample",
    "cmd_train",
    "enable_tf32",
    "load_samples",
    "main",
]
