"""docs/PERFORMANCE.md from one benchmark run's results: every number is from that run."""

from __future__ import annotations

from typing import Any

from stancelens.model.parity import AUTO_BAR, OPT_IN_BAR

from bench.loadgen import CLIENT_LEVELS, REQUESTS_PER_CLIENT
from bench.offline import PIPELINE_BATCH, WARMUP_SENTENCES

PATH_NAMES = {
    "hf-pipeline": f"(a) HF `pipeline` text-classification, batch_size={PIPELINE_BATCH}",
    "torch": "(b) Predictor, torch fp32 (the reference)",
    "torch-bf16": "(c) Predictor, torch-bf16 (bf16 autocast)",
    "torch-int8": "(c) Predictor, torch-int8 (dynamic quantization)",
    "onnx": "(c) Predictor, onnx fp32 (ONNX Runtime)",
    "onnx-fused": "(c) Predictor, onnx fp32 + transformer-optimizer fusions (not a runtime)",
    "onnx-int8": "(c) Predictor, onnx-int8 (ONNX Runtime, dynamic int8)",
    "torch:spin": "(b′) Predictor, torch fp32, OpenMP default busy-wait (for reference)",
}


def ceiling_of(kind: str, ceiling: dict[str, Any]) -> tuple[float, str]:
    """The matmul rate a path can at best reach, in the number format its matmuls use."""
    if kind.endswith("int8"):
        return max(ceiling.get("ort_int8_gops") or 0.0, ceiling.get("int8_gops") or 0.0), "int8"
    if kind == "torch-bf16":
        return ceiling["bf16_gflops"], "bf16"
    return ceiling["fp32_gflops"], "fp32"


def agreement(reference: list[dict[str, Any]], other: list[dict[str, Any]], key: str) -> float:
    return sum(a[key] == b[key] for a, b in zip(reference, other, strict=True)) / max(len(reference), 1)


def _header(r: dict[str, Any]) -> list[str]:
    m, f = r["machine"], r["facts"]
    return [
        "# Inference performance",
        "",
        f"Measured {r['date']} by `{r['command']}` (about {r['wall_min']:.1f} minutes). All numbers are from that"
        " one run on the machine below; ratios are to the Hugging Face pipeline baseline (a).",
        "",
        "## Machine",
        "",
        f"- CPU: {m['cpu']}, {m['physical_cores']} physical / {m['logical_cores']} logical cores ({m['flags']});"
        f" native bf16: {m['bf16_kind'] or 'none'}; {m['memory_gib']:.0f} GiB RAM; GPU: {m['gpu']}",
        f"- {m['os']}; Python {m['python']}, torch {m['torch']}, onnxruntime {m['onnxruntime']},"
        f" transformers {m['transformers']}, numpy {m['numpy']}",
        f"- Load average (1 min) before / after the run: {r['load_before']:.2f} / {r['load_after']:.2f}"
        " (much above 0 means other processes shared these cores and slowed every path)",
        "",
        "## Model and sentences",
        "",
        f"- Model: `{r['model_folder']}` (weights digest `{f['digest']}`): {f['layers']} layers, hidden"
        f" {f['hidden']}, FFN {f['intermediate']}; {f['matmul_params'] / 1e6:.2f} M parameters in matmuls.",
        f"- {r['n']:,} sentences: {r['source']}. Mean {f['mean_chars']:.0f} characters, {f['mean_tokens']:.1f}"
        f" tokens (with [CLS]/[SEP]), longest {f['max_tokens']}; {f['over_window']} reach the"
        f" {f['window']}-token window.",
        f"- Useful work: {f['flops_per_sentence'] / 1e9:.3f} GFLOP per sentence of mean length"
        " (2 × matmul parameters × tokens + 4 × tokens² × hidden per layer for attention).",
        "",
    ]


