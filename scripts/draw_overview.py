# Snakemake glue: the README's overview figure, a few test images spread from the best Dice to the worst.
from diffseg.data.store import ImageStore
from diffseg.evaluation.table import REFERENCE
from diffseg.reports.figures import save_figure
from diffseg.reports.figures.charts import SCORES_COLUMNS, read_table
from diffseg.reports.figures.overview import overview_figure, spread_by_dice
from diffseg.reports.figures.shard_maps import read_shard_maps
from diffseg.runtime.logs import redirect_to

with redirect_to(snakemake.log[0]), ImageStore(snakemake.input.store) as store:
    scores = read_table(snakemake.input.scores, SCORES_COLUMNS, {"id": str})
    chosen = spread_by_dice(scores, snakemake.params.examples)
    rows = read_shard_maps(store, snakemake.input.regions, snakemake.input.fused, chosen)
    dice = scores[scores["method"] == REFERENCE].set_index("id")["dice"]
    save_figure(overview_figure(rows, dice.to_dict()), snakemake.output.figure)
