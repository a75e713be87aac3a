"""Parameters of the core's jobs as dataclasses: each says what its knobs mean, checks them in one
place (``check()``, one-line errors), saves and restores itself (``to_dict()`` / ``from_dict()``)
and carries a schema version with an upgrader per older version.

This module sits just above :mod:`landgui.core.base` and imports nothing else of landgui, so the
CLI, the API, the app and every layer of the core validate with the same code and the same words.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, Self

from landgui.core.base.errors import LandguiError

# -- Shared: saving and restoring settings --------------------------------------------------------

Upgrader = Callable[[dict[str, Any]], dict[str, Any]]
"""Turns a settings dict of schema N into one of schema N + 1."""


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class Params:
    """What the settings classes below share: :meth:`to_dict` / :meth:`from_dict` with a schema version.

    A subclass is a dataclass that sets ``SCHEMA_VERSION`` (raised whenever a saved dict would mean
    something else to the new code), ``UPGRADERS`` (version N -> an :data:`Upgrader` to N + 1, one
    per older version) and ``WHAT`` (how messages name the settings). A dict without
    ``schema_version`` was written before settings carried one: schema 1.
    """

    SCHEMA_VERSION: ClassVar[int] = 1
    UPGRADERS: ClassVar[dict[int, Upgrader]] = {}
    WHAT: ClassVar[str] = "settings"

    def to_dict(self) -> dict[str, Any]:
        """The settings as JSON-ready values, with ``schema_version``."""
        return {"schema_version": self.SCHEMA_VERSION, **asdict(self)}  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Settings from :meth:`to_dict`'s output or an older schema's (upgraded one version at a
        time): missing keys take their defaults, an unknown key is refused in one line. The values
        are not checked here: :meth:`check` them where they are used."""
        values = dict(data)
        version = values.pop("schema_version", 1)
        if not _is_int(version) or not 1 <= version <= cls.SCHEMA_VERSION:
            raise LandguiError(
                f"{cls.WHAT} of schema {version!r} cannot be read by this landgui "
                f"(it reads schemas 1 to {cls.SCHEMA_VERSION}); update landgui"
            )
        for older in range(version, cls.SCHEMA_VERSION):
            values = cls.UPGRADERS[older](values)
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(values) - known)
        if unknown:
            raise LandguiError(
                f"{cls.WHAT}: unknown setting(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})"
            )
        return cls(**values)


# -- Data: the split ------------------------------------------------------------------------------

MATERIALIZE_MODES = ("none", "copy", "link")
# two detailed images whose 16 x 16 grey thumbnails correlate at least this much are near-duplicates
# (landgui.core.data.scan; bench/bench_near_duplicates.py)
NEAR_DUPLICATE_MIN_CORRELATION = 0.95


@dataclass
class SplitParams(Params):
    """How a scanned dataset is split into train / val / test (:mod:`landgui.core.data.split`).

    ``val`` and ``test``: the share of every class x source stratum for validation and for test
    (train gets the rest); ``seed``: the shuffle of the duplicate groups; ``materialize``:
    ``"none"`` (split.json only), ``"copy"`` or ``"link"`` (``train/val/test/<class>/`` folders
    beside it); ``near_duplicate_min_correlation``: how alike two images must be to be kept together;
    ``gsd``: the ground sample distance in metres of a source's images (``SOURCE``), or of one
    class folder of a source (``SOURCE/CLASS``), where known: every run trained on the split
    records it as its sensor contract (:mod:`landgui.core.runs.sensor`).
    """

    WHAT: ClassVar[str] = "split parameters"

    val: float = 0.15
    test: float = 0.15
    seed: int = 0
    materialize: str = "none"
    near_duplicate_min_correlation: float = NEAR_DUPLICATE_MIN_CORRELATION
    gsd: dict[str, float] = field(default_factory=dict)

    def check(self) -> None:
        """Raise a one-line :class:`LandguiError` for the first unusable setting."""
        for name, v in (("val", self.val), ("test", self.test)):
            if not 0.0 <= v < 1.0:
                raise LandguiError(f"--{name} must be between 0 and 1, got {v}")
        if self.val + self.test >= 1.0:
            raise LandguiError(
                f"--val + --test must be below 1 (got {self.val + self.test:.2f}); nothing left to train on"
            )
        if self.seed < 0:
            raise LandguiError(f"--seed must be 0 or more, got {self.seed}")
        if self.materialize not in MATERIALIZE_MODES:
            raise LandguiError(f"--materialize must be one of {', '.join(MATERIALIZE_MODES)}")
        for name, metres in self.gsd.items():
            ok = isinstance(metres, int | float) and not isinstance(metres, bool) and math.isfinite(metres)
            if not ok or metres <= 0:
                raise LandguiError(
                    f"--gsd {name}: the ground sample distance must be a positive number of metres, got {metres}"
                )

    def check_gsd_names(self, sources: Iterable[str], classes: Iterable[str] | None = None) -> None:
        """One line for a ``--gsd`` name that is not one of the ``sources`` (or ``SOURCE/CLASS``
        whose class is not one of ``classes``, when they are known: after the scan)."""
        names, known = list(sources), None if classes is None else set(classes)
        for key in self.gsd:
            source, _, cls = key.partition("/")
            if source not in names:
                raise LandguiError(f"--gsd {key}: no source named {source!r} (the sources: {', '.join(names)})")
            if cls and known is not None and cls not in known:
                raise LandguiError(
                    f"--gsd {key}: {source} has no class folder {cls!r} (classes: {', '.join(sorted(known))})"
                )


