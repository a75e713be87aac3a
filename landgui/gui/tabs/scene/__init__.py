"""The Scene tab, a view over the scenes' state (:mod:`landgui.gui.state.scene_session`).

``tab`` lays it out and reads the state for the rest of the app; ``view`` is the map view,
``layers`` what it draws; ``controls`` the map settings and display knobs; ``legend`` and
``patch_info`` what the map says; ``jobs`` open, classify, fine-tune and export.
"""

from landgui.gui.tabs.scene.jobs import SCENE_JOB
from landgui.gui.tabs.scene.tab import SceneTab

__all__ = ["SCENE_JOB", "SceneTab"]
