# Snakemake glue: Fig. 4/5, consistent and ambiguous regions over the image.
from diffseg.data.store import ImageStore
from diffseg.reports.figures import save_figure
from diffseg.reports.figures.panels import read_regions_examples, regions_panel
from diffseg.runtime.logs import redirect_to

with redirect_to(snakemake.log[0]), ImageStore(snakemake.input.store) as store:
    examples = read_regions_examples(snakemake.input.regions, store, snakemake.params.examples)
    save_figure(regions_panel(examples), snakemake.output.figure)
