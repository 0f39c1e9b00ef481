# Snakemake glue: the per-step masks before and after DenseCRF fusion.
from diffseg.data.store import ImageStore
from diffseg.reports.figures import save_figure
from diffseg.reports.figures.panels import crf_panel, read_crf_examples
from diffseg.runtime.logs import redirect_to

with redirect_to(snakemake.log[0]), ImageStore(snakemake.input.store) as store:
    examples = read_crf_examples(snakemake.input.regions, snakemake.input.fused, store, snakemake.params.examples)
    save_figure(crf_panel(examples), snakemake.output.figure)
