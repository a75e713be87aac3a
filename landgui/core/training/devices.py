"""The devices that train a run, and the distribution strategy over them.

``TrainParams.devices``: 1, the default, is TensorFlow's own placement on one device with no
distribution strategy. N > 1 or ``"all"`` trains with ``tf.distribute.MirroredStrategy`` over the
first N (or every) visible GPU, else over the CPU's logical devices (one, unless
``LANDGUI_LOGICAL_CPUS=N`` splits it, for trying and testing the strategy without a GPU); every
model is built, compiled, restored and fitted under the strategy's scope, and ``batch_size`` is
the global batch, split evenly across the devices.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from landgui.core.base.errors import LandguiError
from landgui.core.params import parse_devices

# split the CPU into this many logical devices before TensorFlow starts (tests, trying --devices)
LOGICAL_CPUS_ENV = "LANDGUI_LOGICAL_CPUS"


def configure_logical_cpus() -> int | None:
    """Split the CPU into ``$LANDGUI_LOGICAL_CPUS`` logical devices; returns that count (None when unset).

    TensorFlow accepts this only before its runtime starts, so it is done as the first thing of a
    training process; a runtime already started with another split is a one-line error."""
    raw = os.environ.get(LOGICAL_CPUS_ENV, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise LandguiError(f"{LOGICAL_CPUS_ENV} must be a number of logical CPUs (1 or more), got {raw!r}")
    n = int(raw)
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    configured = tf.config.get_logical_device_configuration(cpu)  # None: the default, one device
    if (len(configured) if configured else 1) == n:
        return n
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(n)])
    except RuntimeError:  # the runtime is already initialised: fine if it already has the split asked for
        have = len(tf.config.list_logical_devices("CPU"))
        if have != n:
            raise LandguiError(
                f"{LOGICAL_CPUS_ENV}={n} came too late: TensorFlow already started with {have} logical CPU(s); "
                "set it before the process starts"
            ) from None
    return n


@dataclass(frozen=True)
class DevicePlan:
    """The devices that train a run, and the distribution strategy over them."""

    devices: list[str]  # e.g. ["/gpu:0", "/gpu:1"] or ["/cpu:0"]
    strategy: str | None  # "MirroredStrategy", or None: TensorFlow's default placement on one device
    note: str | None = None  # to tell the user once (e.g. "all" on a machine without a GPU)

    def create(self) -> Any:
        """The tf.distribute strategy to build, compile and fit under, or None for one device.

        One strategy per device set and process, reused by later runs: each new MirroredStrategy
        numbers its collective ops from the start again, and a second one in the same process
        fails with "Shape mismatch in the collective instance" (tensorflow/tensorflow#62790)."""
        if self.strategy is None:
            return None
        key = tuple(self.devices)
        if key not in _STRATEGIES:
            import tensorflow as tf

            _STRATEGIES[key] = tf.distribute.MirroredStrategy(devices=list(key))
        return _STRATEGIES[key]


_STRATEGIES: dict[tuple[str, ...], Any] = {}


def _short_name(device: Any) -> str:
    """A logical device's short name: "/job:localhost/replica:0/task:0/device:GPU:1" -> "/gpu:1"."""
    return "/" + device.name.rsplit("device:", 1)[-1].lower()


def plan_devices(devices: int | str, batch_size: int | None = None) -> DevicePlan:
    """Which devices ``devices`` (1, N or "all") means on this machine: GPUs when any are visible,
    else the CPU's logical devices. More than there are is a one-line error naming how many there are."""
    want = parse_devices(devices)
    configure_logical_cpus()
    import tensorflow as tf

    gpus = [_short_name(d) for d in tf.config.list_logical_devices("GPU")]
    pool = gpus or [_short_name(d) for d in tf.config.list_logical_devices("CPU")]
    note = None
    if want == "all":
        chosen = pool
        if not gpus:
            note = f"no GPU is visible: training on the CPU ({', '.join(pool)})"
    else:
        assert isinstance(want, int)
        if want > len(pool):
            kind = "GPU" if gpus else "device"
            hint = "" if gpus else f" (no GPU is visible; {LOGICAL_CPUS_ENV}=N splits the CPU to try the strategy)"
            raise LandguiError(
                f"cannot train on {want} devices: this machine has {len(pool)} {kind}"
                f"{'' if len(pool) == 1 else 's'} ({', '.join(pool)}){hint}"
            )
        chosen = pool[:want]
    if len(chosen) == 1:
        return DevicePlan(chosen, None, note)
    if batch_size is not None and batch_size < len(chosen):
        raise LandguiError(
            f"batch size {batch_size} is smaller than the {len(chosen)} devices; the batch is split across them, "
            f"so give --batch-size {len(chosen)} or more"
        )
    return DevicePlan(chosen, "MirroredStrategy", note)
