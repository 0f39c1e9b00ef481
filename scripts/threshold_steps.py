# Snakemake glue: one binary segmentation per noise-addition step.
from diffseg.data.pngs import write_step_mask_pngs
from diffseg.method.threshold import ThresholdSettings, threshold_shard
from diffseg.runtime.logs import redirect_to

with redirect_to(snakemake.log[0]):
    threshold_shard(
        snakemake.input.diffs,
        snakemake.output.masks,
        ThresholdSettings(**snakemake.params.threshold),
        # The authors' signed map is low where the lesion is; the absolute difference is high.
        polarity="low" if snakemake.params.reduce == "luma_signed" else "high",
    )
    write_step_mask_pngs(snakemake.output.masks, snakemake.output.examples, snakemake.params.examples)