def _offline(r: dict[str, Any]) -> list[str]:
    offline, ceiling, flops = r["offline"], r["ceiling"], r["facts"]["flops_per_sentence"]
    base, ref = offline["hf-pipeline"]["sentences_per_s"], offline["torch"]["predictions"]
    lines = [
        "## Offline throughput",
        "",
        "| path | sentences/s | × (a) | peak RSS MiB | load s | stance = torch fp32 | spans = torch fp32"
        " | GFLOP/s | share of its own ceiling |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for kind, row in offline.items():
        rate = row["sentences_per_s"]
        peak, unit = ceiling_of(kind, ceiling)
        gflops = rate * flops / 1e9
        if kind == "hf-pipeline":
            agree = spans = "n/a (CLS pooler)"
        else:
            agree = f"{agreement(ref, row['predictions'], 'stance'):.2%}"
            spans = f"{agreement(ref, row['predictions'], 'spans'):.2%}"
        lines.append(
            f"| {PATH_NAMES[kind]} | {rate:.1f} | {rate / base:.2f} | {row['peak_rss_mb']:.0f} | {row['load_s']:.1f}"
            f" | {agree} | {spans} | {gflops:.1f} | {gflops / peak:.1%} of {unit} |"
        )
    auto = r["auto"]
    lines += [
        "",
        f"Fusions found by the transformer optimizer in the fp32 graph: {r.get('fusions') or 'none'}.",
        "",
        f"**`--runtime auto` (the default) picked `{auto['runtime']}` on this machine**: {auto['reason']}"
        " (`model/runtimes.py: choose_runtime`).",
        f"Fastest path passing the automatic bar on every labelled set: **{r['best_auto']}**; fastest passing"
        f" the opt-in bar: **{r['best_opt_in']}**.",
        "",
    ]
    return lines


def _parity(parity: dict[str, Any] | None) -> list[str]:
    if not parity:
        return ["No labelled set was available for the parity table.", ""]
    lines = [
        "## Accuracy parity with torch fp32 (labelled real text)",
        "",
        f"Model `{parity['folder']}`. Automatic bar (what `auto` may pick): {AUTO_BAR.describe()}."
        f" Opt-in bar (`--runtime` by hand): {OPT_IN_BAR.describe()}.",
        "",
        '"alone = batched" compares each sentence analysed alone with the same sentence analysed in the set\'s'
        " batches: a runtime whose answer depends on its batch neighbours answers a server's request"
        " differently depending on what else is being processed.",
        "",
        "| runtime | set | n | labels equal | spans equal | max Δ stance prob | macro-F1 (fp32) | Δ"
        " | loaded F1 (fp32) | Δ | alone = batched labels | alone vs batched max Δ prob | automatic bar | opt-in bar |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for row in parity["rows"]:
        lines.append(
            f"| {row['runtime']} | {row['set']} | {row['n']} | {row['labels']:.2%} | {row['spans']:.2%}"
            f" | {row['max_dp']:.3f} | {row['stance_macro_f1']:.4f} | {row['d_stance_macro_f1']:+.4f}"
            f" | {row['loaded_f1']:.4f} | {row['d_loaded_f1']:+.4f} | {row['alone_labels']:.2%}"
            f" | {row['alone_max_dp']:.3f} | {'holds' if AUTO_BAR.holds(row) else 'fails'}"
            f" | {'holds' if OPT_IN_BAR.holds(row) else 'fails'} |"
        )
    return [*lines, ""]


def _servers(r: dict[str, Any]) -> list[str]:
    base = r["offline"]["hf-pipeline"]["sentences_per_s"]
    lines = ["## Server latency (`stancelens serve`, loopback)", ""]
    for server in r.get("servers") or []:
        offline_rate = r["offline"][server["runtime"]]["sentences_per_s"]
        lines += [
            f"### Runtime `{server['runtime']}`"
            + (" (auto's pick)" if server["runtime"] == r["auto"]["runtime"] else ""),
            "",
            f"Worker settings: max_batch_sentences={server['max_batch_sentences']},"
            f" max_wait_ms={server['max_wait_ms']}, queue_size={server['queue_size']}."
            f" Server peak RSS {server['server_peak_rss_mb'] or float('nan'):.0f} MiB."
            " Each client sends one sentence per request and waits for the answer before the next.",
            "",
            "| clients | requests | errors | sentences/s | × (a) | share of offline | p50 ms | p95 ms | p99 ms |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for level in server["levels"]:
            lines.append(
                f"| {level['clients']} | {level['requests']} | {level['errors']} | {level['sentences_per_s']:.1f}"
                f" | {level['sentences_per_s'] / base:.2f} | {level['sentences_per_s'] / offline_rate:.0%}"
                f" | {level['p50_ms']:.1f} | {level['p95_ms']:.1f} | {level['p99_ms']:.1f} |"
            )
        lines.append("")
    if not r.get("servers"):
        lines += ["Skipped (`--skip-server`).", ""]
    return lines


def _ceiling_and_training(r: dict[str, Any]) -> list[str]:
    c, train = r["ceiling"], r.get("training") or {}
    int8 = max(c.get("ort_int8_gops") or 0.0, c.get("int8_gops") or 0.0)
    lines = [
        "## Ceilings",
        "",
        f"Dense {c['size']}×{c['size']} matmuls on {c['threads']} threads:",
        "",
        "| format | kernel | rate |",
        "|---|---|---:|",
        f"| fp32 | `torch.mm` | {c['fp32_gflops']:.1f} GFLOP/s |",
        f"| bf16 | `torch.mm` on bf16 tensors | {c['bf16_gflops']:.1f} GFLOP/s"
        f" ({c['bf16_gflops'] / c['fp32_gflops']:.2f}× fp32) |",
        f"| int8 | ONNX Runtime `MatMulInteger` (uint8 × int8) | {c.get('ort_int8_gops', 0.0):.1f} GOP/s |",
        "| int8 | `torch._int_mm` | "
        + (f"{c['int8_gops']:.1f} GOP/s |" if c.get("int8_gops") else f"n/a ({c.get('int8_error')}) |"),
        "",
        f"A path's share is its useful GFLOP/s over the ceiling of its own number format (int8: {int8:.1f},"
        " the faster kernel; onnx-int8 keeps a fifth of its matmul work in fp32, so its true ceiling lies"
        " between). The rest of the gap is padding, softmax/LayerNorm/GELU, tokenisation, span decoding"
        f" in Python, and matrices far smaller than 1024² (a sentence is about {r['facts']['mean_tokens']:.0f}"
        f" tokens × {r['facts']['hidden']}).",
        "",
        "## Training speed",
        "",
    ]
    steps = train.get("steps")
    if steps:
        lines.append(
            f"`bench/bench_training.py` in this run: {steps['steps']} optimizer steps of {steps['batch_size']}"
            " written-corpus sentences (forward + backward + clipping + AdamW, warm-up excluded, no validation),"
            f" same batches for each: plain fp32 with torch's default AdamW (the trainer before this work)"
            f" **{steps['fp32']:.1f}**; bf16 autocast **{steps['bf16']:.1f}** ({steps['bf16'] / steps['fp32']:.2f}×);"
            f" the trainer now (bf16 where the CPU has it, fused AdamW) **{steps['trainer']:.1f}** sentences/s"
            f" (**{steps['trainer'] / steps['fp32']:.2f}×**; bf16 capability: {steps['bf16_kind'] or 'none'})."
        )
    mlflow_run = train.get("mlflow")
    if mlflow_run and mlflow_run.get("sentences_per_s"):
        lines.append(
            f"The benchmarked model's training run in MLflow (`{mlflow_run['run_id']}`, {mlflow_run['started']},"
            f" autocast {mlflow_run['autocast']}): train_sentences_per_s_mean **{mlflow_run['sentences_per_s']:.1f}**"
            f" (validation excluded), {mlflow_run['epochs']} epochs in {mlflow_run['train_minutes']:.1f} min"
            f" (stop: {mlflow_run['stop_reason']})."
        )
    return [*lines, ""]


def _method(r: dict[str, Any]) -> list[str]:
    return [
        "## Method",
        "",
        f"- Same {r['n']:,} sentences for every path, in the same order. Each offline path runs in its own fresh"
        " Python process (`python -m bench.offline`), so peak RSS (`ru_maxrss`) is that path's alone; it first"
        f" analyses {WARMUP_SENTENCES} sentences to warm up, then times one call over all sentences.",
        "- (a) builds `BertForSequenceClassification` from the model folder (encoder into `bert.*`, `stance_head`"
        " into `classifier`; it reads the pooler, so its labels are not the product's): a throughput baseline,"
        f" `pipeline(...)(sentences, batch_size={PIPELINE_BATCH}, truncation=True, max_length=128)` on CPU.",
        "- (b)/(c) go through `Predictor.analyze_sentences` (windows, length-sorted batches of 32, calibration,"
        " span decoding): the full product path. Every process runs with `OMP_WAIT_POLICY=PASSIVE`; (b′)"
        " repeats (b) with OpenMP's busy-waiting.",
        "- onnx-fused: the model re-exported with eager attention (the pattern the optimizer matches), then"
        " `onnxruntime.transformers.optimizer.optimize_model(model_type='bert')`; it replaces only the"
        " forward pass. onnx-int8: `quantize_dynamic`, per-channel int8 weights, the first half of the"
        " layers' feed-forward matmuls kept fp32 (`model/onnx_runtime.py: fp32_matmuls`).",
        "- Parity (`python -m bench.parity_run`, `train/parity.py`): each candidate against torch fp32 on every"
        " sentence of the labelled sets, batched and alone.",
        f"- Server: a real `stancelens serve` on 127.0.0.1, load from `bench/loadgen.py` (one keep-alive"
        f" connection per client, same 2 cores), requests per client"
        f" {', '.join(f'{c}: {REQUESTS_PER_CLIENT[c]}' for c in CLIENT_LEVELS)}, hard cap {r['cap_s']:.0f} s"
        " per level; latency is client-side. The client competes with the server for the CPU.",
    ]


def render(results: dict[str, Any]) -> str:
    lines = _header(results) + _offline(results) + _parity(results.get("parity")) + _servers(results)
    lines += ["## Targets of the issue", "", *[f"- {t}" for t in results["targets"]], ""]
    lines += _ceiling_and_training(results) + _method(results)
    return "\n".join(lines) + "\n"
