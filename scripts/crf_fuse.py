# Snakemake glue: DenseCRF fusion of the per-step masks with the image.
import numpy as np

from diffseg.crf import CRFParams, crf_fuse, crf_rounds
from diffseg.logs import progress, redirect_to
from diffseg.maps import read_maps, write_maps
from diffseg.pngs import write_fused_masks
from diffseg.store import ImageStore

with redirect_to(snakemake.log[0]):
    settings = dict(snakemake.params.crf)
    rounds, subset, seed = settings.pop("rounds"), settings.pop("subset"), settings.pop("seed")
    params = CRFParams(**settings)  # validated on construction
    masks = read_maps(snakemake.input.masks, "masks")
    regions = read_maps(snakemake.input.regions, "mean")
    rng = np.random.default_rng(seed)
    labels, posteriors = [], []
    with ImageStore(snakemake.input.store) as store:
        for j, position in enumerate(progress(regions["index"], desc="DenseCRF")):
            image = store.image(position)
            if rounds:
                outputs = masks["masks"][j].astype(bool)  # (S, H, W)
                label, posterior = crf_rounds(image, outputs, rounds, subset, rng, params)
            else:
                label, posterior = crf_fuse(image, regions["mean"][j].astype(np.float32), params)
            labels.append(label)
            posteriors.append(posterior)
        shape = regions["mean"].shape
        write_maps(
            snakemake.output.fused,
            regions["index"],
            regions["ids"],
            labels=np.asarray(labels, dtype=np.uint8).reshape(shape),
            posterior=np.asarray(posteriors, dtype=np.float16).reshape(shape),
        )
        # The product a user takes away: ISIC-named masks at each image's original size.
        write_fused_masks(snakemake.output.fused, lambda position: store.orig_size[position], snakemake.output.masks)