def parse_gsd(specs: Iterable[str] | None) -> dict[str, float]:
    """``--gsd SOURCE=METRES`` flags (repeatable; ``SOURCE/CLASS=METRES`` for one class folder of a
    source) as :attr:`SplitParams.gsd`; one line for a flag that is not NAME=NUMBER. The numbers are
    checked by :meth:`SplitParams.check`."""
    out: dict[str, float] = {}
    for spec in specs or ():
        name, sep, value = spec.partition("=")
        name = name.strip()
        if not sep or not name:
            raise LandguiError(f"--gsd takes SOURCE=METRES (e.g. --gsd eurosat=10), got {spec!r}")
        try:
            out[name] = float(value)
        except ValueError:
            raise LandguiError(f"--gsd {name}: {value.strip()!r} is not a number of metres") from None
    return out


# -- Models ---------------------------------------------------------------------------------------

MODELS = ("scratch", "transfer")
# EfficientNet-Lite with offline ImageNet weights (landgui.core.models.efficientnet_lite.VARIANTS)
LITE_BACKBONES = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")
BACKBONES = (*LITE_BACKBONES, "mobilenet_v2", "efficientnet_b0", "resnet50", "vgg16")
DEFAULT_BACKBONE = "efficientnet_lite0"
DEFAULT_EPOCHS = {"scratch": 25, "transfer": 15}
DEFAULT_IMAGE_SIZE = {"scratch": 64, "transfer": 128}
# canonical ground resolution (px) inside the model; scratch's 64 px input already is it
DEFAULT_RESOLUTION = {"scratch": 0, "transfer": 0}  # measured harmful across sensors (docs)


@dataclass
class ModelSpec(Params):
    """The network a run trains (:mod:`landgui.core.models.build`): ``scratch`` or ``transfer``.

    ``backbone`` (transfer): one of :data:`BACKBONES`, with ``backbone_weights`` a local weights
    file for the Keras applications; ``image_size``: the input in px; ``classes``: output order
    (set from the split when training); ``fine_tune_layers``: backbone layers unfrozen in the
    fine-tune stage; ``dropout``: before the softmax; ``resolution``: the canonical ground
    resolution every input is brought down to inside the model (0 = off); ``feature_norm``:
    standardise the backbone features in the head.
    """

    WHAT: ClassVar[str] = "model settings"

    model: str = "transfer"  # scratch | transfer
    backbone: str = DEFAULT_BACKBONE
    image_size: int = 128
    classes: list[str] = field(default_factory=list)
    backbone_weights: str | None = None  # local weights file for Keras applications
    fine_tune_layers: int = 40
    dropout: float = 0.2
    # canonical ground resolution: inside the model every input is brought down to this many px
    # (area) and back up to image_size, so no class can be told by sharpness (0 = off)
    resolution: int = 0
    # standardise the backbone features in the head (batch norm without scale/offset), see build_head;
    # off by default: +0.3 points on kaggle4 but far worse on another sensor (docs/benchmarks.md)
    feature_norm: bool = False

    def check(self) -> None:
        """Raise a one-line :class:`LandguiError` for the first unusable setting (classes included)."""
        if self.model not in MODELS:
            raise LandguiError(f"unknown model '{self.model}' (choose scratch or transfer)")
        if self.model == "transfer" and self.backbone not in BACKBONES:
            raise LandguiError(f"unknown backbone '{self.backbone}'; choose one of {', '.join(BACKBONES)}")
        if not 16 <= self.image_size <= 1024:
            raise LandguiError(f"image size must be between 16 and 1024 px, got {self.image_size}")
        if self.resolution and not 8 <= self.resolution <= self.image_size:
            raise LandguiError(
                f"the canonical resolution must be between 8 px and the image size ({self.image_size}), got {self.resolution}"
            )
        if self.backbone_weights:  # checked before anything is written (issue 23, item 14)
            if self.model != "transfer" or self.backbone in LITE_BACKBONES:
                raise LandguiError(
                    f"--backbone-weights is for the Keras-application backbones ({', '.join(b for b in BACKBONES if b not in LITE_BACKBONES)}); "
                    f"{self.backbone if self.model == 'transfer' else 'a scratch model'} does not read it"
                )
            if not Path(self.backbone_weights).is_file():
                raise LandguiError(f"backbone weights file not found: {self.backbone_weights}")
        if self.fine_tune_layers < 0:  # -1 silently skipped fine-tuning (issue 23, item 25)
            raise LandguiError(
                f"--fine-tune-layers must be 0 or more (0 = the whole backbone stays frozen), got {self.fine_tune_layers}"
            )
        if len(self.classes) < 2:
            raise LandguiError(
                f"need at least 2 classes to train a classifier, got {len(self.classes)}: {self.classes}"
            )


