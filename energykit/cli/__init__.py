"""The `energykit` command: `train`, `sample`, `calibrate`, `evaluate`, `plot`, `latents`,
`refbatch`.

```
energykit train RECIPE.yaml --out DIR [section.key=value ...]
energykit sample CHECKPOINT --out FILE [--sampler auto --lr L --steps K --g-min G --n N]
                 [--solver SOLVER.json --cfg-scale W --cfg-channels K --vae VAE --png-dir DIR]
energykit calibrate CHECKPOINT --steps K --out SOLVER.json [--samples 256 --iterations 300]
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

One module per command (`train`, `sample`, `calibrate`, `evaluate`, `latents`, `plot`), the
parser in `parser`, `main` in `app`. `main` runs the `cmd_*` function of this package that the
parser names, so it can be replaced here (tests do).
"""

from energykit.cli.app import USER_ERRORS, main
from energykit.cli.calibrate import cmd_calibrate
from energykit.cli.evaluate import EVALUATE_DATA, cmd_evaluate
from energykit.cli.latents import cmd_latents, cmd_refbatch
from energykit.cli.parser import build_parser
from energykit.cli.plot import cmd_plot
from energykit.cli.sample import cmd_sample
from energykit.cli.train import cmd_train, enable_tf32
from energykit.sampling import load_samples

__all__ = [
    "EVALUATE_DATA",
    "USER_ERRORS",
    "build_parser",
    "cmd_calibrate",
    "cmd_evaluate",
    "cmd_latents",
    "cmd_plot",
    "cmd_refbatch",
    "cmd_sample",
    "cmd_train",
    "enable_tf32",
    "load_samples",
    "main",
]
