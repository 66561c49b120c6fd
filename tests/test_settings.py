"""Server settings (serve/settings.py): environment, validation naming the variable, worker layout."""

from __future__ import annotations

import pytest
from stancelens.serve.settings import ServerSettings


def test_environment_is_read_and_overrides_win(monkeypatch):
    monkeypatch.setenv("STANCELENS_QUEUE_SIZE", "7")
    monkeypatch.setenv("STANCELENS_RUNTIME", "torch")
    settings = ServerSettings.from_env(runtime="onnx", max_documents=None)
    assert (settings.queue_size, settings.runtime, settings.max_documents) == (7, "onnx", 64)
    assert ServerSettings.from_env().runtime == "torch"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("STANCELENS_QUEUE_SIZE", "many", "STANCELENS_QUEUE_SIZE: Input should be a valid integer"),
        ("STANCELENS_MAX_DOC_CHARS", "0", "STANCELENS_MAX_DOC_CHARS: Input should be greater than 0"),
        ("STANCELENS_RUNTIME", "tpu", "STANCELENS_RUNTIME: must be one of auto"),
        ("STANCELENS_API_KEY", "  ", "STANCELENS_API_KEY: is set but empty"),
    ],
)
def test_a_bad_value_is_refused_naming_the_variable(monkeypatch, variable, value, message):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=message):
        ServerSettings.from_env()


def test_worker_layout_splits_cores_for_onnx_and_uses_one_loop_for_torch(monkeypatch):
    from stancelens.model.onnx_runtime import physical_cores

    cores = physical_cores()
    assert ServerSettings().worker_layout("torch-bf16") == (1, None)
    loops, threads = ServerSettings().worker_layout("onnx")
    assert loops == cores and threads == 1
    assert ServerSettings(workers=1).worker_layout("onnx") == (1, cores)


def test_body_budget_leaves_room_for_escaped_characters():
    settings = ServerSettings(max_total_chars=1000)
    assert settings.max_body_bytes == 6 * 1000 + 64 * 1024
