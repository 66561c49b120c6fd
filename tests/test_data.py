"""The written corpus and the seed set: validity, originality, and the validator itself."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
from stancelens.train.corpus_validate import validate_corpus
from stancelens.train.records import load_corpus, load_ruw, load_seed_set, load_semeval, ruw_stance

from tests.conftest import ROOT, SHARED, needs_shared, run_cli

CORPUS = ROOT / "data" / "corpus"
RUN = 8  # words in a row that count as copied text


def word_runs(text: str, n: int = RUN) -> set[str]:
    words = re.findall(r"\w+", text.lower())
    return {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}


def test_data_validate_passes_and_prints_the_composition_table():
    proc = run_cli("data", "validate")
    output = proc.stdout.decode()
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    assert "| register |" in output and "| all |" in output
    assert "near-duplicate pairs across splits (TF-IDF cosine > 0.85): 0" in output


def test_corpus_meets_size_and_balance_targets():
    records = load_corpus(CORPUS)
    assert len(records) >= 4000
    n = len(records)
    for stance in ("pro_nrf", "pro_taliban", "neutral"):
        assert sum(r["stance"] == stance for r in records) / n >= 0.25
    assert sum(r["loaded"] for r in records) / n >= 0.30
    assert {r["split"] for r in records} == {"train", "validation", "test"}


@needs_shared("seeds")
def test_no_sentence_borrows_an_eight_word_run_from_shared_text():
    reference: set[str] = set()
    for path in SHARED.glob("seeds/*.txt"):
        reference |= word_runs(path.read_text(encoding="utf-8"))
    for path in SHARED.glob("data/ptc/datasets/*-articles/*.txt"):
        reference |= word_runs(path.read_text(encoding="utf-8"))
    for path in SHARED.glob("data/ruw/*.csv"):
        with open(path, encoding="utf-8", errors="replace", newline="") as handle:
            for row in csv.DictReader(handle):
                reference |= word_runs(row.get("Tweet") or "")
    copied = [(r["id"], sorted(word_runs(r["text"]) & reference)[:1]) for r in load_corpus(CORPUS)]
    copied = [c for c in copied if c[1]]
    assert not copied, f"{len(copied)} sentences share 8-word runs with ../shared, e.g. {copied[:5]}"


@pytest.mark.parametrize(
    ("mutation", "message"),
    [
        (lambda r: r.update(stance="pro_us"), "stance 'pro_us' is not one of"),
        (lambda r: r.update(loaded_spans=[[0, 10_000]], loaded=1), "outside the text"),
        (lambda r: r.update(loaded_spans=[[1, 4]], loaded=1), "cuts a word"),
        (lambda r: r.update(loaded_spans=[], loaded=1), "loaded must be 1 exactly when"),
        (lambda r: r.update(split="dev"), "split 'dev' is not one of"),
    ],
)
def test_validator_catches_each_kind_of_violation(tmp_path: Path, mutation, message):
    records = load_corpus(CORPUS)[:40]
    mutation(records[0])
    (tmp_path / "bad.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    report = validate_corpus(tmp_path, check_balance=False)
    assert any(message in v for v in report.violations), report.violations[:5]


def test_validator_catches_duplicates_and_split_leakage(tmp_path: Path):
    records = load_corpus(CORPUS)[:30]
    twin = dict(records[0], id="twin", split="test" if records[0]["split"] != "test" else "train")
    twin["text"] = records[0]["text"].replace(".", "!")
    records += [dict(records[1]), twin]
    (tmp_path / "bad.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    violations = validate_corpus(tmp_path, check_balance=False).violations
    assert any("duplicate id" in v for v in violations)
    assert any("near-duplicate across splits" in v for v in violations)
    assert any("appears in several splits" in v for v in violations)


@needs_shared("seeds")
def test_seed_set_rebuilds_every_sentence_from_shared():
    records = load_seed_set(SHARED, ROOT / "data" / "seeds" / "seed_annotations.jsonl")
    assert len(records) >= 200
    assert {r["split"] for r in records} == {"seed"}
    assert all(r["stance"] in ("pro_nrf", "pro_taliban", "neutral") for r in records)
    stored = (ROOT / "data" / "seeds" / "seed_annotations.jsonl").read_text(encoding="utf-8")
    assert '"text"' not in stored  # stand-off only: the third-party text is never stored


@needs_shared("data", "ptc")
def test_semeval_lines_carry_loaded_spans_but_no_stance():
    records = load_semeval(SHARED, "dev")
    assert len(records) > 2500 and all(r["stance"] is None for r in records)
    with_spans = [r for r in records if r["loaded_spans"]]
    assert 250 <= len(with_spans) <= 330
    for r in with_spans[:200]:
        for start, end in r["loaded_spans"]:
            assert 0 <= start < end <= len(r["text"])


@needs_shared("data", "ruw")
def test_ruw_stance_mapping():
    assert ruw_stance("AGAINST", "FAVOR") == "pro_nrf"
    assert ruw_stance("FAVOR", "AGAINST") == "pro_taliban"
    assert ruw_stance("FAVOR", "FAVOR") == "neutral" and ruw_stance("NONE", "NONE") == "neutral"
    records = load_ruw(SHARED, "val")
    assert len(records) > 500 and all(r["loaded"] is None for r in records)


def test_agreement_is_recomputable_and_meets_targets():
    proc = run_cli("data", "agreement")
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    stance = float(re.search(r"stance kappa ([\d.]+)", proc.stdout.decode()).group(1))
    loaded = float(re.search(r"loaded kappa ([\d.]+)", proc.stdout.decode()).group(1))
    assert "sample: 610 sentences" in proc.stdout.decode()
    assert stance >= 0.80 and loaded >= 0.70


def _write_drafts(folder: Path, topic: str, texts: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rows = [{"text": t, "stance": "neutral", "loaded_phrases": [], "register": "wire", "topic": topic} for t in texts]
    (folder / f"{topic}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def test_rebuilding_keeps_adjudicated_labels_and_released_splits(tmp_path: Path):
    """New drafts are added around the corpus as it stands: corrected labels and splits are not undone."""
    drafts, corpus = tmp_path / "drafts", tmp_path / "corpus"
    _write_drafts(drafts, "old-story", [f"Convoy number {i} reached the district centre." for i in range(4)])
    assert run_cli("data", "build", str(drafts), "--out", str(corpus)).returncode == 0
    records = [json.loads(line) for line in (corpus / "wire.jsonl").read_text(encoding="utf-8").splitlines()]
    records[0]["stance"] = "pro_taliban"  # as if corrected in adjudication
    for record in records:
        record["split"] = "test"  # as if released as test data
    (corpus / "wire.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")

    _write_drafts(drafts, "new-story", ["A separate report described flooding in the eastern provinces."])
    assert run_cli("data", "build", str(drafts), "--out", str(corpus)).returncode == 0
    rebuilt = {r["id"]: r for r in map(json.loads, (corpus / "wire.jsonl").read_text(encoding="utf-8").splitlines())}
    assert len(rebuilt) == 5
    assert rebuilt[records[0]["id"]]["stance"] == "pro_taliban"
    assert all(rebuilt[r["id"]]["split"] == "test" for r in records)

    assert run_cli("data", "build", str(drafts), "--out", str(corpus), "--fresh").returncode == 0
    fresh = {r["id"]: r for r in map(json.loads, (corpus / "wire.jsonl").read_text(encoding="utf-8").splitlines())}
    assert fresh[records[0]["id"]]["stance"] == "neutral"
