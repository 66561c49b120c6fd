"""Spark scoring throughput against the local CLI path, same documents, same model, one run.

    python bench/bench_spark.py --model MODEL_REF [--documents 300] [--master local[2]]

Documents are built from the written corpus test split (our own text), eight sentences each.
Prints sentences/s of each path and the ratio; the Spark figure includes planning, the Python
workers' model load and Parquet writing, as a real job pays them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import stancelens.model  # noqa: F401  (offline Hugging Face settings)
from stancelens.model.predictor import Predictor
from stancelens.model.registry import resolve_model_ref
from stancelens.serve.batch import score_files
from stancelens.serve.inputs import ReadOptions
from stancelens.train.records import load_corpus, split_records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--documents", type=int, default=300)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--parts", type=int, default=2)
    args = parser.parse_args()
    texts = [r["text"] for r in split_records(load_corpus("data/corpus"), "test")]
    docs = [{"id": f"d{i}", "text": " ".join(texts[(i * 8 + j) % len(texts)] for j in range(8))}
            for i in range(args.documents)]  # fmt: skip
    model_dir = str(resolve_model_ref(args.model))
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "docs.jsonl"
        src.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
        predictor = Predictor.load(model_dir)
        started = time.perf_counter()
        stats = score_files(predictor, [str(src)], Path(tmp) / "local.jsonl", ReadOptions(), progress=False)
        local_s = time.perf_counter() - started
        print(f"local CLI path : {stats.sentences} sentences in {local_s:6.1f} s = {stats.sentences / local_s:6.1f}/s")

        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        from pyspark.sql import SparkSession
        from stancelens.serve.spark import score_with_spark

        spark = SparkSession.builder.master(args.master).appName("stancelens-bench").getOrCreate()
        try:
            started = time.perf_counter()
            score_with_spark(spark, [str(src)], Path(tmp) / "spark", model_dir, parts=args.parts)
            spark_s = time.perf_counter() - started
            rows = spark.read.parquet(str(Path(tmp) / "spark" / "sentences")).count()
        finally:
            spark.stop()
        print(f"spark {args.master:9s}: {rows} sentences in {spark_s:6.1f} s = {rows / spark_s:6.1f}/s")
        print(f"ratio spark / local: {(rows / spark_s) / (stats.sentences / local_s):.2f}")


if __name__ == "__main__":
    main()
