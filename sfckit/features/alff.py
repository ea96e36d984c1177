"""ALFF and fALFF from BOLD time series (pure numeric kernel, no I/O).

Definition (identical in scale to XCP-D's ``compute_alff``)
------------------------------------------------------------
For each voxel the time series is linearly detrended and its one-sided amplitude spectrum
``a(f) = sqrt(P(f))`` is taken, where ``P`` is ``scipy.signal.periodogram(...,
scaling="spectrum")`` (so a sinusoid of amplitude ``A`` at a Fourier frequency gives
``a = A / sqrt(2)``). Then

- ``ALFF = 2 * mean(a(f) for f in [low, high])`` — the factor 2 and the original BOLD scale
  are XCP-D's convention (its ``len(ff_alff) * mean(sqrt(P)) * sd``), so numbers are
  directly comparable. Two differences remain, both documented: XCP-D removes only the
  mean (we remove a linear trend), and XCP-D takes the half-open run of bins between the
  bins *nearest* to ``low`` and ``high``, whereas we take every bin whose frequency lies in
  the closed band. On a spectrum that is flat across the band the two agree exactly.
- ``fALFF = sum(a(f), f in band) / sum(a(f), all f > 0)`` (Zou et al. 2008).

With a censoring mask (``sample_mask``), the spectrum of the kept volumes is estimated on
the same frequency grid by a least-squares sinusoid fit per frequency with a floating mean
(the generalised Lomb–Scargle periodogram, as XCP-D does for censored data), converted to
the same scale (``a = amplitude / sqrt(2)``). On an uncensored run both estimators agree at
every Fourier frequency below Nyquist.

Other conventions (``convention=``), each equal to that tool's own code (tested against
values its code produced, in float64):

- ``"dpabi"`` — DPABI/DPARSF ``y_alff_falff.m`` (the reference study's tool): linear
  detrend, zero padding to the next power of two ``P``, amplitude ``2 |FFT| / N``, ALFF the
  mean amplitude over the 1-based bins ``ceil(low P TR + 1)`` … ``fix(high P TR + 1)``
  (inclusive), fALFF the band sum over bins ``2`` … ``P/2 + 1``. Censored volumes are cut
  (DPABI's ``'cut'`` scrubbing) and the rest treated as one contiguous run.
- ``"xcpd"`` — XCP-D ``compute_alff``: each voxel z-scored, ``sqrt`` of
  ``scipy.signal.periodogram(scaling="spectrum")`` (or, with a ``sample_mask``, of
  ``scipy.signal.lombscargle(normalize=True)`` of the kept volumes on the grid
  ``linspace(0, fs/2, n//2 + 1)[1:]``), ALFF ``2 * mean`` over the half-open run of bins
  from the one nearest the lower to the one nearest the upper band edge, times the voxel's
  SD over all volumes. XCP-D has no fALFF; sfckit adds band sum / sum over all bins above 0
  of the same spectrum.
"""

from __future__ import annotations

import numpy as np
import scipy.fft

from sfckit.declarations.names import ALFF_CONVENTIONS as CONVENTIONS
from sfckit.declarations.names import DEFAULT_BAND

_BLOCK_VOXELS = 16384


def band_problem(n_volumes: int, *, tr: float, band: tuple[float, float]) -> str | None:
    """Why a run of ``n_volumes`` cannot give ALFF in ``band``, or ``None`` when it can.

    A run must last at least one period of the band's lower edge (``n * tr >= 1 / low``),
    the band must lie below the Nyquist frequency, and at least one Fourier frequency must
    fall inside it.
    """
    low, high = band
    if not (0 <= low < high):
        return f"invalid frequency band {band}: need 0 <= low < high"
    if tr <= 0:
        return f"invalid TR {tr}: need a positive number of seconds"
    nyquist = 0.5 / tr
    if high > nyquist:
        return (
            f"band upper edge {high} Hz is above the Nyquist frequency {nyquist:.4g} Hz (TR {tr} s)"
        )
    if low > 0:
        needed = int(np.ceil(1.0 / (low * tr) - 1e-9))
        if n_volumes < needed:
            return (
                f"{n_volumes} usable volumes at TR {tr} s ({n_volumes * tr:g} s) are too short "
                f"for a {low} Hz lower band edge: at least {needed} volumes "
                f"({1 / low:g} s) are needed"
            )
    freqs = scipy.fft.rfftfreq(n_volumes, d=tr)
    if not np.any((freqs >= low) & (freqs <= high)):
        return f"no Fourier frequency of a {n_volumes}-volume run falls in the band {band} Hz"
    return None


