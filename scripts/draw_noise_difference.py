# Snakemake glue: Fig. 2, the noise predictions and their difference for the shard's example images.
from diffseg.data.store import ImageStore
from diffseg.reports.figures import save_figure
from diffseg.reports.figures.panels import noise_difference_panel, read_noise_examples
from diffseg.runtime.logs import redirect_to

with redirect_to(snakemake.log[0]), ImageStore(snakemake.input.store) as store:
    examples, step, semantics = read_noise_examples(
        snakemake.input.diffs, snakemake.input.masks, store, snakemake.params.examples
    )
    save_figure(noise_difference_panel(examples, step, semantics), snakemake.output.figure)
