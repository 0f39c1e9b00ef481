"""The method of the paper: the class-conditional DDPM and its training, noise-difference
extraction, thresholding, consistent and ambiguous regions, the Generalized Energy Distance and
DenseCRF fusion (with its colour model). Imports `diffseg.data` and `diffseg.runtime`; never the
evaluation or the reports, so that the method can be reused without them.
"""
