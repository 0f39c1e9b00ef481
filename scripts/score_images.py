# Snakemake glue: every method's segmentations of one shard, scored at original resolution.
import numpy as np
import pandas as pd

from diffseg.data.maps import read_maps
from diffseg.data.store import ImageStore
from diffseg.evaluation.label_efficiency import budget_method
from diffseg.evaluation.scoring import score_shard
from diffseg.runtime.atomic import write_csv
from diffseg.runtime.logs import redirect_to


def probability(path, name="probability"):
    return read_maps(path, name)[name].astype(np.float32)


with redirect_to(snakemake.log[0]):
    steps = read_maps(snakemake.input.masks, "masks", "steps")
    mean = read_maps(snakemake.input.regions, "mean")["mean"]
    methods = {f"step_{t:03d}": steps["masks"][:, s] for s, t in enumerate(steps["steps"])}
    methods["diffseg_mean"] = mean.astype(np.float32)
    methods["diffseg_crf"] = probability(snakemake.input.fused, "posterior")
    methods["unet"] = probability(snakemake.input.unet)
    for budget, path in zip(snakemake.params.label_budgets, snakemake.input.unet_budgets, strict=True):
        methods[budget_method(budget)] = probability(path)
    methods["otsu"] = probability(snakemake.input.otsu)
    methods["otsu_crf"] = probability(snakemake.input.otsu_crf, "posterior")
    with ImageStore(snakemake.input.store) as store:
        scores = score_shard(list(steps["ids"]), lambda j: store.mask_original(steps["index"][j]), methods)
    params = snakemake.params
    columns = dict.fromkeys(["id", *params.keep, *([params.group] if params.group else [])])
    kept = pd.read_csv(snakemake.input.manifest, dtype={"id": str})[list(columns)]
    write_csv(scores.merge(kept, on="id", how="left"), snakemake.output.scores)
