# Snakemake glue: mean Dice per noise-addition step with its confidence band.
from diffseg.reports.figures import save_figure
from diffseg.reports.figures.charts import PER_STEP_COLUMNS, TABLE1_COLUMNS, dice_per_step_figure, read_table
from diffseg.runtime.logs import redirect_to

with redirect_to(snakemake.log[0]):
    per_step = read_table(snakemake.input.per_step, PER_STEP_COLUMNS)
    table = read_table(snakemake.input.table, TABLE1_COLUMNS)
    save_figure(dice_per_step_figure(per_step, table), snakemake.output.figure)
