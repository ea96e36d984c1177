"""The TMS worker's brain: the shipped MNI152 template mask or the run's own fMRIPrep mask."""

import numpy as np


def test_the_default_brain_is_the_template_or_the_runs_own_fmriprep_mask(tmp_path):
    import nibabel as nib

    from sfckit.features import tms
    from sfckit.features.tms_participant import run_brain_mask, template_brain

    affine = np.array([[-2.0, 0, 0, 90], [0, 2.0, 0, -126], [0, 0, 2.0, -72], [0, 0, 0, 1]])
    shape = (91, 109, 91)
    brain = template_brain(affine, shape)
    coordinates = tms.voxel_coordinates(affine, shape)

    def inside(point):
        index = np.unravel_index(
            np.argmin(np.linalg.norm(coordinates - np.array(point), axis=-1)), shape
        )
        return bool(brain[index])

    assert inside(tms.REFERENCE_SITES["fox2012"]) and inside((6, 16, -10))
    assert not inside((-38, 44, 90)) and not inside((-85, 44, 26))  # above and beside the head
    bold = tmp_path / "sub-01_task-rest_space-MNI152NLin2009cAsym_desc-preproc_bold.nii.gz"
    assert run_brain_mask(str(bold)) is None
    mask = bold.with_name(bold.name.replace("desc-preproc_bold", "desc-brain_mask"))
    nib.save(nib.Nifti1Image(np.ones((2, 2, 2), np.uint8), np.eye(4)), mask)
    assert run_brain_mask(str(bold)) == mask


def test_the_shipped_template_mask_is_nilearns():
    from importlib.resources import files

    import nibabel as nib
    from nilearn.datasets import load_mni152_brain_mask

    from sfckit.features.tms_participant import TEMPLATE_BRAIN

    shipped = nib.load(files("sfckit.data") / TEMPLATE_BRAIN)
    reference = load_mni152_brain_mask(resolution=2)
    np.testing.assert_array_equal(np.asarray(shipped.dataobj) > 0, reference.get_fdata() > 0)
    np.testing.assert_array_equal(shipped.affine, reference.affine)
