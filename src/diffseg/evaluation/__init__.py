"""Scoring the method: per-image metrics and their statistics, Table 1 and its breakdowns, the
training-free and supervised baselines, the label-efficiency curve, and the choice of settings on a
development split. Imports the method, the data and the runtime layers; never the reports.
"""
