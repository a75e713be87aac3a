"""OpenVINO: a run's LiteRT file run by OpenVINO's CPU plugin, in float32 or mostly in bfloat16.

``openvino``
    The LiteRT file (backbone + NumPy head, as for LiteRT) compiled by OpenVINO in float32: the
    same answers as LiteRT (agreement test), somewhat faster on Intel CPUs.
``openvino-bf16``
    The same file split in two at a block boundary: the first blocks in float32, the rest in
    bfloat16. On a CPU with native bfloat16 (AMX or AVX512-BF16) this runs 2-4x faster than LiteRT.
    The whole network in bfloat16 changed 4 % of the answers of the shipped model (a float32
    stem brings that under 0.7 %; ``bench/bench_engines.py``), so the split point is chosen per run
    by the guard (:mod:`landgui.core.inference.guard`), and ``auto`` uses this engine only for a
    run whose guard passed, on a CPU with native bfloat16, where it measured faster than LiteRT.

``openvino`` is imported only inside these functions: a machine without it runs LiteRT or Keras.
"""

from __future__ import annotations

import functools
import importlib.util
import time
from pathlib import Path
from typing import Any

import numpy as np

from landgui.core.base.errors import LandguiError
from landgui.core.base.paths import file_sha256
from landgui.core.inference.predictor import FilePredictor

ENGINE_F32 = "openvino"
ENGINE_BF16 = "openvino-bf16"
MISSING = "the openvino engines need OpenVINO: pip install openvino (or use --engine litert)"


def openvino_available() -> bool:
    """Whether OpenVINO is installed (checked without importing it)."""
    return importlib.util.find_spec("openvino") is not None


@functools.cache
def _core() -> Any:
    import openvino as ov

    return ov.Core()


@functools.cache
def native_bf16() -> bool:
    """True when this CPU computes bfloat16 natively (AMX or AVX512-BF16), as OpenVINO reports it
    and the kernel's CPU flags confirm; elsewhere bfloat16 would be emulated, slower than float32."""
    if not openvino_available():
        return False
    try:
        caps = _core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
        flags = Path("/proc/cpuinfo").read_text().split()
    except Exception:  # noqa: BLE001 - no such property, no /proc: not native as far as we know
        return False
    return "BF16" in caps and ("amx_bf16" in flags or "avx512_bf16" in flags)


@functools.cache
def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else the platform's processor string."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def cut_points(path: Path) -> list[int]:
    """Where the file's graph can be split in two: indices (in OpenVINO's topological order) of the
    block outputs (``Add``) that every later operation reaches only through them."""
    ops = _core().read_model(str(path)).get_ordered_ops()
    index = {op.get_friendly_name(): i for i, op in enumerate(ops)}
    # reach[i]: the furthest consumer of any tensor made before op i (constants excluded)
    last_use = [0] * len(ops)
    for j, op in enumerate(ops):
        for inp in op.inputs():
            src = inp.get_source_output().get_node()
            if src.get_type_name() != "Constant":
                k = index[src.get_friendly_name()]
                last_use[k] = max(last_use[k], j)
    cuts, reach = [], 0
    for i, op in enumerate(ops):
        if op.get_type_name() == "Add" and reach <= i and i > 0:
            cuts.append(i)
        reach = max(reach, last_use[i])
    return cuts


def _compile(model: Any, precision: str, n_threads: int) -> Any:
    config = {"INFERENCE_PRECISION_HINT": precision, "INFERENCE_NUM_THREADS": n_threads, "PERFORMANCE_HINT": "LATENCY"}
    return _core().compile_model(model, "CPU", config)


def _split(path: Path, cut: int) -> tuple[Any, Any]:
    """(ops 0..cut, ops after cut) of the file's graph as two OpenVINO models."""
    import openvino as ov
    import openvino.opset13 as ops

    first = _core().read_model(str(path))
    cut_op = first.get_ordered_ops()[cut]
    head_part = ov.Model([cut_op.output(0)], first.get_parameters(), "first")
    rest = _core().read_model(str(path))
    mid = rest.get_ordered_ops()[cut].output(0)
    param = ops.parameter(mid.get_partial_shape(), mid.get_element_type(), "cut")
    for target in list(mid.get_target_inputs()):
        target.replace_source_output(param.output(0))
    return head_part, ov.Model(rest.get_results(), [param], "rest")


class OpenVINOPredictor(FilePredictor):
    """A run's LiteRT file in OpenVINO: whole in float32 (``cut`` None), or ops 0..``cut`` in
    float32 and the rest in :attr:`rest_precision` (engine ``openvino-bf16``)."""

    rest_precision = "bf16"  # the tests split in float32 on both sides: the split alone is exact

    def __init__(
        self,
        path: Path,
        run_dir: Path,
        labels: list[str],
        image_size: int,
        n_threads: int,
        head: Any = None,
        cut: int | None = None,
    ) -> None:
        super().__init__(path, run_dir, labels, image_size, head)
        if not openvino_available():
            raise LandguiError(MISSING)
        self.cut, self.n_threads = cut, n_threads
        self.engine = ENGINE_F32 if cut is None else ENGINE_BF16
        try:
            if cut is None:
                parts = [_compile(_core().read_model(str(path)), "f32", n_threads)]
            else:
                first, rest = _split(path, cut)
                parts = [_compile(first, "f32", n_threads), _compile(rest, self.rest_precision, n_threads)]
        except LandguiError:
            raise
        except Exception as exc:  # noqa: BLE001 - a damaged file or a cut that does not split it
            raise LandguiError(f"OpenVINO cannot compile {path}: {str(exc).splitlines()[0][:160]}") from None
        self._requests = [(p, p.create_infer_request()) for p in parts]
        self._check_width(int(parts[-1].output(0).get_partial_shape()[-1].get_length()))

    @property
    def backbone_id(self) -> str:
        """The file's SHA-256, with the precision: bfloat16 features are not float32 ones."""
        base = file_sha256(self.path)
        return base if self.cut is None else f"{base}:bf16@{self.cut}"

    def _run(self, batch: np.ndarray) -> np.ndarray:
        x = batch
        for compiled, request in self._requests:
            x = request.infer({0: x})[compiled.output(0)]
        return np.array(x, dtype=np.float32, copy=True)


def fastest_batches(predictors: list[Any], image_size: int, batch: int = 32, rounds: int = 5) -> list[float]:
    """Each predictor's best time for one batch of random images over ``rounds`` rounds, the
    predictors taking turns within each round (so a load that comes and goes weighs on all of
    them alike), after two warm-up calls each."""
    x = np.random.default_rng(0).uniform(0, 255, (batch, image_size, image_size, 3)).astype(np.float32)
    for p in predictors:
        p(x)
        p(x)
    best = [float("inf")] * len(predictors)
    for _ in range(rounds):
        for i, p in enumerate(predictors):
            t = time.perf_counter()
            p(x)
            best[i] = min(best[i], time.perf_counter() - t)
    return best
