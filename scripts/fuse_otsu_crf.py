# Snakemake glue: the fair training-free control, Otsu's mask fused by the root's own DenseCRF settings.
from diffseg.data.store import ImageStore
from diffseg.method.crf import seeded_crf_shard, split_crf_section
from diffseg.runtime.logs import redirect_to

with redirect_to(snakemake.log[0]):
    # The shard settings are not the control's: the rounds variant draws subsets of the per-step masks
    # (Otsu gives one mask, fused once), and mixing the darkness mask into a seed that is the darkness
    # mask leaves it as it is.
    params, _ = split_crf_section(snakemake.params.crf)
    with ImageStore(snakemake.input.store) as store:
        seeded_crf_shard(store, snakemake.input.otsu, "probability", snakemake.output.fused, params)
