# Snakemake glue: Table 1 as a figure, and Table 1, Dice by lesion size, the empty and frame-covering
# masks and the GED summary as an HTML page.
from pathlib import Path

from diffseg.evaluation.breakdown import (
    MASK_COVERAGE_HEADING,
    SIZE_BINS_HEADING,
    dice_by_size_cells,
    mask_coverage_cells,
)
from diffseg.reports.figures import save_figure
from diffseg.reports.figures.charts import TABLE1_COLUMNS, read_table, table1_figure
from diffseg.reports.figures.tables import markdown_notes, metric_tables_html
from diffseg.runtime.atomic import write_text
from diffseg.runtime.logs import redirect_to


def notes(path):
    return markdown_notes(Path(path).read_text(encoding="utf-8"))


with redirect_to(snakemake.log[0]):
    inputs = snakemake.input
    table = read_table(inputs.table, TABLE1_COLUMNS)
    save_figure(table1_figure(table), snakemake.output.figure)
    ged_summary = read_table(inputs.ged_summary, ["measure", "mean"])
    by_size = read_table(inputs.size_bins, ["method", "size_bin", "n", "mean", "ci_low", "ci_high"])
    masks = read_table(inputs.mask_coverage, ["method", "n", "empty", "all_lesion", "pred_fraction_mean",
                                              "covers_frame"])
    sections = [
        (SIZE_BINS_HEADING, dice_by_size_cells(by_size), notes(inputs.size_bins_markdown)),
        (MASK_COVERAGE_HEADING, mask_coverage_cells(masks), notes(inputs.mask_coverage_markdown)),
    ]
    write_text(snakemake.output.tables, metric_tables_html(table, ged_summary, notes(inputs.markdown), sections))
