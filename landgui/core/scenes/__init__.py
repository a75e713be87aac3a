"""Scene mapping: cut a large image into patches, classify each, build and export the class map.

Reading
    The file's format decides the reader, not its name: any raster GDAL reads other than a plain
    picture (GeoTIFF, JPEG 2000, a Sentinel-2 ``.SAFE`` folder or zip, a GDAL virtual path) is
    read through rasterio in windows (a scene larger than memory is never loaded whole; CRS and
    transform are kept). JPEG/PNG/BMP/WebP pictures are decoded whole through Pillow, up to
    :data:`MAX_SCENE_PIXELS` (decompression-bomb guard). Bands: ``--bands R,G,B``, else the
    file's band names and colour interpretation (RGBN, BGRN, Sentinel-2 B04/B03/B02), else 1
    band grey, 2 grey + alpha, 3 RGB, 4 RGB + alpha; any other order is an error asking for
    ``--bands`` (:mod:`~landgui.core.scenes.bands`). 16-bit and float values become 8 bit by a
    fixed reflectance mapping where the file states its scale and offset, or by a percentile
    stretch computed once on an overview of the whole scene
    (:mod:`~landgui.core.scenes.radiometry`). A georeferenced scene is read at the model's
    ground resolution when its run records one (:mod:`~landgui.core.scenes.resample`); the
    scene's ``notes`` say what the user should know about how it was read.

Patch grid
    Patches of ``patch`` px every ``stride`` px (stride < patch = overlap). Edge handling
    ``edge="pad"`` (default): the grid covers the whole scene and patches that run over the edge
    are completed by mirror reflection (a scene smaller than one patch gives one padded patch);
    ``edge="skip"``: only whole patches (a scene smaller than one patch is an error). Optionally
    (``ignore_nodata``) a patch with more than half of its pixels no-data (all bands 0, or the
    raster's nodata value) is not classified (class -1), so scene borders stay empty.

Inference
    Patches are cut from strips read row by row in a background thread and resized to the
    model's input size, while the previous batch runs through the model (LiteRT or a compiled
    ``tf.function``). A batch holds whole grid rows, so a block of rows classified elsewhere (a
    Dask worker, :mod:`landgui.core.scenes.blocks`) gets exactly the same batches.

Class map
    Probabilities are averaged per cell of ``gcd(patch, stride)`` px over all patches covering
    the cell: every pixel of a cell is covered by exactly the same patches, so this is the
    per-pixel average at a fraction of the memory. Without overlap a cell is a patch.

Context
    Neighbouring patches are correlated: by default each patch's probabilities are smoothed with
    those of its 4 grid neighbours (:mod:`landgui.core.scenes.context`, a LAME / mean-field Potts
    step of measured strength) before the classes, confidence and coverage are computed; the
    model's own are kept as ``raw_probs``. ``context=0`` (``--no-context``) maps each patch alone.

Uncertainty
    Each cell's confidence is its highest (averaged) probability and its margin the gap to the
    second. A cell whose confidence is below ``uncertain_below`` (default
    :data:`UNCERTAIN_BELOW`, measured in docs/benchmarks.md) is *uncertain*: it is counted as
    ``uncertain`` in the coverage and written as :data:`UNCERTAIN_VALUE` in the class maps, so a
    land cover the model does not know (snow, cities, another kind of cloud) is not forced into
    one of its classes. ``uncertain_below=0`` turns this off.
"""

from landgui.core.scenes.grid import MAX_CELLS, MAX_PATCH, Grid, average_cells, coverage_shares, make_grid  # noqa: F401
from landgui.core.scenes.io import (  # noqa: F401
    GDAL_CACHE_MB,
    MAX_SCENE_PIXELS,
    TIFF_EXT,
    Scene,
    demo_scene_path,
    open_scene,
)
from landgui.core.scenes.pipeline import (  # noqa: F401
    BATCH_BYTES,
    _patch_batches,
    assemble_result,
    batch_for,
    classify_rows,
    classify_scene,
    reclassify_with_head,
    rows_per_batch,
    sample_patches,
    strip_patches,
)
from landgui.core.scenes.result import (  # noqa: F401
    UNCERTAIN,
    UNCERTAIN_BELOW,
    UNCERTAIN_VALUE,
    SceneResult,
    cell_class_codes,
    pixel_class_map,
)
from landgui.core.scenes.writers import FORMATS, WRITERS, export, output_name, parse_formats  # noqa: F401
from landgui.core.scenes.writers.png import OVERLAY_MAX_SIDE, blend_classes, overlay_figure  # noqa: F401
from landgui.core.scenes.writers.table import summary_dict, unfamiliar_summary  # noqa: F401
