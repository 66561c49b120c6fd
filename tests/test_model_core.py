"""The network, its loss masking and its on-disk format."""

from __future__ import annotations

import json
import socket

import pytest
import torch
from stancelens.model.encoder import EncoderNotFoundError, resolve_encoder_path
from stancelens.model.io import META_FILE, ModelFolderError, ModelMeta, load_model_folder, new_model, save_model_folder
from stancelens.model.labels import IGNORE_INDEX
from stancelens.model.network import TECHNIQUE_PRIOR_LOGIT, multitask_loss
from stancelens.model.techniques import TECHNIQUES


@pytest.fixture(scope="module")
def fresh():
    torch.manual_seed(0)
    return new_model(resolve_encoder_path(), n_techniques=len(TECHNIQUES))


def batch(tokenizer, texts):
    enc = tokenizer(texts, padding=True, return_tensors="pt")
    return enc["input_ids"], enc["attention_mask"]


def test_save_load_round_trip_gives_identical_outputs(fresh, tmp_path):
    network, tokenizer = fresh
    network.eval()
    meta = ModelMeta(loaded_threshold=0.37, technique_labels=list(TECHNIQUES), training={"note": "round trip"})
    folder = save_model_folder(network, tokenizer, meta, tmp_path / "m")
    loaded, tok2, meta2 = load_model_folder(folder)
    ids, mask = batch(tokenizer, ["The valley fell.", "Heroes never surrender to the invaders!"])
    with torch.no_grad():
        a, b = network(ids, mask), loaded(ids, mask)
    for x, y in (
        (a.stance_logits, b.stance_logits),
        (a.loaded_logits, b.loaded_logits),
        (a.token_logits, b.token_logits),
        (a.technique_logits, b.technique_logits),
    ):
        assert torch.allclose(x, y, atol=1e-6)
    assert a.technique_logits.shape == (*ids.shape, len(TECHNIQUES))
    assert meta2.loaded_threshold == 0.37 and meta2.training == {"note": "round trip"}
    assert meta2.technique_labels == list(TECHNIQUES)
    assert meta2.stance_labels == ["pro_nrf", "pro_taliban", "neutral"]
    assert tok2("Panjshir")["input_ids"] == tokenizer("Panjshir")["input_ids"]


def test_model_folder_holds_no_pickles_and_is_self_describing(fresh, tmp_path):
    network, tokenizer = fresh
    folder = save_model_folder(network, tokenizer, ModelMeta(technique_labels=list(TECHNIQUES)), tmp_path / "m")
    names = {p.name for p in folder.iterdir()}
    assert {"model.safetensors", "config.json", META_FILE, "tokenizer.json"} <= names
    assert not [n for n in names if n.endswith((".bin", ".pt", ".pkl", ".pth"))]
    meta = json.loads((folder / META_FILE).read_text())
    assert {"stance_labels", "loaded_threshold", "stance_temperature", "training", "format_version"} <= set(meta)


def test_loading_never_touches_the_network(fresh, tmp_path, monkeypatch):
    network, tokenizer = fresh
    folder = save_model_folder(network, tokenizer, ModelMeta(technique_labels=list(TECHNIQUES)), tmp_path / "m")

    def no_network(*args, **kwargs):
        raise AssertionError("model loading tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    load_model_folder(folder)


def test_saving_refuses_metadata_that_does_not_name_the_technique_outputs(fresh, tmp_path):
    network, tokenizer = fresh
    with pytest.raises(ModelFolderError, match="14 technique outputs but the metadata names 0"):
        save_model_folder(network, tokenizer, ModelMeta(), tmp_path / "m")


def test_loading_refuses_a_folder_that_is_not_a_model(tmp_path):
    with pytest.raises(ModelFolderError, match=r"stancelens\.json"):
        load_model_folder(tmp_path)


def test_unknown_encoder_folder_is_a_clear_error(tmp_path):
    with pytest.raises(EncoderNotFoundError, match=r"config\.json"):
        resolve_encoder_path(str(tmp_path))


def test_loss_is_masked_per_record(fresh):
    network, tokenizer = fresh
    network.train()
    ids, mask = batch(tokenizer, ["A stance-only tweet.", "A propaganda-corpus sentence with loaded words."])
    out = network(ids, mask)
    # record 0: stance only; record 1: loaded labels only
    stance = torch.tensor([0, IGNORE_INDEX])
    loaded = torch.tensor([IGNORE_INDEX, 1])
    tokens = torch.full(ids.shape, IGNORE_INDEX)
    tokens[1, 1:-1] = 0
    techniques = torch.full((*ids.shape, len(TECHNIQUES)), IGNORE_INDEX)
    techniques[1, 1:-1] = 0
    techniques[1, 2, 3] = 1
    loss, parts = multitask_loss(out, stance, loaded, tokens, techniques)
    network.zero_grad()
    loss.backward()
    assert set(parts) == {"stance", "loaded", "token", "technique"} and all(v > 0 for v in parts.values())
    # the stance logits of record 1 must receive no gradient: its stance is missing
    out = network(ids, mask)
    out.stance_logits.retain_grad()
    out.loaded_logits.retain_grad()
    loss, _ = multitask_loss(out, stance, loaded, tokens)
    loss.backward()
    assert torch.all(out.stance_logits.grad[1] == 0) and torch.any(out.stance_logits.grad[0] != 0)
    assert out.loaded_logits.grad[0] == 0 and out.loaded_logits.grad[1] != 0
    # record 0 has no technique annotation: its technique logits get no gradient either
    out = network(ids, mask)
    out.technique_logits.retain_grad()
    loss, _ = multitask_loss(out, stance, loaded, tokens, techniques)
    loss.backward()
    assert torch.all(out.technique_logits.grad[0] == 0) and torch.any(out.technique_logits.grad[1] != 0)


def test_technique_head_starts_at_the_rare_technique_prior(fresh):
    network, tokenizer = fresh
    network.eval()
    with torch.no_grad():
        out = network(*batch(tokenizer, ["They call it a liberation; it is an occupation."]))
    # every technique covers a few percent of tokens: a fresh head must not predict 0.5 everywhere
    assert torch.sigmoid(out.technique_logits).max() < 0.2
    assert float(network.technique_head.bias.mean()) == pytest.approx(TECHNIQUE_PRIOR_LOGIT)


def test_a_model_without_technique_head_loads_and_has_empty_technique_logits(tmp_path):
    network, tokenizer = new_model(resolve_encoder_path())  # as saved before the technique head existed
    folder = save_model_folder(network, tokenizer, ModelMeta(), tmp_path / "m")
    loaded, _, meta = load_model_folder(folder)
    assert meta.technique_labels == [] and loaded.technique_head is None
    with torch.no_grad():
        out = loaded(*batch(tokenizer, ["No head here."]))
    assert out.technique_logits.shape[-1] == 0


def test_a_batch_without_any_label_of_a_task_adds_zero_not_nan(fresh):
    network, tokenizer = fresh
    ids, mask = batch(tokenizer, ["Only stance here."])
    out = network(ids, mask)
    none = torch.tensor([IGNORE_INDEX])
    no_techniques = torch.full((*ids.shape, len(TECHNIQUES)), IGNORE_INDEX)
    loss, parts = multitask_loss(out, torch.tensor([2]), none, torch.full(ids.shape, IGNORE_INDEX), no_techniques)
    assert torch.isfinite(loss) and parts["loaded"] == 0.0 and parts["token"] == 0.0 and parts["technique"] == 0.0
