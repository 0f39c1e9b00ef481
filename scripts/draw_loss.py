# Snakemake glue: the DDPM's training loss curve.
from diffseg.reports.figures import save_figure
from diffseg.reports.figures.charts import LOSS_COLUMNS, loss_figure, read_table
from diffseg.runtime.logs import redirect_to

with redirect_to(snakemake.log[0]):
    save_figure(loss_figure(read_table(snakemake.input.loss, LOSS_COLUMNS)), snakemake.output.figure)
