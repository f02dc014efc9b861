"""Exported folders on the Hugging Face Hub, through `huggingface_hub`: `push_to_hub` uploads
what `save_pretrained` writes, `download` fetches a repository's snapshot (from the local
cache when `HF_HUB_OFFLINE=1`) for `load_trained(repo_id=...)`."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from energykit._extras import install_hint
from energykit.train.pretrained_config import FOLDER_FILES

if TYPE_CHECKING:
    from energykit.sampling import Solver
    from energykit.train.pretrained_config import LatentVAE


class Uploadable(Protocol):
    """What `push_to_hub` needs of a model (`energykit.train.TrainedModel` is one)."""

    def save_pretrained(
        self, folder: str | Path, *, solver: Solver | None = None, vae: LatentVAE | None = None
    ) -> Path: ...


def _hub() -> Any:
    try:
        import huggingface_hub
    except ImportError as err:
        raise ImportError(
            f"the Hugging Face Hub needs huggingface_hub: {install_hint('hub')}"
        ) from err
    return huggingface_hub


def _check_repo_id(repo_id: object) -> str:
    if not isinstance(repo_id, str) or repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise ValueError(f"repo_id: expected 'org/name', got {repo_id!r}")
    return repo_id


def push_to_hub(
    model: Uploadable,
    repo_id: str,
    *,
    token: str | None = None,
    private: bool | None = None,
    commit_message: str = "Upload energykit model",
    solver: Solver | None = None,
    vae: LatentVAE | None = None,
) -> str:
    """Upload `model` as an exported folder to the model repository `repo_id`.

    The folder is written by `save_pretrained` into a temporary directory, the repository is
    created when it does not exist (`HfApi.create_repo(exist_ok=True)`), and the folder is
    uploaded as one commit (`HfApi.upload_folder`).

    Args:
        model: The trained model.
        repo_id: `"org/name"`.
        token: A Hub token (default: the one `hf auth login` stored).
        private: Create the repository private (an existing one keeps its visibility).
        commit_message: The commit's message.
        solver: As for `save_pretrained`: a calibrated solver to embed (default: the
            model's own).
        vae: As for `save_pretrained`: the VAE of a latent model (default: the model's own).

    Returns:
        The commit's URL.

    Raises:
        ImportError: huggingface_hub or safetensors is missing (names the extra).
        ValueError: `repo_id` is not `"org/name"`.
    """
    repo_id = _check_repo_id(repo_id)
    api = _hub().HfApi(token=token)
    with tempfile.TemporaryDirectory(prefix="energykit-export-") as tmp:
        folder = model.save_pretrained(Path(tmp) / "model", solver=solver, vae=vae)
        api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
        commit = api.upload_folder(
            repo_id=repo_id,
            folder_path=folder,
            repo_type="model",
            commit_message=commit_message,
        )
    return str(getattr(commit, "commit_url", commit))


def download(
    repo_id: str, *, revision: str | None = None, cache_dir: str | Path | None = None
) -> Path:
    """The local folder of `repo_id`'s snapshot (`huggingface_hub.snapshot_download`: from
    the cache when offline), fetching only an exported folder's files (`FOLDER_FILES`), so
    other files in the repository are never downloaded.

    Raises:
        ImportError: huggingface_hub is missing (names the extra).
        ValueError: `repo_id` is not `"org/name"`.
        FileNotFoundError: the repository (or revision) is neither reachable nor cached, does
            not exist, or is gated (one line naming `repo_id` and the revision).
        OSError: the Hub answered another HTTP error (the same one line).
    """
    hub = _hub()
    from huggingface_hub import errors

    repo_id = _check_repo_id(repo_id)
    where = f"load_trained repo_id {repo_id!r} (revision {revision or 'main'})"
    reasons: tuple[tuple[type[Exception], str], ...] = (
        (
            errors.LocalEntryNotFoundError,
            "not in the Hugging Face cache and the Hub cannot be reached",
        ),
        (errors.GatedRepoError, "a gated repository: accept its terms on the Hub and log in"),
        (
            errors.RepositoryNotFoundError,
            "no such repository on the Hub (or a private one: log in with a token that can "
            "read it)",
        ),
        (errors.RevisionNotFoundError, "no such revision in the repository"),
        (errors.HfHubHTTPError, "the Hub refused the request"),
    )
    try:
        folder = hub.snapshot_download(
            repo_id, revision=revision, cache_dir=cache_dir, allow_patterns=list(FOLDER_FILES)
        )
    except tuple(kind for kind, _ in reasons) as err:
        kind, reason = next((k, text) for k, text in reasons if isinstance(err, k))
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        # A failed request that is no missing repository, revision or cache entry (a server
        # error, a refused token) is an OSError, not a FileNotFoundError.
        raised = OSError if kind is errors.HfHubHTTPError else FileNotFoundError
        raise raised(f"{where}: {reason} ({first})") from None
    return Path(folder)


__all__ = ["download", "push_to_hub"]
