# Snakemake glue: per-image GED of all shards, and the cohort summary with bootstrap CIs.
import pandas as pd

from diffseg.atomic import write_csv
from diffseg.logs import redirect_to
from diffseg.metrics import bootstrap_ci

with redirect_to(snakemake.log[0]):
    settings = snakemake.params.metrics
    per_image = pd.concat([pd.read_csv(path) for path in snakemake.input], ignore_index=True)
    rows = []
    for column in ("ged", "diversity", "diversity_euclidean"):
        values = per_image[column].dropna().to_numpy(dtype=float)
        low, high = bootstrap_ci(values, n_resamples=settings["bootstrap"], seed=settings["seed"]) if len(values) else (float("nan"),) * 2
        rows.append({"measure": column, "n": len(values), "mean": values.mean() if len(values) else float("nan"),
                     "sd": values.std(ddof=1) if len(values) > 1 else float("nan"), "ci_low": low, "ci_high": high})
    write_csv(per_image, snakemake.output.per_image)
    write_csv(pd.DataFrame(rows), snakemake.output.summary)