def alff(
    timeseries: np.ndarray,
    *,
    tr: float,
    band: tuple[float, float] = DEFAULT_BAND,
    sample_mask: np.ndarray | None = None,
    convention: str = "sfckit",
) -> tuple[np.ndarray, np.ndarray]:
    """ALFF and fALFF of each column of a (time x voxels) array.

    Parameters
    ----------
    timeseries : ndarray of shape (n_volumes, n_voxels)
        BOLD signal; float32 input is processed in float32. Never modified.
    tr : float
        Repetition time in seconds.
    band : (float, float)
        Low-frequency band in Hz, inclusive.
    sample_mask : ndarray of bool, shape (n_volumes,), optional
        ``True`` for volumes to keep. When some volumes are censored the spectrum is
        estimated by least-squares sinusoid fits on the kept volumes.
    convention : {"sfckit", "dpabi", "xcpd"}
        Whose definition to follow (see the module docs); ``dpabi`` and ``xcpd`` compute
        in float64.

    Returns
    -------
    alff : ndarray of shape (n_voxels,)
        2 x mean amplitude in the band (XCP-D scale). Zero for constant voxels.
    falff : ndarray of shape (n_voxels,)
        Band amplitude over total amplitude (all frequencies above 0). NaN for constant
        voxels.

    Raises
    ------
    ValueError
        Bad shapes, or a run too short for the band (see :func:`band_problem`).
    """
    data = np.asarray(timeseries)
    if data.ndim == 1:
        data = data[:, None]
    if data.ndim != 2:
        raise ValueError(f"timeseries must be 2-D (time x voxels); got shape {data.shape}")
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown ALFF convention {convention!r}; choose one of {CONVENTIONS}")
    if not np.issubdtype(data.dtype, np.floating):
        data = data.astype(np.float64)
    if convention == "dpabi":
        return dpabi_alff(data, tr=tr, band=band, sample_mask=sample_mask)
    if convention == "xcpd":
        return xcpd_alff(data, tr=tr, band=band, sample_mask=sample_mask)
    n_volumes = data.shape[0]
    times = np.arange(n_volumes, dtype=np.float64) * tr
    freqs = scipy.fft.rfftfreq(n_volumes, d=tr)
    if sample_mask is not None:
        mask = np.asarray(sample_mask, dtype=bool)
        if mask.shape != (n_volumes,):
            raise ValueError(
                f"sample_mask must have shape ({n_volumes},) to match the time axis; "
                f"got {mask.shape}"
            )
        if mask.all():
            mask = None
    else:
        mask = None
    n_kept = n_volumes if mask is None else int(mask.sum())
    problem = band_problem(n_kept, tr=tr, band=band)
    if problem is None and mask is not None and n_kept < 3:
        problem = f"only {n_kept} volumes kept after censoring"
    if problem:
        raise ValueError(problem)
    in_band = (freqs >= band[0]) & (freqs <= band[1])
    positive = freqs > 0

    alff_values = np.empty(data.shape[1], dtype=data.dtype)
    falff_values = np.empty(data.shape[1], dtype=data.dtype)
    for start in range(0, data.shape[1], _BLOCK_VOXELS):
        block = data[:, start : start + _BLOCK_VOXELS]
        if mask is None:
            amplitude = _fourier_amplitude(_detrend(block, times))
        else:
            amplitude = _least_squares_amplitude(
                _detrend(block[mask], times[mask]), times[mask], freqs[positive]
            )
            amplitude = np.concatenate(
                [np.zeros((1, amplitude.shape[1]), amplitude.dtype), amplitude]
            )
        band_amplitude = amplitude[in_band]
        total = amplitude[positive].sum(axis=0)
        alff_values[start : start + block.shape[1]] = 2.0 * band_amplitude.mean(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            falff_values[start : start + block.shape[1]] = np.where(
                total > 0, band_amplitude.sum(axis=0) / total, np.nan
            )
    return alff_values, falff_values


def _detrend(block: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Remove the least-squares line over ``times`` from each column (returns a new array)."""
    centred_times = times - times.mean()
    design = np.column_stack([np.ones_like(times), centred_times]).astype(block.dtype)
    # The two columns are orthogonal, so the projection needs no matrix inverse.
    scale = np.array([1.0 / len(times), 1.0 / max(float(centred_times @ centred_times), 1e-30)])
    coefficients = (design.T @ block) * scale[:, None].astype(block.dtype)
    return block - design @ coefficients


def _fourier_amplitude(block: np.ndarray) -> np.ndarray:
    """sqrt of the one-sided 'spectrum' periodogram along axis 0 (scipy's scaling)."""
    n_volumes = block.shape[0]
    spectrum = np.abs(scipy.fft.rfft(block, axis=0)) / n_volumes
    last = spectrum.shape[0] if n_volumes % 2 else spectrum.shape[0] - 1
    spectrum[1:last] *= np.sqrt(2.0)
    return spectrum


def _least_squares_amplitude(block: np.ndarray, times: np.ndarray, freqs: np.ndarray) -> np.ndarray:
    """Amplitude / sqrt(2) of the best-fitting sinusoid (floating mean) at each frequency."""
    # All frequencies are solved in one matrix product: stacked pseudo-inverses of the
    # (kept-times x [cos, sin, 1]) design of each frequency.
    angles = 2.0 * np.pi * np.outer(freqs, times)
    designs = np.stack([np.cos(angles), np.sin(angles), np.ones_like(angles)], axis=-1)
    pseudo_inverses = np.linalg.pinv(designs)  # (n_freqs, 3, n_kept)
    stacked = pseudo_inverses[:, :2, :].reshape(-1, len(times)).astype(block.dtype)
    coefficients = (stacked @ block).reshape(len(freqs), 2, block.shape[1])
    return np.sqrt((coefficients**2).sum(axis=1)) / np.sqrt(2.0)


def dpabi_alff(
    data: np.ndarray, *, tr: float, band: tuple[float, float], sample_mask: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """ALFF and fALFF as DPABI's ``y_alff_falff.m`` computes them (see the module docs)."""
    import math

    data = np.asarray(data, dtype=np.float64)
    if sample_mask is not None:
        data = data[np.asarray(sample_mask, dtype=bool)]  # DPABI's 'cut' scrubbing
    n = data.shape[0]
    padded = 2 ** math.ceil(math.log2(n))  # MATLAB 2^nextpow2(n)
    sample_freq = 1.0 / tr
    low, high = band
    # 1-based bin numbers, computed in MATLAB's order of operations.
    first = padded // 2 + 1 if low >= sample_freq / 2 else math.ceil(low * padded * tr + 1)
    if high >= sample_freq / 2 or high == 0:
        last = padded // 2 + 1
    else:
        last = math.trunc(high * padded * tr + 1)
    detrended = _detrend(data, np.arange(n, dtype=np.float64))
    amplitude = 2.0 * np.abs(np.fft.fft(detrended, n=padded, axis=0)) / n
    in_band = amplitude[first - 1 : last]
    alff_values = in_band.mean(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        falff_values = in_band.sum(axis=0) / amplitude[1 : padded // 2 + 1].sum(axis=0)
    falff_values[~np.isfinite(falff_values)] = 0.0
    return alff_values, falff_values


def xcpd_alff(
    data: np.ndarray, *, tr: float, band: tuple[float, float], sample_mask: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """ALFF as XCP-D's ``compute_alff`` computes it (see the module docs), with fALFF."""
    from scipy import signal

    data = np.asarray(data, dtype=np.float64)
    n = data.shape[0]
    fs = 1.0 / tr
    sd = data.std(axis=0)
    constant = sd == 0
    z = (data - data.mean(axis=0)) / np.where(constant, 1.0, sd)
    if sample_mask is None:
        freqs, power = signal.periodogram(z, fs, scaling="spectrum", axis=0)
    else:
        keep = np.asarray(sample_mask, dtype=bool)
        if keep.shape != (n,):
            raise ValueError(f"sample_mask must have shape ({n},); got {keep.shape}")
        times = (np.arange(n) * tr)[keep]
        freqs = np.linspace(0, 0.5 * fs, n // 2 + 1)[1:]
        kept = data[keep]
        kept_sd = kept.std(axis=0)
        censored = (kept - kept.mean(axis=0)) / np.where(kept_sd == 0, 1.0, kept_sd)
        # scipy's Lomb-Scargle takes one series at a time (as XCP-D calls it).
        power = np.zeros((freqs.size, censored.shape[1]))
        for i in np.flatnonzero(~constant):
            power[:, i] = signal.lombscargle(
                times, censored[:, i], 2 * np.pi * freqs, normalize=True
            )
    amplitude = np.sqrt(power)
    low, high = band
    low = freqs[0] if low == 0 else low
    high = freqs[-1] if high == 0 else high
    first, last = np.argmin(np.abs(freqs - low)), np.argmin(np.abs(freqs - high))
    in_band = amplitude[first:last]
    alff_values = 2 * in_band.mean(axis=0) * sd
    with np.errstate(invalid="ignore", divide="ignore"):
        falff_values = in_band.sum(axis=0) / amplitude[freqs > 0].sum(axis=0)
    alff_values[constant] = 0.0
    falff_values[constant] = np.nan
    return alff_values, falff_values
