"""One offline inference path, timed in this (fresh) process: ``python -m bench.offline PATH ...``.

Paths: ``hf-pipeline`` (the baseline), every runtime of the Predictor, and ``onnx-fused``
(the fp32 graph after ONNX Runtime's transformer optimizer, measured to decide whether
it earns a place as a runtime). ``prepare`` builds the ONNX artefacts once beforehand so
no timed process pays for an export.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path
from typing import Any

PIPELINE_BATCH = 32
WARMUP_SENTENCES = 64
FUSED_NAME = "bench-fused-fp32.onnx"


def peak_rss_mb() -> float:
    """Peak resident set size of this process (Linux reports ``ru_maxrss`` in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def hf_pipeline(folder: Path) -> Any:
    """``BertForSequenceClassification`` with our encoder weights and our stance head as its classifier.

    The heads differ by design: our model mean-pools the token vectors, BERT's classifier
    reads the pooler (tanh dense layer over [CLS], here the pretrained MiniLM pooler that
    our training never uses). Its labels are therefore not ours; it is a throughput baseline.
    """
    from safetensors.torch import load_file
    from stancelens.model.io import WEIGHTS_FILE, read_meta
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer, pipeline

    meta = read_meta(folder)
    config = AutoConfig.from_pretrained(str(folder), local_files_only=True)
    config.num_labels = len(meta.stance_labels)
    config.id2label = dict(enumerate(meta.stance_labels))
    config.label2id = {label: i for i, label in enumerate(meta.stance_labels)}
    classifier = AutoModelForSequenceClassification.from_config(config)
    state = load_file(str(folder / WEIGHTS_FILE))
    mapped = {"bert." + k.removeprefix("encoder."): v for k, v in state.items() if k.startswith("encoder.")}
    mapped["classifier.weight"] = state["stance_head.weight"]
    mapped["classifier.bias"] = state["stance_head.bias"]
    missing, _unexpected = classifier.load_state_dict(mapped, strict=False)
    if missing:
        raise RuntimeError(f"baseline is missing weights: {missing}")
    classifier.eval()
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    return pipeline("text-classification", model=classifier, tokenizer=tokenizer, device=-1)


def build_fused(folder: Path) -> tuple[Path, dict[str, int]]:
    """The fp32 graph with attention, LayerNorm and GELU fused by ``onnxruntime.transformers.optimizer``.

    The fusions match the eager attention pattern, not PyTorch's SDPA call, so the network is
    exported with eager attention first (same weights, same outputs).
    """
    from onnxruntime.transformers import optimizer
    from stancelens.model.io import load_model_folder
    from stancelens.model.onnx_runtime import export_fp32

    network, _, _ = load_model_folder(folder)
    network.encoder.set_attn_implementation("eager")
    eager = folder / "onnx" / "bench-eager-fp32.onnx"
    export_fp32(network, eager)
    config = network.encoder.config
    fused = optimizer.optimize_model(
        str(eager), "bert", num_heads=config.num_attention_heads, hidden_size=config.hidden_size, opt_level=0
    )
    target = folder / "onnx" / FUSED_NAME
    fused.save_model_to_file(str(target))
    eager.unlink(missing_ok=True)
    return target, {k: v for k, v in fused.get_fused_operator_statistics().items() if v}


def load_path(kind: str, folder: Path) -> Any:
    """A Predictor on ``kind``; ``onnx-fused`` swaps the fused graph in behind the same post-processing."""
    from stancelens.model.predictor import Predictor

    if kind != "onnx-fused":
        return Predictor.load(folder, runtime=kind, batch_size=32)
    from stancelens.model.onnx_runtime import OnnxBackend

    predictor = Predictor.load(folder, runtime="torch", batch_size=32)
    predictor.backend = OnnxBackend(folder / "onnx" / FUSED_NAME)
    predictor.runtime = "onnx-fused"
    return predictor


def measure(kind: str, folder: Path, sentences: list[str]) -> dict[str, Any]:
    import torch

    result: dict[str, Any] = {"kind": kind, "torch_threads": torch.get_num_threads()}
    started = time.perf_counter()
    if kind == "hf-pipeline":
        classify = hf_pipeline(folder)

        def run(texts: list[str]) -> list[dict[str, Any]]:
            out = classify(texts, batch_size=PIPELINE_BATCH, truncation=True, max_length=128)
            return [{"stance": row["label"]} for row in out]
    else:
        predictor = load_path(kind, folder)

        def run(texts: list[str]) -> list[dict[str, Any]]:
            rows = predictor.analyze_sentences(texts)
            return [{"stance": r["stance"], "spans": [[s["start"], s["end"]] for s in r["loaded_spans"]]} for r in rows]

    result["load_s"] = time.perf_counter() - started
    run(sentences[:WARMUP_SENTENCES])
    t0 = time.perf_counter()
    predictions = run(sentences)
    seconds = time.perf_counter() - t0
    result.update(seconds=seconds, sentences=len(sentences), sentences_per_s=len(sentences) / seconds)
    result.update(peak_rss_mb=peak_rss_mb(), predictions=predictions)
    return result


def prepare(folder: Path) -> dict[str, Any]:
    from stancelens.model.io import weights_digest
    from stancelens.model.predictor import Predictor

    started = time.perf_counter()
    for runtime in ("onnx", "onnx-int8"):
        Predictor.load(folder, runtime=runtime)
    _, fusions = build_fused(folder)
    return {"seconds": time.perf_counter() - started, "digest": weights_digest(folder), "fusions": fusions}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", help="prepare, hf-pipeline, onnx-fused or a Predictor runtime")
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--sentences-file", type=Path)
    parser.add_argument("--result", type=Path, required=True)
    args = parser.parse_args()
    import stancelens.model  # noqa: F401  (offline Hugging Face settings before transformers is imported)

    if args.kind == "prepare":
        result = prepare(args.model)
    else:
        result = measure(args.kind, args.model, json.loads(args.sentences_file.read_text(encoding="utf-8")))
    args.result.write_text(json.dumps(result), encoding="utf-8")


if __name__ == "__main__":
    main()
