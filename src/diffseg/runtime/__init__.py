"""The lowest layer: what every stage needs to run safely, whatever it computes.

Atomic writes, input errors that name their file, logs and progress, provenance of a result (commit,
versions), the compute device, and the locks and temporaries a killed run leaves behind. It imports
no other layer of the package.
"""
