"""data: labelled image patches, from a class-folder dataset to batches a model can train on.

Reading any image file safely as RGB uint8 (:mod:`.imageio`), scanning a dataset for usable
images and bad files (:mod:`.scan`), finding the copies among them (:mod:`.duplicates`),
splitting it into train / val / test without leakage (:mod:`.split`, ``split.json``), the input
pipeline from a split (:mod:`.images`), the augmentation recipe (:mod:`.augment`), synthetic
clouds (:mod:`.clouds`) and the shipped sample dataset (:mod:`.sample`). No model code. See
docs/architecture.md.
"""
