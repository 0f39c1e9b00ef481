# Snakemake glue: results/<name>/benchmark.md (docs/benchmark.md) from the run's tables and figures.
from pathlib import Path

import pandas as pd

from diffseg.evaluation.breakdown import breakdown_sections
from diffseg.evaluation.label_efficiency import read_worths
from diffseg.evaluation.ledger import read_recorded_note
from diffseg.evaluation.pseudo_labels import TEACHERS
from diffseg.evaluation.selection import read_choice
from diffseg.evaluation.subsets import subsets_section
from diffseg.reports.benchmark import (
    BenchmarkInputs,
    CrossDataset,
    Selection,
    benchmark_document,
    ddpm_images_line,
)
from diffseg.reports.documents import run_facts
from diffseg.reports.job_costs import benchmark_records, stage_costs, stage_costs_markdown
from diffseg.runtime.atomic import write_text
from diffseg.runtime.logs import redirect_to
from diffseg.runtime.provenance import job_records, provenance_markdown


def read(path):
    return Path(path).read_text(encoding="utf-8")


def optional_csv(name):
    return pd.read_csv(snakemake.input[name]) if name in snakemake.input.keys() else None


with redirect_to(snakemake.log[0]):
    params = snakemake.params
    selection = (
        Selection(read(snakemake.input.selection), read_choice(snakemake.input.chosen))
        if "selection" in snakemake.input.keys() else None
    )
    cross = [
        CrossDataset(
            cohort,
            read(table),
            pd.read_csv(scores),
            splits["keep"],
            breakdown_sections(size_bins, coverage) | subsets_section(read(subsets)),
            splits["group"],
            read_recorded_note(scoring),
            splits.get("subsets"),
        )
        for (cohort, splits), table, scores, size_bins, coverage, subsets, scoring in zip(
            params.cross.items(),
            snakemake.input.cross_tables,
            snakemake.input.cross_scores,
            snakemake.input.cross_size_bins,
            snakemake.input.cross_mask_coverage,
            snakemake.input.cross_subsets,
            snakemake.input.cross_scoring,
            strict=True,
        )
    ]
    jobs = job_records(params.logs, skip=["validate"])
    chosen = selection.chosen["candidate"] if selection else None
    # The extraction the chosen candidate reads: its own, or an earlier candidate's with its step set.
    borrowed = {rule: owners[chosen] for rule, owners in params.borrowed.items()} if chosen else None
    costs = stage_costs_markdown(stage_costs(benchmark_records(params.benchmarks), chosen, borrowed))
    inputs = BenchmarkInputs(
        run_facts(params.provenance, params.workflow_dir, jobs),
        read(snakemake.input.table1_md),
        pd.read_csv(snakemake.input.table1),
        pd.read_csv(snakemake.input.scores),
        pd.read_csv(snakemake.input.manifest),
        provenance_markdown(jobs),
        dev_scores=optional_csv("dev_scores"),
        dev_per_step=optional_csv("dev_per_step"),
        selection=selection,
        curve=pd.read_csv(snakemake.input.curve),
        worths=read_worths(snakemake.input.worth),
        loss=optional_csv("loss"),
        split_by=params.split_by,
        group=params.group,
        cross=cross,
        sections=breakdown_sections(snakemake.input.size_bins_md, snakemake.input.mask_coverage_md)
        | subsets_section(read(snakemake.input.subsets_md)),
        costs_md=costs,
        ddpm_images=ddpm_images_line(params.healthy, params.lesion_zooms, params.lesion_share),
        scoring_note=read_recorded_note(snakemake.input.scoring),
        subsets=params.subsets,
        # Each student's pseudo-labels, by teacher (the order of student.smk's TEACHERS).
        pseudo_labels={
            teacher: pd.read_csv(path)
            for teacher, path in zip(TEACHERS, snakemake.input.get("pseudo_labels", []), strict=False)
        },
        zoom_views=params.zoom_views,
        student_dev_md=read(snakemake.input.student_dev) if "student_dev" in snakemake.input.keys() else "",
    )
    document = benchmark_document(
        inputs,
        dev_fraction=params.dev_fraction,
        n_resamples=params.metrics["bootstrap"],
        seed=params.metrics["seed"],
    )
    write_text(snakemake.output.document, document)
