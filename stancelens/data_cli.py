"""``stancelens data``: validate, build and measure the labelled data (corpus, seeds, real news)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from stancelens.console import fail as _fail
from stancelens.model.registry import PROJECT_ROOT

data_app = typer.Typer(help="Corpus tools.", no_args_is_help=True)


@data_app.command("validate")
def data_validate(
    corpus: Annotated[Path, typer.Option(help="Corpus folder.")] = PROJECT_ROOT / "data" / "corpus",
    seeds: Annotated[Path, typer.Option(help="Seed-set stand-off annotations.")] = PROJECT_ROOT
    / "data"
    / "seeds"
    / "seed_annotations.jsonl",
    shared: Annotated[Path, typer.Option(help="The shared folder with seeds/ (optional).")] = PROJECT_ROOT.parent
    / "shared",
    balance: Annotated[bool, typer.Option(help="Also enforce the corpus balance targets.")] = True,
    news: Annotated[Path, typer.Option(help="Real-news stand-off labels.")] = PROJECT_ROOT / "data" / "news",
) -> None:
    """Check schema, labels, spans, duplicates and split leakage; print the composition table."""
    from stancelens.train.corpus_validate import composition_table, split_table, tag_table, validate_corpus
    from stancelens.train.news_validate import news_split_table, validate_news
    from stancelens.train.seed_validate import validate_seed_annotations

    report = validate_corpus(corpus, check_balance=balance)
    seed_problems, seed_note = validate_seed_annotations(seeds, shared)
    news_problems, news_note = validate_news(news, shared)
    typer.echo(f"corpus: {len(report.records)} records in {corpus}\n")
    typer.echo(composition_table(report.records) + "\n")
    typer.echo(split_table(report.records) + "\n")
    typer.echo(tag_table(report.records) + "\n")
    typer.echo(f"near-duplicate pairs across splits (TF-IDF cosine > 0.85): {report.near_duplicates_across_splits}")
    typer.echo(f"seed set: {seed_note}")
    typer.echo(f"real news: {news_note}")
    if (news / "labels.jsonl").is_file() and (news / "articles.jsonl").is_file():
        typer.echo("\n" + news_split_table(news) + "\n")
    violations = report.violations + seed_problems + news_problems
    if violations:
        for line in violations[:200]:
            typer.secho(f"  VIOLATION {line}", fg=typer.colors.RED, err=True)
        _fail(f"{len(violations)} violations", code=1)
    typer.secho("OK: no violations", fg=typer.colors.GREEN)


@data_app.command("agreement")
def data_agreement(
    corpus: Annotated[Path, typer.Option(help="Corpus folder.")] = PROJECT_ROOT / "data" / "corpus",
    folder: Annotated[Path, typer.Option(help="Second-pass and adjudication files.")] = PROJECT_ROOT
    / "data"
    / "agreement",
) -> None:
    """Cohen's kappa between the first labels and the blind second pass."""
    from stancelens.train.agreement import agreement

    result = agreement(corpus, folder)
    typer.echo(f"sample: {result.n} sentences labelled twice, blind")
    typer.echo(f"stance kappa {result.stance_kappa:.3f} ({result.stance_disagreements} disagreements)")
    typer.echo(f"loaded kappa {result.loaded_kappa:.3f} ({result.loaded_disagreements} disagreements)")


@data_app.command("news-agreement")
def data_news_agreement(
    folder: Annotated[Path, typer.Option(help="Real-news stand-off folder.")] = PROJECT_ROOT / "data" / "news",
    by: Annotated[str, typer.Option(help="Article field to group kappa by: leaning, register or year.")] = "leaning",
) -> None:
    """Cohen's kappa of the blind second pass over the real-news pool, overall and per group."""
    from stancelens.train.news_agreement import news_agreement

    result = news_agreement(folder, by)
    typer.echo(f"sample: {result.n} sentences on {result.pages} pages labelled twice, blind")
    typer.echo(f"stance kappa {result.stance_kappa:.3f} ({result.stance_disagreements} disagreements)")
    typer.echo(f"loaded kappa {result.loaded_kappa:.3f} ({result.loaded_disagreements} disagreements)")
    typer.echo(f"| {by} | n | stance kappa | loaded kappa |\n|---|---|---|---|")
    for name, row in result.by_group.items():
        typer.echo(f"| {name} | {row['n']} | {row['stance_kappa']:.3f} | {row['loaded_kappa']:.3f} |")


@data_app.command("news-build")
def data_news_build(
    units: Annotated[Path, typer.Argument(help="Folder of unit files (the sentences annotators saw).")],
    labels: Annotated[Path, typer.Argument(help="Folder of first-pass label files (phrases, not offsets).")],
    shared: Annotated[Path, typer.Option(help="The shared folder.")] = PROJECT_ROOT.parent / "shared",
    out: Annotated[Path, typer.Option(help="Stand-off folder to write.")] = PROJECT_ROOT / "data" / "news",
    seed: Annotated[int, typer.Option(help="Seed of the split assignment.")] = 13,
    second: Annotated[Path | None, typer.Option(help="Folder of blind second-pass label files.")] = None,
) -> None:
    """Turn annotators' drafts into stand-off labels, story clusters and splits (existing splits kept)."""
    from stancelens.train.news_build import build_news

    try:
        counts = build_news(shared, units, labels, out, seed, second)
    except (ValueError, FileNotFoundError) as exc:
        _fail(str(exc))
    missing = counts.pop("missing")
    typer.echo(json.dumps({**counts, "unlabelled": len(missing), "first_unlabelled": missing[:10]}, indent=2))


@data_app.command("build")
def data_build(
    drafts: Annotated[Path, typer.Argument(help="Folder of writers' draft JSONL files.")],
    out: Annotated[Path, typer.Option(help="Corpus folder to write.")] = PROJECT_ROOT / "data" / "corpus",
    seed: Annotated[int, typer.Option(help="Seed of the split assignment.")] = 13,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Ignore the corpus in --out: re-split everything, labels from drafts.")
    ] = False,
) -> None:
    """Convert drafts (phrases) to corpus records (offsets) and assign topic-clustered splits.

    By default the corpus already in --out is kept authoritative: its sentences keep their
    (adjudicated) labels and its topics their splits; only new drafts are added.
    """
    from stancelens.train.corpus_build import build_corpus

    try:
        counts = build_corpus(drafts, out, seed, previous=None if fresh else out)
    except ValueError as exc:
        _fail(str(exc))
    typer.echo(json.dumps(counts, indent=2))
