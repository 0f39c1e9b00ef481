# Snakemake glue: GED histogram, and GED diversity against the Dice of the fused mask.
from diffseg.reports.figures import save_figure
from diffseg.reports.figures.charts import (
    GED_COLUMNS,
    SCORES_COLUMNS,
    diversity_dice_figure,
    ged_histogram_figure,
    read_table,
)
from diffseg.runtime.logs import redirect_to

with redirect_to(snakemake.log[0]):
    ged = read_table(snakemake.input.ged, GED_COLUMNS)
    save_figure(ged_histogram_figure(ged), snakemake.output.histogram)
    scores = read_table(snakemake.input.scores, SCORES_COLUMNS)
    save_figure(diversity_dice_figure(ged, scores), snakemake.output.scatter)
