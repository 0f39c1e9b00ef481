"""What people read: Markdown documents of a run, a cross-validation and a benchmark, the figures,
the annotation of a cohort (masks, overlays, summary page) and the README's generated expectations.
The top layer: it may import every other layer.
"""
