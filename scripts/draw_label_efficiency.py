# Snakemake glue: the label-efficiency curve with DiffSeg + DenseCRF and the training-free rows as bands.
from diffseg.evaluation.label_efficiency import read_worth
from diffseg.evaluation.table import REFERENCE, TRAINING_FREE
from diffseg.reports.figures import save_figure
from diffseg.reports.figures.charts import read_table
from diffseg.reports.figures.label_efficiency import CURVE_COLUMNS, REFERENCE_COLUMNS, label_efficiency_figure
from diffseg.runtime.logs import redirect_to

with redirect_to(snakemake.log[0]):
    table = read_table(snakemake.input.table, REFERENCE_COLUMNS)
    references = table[table["key"].isin([REFERENCE, *TRAINING_FREE])]
    figure = label_efficiency_figure(
        read_table(snakemake.input.curve, CURVE_COLUMNS), references, read_worth(snakemake.input.worth)
    )
    save_figure(figure, snakemake.output.figure)
