"""ALFF/fALFF kernel against independent references (scipy, closed forms)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import signal

from sfckit.features.alff import (
    CONVENTIONS,
    _fourier_amplitude,
    _least_squares_amplitude,
    alff,
    band_problem,
)


def reference_alff(series, tr, band):
    """Straightforward per-voxel scipy implementation of sfckit's definition."""
    out_alff, out_falff = [], []
    for column in series.T:
        freqs, power = signal.periodogram(
            signal.detrend(column, type="linear"), fs=1 / tr, scaling="spectrum", detrend=False
        )
        amplitude = np.sqrt(power)
        in_band = (freqs >= band[0]) & (freqs <= band[1])
        out_alff.append(2 * amplitude[in_band].mean())
        out_falff.append(amplitude[in_band].sum() / amplitude[freqs > 0].sum())
    return np.array(out_alff), np.array(out_falff)


@pytest.fixture
def bold():
    rng = np.random.default_rng(0)
    n, voxels = 150, 37
    trend = np.linspace(0, 5, n)[:, None] * rng.normal(size=voxels)
    return 100 + trend + rng.normal(size=(n, voxels)).cumsum(axis=0) * 0.3


def test_matches_scipy_periodogram_reference(bold):
    got_alff, got_falff = alff(bold, tr=2.0, band=(0.01, 0.08))
    want_alff, want_falff = reference_alff(bold, 2.0, (0.01, 0.08))
    np.testing.assert_allclose(got_alff, want_alff, rtol=1e-10)
    np.testing.assert_allclose(got_falff, want_falff, rtol=1e-10)


def test_float32_is_kept_and_close_to_float64(bold):
    got32, _ = alff(bold.astype(np.float32), tr=2.0)
    got64, _ = alff(bold, tr=2.0)
    assert got32.dtype == np.float32
    np.testing.assert_allclose(got32, got64, rtol=2e-3)


def test_sinusoid_of_known_amplitude():
    # 200 volumes at TR 2 s: bins every 0.0025 Hz; 0.01..0.08 Hz holds bins 4..32 (29 bins).
    n, tr, amplitude = 200, 2.0, 3.0
    t = np.arange(n) * tr
    frequency = 10 / (n * tr)  # bin 10 = 0.025 Hz, inside the band
    # A cosine centred on the run's midpoint is orthogonal to the constant and the line, so
    # linear detrending leaves it unchanged and the closed form is exact:
    # sqrt(spectrum) = A/sqrt(2) in one of the 29 band bins, ALFF = 2 * mean, fALFF = 1.
    pure = amplitude * np.cos(2 * np.pi * frequency * (t - t.mean()))
    got_alff, got_falff = alff(pure[:, None], tr=tr)
    expected = 2 * (amplitude / np.sqrt(2)) / 29
    assert got_alff[0] == pytest.approx(expected, rel=1e-9)
    assert got_falff[0] == pytest.approx(1.0, abs=1e-9)
    # and a sinusoid outside the band contributes (almost) nothing
    outside = amplitude * np.cos(2 * np.pi * 0.2 * t)
    assert alff(outside[:, None], tr=tr)[0][0] < 0.05 * expected


def test_same_scale_as_xcpd_definition():
    """XCP-D: z-score, periodogram, 2 x mean sqrt(spectrum) x SD. With the same bins and a
    series without linear trend the constant relating the two definitions is exactly 1."""
    rng = np.random.default_rng(5)
    n, tr = 200, 2.0
    series = rng.normal(size=n)
    t = np.arange(n)
    series -= np.polyval(np.polyfit(t, series, 1), t)  # no trend: detrend == demean
    sd = series.std()
    freqs, power = signal.periodogram((series - series.mean()) / sd, fs=1 / tr, scaling="spectrum")
    bins = slice(4, 33)  # the closed band's bins 0.01..0.08 Hz
    xcpd_style = 2 * np.sqrt(power)[bins].mean() * sd
    assert alff(series[:, None], tr=tr)[0][0] == pytest.approx(xcpd_style, rel=1e-10)


def test_input_is_not_modified(bold):
    before = bold.copy()
    alff(bold, tr=2.0)
    alff(bold, tr=2.0, sample_mask=np.arange(len(bold)) % 7 != 0)
    np.testing.assert_array_equal(bold, before)


def test_least_squares_spectrum_equals_fourier_below_nyquist(bold):
    n = bold.shape[0]
    t = np.arange(n) * 2.0
    centred = bold - bold.mean(axis=0)
    freqs = np.fft.rfftfreq(n, d=2.0)
    fourier = _fourier_amplitude(centred)
    least_squares = _least_squares_amplitude(centred, t, freqs[1:])
    below_nyquist = slice(1, len(freqs) - (n % 2 == 0))
    np.testing.assert_allclose(
        least_squares[below_nyquist.start - 1 : below_nyquist.stop - 1],
        fourier[below_nyquist],
        rtol=1e-8,
    )


