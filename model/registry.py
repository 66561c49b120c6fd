"""Model references: a folder on disk or an MLflow registry URI.

The project's MLflow store lives in ``mlruns/`` at the repository root (SQLite, because
MLflow 3 refuses the plain file store); ``MLFLOW_TRACKING_URI`` overrides it. Registry
models are downloaded once into a cache keyed by name and version, so a server restart
does not copy 90 MB again.
"""

from __future__ import annotations

import os
from pathlib import Path

from stancelens.model.io import META_FILE


def _project_root() -> Path:
    """Where ``data/``, ``mlruns/`` and ``artifacts/`` live.

    ``STANCELENS_HOME`` when set; else the source checkout this code runs from (an editable
    install, the tests); else, for a wheel installed into site-packages, the current
    directory, never a folder inside site-packages.
    """
    if os.environ.get("STANCELENS_HOME"):
        return Path(os.environ["STANCELENS_HOME"]).resolve()
    checkout = Path(__file__).resolve().parents[1]
    return checkout if (checkout / "pyproject.toml").is_file() else Path.cwd()


PROJECT_ROOT = _project_root()
REGISTERED_NAME = "stancelens"
DEFAULT_MODEL_REF = f"models:/{REGISTERED_NAME}@champion"
PYFUNC_ARTIFACT = "stancelens_model"


def tracking_uri() -> str:
    """The tracking URI in force: the environment's, else the repository's SQLite store."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{PROJECT_ROOT / 'mlruns' / 'mlflow.db'}"


def artifact_root() -> str | None:
    """Where new experiments keep artifacts: an ``artifacts/`` folder beside the SQLite store.

    For the default store that is ``mlruns/artifacts``; a store chosen with
    ``MLFLOW_TRACKING_URI=sqlite:///elsewhere/mlflow.db`` keeps its artifacts beside it, so
    runs and their files never end up in two places. Other stores (a tracking server)
    decide for themselves (``None``).
    """
    uri = tracking_uri()
    if not uri.startswith("sqlite:///"):
        return None
    return (Path(uri.removeprefix("sqlite:///")).resolve().parent / "artifacts").as_uri()


def cache_dir() -> Path:
    return Path(os.environ.get("STANCELENS_CACHE", Path.home() / ".cache" / "stancelens"))


class ModelRefError(LookupError):
    """Raised when a model reference names nothing that can be loaded."""


def resolve_model_ref(ref: str) -> Path:
    """Return a local StanceLens model folder for ``ref``.

    Accepts a model folder, a downloaded pyfunc folder (its artifact is used), or a
    ``models:/NAME@ALIAS`` / ``models:/NAME/VERSION`` URI in the tracking store.
    """
    path = Path(ref).expanduser()
    if path.exists():
        return _model_folder_in(path)
    if not ref.startswith("models:/"):
        raise ModelRefError(f"{ref!r} is neither a model folder nor a models:/ URI")
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    mlflow.set_tracking_uri(tracking_uri())
    client = MlflowClient()
    name, _, selector = ref[len("models:/") :].partition("@")
    try:
        if selector:
            version = client.get_model_version_by_alias(name, selector)
        else:
            name, _, number = ref[len("models:/") :].partition("/")
            version = client.get_model_version(name, number)
    except MlflowException as exc:
        raise ModelRefError(
            f"{ref} is not in the registry at {tracking_uri()}: train a model first ({exc.message})"
        ) from exc
    target = cache_dir() / "models" / f"{name}-v{version.version}-{version.run_id or 'norun'}"  # see registry_version
    if not any((target / "artifacts").glob(f"*/{META_FILE}")):
        target.mkdir(parents=True, exist_ok=True)
        mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version.version}", dst_path=str(target))
    return _model_folder_in(target)


def registry_version(folder: Path | None) -> str | None:
    """The registry version of a folder :func:`resolve_model_ref` downloaded (``None`` for a plain folder)."""
    for part in Path(folder or "").parts:
        name, _, rest = part.partition("-v")
        if name == REGISTERED_NAME and rest.split("-", 1)[0].isdigit():
            return rest.split("-", 1)[0]
    return None


def _model_folder_in(path: Path) -> Path:
    if (path / META_FILE).is_file():
        return path
    nested = sorted((path / "artifacts").glob(f"*/{META_FILE}"))
    if nested:  # a pyfunc folder: MLflow keeps the artifact under its source folder's name
        return nested[0].parent
    raise ModelRefError(f"{path} holds no StanceLens model ({META_FILE} not found)")
