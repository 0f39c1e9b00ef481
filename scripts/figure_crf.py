# Snakemake glue: the per-step masks before and after DenseCRF fusion.
from diffseg.figures import save_figure
from diffseg.figures.panels import crf_panel, read_crf_examples
from diffseg.logs import redirect_to
from diffseg.store import ImageStore

with redirect_to(snakemake.log[0]), ImageStore(snakemake.input.store) as store:
    examples = read_crf_examples(snakemake.input.regions, snakemake.input.fused, store, snakemake.params.examples)
    save_figure(crf_panel(examples), snakemake.output.figure)
