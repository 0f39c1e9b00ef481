# Snakemake glue: the report's first page, the test images to review first and the test lesions' sizes.
from diffseg.data.store import ImageStore
from diffseg.reports.figures.charts import GED_COLUMNS, read_table
from diffseg.reports.figures.review_first import flagged_first, review_first_html, review_table, thumbnail_uri
from diffseg.reports.figures.shard_maps import read_shard_maps
from diffseg.runtime.atomic import write_text
from diffseg.runtime.logs import redirect_to

with redirect_to(snakemake.log[0]) as log, ImageStore(snakemake.input.store) as store:
    inputs, params = snakemake.input, snakemake.params
    scores = read_table(inputs.scores, ["id", "method", "dice", "truth_fraction", "pred_fraction"], {"id": str})
    ged = read_table(inputs.ged, GED_COLUMNS, {"id": str})
    by_size = read_table(inputs.size_bins, ["key", "size_bin", "n", "mean", "ci_low", "ci_high"])
    table, cutoff = review_table(scores, ged, params.review_quantile, params.review_cutoff)
    shown = read_shard_maps(store, inputs.regions, inputs.fused, flagged_first(table))
    thumbnails = {maps.image_id: thumbnail_uri(maps) for maps in shown}
    if params.review_cutoff is None:
        rule = f"annotate.review_quantile: the {params.review_quantile:g} quantile of the test images"
    else:
        rule = "annotate.review_cutoff"
    write_text(snakemake.output.page, review_first_html(table, thumbnails, by_size, cutoff, rule))
    log.info("%d of %d test images flagged for review (diversity > %.3f, an empty or a frame-covering mask)",
             int(table["review"].sum()), len(table), cutoff)
