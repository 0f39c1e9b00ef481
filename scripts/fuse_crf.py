# Snakemake glue: DenseCRF fusion of the per-step masks with the image.
from diffseg.data.pngs import write_fused_masks
from diffseg.data.store import ImageStore
from diffseg.evaluation.otsu_baseline import OtsuParams, otsu_segment
from diffseg.method.crf import CRFParams, crf_shard
from diffseg.method.darkness_seed import DarknessSeed
from diffseg.runtime.logs import redirect_to

with redirect_to(snakemake.log[0]):
    settings = dict(snakemake.params.crf)
    rounds, subset, seed = settings.pop("rounds"), settings.pop("subset"), settings.pop("seed")
    # A run recorded before the darkness seed existed has no such keys: off, as it was made.
    otsu = OtsuParams(**snakemake.params.otsu)
    darkness = DarknessSeed(
        settings.pop("darkness_weight", 0.0),
        settings.pop("darkness_when_ambiguous", 0.0),
        lambda image: otsu_segment(image, otsu),
    )
    with ImageStore(snakemake.input.store) as store:
        crf_shard(
            store,
            snakemake.input.masks,
            snakemake.input.regions,
            snakemake.output.fused,
            CRFParams(**settings),  # validated on construction
            rounds=rounds,
            subset=subset,
            seed=seed,
            darkness=darkness,
        )
        # The product a user takes away: ISIC-named masks at each image's original size.
        write_fused_masks(snakemake.output.fused, lambda position: store.orig_size[position], snakemake.output.masks)
