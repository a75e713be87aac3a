"""assessment: the accuracy and the areas of a map from a stratified sample (Olofsson et al. 2013, 2014).

A mapped scene (``landgui segment``) is read back (:mod:`.mapfile`), a stratified random sample of its
cells is drawn with the map classes and ``uncertain`` as strata (:mod:`.design`) and written as a
sample file whose ``reference`` column someone fills (:mod:`.samplefile`); the labelled sample
gives the error matrix in area proportions, the accuracies and the class areas with 95 % intervals
(:mod:`.estimate`), written as JSON, CSV, a figure and a one-page HTML report (:mod:`.report`).
:mod:`.api` composes these for the CLI and the Python API. See docs/architecture.md.
"""
