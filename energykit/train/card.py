"""The model card (`README.md`) of an exported folder: huggingface_hub's `ModelCard`, its
metadata (library, tags, dataset) as YAML front matter, and a body that says what the model
is and how to load and sample it."""

from __future__ import annotations

from typing import Any

from huggingface_hub import ModelCard, ModelCardData

from energykit.objectives import objective_kind

#: Tags every exported energykit model carries on the Hub.
TAGS = ("energykit", "equilibrium-matching", "energy-based-model")


def model_card(config: dict[str, Any], parameters: int) -> str:
    """The card's text (front matter and body) of the model that `config` (the content of
    `config.json`) describes, whose network has `parameters` parameters."""
    recipe, classes = config["recipe"], config["num_classes"]
    sample = recipe["sample"]
    flow_matching = objective_kind(config["kind"]).flow_matching
    kind = "flow matching" if flow_matching else "Equilibrium Matching"
    tags = [*TAGS, "flow-matching" if flow_matching else "eqm"]
    data = ModelCardData(library_name="energykit", tags=tags, license=None)
    conditioning = (
        f"class-conditional ({classes} classes)" if classes is not None else "unconditional"
    )
    lines = [
        f"# {config['kind']} on {recipe['data']['name']}",
        "",
        f"An energykit {kind} model (objective kind `{config['kind']}`), {conditioning}, "
        f"samples of shape {tuple(config['shape'])}, {config['step']:,} training steps, "
        f"{config['weights']} weights, "
        f"{parameters:,} parameters (`{recipe['net']['kind']}` backbone).",
        "",
        f"Default sampler: `{sample['sampler']}`, {sample['steps']} steps, guidance scale "
        f"{sample['cfg_scale']}"
        + (
            f"; a calibrated {config['solver']['steps']}-evaluation solver is included."
            if (config["solver"])
            else "."
        ),
    ]
    if config["vae"] is not None:
        vae = config["vae"]
        lines += [
            "",
            f"Latents decode with the VAE `{vae['name']}` (scaling factor "
            f"{vae['scaling_factor']}).",
        ]
    lines += [
        "",
        "```python",
        "from energykit.train import load_trained",
        "",
        'model = load_trained("DIR")                # this folder, or',
        'model = load_trained(repo_id="ORG/NAME")   # from the Hugging Face Hub',
        "```",
        "",
        "```bash",
        "energykit sample DIR --out samples.pt",
        "```",
        "",
        "`model.safetensors` holds the weights, `config.json` the recipe, the sampler defaults "
        "and the SHA-256 of the weights file (checked on load). Loading never executes code.",
    ]
    return str(ModelCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(lines) + "\n"))


__all__ = ["TAGS", "model_card"]
