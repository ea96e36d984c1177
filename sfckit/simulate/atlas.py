"""Small synthetic atlases for tests and quick experiments."""

from __future__ import annotations

from collections.abc import Sequence

import nibabel as nib
import numpy as np
import pandas as pd

from sfckit.io.atlases import Atlas
from sfckit.io.images import Grid
from sfckit.simulate.cohort import PLANTED_CORRELATION_REGION, PLANTED_SFC_REGIONS

DEFAULT_BLOCK_NAMES = (
    *PLANTED_SFC_REGIONS,
    PLANTED_CORRELATION_REGION,
    "Left_Occipital_Pole",
    "Right_Occipital_Pole",
    "Left_Thalamus",
)


def block_atlas(grid: Grid, names: Sequence[str] = DEFAULT_BLOCK_NAMES, *, block: int = 4) -> Atlas:
    """An atlas of cubic blocks (``block`` voxels per side) tiled around the grid centre.

    Parameters
    ----------
    grid : Grid
        The voxel grid of the label image.
    names : sequence of str
        Region names; by default the regions the simulator plants effects in plus three
        null regions.
    block : int
        Edge length of each block in voxels.
    """
    labels = np.zeros(grid.shape, dtype=np.int16)
    per_row = int(np.ceil(np.sqrt(len(names))))
    origin = [max(0, s // 2 - (per_row * (block + 1)) // 2) for s in grid.shape]
    for i in range(len(names)):
        x0 = origin[0] + (i % per_row) * (block + 1)
        y0 = origin[1] + (i // per_row) * (block + 1)
        z0 = origin[2]
        if x0 + block > grid.shape[0] or y0 + block > grid.shape[1] or z0 + block > grid.shape[2]:
            raise ValueError(
                f"the grid {grid.shape} is too small for {len(names)} blocks of {block}"
            )
        labels[x0 : x0 + block, y0 : y0 + block, z0 : z0 + block] = i + 1
    image = nib.Nifti1Image(labels, grid.affine)
    table = pd.DataFrame({"index": np.arange(1, len(names) + 1), "name": list(names)})
    return Atlas(
        name="blocks",
        image=image,
        labels=table,
        source="sfckit.simulate.atlas",
        checksum=f"blocks-{block}-{len(names)}-{grid.shape}",
    )
