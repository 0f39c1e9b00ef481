# Snakemake glue: the label-efficiency curve with the rows trained without masks as bands.
from diffseg.evaluation.label_efficiency import PLACED, read_worths
from diffseg.reports.figures import save_figure
from diffseg.reports.figures.charts import read_table
from diffseg.reports.figures.label_efficiency import CURVE_COLUMNS, REFERENCE_COLUMNS, label_efficiency_figure
from diffseg.runtime.logs import redirect_to

with redirect_to(snakemake.log[0]):
    table = read_table(snakemake.input.table, REFERENCE_COLUMNS)
    references = table[table["key"].isin(PLACED)]
    figure = label_efficiency_figure(
        read_table(snakemake.input.curve, CURVE_COLUMNS), references, read_worths(snakemake.input.worth)
    )
    save_figure(figure, snakemake.output.figure)
