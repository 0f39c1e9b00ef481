# Snakemake glue: both students' segmentations of one shard, scored at original resolution as every
# other method is, with each image's student uncertainty beside its scores.
import pandas as pd

from diffseg.data.maps import read_maps
from diffseg.data.store import ImageStore
from diffseg.evaluation.pseudo_labels import STUDENT_METHODS
from diffseg.evaluation.scoring import score_shard
from diffseg.runtime.atomic import write_csv
from diffseg.runtime.logs import redirect_to

with redirect_to(snakemake.log[0]):
    predictions = {teacher: read_maps(snakemake.input[teacher], "probability", "uncertainty") for teacher in STUDENT_METHODS}
    first = next(iter(predictions.values()))
    methods = {STUDENT_METHODS[teacher]: maps["probability"] for teacher, maps in predictions.items()}
    with ImageStore(snakemake.input.store) as store:
        scores = score_shard(list(first["ids"]), lambda j: store.mask_original(first["index"][j]), methods)
    uncertainty = pd.concat(
        pd.DataFrame({"id": maps["ids"], "method": STUDENT_METHODS[teacher], "uncertainty": maps["uncertainty"]})
        for teacher, maps in predictions.items()
    )
    params = snakemake.params
    columns = dict.fromkeys(["id", *params.keep, *([params.group] if params.group else [])])
    kept = pd.read_csv(snakemake.input.manifest, dtype={"id": str})[list(columns)]
    scores = scores.merge(uncertainty, on=["id", "method"], how="left").merge(kept, on="id", how="left")
    write_csv(scores, snakemake.output.scores)
