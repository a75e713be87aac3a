"""The unfamiliarity score on feature vectors made here: calibrated on validation features, high
far from the training features, and the warning line."""

import numpy as np
import pytest

from landgui.core.inference.familiarity import UNFAMILIAR_ABOVE, Familiarity, unfamiliar_share, warning_line


def _cloud(rng, centre, n, d=64, spread=0.05):
    return centre[None, :] + spread * rng.normal(size=(n, d)).astype(np.float32)


def test_score_is_calibrated_on_validation_and_high_out_of_distribution(tmp_path):
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 64)).astype(np.float32)
    train = np.concatenate([_cloud(rng, c, 300) for c in centres])
    val = np.concatenate([_cloud(rng, c, 100) for c in centres])
    fam = Familiarity.build(train, val)
    # by construction, about half the validation features score below 0.5 and 1 % above 0.99
    s_val = fam.score(val)
    assert np.mean(s_val < 0.5) == pytest.approx(0.5, abs=0.05)
    assert unfamiliar_share(s_val) <= 0.02
    # new samples of the same clusters look like validation; another direction does not
    same = fam.score(np.concatenate([_cloud(rng, c, 100) for c in centres]))
    other = fam.score(_cloud(rng, rng.normal(size=64).astype(np.float32), 100))
    assert unfamiliar_share(same) <= 0.05
    assert other.min() > UNFAMILIAR_ABOVE
    # saved and loaded: the same scores (references stored as float16)
    fam.save(tmp_path / "familiarity.npz")
    again = Familiarity.load(tmp_path)
    assert again is not None
    np.testing.assert_allclose(again.score(val), s_val, atol=0.02)
    assert Familiarity.load(tmp_path / "nothing") is None
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "familiarity.npz").write_bytes(b"not a zip")
    assert Familiarity.load(tmp_path / "bad") is None


def test_warning_line():
    assert warning_line(0.05) is None
    assert warning_line(0.62) == (
        "62 % of this scene's patches are unlike the training data: expect lower accuracy; teach it"
    )