# -- Training -------------------------------------------------------------------------------------


def parse_devices(value: int | str) -> int | str:
    """``"all"`` or a device count of at least 1 (from the CLI's text or a config's JSON value)."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "all":
            return "all"
        if text.isdigit():
            value = int(text)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise LandguiError(f"devices must be 'all' or a number of devices (1 or more), got {value!r}")
    return value


def _train_params_from_v1(values: dict[str, Any]) -> dict[str, Any]:
    """Schema 1 (the unversioned ``params`` of config.json) -> 2. Runs made before augmented feature
    views existed have no ``feature_views``: their fast path trained on the un-augmented features
    alone, which is ``feature_views=0`` (today's default, 2, would train them differently on resume)."""
    return {"feature_views": 0, **values}


@dataclass
class TrainParams(Params):
    """How a run is trained (:mod:`landgui.core.training`); stored as ``params`` in its config.json.

    Schema 2 (:data:`SCHEMA_VERSION`) added the version itself; a schema-1 dict is upgraded by
    :func:`_train_params_from_v1`.
    """

    SCHEMA_VERSION: ClassVar[int] = 2
    UPGRADERS: ClassVar[dict[int, Upgrader]] = {1: _train_params_from_v1}
    WHAT: ClassVar[str] = "training parameters"

    epochs: int = 15
    fine_tune_epochs: int = 0  # with the robust recipe fine-tuning never beat the head on val (docs)
    batch_size: int = 32
    lr: float = 1e-3
    seed: int = 0
    augment: bool = True
    patience: int = 5
    fast_path: bool = True
    export_litert: bool = True  # write model.tflite at the end (landgui.core.inference.engine)
    # the augmentation recipe (landgui.core.data.augment.Recipe as a dict); None = the default recipe
    recipe: dict | None = None
    # fast path: backbone features of this many augmented views of each training image are added
    # to the un-augmented ones, so the head also learns without sensor cues (0 = none)
    feature_views: int = 2
    # re-estimate the ImageNet backbone's batch-norm statistics on the training images first, so
    # that the model holds *source* statistics for AdaBN; measured harmful on kaggle4 (its patches
    # are 61 % textureless), so off by default (docs/benchmarks.md)
    source_bn: bool = False
    # devices that train the run: 1 (TensorFlow's default placement, no strategy), a number N or
    # "all" (tf.distribute.MirroredStrategy over them; batch_size is then the global batch)
    devices: int | str = 1
    # several sources (split.json "sources"): weight each image so that every source of a class
    # carries the same share of that class (landgui.core.data.images.source_balance_weights), in training
    # and in the validation loss that selects the epoch; no effect with one source
    balance_sources: bool = True
    # train and select on the other sources only; the front doors then evaluate the run on every
    # image of this source (landgui.core.evaluation.evaluate.evaluate_source): a sensor it never saw
    hold_out_source: str | None = None
    # fast path: synthetic clouds (landgui.core.data.clouds) rendered over clear training images of
    # every source, this many per real training image of ``cloud_class``, labelled as it; as many
    # clear images again under light haze keep their labels (0 = off)
    synthetic_clouds: float = 0.0
    cloud_class: str = "cloudy"

    def check(self) -> None:
        """One clear error per unusable setting (the CLI and the GUI share these messages); ``devices``
        is normalised by :func:`parse_devices`."""
        for name in ("epochs", "fine_tune_epochs", "batch_size", "seed", "patience", "feature_views"):
            if not _is_int(getattr(self, name)):  # the API's epochs="1": one line, not a TypeError
                raise LandguiError(f"{name.replace('_', ' ')} must be a whole number, got {getattr(self, name)!r}")
        if not isinstance(self.lr, int | float) or isinstance(self.lr, bool):
            raise LandguiError(f"learning rate must be a number in (0, 1], got {self.lr!r}")
        if self.epochs < 1:
            raise LandguiError(f"epochs must be at least 1, got {self.epochs}")
        if self.fine_tune_epochs < 0:
            raise LandguiError(f"fine-tune epochs must be 0 or more, got {self.fine_tune_epochs}")
        if self.batch_size < 1:
            raise LandguiError(f"batch size must be at least 1, got {self.batch_size}")
        if not (math.isfinite(self.lr) and 0 < self.lr <= 1):
            raise LandguiError(f"learning rate must be a number in (0, 1], got {self.lr}")
        if self.seed < 0:
            raise LandguiError(f"seed must be 0 or more, got {self.seed}")
        if self.patience < 1:
            raise LandguiError(f"patience must be at least 1, got {self.patience}")
        if self.feature_views < 0:
            raise LandguiError(f"feature views must be 0 or more, got {self.feature_views}")
        if not 0 <= self.synthetic_clouds <= 5:
            raise LandguiError(f"synthetic clouds must be between 0 and 5 per cloud image, got {self.synthetic_clouds}")
        self.devices = parse_devices(self.devices)


FINETUNE_EPOCHS = 40
CORRECTION_WEIGHT = 10.0  # one correction counts as ten of the parent's training images
REPLAY_PER_CLASS = 250  # parent training images kept per class (a seeded sample)


@dataclass
class FinetuneParams(Params):
    """How a run is taught a scene (:mod:`landgui.core.training.finetune`): its head retrained for
    ``epochs`` on the corrections, each counting ``weight`` times, and on ``replay_per_class`` of
    the parent's training images per class (a sample drawn with ``seed``)."""

    WHAT: ClassVar[str] = "fine-tuning parameters"

    epochs: int = FINETUNE_EPOCHS
    weight: float = CORRECTION_WEIGHT
    replay_per_class: int = REPLAY_PER_CLASS
    seed: int = 0

    def check(self) -> None:
        """Raise a one-line :class:`LandguiError` for the first unusable setting."""
        if self.epochs < 1:
            raise LandguiError(f"epochs must be at least 1, got {self.epochs}")
        if not (self.weight > 0 and math.isfinite(self.weight)):
            raise LandguiError(f"the corrections' weight must be a positive number, got {self.weight}")


# -- Scenes: map settings --------------------------------------------------------------------------

UNCERTAIN_BELOW = 0.7  # default confidence threshold, chosen on kaggle4 val (docs/benchmarks.md)
CONTEXT_STRENGTH = 3.0  # nats a fully agreeing neighbourhood adds (docs/benchmarks.md, "Context")
MAX_CONTEXT_STRENGTH = 20.0
DEFAULT_CONTEXT = CONTEXT_STRENGTH  # what a map uses unless told: on (measured, docs/benchmarks.md)
MIN_MAP_PATCH = 8  # px, as the smallest labelled image (landgui.core.data.imageio.MIN_PATCH_SIDE)
MAX_MAP_BATCH = 4096  # patches per inference call: 4,096 at 128 px are 800 MB of float32 input
EDGES = ("pad", "skip")  # partial patches at the scene's edge: mirror-padded, or left out
# how a scene's values become 8 bit (landgui.core.scenes.radiometry, where each is described)
RADIOMETRIES = ("auto", "reflectance", "landsat", "stretch", "8bit")


def check_bands(bands: object) -> None:
    """Raise the one-line error for a band choice that is not 1 or 3 band numbers of 1 or more."""
    ok = isinstance(bands, tuple | list) and len(bands) in (1, 3)
    ok = ok and all(_is_int(b) and b >= 1 for b in bands)  # type: ignore[attr-defined]
    if not ok:
        raise LandguiError(f"--bands takes 3 band numbers R,G,B (or 1 for grey), each 1 or more; got {bands!r}")


def check_context_strength(strength: float) -> None:
    """Raise a one-line :class:`LandguiError` for a context strength outside 0 (off) .. the maximum."""
    if not (
        isinstance(strength, int | float)
        and not isinstance(strength, bool)
        and math.isfinite(strength)
        and 0.0 <= strength <= MAX_CONTEXT_STRENGTH
    ):
        raise LandguiError(f"the context strength must be between 0 (off) and {MAX_CONTEXT_STRENGTH:g}, got {strength}")


@dataclass(frozen=True)
class MapSettings(Params):
    """How a scene is cut and classified: the knobs that the CLI (``landgui segment``), the API,
    the Scene tab and the cluster's workers all take, checked in one place (:meth:`check`).

    ``patch``: patch size in scene px; ``stride``: the step between patches (None = the patch
    size, smaller = overlap); ``batch``: patches per inference call (None = from a byte budget);
    ``edge``: ``"pad"`` (mirror-pad partial patches) or ``"skip"``; ``ignore_nodata``: leave
    mostly no-data patches unclassified; ``uncertain_below``: cells whose top probability is
    below it are mapped as uncertain (0 = off); ``context``: the strength of the smoothing over
    grid neighbours (0 = off). How the scene is read (:mod:`landgui.core.scenes.io`): ``bands``
    (1-based red, green, blue, or one grey band; None = as the file says), ``radiometry`` (one of
    :data:`RADIOMETRIES`; ``auto`` = as the file says) and ``native`` (keep the scene's pixels
    instead of reading it at the model's ground resolution). Saved and restored with
    :meth:`~Params.to_dict` / :meth:`~Params.from_dict` (schema 1, the first; a dict saved before
    the reading fields existed reads them as their defaults, which is how scenes were read then,
    but for the resampling that a run recording its ground resolution now asks for)."""

    WHAT: ClassVar[str] = "map settings"

    patch: int = 64
    stride: int | None = None
    batch: int | None = None
    edge: str = "pad"
    ignore_nodata: bool = False
    uncertain_below: float = UNCERTAIN_BELOW
    context: float = DEFAULT_CONTEXT  # strength of the smoothing over grid neighbours, 0 = off
    bands: tuple[int, ...] | None = None  # 1-based red, green, blue; None = as the file says
    radiometry: str = "auto"
    native: bool = False  # True: the scene's own pixels, never resampled to the model's resolution

    def __post_init__(self) -> None:
        """A band list read back from JSON is a tuple again."""
        if isinstance(self.bands, list):
            object.__setattr__(self, "bands", tuple(self.bands))  # frozen: set once, here

    @property
    def step(self) -> int:
        """The stride in px: the patch size when no stride is given (patches side by side)."""
        return self.patch if self.stride is None else self.stride

    def check(self) -> MapSettings:
        """Raise a one-line :class:`LandguiError` for the first knob out of range (the CLI's
        messages); returns the settings, so ``MapSettings(...).check()`` reads as one step."""
        if not _is_int(self.patch) or self.patch < MIN_MAP_PATCH:  # 1 px is no patch of ground (the app's minimum too)
            raise LandguiError(f"patch size must be at least {MIN_MAP_PATCH} px, got {self.patch}")
        if not _is_int(self.step) or self.step < 1:
            raise LandguiError(f"stride must be at least 1 px, got {self.stride}")
        if self.step > self.patch:
            raise LandguiError(
                f"stride ({self.stride}) larger than the patch ({self.patch}) would leave gaps between patches"
            )
        if self.batch is not None and (not _is_int(self.batch) or self.batch < 1):
            raise LandguiError(f"--batch must be at least 1, got {self.batch}")
        if self.batch is not None and self.batch > MAX_MAP_BATCH:
            raise LandguiError(f"--batch must be at most {MAX_MAP_BATCH:,} patches, got {self.batch:,}")
        if self.edge not in EDGES:
            raise LandguiError(f"edge must be 'pad' or 'skip', got {self.edge}")
        u = self.uncertain_below
        if not (isinstance(u, int | float) and not isinstance(u, bool) and 0.0 <= u <= 1.0):
            raise LandguiError(f"--uncertain-below must be between 0 and 1, got {u}")
        check_context_strength(self.context)
        if self.bands is not None:
            check_bands(self.bands)
        if self.radiometry not in RADIOMETRIES:
            raise LandguiError(f"--radiometry must be one of {', '.join(RADIOMETRIES)}, got {self.radiometry!r}")
        if not isinstance(self.native, bool):
            raise LandguiError(f"native must be true or false, got {self.native!r}")
        return self
