"""Inference benchmark: every path side by side in one run, written to docs/PERFORMANCE.md.

Usage::

    python bench/bench_inference.py --model PATH_OR_REF [--sentences 2000] [--out docs/PERFORMANCE.md]

One run measures, on the same sentences: offline throughput and peak RSS of the Hugging
Face pipeline baseline, torch fp32 and every faster path (each in a fresh process);
accuracy parity of each faster path with torch fp32 on labelled real text; which runtime
``--runtime auto`` picks here and why; a real ``stancelens serve`` under 1, 8 and 32
clients; the matmul ceilings (fp32, bf16, int8); and training steps in fp32 and bf16.
Every number is from this run on this machine; nothing is copied from elsewhere.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere: the project packages live at the root

from stancelens.model.parity import AUTO_BAR, OPT_IN_BAR, ParityBar  # noqa: E402

from bench.hardware import machine_info, model_facts  # noqa: E402
from bench.loadgen import server_bench  # noqa: E402
from bench.report import render  # noqa: E402
from bench.sentences import bench_sentences  # noqa: E402
from bench.spawn import spawn  # noqa: E402

PATHS = ("hf-pipeline", "torch", "torch-bf16", "torch-int8", "onnx", "onnx-fused", "onnx-int8")
SPIN_ROW = "torch:spin"

# Targets of the "CPU speed v2" issue, for the runtime auto picks.
TARGET_SPEEDUP = 4.0
TARGET_CEILING_SHARE = 0.35
TARGET_SERVER_SHARE = 0.80


def fastest_passing(offline: dict[str, Any], parity: dict[str, Any] | None, bar: ParityBar) -> str:
    """Fastest runtime (torch fp32 included) whose every parity row holds ``bar``."""
    eligible = ["torch"]
    for kind in offline:
        rows = [r for r in (parity or {}).get("rows", []) if r["runtime"] == kind]
        if rows and all(bar.holds(r) for r in rows):
            eligible.append(kind)
    return max(eligible, key=lambda k: offline[k]["sentences_per_s"])


def training_run_of(folder: Path) -> dict[str, Any] | None:
    """Speed and epochs of the MLflow run that trained the benchmarked model (from its ``stancelens.json``)."""
    from stancelens.model.io import read_meta

    run_id = read_meta(folder).training.get("mlflow_run_id")
    if not run_id:
        return None
    try:
        import mlflow
        from stancelens.model.registry import tracking_uri

        mlflow.set_tracking_uri(tracking_uri())
        client = mlflow.tracking.MlflowClient()
        run = client.get_run(run_id)
    except Exception as exc:  # an absent or foreign store is reported, not fatal
        return {"error": f"{type(exc).__name__}: {exc}"}
    return {
        "run_id": run.info.run_id,
        "sentences_per_s": run.data.metrics.get("train_sentences_per_s_mean"),
        "epochs": len(client.get_metric_history(run.info.run_id, "train_sentences_per_s")),
        "train_minutes": (run.data.metrics.get("train_seconds") or 0.0) / 60,
        "stop_reason": run.data.tags.get("stop_reason"),
        "autocast": run.data.tags.get("autocast"),
        "started": dt.datetime.fromtimestamp(run.info.start_time / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def targets(results: dict[str, Any]) -> list[str]:
    """The issue's targets for the runtime ``auto`` picks, each with the measured value and met / missed."""
    offline, auto = results["offline"], results["auto"]["runtime"]
    from bench.report import ceiling_of

    rate = offline[auto]["sentences_per_s"]
    speedup = rate / offline["hf-pipeline"]["sentences_per_s"]
    peak, unit = ceiling_of(auto, results["ceiling"])
    share = rate * results["facts"]["flops_per_sentence"] / 1e9 / peak
    out = [
        f"Default runtime ({auto}) ≥ {TARGET_SPEEDUP:.0f}× the HF pipeline: {speedup:.2f}× —"
        f" {'met' if speedup >= TARGET_SPEEDUP else 'MISSED'}.",
        f"Default runtime ≥ {TARGET_CEILING_SHARE:.0%} of its own ({unit}) matmul ceiling: {share:.1%} —"
        f" {'met' if share >= TARGET_CEILING_SHARE else 'MISSED'}.",
    ]
    for server in results.get("servers") or []:
        top = max(server["levels"], key=lambda level: level["clients"])
        ratio = top["sentences_per_s"] / offline[server["runtime"]]["sentences_per_s"]
        met = ratio >= TARGET_SERVER_SHARE and top["errors"] == 0
        out.append(
            f"Server ({server['runtime']}) at {top['clients']} clients ≥ {TARGET_SERVER_SHARE:.0%} of offline with"
            f" 0 errors: {ratio:.0%}, {top['errors']} errors — {'met' if met else 'MISSED'}."
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="Model folder or registry URI (models:/stancelens@champion).")
    parser.add_argument("--sentences", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "PERFORMANCE.md")
    parser.add_argument("--cap-s", type=float, default=60.0, help="Hard time cap of each server load level.")
    parser.add_argument("--skip-server", action="store_true")
    parser.add_argument("--skip-parity", action="store_true", help="Skip the labelled-set parity table.")
    parser.add_argument("--json", type=Path, default=None, help="Also write the raw results here.")
    args = parser.parse_args(argv)

    import stancelens.model  # noqa: F401  (offline Hugging Face settings before transformers is imported)
    from stancelens.model.registry import resolve_model_ref
    from stancelens.model.runtimes import choose_runtime

    began = time.monotonic()
    folder = resolve_model_ref(args.model)
    sentences, source = bench_sentences(args.sentences)
    command = " ".join(["python bench/bench_inference.py", *(argv if argv is not None else sys.argv[1:])])
    results: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command,
        "model_folder": str(folder),
        "n": len(sentences),
        "source": source,
        "machine": machine_info(),
        "facts": model_facts(folder, sentences),
        "load_before": os.getloadavg()[0],
        "cap_s": args.cap_s,
    }

    def say(message: str) -> None:
        print(f"[{time.monotonic() - began:6.1f}s] {message}", flush=True)

    say(f"{len(sentences)} sentences ({source}); model {folder}")
    prepared = spawn("offline", ["prepare", "--model", str(folder)], timeout=900)
    results["fusions"] = prepared["fusions"]
    say(f"ONNX artefacts ready; fusions {prepared['fusions']}")
    with tempfile.TemporaryDirectory() as tmp:
        sentences_file = Path(tmp) / "sentences.json"
        sentences_file.write_text(json.dumps(sentences), encoding="utf-8")
        offline: dict[str, Any] = {}
        for kind in (*PATHS, SPIN_ROW):
            path_args = [kind.removesuffix(":spin"), "--model", str(folder), "--sentences-file", str(sentences_file)]
            offline[kind] = spawn("offline", path_args, timeout=900, spin=kind == SPIN_ROW)
            say(f"{kind:12s} {offline[kind]['sentences_per_s']:7.1f} sentences/s")
    results["offline"] = offline
    results["parity"] = None if args.skip_parity else spawn("parity_run", ["--model", str(folder)], timeout=1800)
    say("parity measured")
    results["best_auto"] = fastest_passing(offline, results["parity"], AUTO_BAR)
    results["best_opt_in"] = fastest_passing(offline, results["parity"], OPT_IN_BAR)
    choice = choose_runtime(folder)
    results["auto"] = {"runtime": choice.runtime, "reason": choice.reason}
    results["ceiling"] = spawn("hardware", [], timeout=300)
    say(f"ceilings {results['ceiling']}")
    results["training"] = {
        "steps": spawn("bench_training", ["--steps", "20"], timeout=900),
        "mlflow": training_run_of(folder),
    }
    say(f"training {results['training']}")
    if not args.skip_server:
        results["servers"] = []
        for runtime in dict.fromkeys([choice.runtime, results["best_auto"], results["best_opt_in"]]):
            with tempfile.TemporaryDirectory() as tmp:
                server = server_bench(folder, runtime, sentences, args.cap_s, Path(tmp) / "server.log")
            results["servers"].append(server)
            for level in server["levels"]:
                say(f"server {runtime} {level['clients']:2d} clients: {level['sentences_per_s']:.1f}/s")
    results["load_after"] = os.getloadavg()[0]
    results["targets"] = targets(results)
    results["wall_min"] = (time.monotonic() - began) / 60
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(results), encoding="utf-8")
    if args.json:
        slim = {
            **results,
            "offline": {k: {x: y for x, y in v.items() if x != "predictions"} for k, v in offline.items()},
        }
        args.json.write_text(json.dumps(slim, indent=2, default=str), encoding="utf-8")
    say(f"wrote {args.out}")
    for line in results["targets"]:
        print("  " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
