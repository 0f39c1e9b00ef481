# Snakemake glue: one binary segmentation per noise-addition step.
from diffseg.data.pngs import write_step_mask_pngs
from diffseg.method.threshold import threshold_shard
from diffseg.runtime.logs import redirect_to

with redirect_to(snakemake.log[0]):
    settings = snakemake.params.threshold
    threshold_shard(
        snakemake.input.diffs,
        snakemake.output.masks,
        method=settings["method"],
        value=settings["value"],
        smooth_sigma=settings["smooth_sigma"],
        closing=settings["closing"],
        fill_holes=settings["fill_holes"],
        component=settings["component"],
        # The authors' signed map is low where the lesion is; the absolute difference is high.
        polarity="low" if snakemake.params.reduce == "luma_signed" else "high",
    )
    write_step_mask_pngs(snakemake.output.masks, snakemake.output.examples, snakemake.params.examples)
