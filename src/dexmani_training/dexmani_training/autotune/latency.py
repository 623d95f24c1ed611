"""Delay estimation by cross-correlation.

Command → motion latency cannot be read off the command and the measured motion directly: a
PD-controlled joint lags its command by its own dynamics (about (kd + damping) / kp, tens of ms),
on top of the transport latency. Autotune therefore correlates the measured motion with the
motion the *simulator* produces from the same commands at zero latency: both carry the PD lag,
so the shift between them is the latency (up to the mismatch of the initial physics; the search
refines it). Both estimates are reported.
"""

from __future__ import annotations

import numpy as np


def estimate_delay_s(reference: np.ndarray, delayed: np.ndarray, rate_hz: float, max_delay_s: float = 0.2,
                     min_delay_s: float | None = None) -> float:
    """How much later ``delayed`` is than ``reference`` (s), from the peak of their summed
    cross-correlation over joints, refined to a fraction of a sample by a parabola.

    Both arrays are (T, J) on the same grid. Velocities (first differences) are correlated so
    offsets and slow drifts do not count; each joint is normalized so small joints count too.
    """
    a = np.atleast_2d(np.asarray(reference, dtype=float).T).T
    b = np.atleast_2d(np.asarray(delayed, dtype=float).T).T
    if a.shape != b.shape or a.shape[0] < 4:
        raise ValueError(f"need two (T, J) arrays of equal shape with T >= 4, got {a.shape} and {b.shape}")
    da, db = np.diff(a, axis=0), np.diff(b, axis=0)
    da -= da.mean(axis=0)
    db -= db.mean(axis=0)
    na, nb = np.linalg.norm(da, axis=0), np.linalg.norm(db, axis=0)
    use = (na > 1e-12) & (nb > 1e-12)
    if not np.any(use):
        raise ValueError("no joint moves in both signals; cannot estimate a delay")
    da, db = da[:, use] / na[use], db[:, use] / nb[use]
    max_lag = max(1, int(np.ceil(max_delay_s * rate_hz)))
    min_lag = -max_lag if min_delay_s is None else int(np.floor(min_delay_s * rate_hz))
    lags = np.arange(min_lag, max_lag + 1)
    n = da.shape[0]
    score = np.empty(lags.size)
    for i, lag in enumerate(lags):
        if lag >= 0:
            score[i] = np.sum(da[: n - lag] * db[lag:])
        else:
            score[i] = np.sum(da[-lag:] * db[: n + lag])
    k = int(np.argmax(score))
    frac = 0.0
    if 0 < k < lags.size - 1:
        y0, y1, y2 = score[k - 1], score[k], score[k + 1]
        denom = y0 - 2 * y1 + y2
        if denom < 0:
            frac = float(np.clip(0.5 * (y0 - y2) / denom, -0.5, 0.5))
    return float((lags[k] + frac) / rate_hz)
