# Snakemake glue: the fair training-free control, Otsu's mask fused by the root's own DenseCRF settings.
from diffseg.data.store import ImageStore
from diffseg.method.crf import CRFParams, seeded_crf_shard
from diffseg.runtime.logs import redirect_to

with redirect_to(snakemake.log[0]):
    settings = dict(snakemake.params.crf)
    # The rounds variant draws subsets of the per-step masks: Otsu gives one mask, fused once; mixing
    # the darkness mask into a seed that is the darkness mask leaves it as it is.
    for key in ("rounds", "subset", "seed", "darkness_weight", "darkness_when_ambiguous"):
        settings.pop(key, None)
    with ImageStore(snakemake.input.store) as store:
        seeded_crf_shard(store, snakemake.input.otsu, "probability", snakemake.output.fused, CRFParams(**settings))