def test_censored_matches_scipy_lombscargle(bold):
    bold = bold[:-1]  # an odd length has no Nyquist bin, where scipy's fit is degenerate
    n, tr = bold.shape[0], 2.0
    keep = np.ones(n, bool)
    keep[[5, 6, 7, 40, 41, 90, 120, 121, 122, 123]] = False
    got_alff, got_falff = alff(bold, tr=tr, sample_mask=keep)
    t = np.arange(n)[keep] * tr
    freqs = np.fft.rfftfreq(n, d=tr)[1:]
    in_band = (freqs >= 0.01) & (freqs <= 0.08)
    for voxel in range(bold.shape[1]):
        y = bold[keep, voxel] - np.polyval(np.polyfit(t, bold[keep, voxel], 1), t)
        amplitude = np.abs(
            signal.lombscargle(t, y, 2 * np.pi * freqs, normalize="amplitude", floating_mean=True)
        ) / np.sqrt(2)
        assert got_alff[voxel] == pytest.approx(2 * amplitude[in_band].mean(), rel=1e-6)
        assert got_falff[voxel] == pytest.approx(
            amplitude[in_band].sum() / amplitude.sum(), rel=1e-6
        )


def test_constant_voxel_gives_zero_alff_and_nan_falff():
    series = np.ones((120, 2))
    series[:, 1] += np.sin(np.arange(120) * 0.2)
    values, fractional = alff(series, tr=2.0)
    assert values[0] == 0 and np.isnan(fractional[0])
    assert values[1] > 0


@pytest.mark.parametrize(
    ("n_volumes", "tr", "band", "fragment"),
    [
        (40, 2.0, (0.01, 0.08), "too short"),
        (200, 5.0, (0.01, 0.2), "Nyquist"),
        (200, 2.0, (0.08, 0.01), "invalid frequency band"),
    ],
)
def test_band_problems_are_explained(n_volumes, tr, band, fragment):
    assert fragment in band_problem(n_volumes, tr=tr, band=band)
    with pytest.raises(ValueError, match=fragment):
        alff(np.random.default_rng(0).normal(size=(n_volumes, 3)), tr=tr, band=band)


def test_censoring_that_leaves_too_few_volumes_is_an_error(bold):
    keep = np.zeros(bold.shape[0], bool)
    keep[:30] = True
    with pytest.raises(ValueError, match="too short"):
        alff(bold, tr=2.0, sample_mask=keep)


def test_mask_shape_mismatch_is_an_error(bold):
    with pytest.raises(ValueError, match="sample_mask must have shape"):
        alff(bold, tr=2.0, sample_mask=np.ones(3, bool))


REFERENCE = Path(__file__).parent / "data"


def reference_input():
    data = np.loadtxt(REFERENCE / "alff_reference_input.tsv", delimiter="\t")
    mask = np.loadtxt(REFERENCE / "alff_reference_mask.tsv").astype(bool)
    return data, mask


def test_dpabi_convention_equals_dpabi_y_alff_falff():
    """Pinned against DPABI's own y_alff_falff.m run in Octave (see data/ALFF_REFERENCE.md)."""
    data, mask = reference_input()
    table = pd.read_csv(REFERENCE / "alff_reference_dpabi.tsv", sep="\t")
    voxels = [f"voxel{i}" for i in range(data.shape[1])]
    for row in table.itertuples():
        values = alff(
            data,
            tr=2.0,
            band=(row.low, row.high),
            sample_mask=mask if row.censored else None,
            convention="dpabi",
        )
        computed = values[0] if row.measure == "alff" else values[1]
        expected = np.array([getattr(row, v) for v in voxels])
        # the last voxel is constant: DPABI's values there are round-off noise
        np.testing.assert_allclose(computed[:-1], expected[:-1], rtol=1e-6, atol=0)
        if row.measure == "alff":
            assert abs(computed[-1]) < 1e-12 and abs(expected[-1]) < 1e-12


def test_xcpd_convention_equals_xcpd_compute_alff():
    """Pinned against XCP-D's own compute_alff (see data/ALFF_REFERENCE.md)."""
    data, mask = reference_input()
    table = pd.read_csv(REFERENCE / "alff_reference_xcpd.tsv", sep="\t")
    voxels = [f"voxel{i}" for i in range(data.shape[1])]
    for row in table.itertuples():
        computed, falff_values = alff(
            data,
            tr=2.0,
            band=(row.low, row.high),
            sample_mask=mask if row.censored else None,
            convention="xcpd",
        )
        expected = np.array([getattr(row, v) for v in voxels])
        np.testing.assert_allclose(computed, expected, rtol=1e-6, atol=1e-12)
        assert computed[-1] == 0 and np.isnan(falff_values[-1])
        assert ((falff_values[:-1] > 0) & (falff_values[:-1] < 1)).all()


def test_a_linear_trend_enters_xcpd_alff_only():
    """XCP-D removes the mean, not a linear trend (the documented difference): a drift adds
    low-frequency amplitude in its convention and not in the detrending ones."""
    t = np.arange(200) * 2.0
    wave = np.sin(2 * np.pi * 0.04 * t)
    drifting = wave + 0.01 * t
    for convention in CONVENTIONS:
        flat, drift = (alff(x, tr=2.0, convention=convention)[0][0] for x in (wave, drifting))
        if convention == "xcpd":
            assert drift > 1.5 * flat
        else:
            assert drift == pytest.approx(flat, rel=1e-6)
    with pytest.raises(ValueError, match="unknown ALFF convention"):
        alff(wave, tr=2.0, convention="afni")
