"""The model card (`README.md`) of an exported folder: huggingface_hub's `ModelCard`, its
metadata (library, tags, dataset) as YAML front matter, and a body that says what the model
is and how to load and sample it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from huggingface_hub import ModelCard, ModelCardData

if TYPE_CHECKING:
    from energykit.train.trained import TrainedModel

#: Tags every exported energykit model carries on the Hub.
TAGS = ("energykit", "equilibrium-matching", "energy-based-model")


def model_card(model: TrainedModel, config: dict[str, Any], parameters: int) -> str:
    """The card's text (front matter and body) for `model`, exported with `config` (the
    content of `config.json`), whose network has `parameters` parameters."""
    recipe = config["recipe"]
    sample = recipe["sample"]
    kind = "flow matching" if model.spec.flow_matching else "Equilibrium Matching"
    tags = [*TAGS, "flow-matching" if model.spec.flow_matching else "eqm"]
    data = ModelCardData(library_name="energykit", tags=tags, license=None)
    conditioning = (
        f"class-conditional ({model.num_classes} classes)"
        if model.num_classes is not None
        else "unconditional"
    )
    lines = [
        f"# {model.kind} on {model.dataset}",
        "",
        f"An energykit {kind} model (objective kind `{model.kind}`), {conditioning}, samples of "
        f"shape {tuple(model.shape)}, {model.step:,} training steps, {model.weights} weights, "
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
