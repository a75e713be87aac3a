"""Qt-free core of landgui: datasets, splits, models, training, evaluation, scenes.

Nothing in this package may import Qt (enforced by an import-linter contract and a test).
TensorFlow is imported lazily inside the functions that need it.
"""
