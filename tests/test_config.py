"""Config file and CLI overrides."""

from __future__ import annotations

import pytest
from stancelens.train.config import ConfigError, load_config


def test_default_config_and_overrides():
    config = load_config(overrides=["train.epochs=2", "data.semeval=true", "model.encoder=/tmp/some model"])
    assert config.train.epochs == 2 and config.data.semeval is True
    assert config.model.encoder == "/tmp/some model"
    assert config.flat()["train.epochs"] == 2


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.epoch=2", r"unknown config key 'train\.epoch'"),
        ("train.epochs=two", r"train\.epochs must be int"),
        ("data.semeval=1", r"data\.semeval must be true or false"),
        ("epochs", r"must look like section\.key=value"),
    ],
)
def test_bad_overrides_name_the_problem(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(overrides=[override])


def test_config_command_lists_every_key_with_help():
    from stancelens.train.config import Config, describe

    from tests.conftest import run_cli

    proc = run_cli("config")
    assert proc.returncode == 0
    listed = proc.stdout.decode()
    for key in Config().flat():
        assert key in listed, key
    assert all(help_text for _, _, help_text in describe())
