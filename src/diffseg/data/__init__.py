"""Images and cohorts: reading and writing images and masks, cohort tables, the prepared store,
splits and folds, the synthetic cohort, healthy-skin and lesion training views, HDF5 map shards and
the ISIC 2018 download. Imports only `diffseg.runtime`.
"""
