# Snakemake glue: Fig. 3, one image's segmentation at every noise-addition step.
from diffseg.data.store import ImageStore
from diffseg.reports.figures import save_figure
from diffseg.reports.figures.panels import read_steps_examples, steps_panel
from diffseg.runtime.logs import redirect_to

with redirect_to(snakemake.log[0]), ImageStore(snakemake.input.store) as store:
    examples, steps = read_steps_examples(snakemake.input.masks, store, snakemake.params.examples)
    save_figure(steps_panel(examples, steps), snakemake.output.figure)
