# Snakemake glue: DenseCRF fusion of the per-step masks with the image.
from diffseg.data.pngs import write_fused_masks
from diffseg.data.store import ImageStore
from diffseg.evaluation.otsu_baseline import OtsuParams, otsu_segment
from diffseg.method.crf import crf_shard, split_crf_section
from diffseg.method.darkness_seed import DarknessSeed
from diffseg.runtime.logs import redirect_to

with redirect_to(snakemake.log[0]):
    params, shard = split_crf_section(snakemake.params.crf)  # validated on construction
    otsu = OtsuParams(**snakemake.params.otsu)
    darkness = DarknessSeed(
        shard["darkness_weight"], shard["darkness_when_ambiguous"], lambda image: otsu_segment(image, otsu)
    )
    with ImageStore(snakemake.input.store) as store:
        crf_shard(
            store,
            snakemake.input.masks,
            snakemake.input.regions,
            snakemake.output.fused,
            params,
            rounds=shard["rounds"],
            subset=shard["subset"],
            seed=shard["seed"],
            darkness=darkness,
        )
        # The product a user takes away: ISIC-named masks at each image's original size.
        write_fused_masks(snakemake.output.fused, lambda position: store.orig_size[position], snakemake.output.masks)
