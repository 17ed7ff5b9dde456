"""Filters over time, in numpy (float64): Gaussian smoothing of values and of quaternions, Savitzky–Golay.

Post-processing (`engine.post.postprocess`) and foot lock (`engine.post.footlock`) both smooth with these.
Edges are repeated (Gaussian) or fitted with one polynomial over the first/last window (Savitzky–Golay, as
scipy's default "interp" mode does).
"""

from __future__ import annotations

import numpy as np


def gaussian_kernel(sigma: float, truncate: float = 4.0) -> np.ndarray:
    """Normalised 1-d Gaussian weights over offsets -r..r with r = int(truncate·sigma + 0.5)."""
    radius = int(truncate * float(sigma) + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    w = np.exp(-0.5 * (x / sigma) ** 2)
    return w / w.sum()


def _neighbours(frames: int, radius: int) -> np.ndarray:
    """(frames, 2·radius + 1) indices of each frame's neighbours, the ends repeated."""
    return np.clip(np.arange(frames)[:, None] + np.arange(-radius, radius + 1)[None, :], 0, frames - 1)


def gaussian_smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing of (L, C) along axis 0 with the ends repeated (float64)."""
    x = np.asarray(x, dtype=np.float64)
    if sigma <= 0 or x.shape[0] < 2:
        return x.copy()
    weights = gaussian_kernel(sigma)
    return np.einsum("k,lkc->lc", weights, x[_neighbours(x.shape[0], len(weights) // 2)])


def smooth_quaternions(quats: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    """Gaussian-smooth (L, J, 4) quaternions along time; returns float64 unit quaternions, signs kept near input."""
    q = np.asarray(quats, dtype=np.float64)
    if sigma <= 0 or q.shape[0] < 2:
        return q.copy()
    weights = gaussian_kernel(sigma)
    window = q[_neighbours(q.shape[0], len(weights) // 2)]  # (L, K, J, 4)
    centre = q[:, None]
    window = np.where((window * centre).sum(-1, keepdims=True) < 0, -window, window)
    acc = np.einsum("k,lkji,lkjm->ljim", weights, window, window)
    _, vecs = np.linalg.eigh(acc)
    avg = vecs[..., -1]
    avg = np.where((avg * q).sum(-1, keepdims=True) < 0, -avg, avg)
    return avg / np.linalg.norm(avg, axis=-1, keepdims=True)


def savgol_coefficients(window: int, order: int) -> np.ndarray:
    """Least-squares polynomial fit operator: row d gives the d-th polynomial coefficient from a window."""
    offsets = np.arange(window, dtype=np.float64) - window // 2
    vander = offsets[:, None] ** np.arange(order + 1)[None, :]
    return np.linalg.pinv(vander)


def savgol_filter(x: np.ndarray, window: int = 11, order: int = 5) -> np.ndarray:
    """Savitzky–Golay smoothing of (L, C) along axis 0 (float64). Short clips use the largest odd window that
    fits; clips no longer than `order` come back unchanged."""
    x = np.asarray(x, dtype=np.float64)
    frames = x.shape[0]
    if window > frames:
        window = frames if frames % 2 else frames - 1
    if window <= order:
        return x.copy()
    half = window // 2
    fit = savgol_coefficients(window, order)
    out = np.empty_like(x)
    # Interior: the fitted polynomial's value at the window centre is coefficient 0.
    idx = np.arange(half, frames - half)[:, None] + np.arange(-half, half + 1)[None, :]
    out[half : frames - half] = np.einsum("w,lwc->lc", fit[0], x[idx])
    # Ends: one polynomial fitted to the first (last) window, evaluated at the frames it covers.
    offsets = np.arange(window, dtype=np.float64) - half
    vander = offsets[:, None] ** np.arange(order + 1)[None, :]
    head = vander @ (fit @ x[:window])
    tail = vander @ (fit @ x[frames - window :])
    out[:half] = head[:half]
    out[frames - half :] = tail[window - half :]
    return out
