"""Sentence-level stance, loaded-language and propaganda-technique analysis of documents or sentences.

Every entry point of the product (batch CLI, HTTP server, MLflow pyfunc, evaluation)
goes through this class, so they cannot disagree. Sentences longer than the encoder's
window are cut into overlapping windows and the result reports how many were used;
nothing is silently truncated.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from stancelens.model.backends import Backend, TorchBackend
from stancelens.model.io import ModelMeta, load_model_folder
from stancelens.model.runtimes import DEFAULT_RUNTIME, resolve_runtime
from stancelens.model.spans import CharSpan, best_token_span, decode_spans, merge_spans
from stancelens.model.splitter import split_sentences
from stancelens.model.technique_classifier import TechniqueClassifier
from stancelens.model.techniques import TokenStates, decode_technique_spans
from stancelens.model.text_checks import has_visible_text, text_problem

# Padding a batch may add, as a share of its real tokens, before it is split (see length_buckets).
PADDING_BUDGET = 0.1


class EmptyTextError(ValueError):
    """Raised for a sentence or document with no visible characters."""


@dataclass
class _Window:
    sentence: int
    input_ids: list[int]
    offsets: list[tuple[int, int]]


class Predictor:
    """Loads a model once and analyses text with it."""

    def __init__(
        self,
        network: Any,
        tokenizer: Any,
        meta: ModelMeta,
        runtime: str = DEFAULT_RUNTIME,
        batch_size: int = 32,
        folder: Path | None = None,
        model_ref: str | None = None,
        threads: int | None = None,
    ):
        choice = resolve_runtime(runtime, folder)
        runtime = choice.runtime
        if runtime.startswith("onnx") and folder is None:
            raise ValueError("the ONNX runtimes need a saved model folder to cache the export beside")
        self.tokenizer = tokenizer
        self.meta = meta
        self.folder = folder
        self.model_ref = model_ref or (str(folder) if folder else "in-memory")
        self.runtime = runtime
        self.runtime_reason = choice.reason
        self.batch_size = batch_size
        self.backend: Backend = _make_backend(runtime, network, folder, threads)
        self.technique_classifier = TechniqueClassifier.load(folder)
        # Fast tokenizers refuse concurrent calls that set truncation ("Already borrowed"):
        # server worker threads share one Predictor, so tokenisation takes turns.
        self._tokenizer_lock = threading.Lock()

    @classmethod
    def load(cls, folder: str | Path, **kwargs: Any) -> Predictor:
        """Load a saved model folder."""
        network, tokenizer, meta = load_model_folder(Path(folder))
        return cls(network, tokenizer, meta, folder=Path(folder), **kwargs)

    @classmethod
    def from_ref(cls, ref: str, **kwargs: Any) -> Predictor:
        """Load from a model folder or a registry URI such as ``models:/stancelens@champion``."""
        from stancelens.model.registry import resolve_model_ref

        return cls.load(resolve_model_ref(ref), model_ref=ref, **kwargs)

    def sentence_cuts(self, documents: Sequence[str], sentences: bool = False) -> list[list[tuple[int, int]]]:
        """Where each document's analysed units lie: the splitter's sentences, or the whole text.

        ``sentences=True`` (sentence mode: the caller has split already) makes each text one
        unit, however long. This is the only place that mode is decided; the CLI, server,
        pyfunc and Spark all ask here.
        """
        cuts = []
        for i, doc in enumerate(documents):
            problem = text_problem(doc)
            if problem is not None:
                raise EmptyTextError(f"{'sentence' if sentences else 'document'} {i}: {problem}")
            if sentences:
                cuts.append([(0, len(doc))])
            else:
                cuts.append([(s.start, s.end) for s in split_sentences(doc) if has_visible_text(doc[s.start : s.end])])
        return cuts

    def analyze_documents(
        self, documents: Sequence[str], loaded_threshold: float | None = None, sentences: bool = False
    ) -> list[list[dict[str, Any]]]:
        """Analyse each document's sentences (see :meth:`sentence_cuts`); offsets point into the document."""
        cuts = self.sentence_cuts(documents, sentences)
        flat = [doc[a:b] for doc, spans in zip(documents, cuts, strict=True) for a, b in spans]
        return attach_offsets(cuts, self.analyze_sentences(flat, loaded_threshold))

    def analyze_sentences(
        self, sentences: Sequence[str], loaded_threshold: float | None = None
    ) -> list[dict[str, Any]]:
        """Analyse pre-split sentences; each is one unit, however long."""
        if not sentences:
            return []
        threshold = self.meta.loaded_threshold if loaded_threshold is None else float(loaded_threshold)
        for i, text in enumerate(sentences):
            problem = text_problem(text)
            if problem is not None:
                raise EmptyTextError(f"sentence {i}: {problem}")
        windows = self._windows(sentences)
        stance_logits, loaded_logits, token_probs, technique_probs, hidden = self._run(windows)
        probs = _softmax(stance_logits / self.meta.stance_temperature)
        loaded_probs = _sigmoid(loaded_logits)

        per_sentence: list[list[int]] = [[] for _ in sentences]
        for w_index, window in enumerate(windows):
            per_sentence[window.sentence].append(w_index)

        results = []
        for s_index, text in enumerate(sentences):
            w_indices = per_sentence[s_index]
            sizes = np.array([len(windows[w].input_ids) for w in w_indices], dtype=np.float64)
            stance_p = (probs[w_indices] * sizes[:, None]).sum(axis=0) / sizes.sum()
            loaded_p = float(loaded_probs[w_indices].max())
            spans: list[CharSpan] = []
            for w in w_indices:
                spans.extend(decode_spans(text, windows[w].offsets, token_probs[w], self.meta.span_threshold))
            spans = merge_spans(spans)
            loaded = loaded_p >= threshold
            if not loaded:
                spans = []
            elif not spans:
                fallback = max(
                    (best_token_span(text, windows[w].offsets, token_probs[w]) for w in w_indices),
                    key=lambda s: s.prob if s else -1.0,
                )
                spans = [fallback] if fallback else []
            best = int(np.argmax(stance_p))
            techniques = decode_technique_spans(
                text,
                self.meta.technique_labels,
                [windows[w].offsets for w in w_indices],
                _states(
                    [windows[w] for w in w_indices],
                    [technique_probs[w] for w in w_indices],
                    [hidden[w] for w in w_indices],
                ),
                self.meta.technique_threshold,
                self.technique_classifier,
            )
            results.append(
                {
                    "text": text,
                    "stance": self.meta.stance_labels[best],
                    "stance_probs": {lab: float(p) for lab, p in zip(self.meta.stance_labels, stance_p, strict=True)},
                    "loaded": int(loaded),
                    "loaded_prob": loaded_p,
                    "loaded_spans": [
                        {"start": s.start, "end": s.end, "text": text[s.start : s.end], "prob": float(s.prob)}
                        for s in spans
                    ],
                    "windows": len(w_indices),
                    "techniques": techniques,
                }
            )
        return results

    def token_states(self, sentences: Sequence[str]) -> list[TokenStates]:
        """Per sentence: every token's offsets, technique probabilities and hidden state (all windows).

        Naming a given span (PTC's technique-classification task) and fitting the span
        classifier read these; special tokens carry ``(0, 0)``.
        """
        windows = self._windows(sentences)
        *_, technique_probs, hidden = self._run(windows)
        grouped: list[list[int]] = [[] for _ in sentences]
        for i, window in enumerate(windows):
            grouped[window.sentence].append(i)
        return [
            _states([windows[i] for i in ids], [technique_probs[i] for i in ids], [hidden[i] for i in ids])
            for ids in grouped
        ]

    def _windows(self, sentences: Sequence[str]) -> list[_Window]:
        with self._tokenizer_lock:
            encoded = self.tokenizer(
                list(sentences),
                truncation=True,
                max_length=self.meta.max_length,
                stride=self.meta.window_stride,
                return_overflowing_tokens=True,
                return_offsets_mapping=True,
                return_special_tokens_mask=True,
            )
        windows = []
        for i, sample in enumerate(encoded["overflow_to_sample_mapping"]):
            special = encoded["special_tokens_mask"][i]
            offsets = [
                (0, 0) if sp else (int(a), int(b))
                for (a, b), sp in zip(encoded["offset_mapping"][i], special, strict=True)
            ]
            windows.append(_Window(int(sample), list(encoded["input_ids"][i]), offsets))
        return windows

    def _run(
        self, windows: list[_Window]
    ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
        """Forward all windows in length-sorted batches, so padding stays small."""
        n_stance = len(self.meta.stance_labels)
        stance = np.zeros((len(windows), n_stance), dtype=np.float32)
        loaded = np.zeros(len(windows), dtype=np.float32)
        tokens: list[np.ndarray] = [np.zeros(0)] * len(windows)
        techniques: list[np.ndarray] = [np.zeros((0, 0))] * len(windows)
        hidden: list[np.ndarray] = [np.zeros((0, 0))] * len(windows)
        lengths = [len(w.input_ids) for w in windows]
        pad_id = self.tokenizer.pad_token_id or 0
        for batch in length_buckets(lengths, self.batch_size):
            width = max(len(windows[i].input_ids) for i in batch)
            ids = np.full((len(batch), width), pad_id, dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for row, i in enumerate(batch):
                length = len(windows[i].input_ids)
                ids[row, :length] = windows[i].input_ids
                mask[row, :length] = 1
            logits = self.backend.run(ids, mask)
            for row, i in enumerate(batch):
                stance[i] = logits.stance[row]
                loaded[i] = logits.loaded[row]
                tokens[i] = _sigmoid(logits.token[row, : len(windows[i].input_ids)])
                techniques[i] = _sigmoid(logits.technique[row, : len(windows[i].input_ids)])
                if self.meta.technique_labels:  # only the span classifier reads them
                    hidden[i] = logits.hidden[row, : len(windows[i].input_ids)]
        return stance, loaded, tokens, techniques, hidden


def _states(windows: Sequence[_Window], probs: Sequence[np.ndarray], hidden: Sequence[np.ndarray]) -> TokenStates:
    """One sentence's windows as one run of tokens."""
    return TokenStates([offset for w in windows for offset in w.offsets], np.concatenate(probs), np.concatenate(hidden))


def attach_offsets(cuts: list[list[tuple[int, int]]], rows: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Regroup flat sentence rows by document, each with its index and offsets in the document."""
    results = iter(rows)
    return [
        [{**next(results), "sent_index": index, "start": start, "end": end} for index, (start, end) in enumerate(spans)]
        for spans in cuts
    ]


def _make_backend(runtime: str, network: Any, folder: Path | None, threads: int | None) -> Backend:
    if runtime == "torch":
        return TorchBackend(network)
    if runtime == "torch-int8":
        return TorchBackend(network, quantize=True)
    if runtime == "torch-bf16":
        return TorchBackend(network, bf16=True)
    from stancelens.model.onnx_runtime import OnnxBackend

    return OnnxBackend.from_folder(folder, network, quantize=runtime == "onnx-int8", threads=threads)


def length_buckets(lengths: Sequence[int], max_size: int, max_padding: float = PADDING_BUDGET) -> Iterable[list[int]]:
    """Indices grouped into batches of similar length, shortest first.

    Padding is pure waste on a CPU (a batch costs its longest member times its size),
    while one more forward call costs little, so a batch is closed early as soon as
    adding the next (longer) item would make padding exceed ``max_padding`` of its real
    tokens. This matters most for the server, whose micro-batches mix whatever
    requests arrived together.
    """
    batch: list[int] = []
    real = 0
    for index in sorted(range(len(lengths)), key=lengths.__getitem__):
        length = lengths[index]
        if batch and (len(batch) >= max_size or length * (len(batch) + 1) > (1 + max_padding) * (real + length)):
            yield batch
            batch, real = [], 0
        batch.append(index)
        real += length
    if batch:
        yield batch


def _softmax(x: np.ndarray) -> np.ndarray:
    z = x - x.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))
