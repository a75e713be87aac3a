"""evaluation: how good a trained run is, measured on images it never learned from.

:mod:`.evaluate` runs a run over a split, a held-out source or any class folder;
:mod:`.metrics` computes the figures with NumPy; :mod:`.report` prints them and writes the
report files next to the run. See docs/architecture.md.
"""
