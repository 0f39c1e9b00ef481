# Snakemake glue: Fig. 4/5, consistent and ambiguous regions over the image.
from diffseg.figures import save_figure
from diffseg.figures.panels import read_regions_examples, regions_panel
from diffseg.logs import redirect_to
from diffseg.store import ImageStore

with redirect_to(snakemake.log[0]), ImageStore(snakemake.input.store) as store:
    examples = read_regions_examples(snakemake.input.regions, store, snakemake.params.examples)
    save_figure(regions_panel(examples), snakemake.output.figure)
