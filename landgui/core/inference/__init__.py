"""inference: a trained run's model turned into probabilities for batches of images.

:mod:`.engine` loads a run's model as a :class:`~.engine.Predictor` (LiteRT where installed, else
Keras) and keeps it between calls; :mod:`.predictors` predicts batches, arrays and files;
:mod:`.adaptation` re-estimates batch-norm statistics on target images; :mod:`.familiarity`
scores how unlike the training data a patch is. See docs/architecture.md.
"""
