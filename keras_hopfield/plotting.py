"""Figures for memory experiments (matplotlib, optional).

matplotlib is imported lazily inside the functions, so `keras_hopfield`
works without it; install it with `pip install "keras-hopfield[plots]"`.
Figures are built on matplotlib's non-interactive Agg canvas
(`matplotlib.figure.Figure`, no pyplot state), so plotting works headless
and never changes the user's global backend. Every function returns the
`Figure`; save it with `save_figure` or `fig.savefig`.

Inputs may be NumPy arrays or backend tensors of any Keras backend.
"""

import math

import numpy as np

__all__ = [
    "image_grid",
    "retrieval_grid",
    "plot_energy",
    "plot_convergence",
    "convergence_distances",
    "plot_metric_vs_strength",
    "plot_robustness_grid",
    "save_figure",
]

_INSTALL_HINT = 'keras_hopfield.plotting needs matplotlib; install it with `pip install "keras-hopfield[plots]"`.'


def _matplotlib():
    try:
        import matplotlib
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as err:  # pragma: no cover - exercised by monkeypatching in tests
        raise ImportError(_INSTALL_HINT) from err
    return matplotlib, Figure, FigureCanvasAgg


def _new_figure(figsize):
    _, Figure, FigureCanvasAgg = _matplotlib()
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _to_numpy(x):
    if x is None:
        return None
    if isinstance(x, np.ndarray):
        return x
    try:
        from keras import ops

        return np.asarray(ops.convert_to_numpy(x))
    except Exception:  # plain sequences
        return np.asarray(x)


def _as_rgb(images, known=None, mask_color=(1.0, 0.0, 0.0)):
    """(N, H, W, C) or (N, H, W) in [0, 1] -> (N, H, W, 3), obscured pixels coloured."""
    images = _to_numpy(images).astype("float32")
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4:
        raise ValueError(f"Expected images of shape (N, H, W[, C]); received {images.shape}.")
    if images.shape[-1] == 1:
        images = np.repeat(images, 3, axis=-1)
    elif images.shape[-1] != 3:
        raise ValueError(f"Images must have 1 or 3 channels to be shown; received {images.shape[-1]}.")
    images = np.clip(images, 0.0, 1.0)
    if known is not None:
        known = _to_numpy(known).astype(bool)
        if known.ndim == 4:
            known = known.all(axis=-1)
        if known.shape != images.shape[:3]:
            raise ValueError(f"Mask shape {known.shape} does not match images {images.shape}.")
        images = images.copy()
        images[~known] = np.asarray(mask_color, dtype="float32")
    return images


def image_grid(rows, row_labels=None, masks=None, n=8, mask_color=(1.0, 0.0, 0.0), title=None, scale=1.2):
    """Show image batches as rows of a grid.

    Row r, column j shows image j of batch r; pixels whose mask entry is
    `False` (unknown / obscured) are painted in `mask_color` (red, as in the
    CBAN paper's completion figures):

        shown_rj = known_rj * x_rj + (1 - known_rj) * mask_color

    Args:
        rows: Sequence of image batches `(N, H, W, C)` (C = 1 or 3) or
            `(N, H, W)` in [0, 1], or a dict `label -> batch`.
        row_labels: Optional labels drawn left of each row.
        masks: Optional sequence aligned with `rows` of boolean known-pixel
            masks (or `None` for rows without a mask).
        n: Number of columns (images per row).
        mask_color: RGB colour in [0, 1] for obscured pixels.
        title: Optional figure title.
        scale: Size in inches of one grid cell.

    Returns:
        A `matplotlib.figure.Figure`.

    Raises:
        ImportError: If matplotlib is not installed.
        ValueError: For inconsistent row, label or mask counts.

    Example:
        >>> import numpy as np
        >>> from keras_hopfield.plotting import image_grid
        >>> fig = image_grid([np.zeros((4, 8, 8, 1)), np.ones((4, 8, 8, 1))], ["a", "b"], n=4)
        >>> len(fig.axes)
        8
    """
    if isinstance(rows, dict):
        row_labels = list(rows) if row_labels is None else row_labels
        rows = list(rows.values())
    rows = list(rows)
    if not rows:
        raise ValueError("`rows` is empty.")
    masks = [None] * len(rows) if masks is None else list(masks)
    if len(masks) != len(rows):
        raise ValueError(f"Got {len(masks)} masks for {len(rows)} rows.")
    if row_labels is not None and len(row_labels) != len(rows):
        raise ValueError(f"Got {len(row_labels)} labels for {len(rows)} rows.")
    shown = [_as_rgb(batch, mask, mask_color) for batch, mask in zip(rows, masks)]
    cols = max(1, min(int(n), min(len(batch) for batch in shown)))
    fig = _new_figure((scale * cols + (0.8 if row_labels else 0.0), scale * len(rows) + (0.4 if title else 0.0)))
    axes = fig.subplots(len(rows), cols, squeeze=False)
    for r, batch in enumerate(shown):
        for j in range(cols):
            ax = axes[r, j]
            ax.imshow(batch[j], interpolation="nearest", vmin=0.0, vmax=1.0)
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
        if row_labels is not None:
            axes[r, 0].set_ylabel(str(row_labels[r]), rotation=0, ha="right", va="center", fontsize=9)
    if title:
        fig.suptitle(title)
    return fig


def retrieval_grid(original, corrupted, retrieved, known=None, n=8, title=None, mask_color=(1.0, 0.0, 0.0)):
    """Original / corrupted / retrieved rows, obscured pixels in red.

        rows = [x, x~ (unknown pixels in red), f(x~)]

    Args:
        original: Clean images `(N, H, W, C)`.
        corrupted: Memory inputs, same shape.
        retrieved: Memory outputs, same shape.
        known: Optional boolean known-pixel mask of `corrupted` (from a
            masking corruption).
        n: Number of columns.
        title: Optional figure title.
        mask_color: RGB colour for obscured pixels.

    Returns:
        A `matplotlib.figure.Figure` with three rows.

    Raises:
        ImportError: If matplotlib is not installed.

    Example:
        >>> import numpy as np
        >>> from keras_hopfield.plotting import retrieval_grid
        >>> x = np.zeros((3, 8, 8, 1))
        >>> len(retrieval_grid(x, x, x, n=3).axes)
        9
    """
    return image_grid(
        [original, corrupted, retrieved],
        ["original", "corrupted", "retrieved"],
        masks=[None, known, None],
        n=n,
        title=title,
        mask_color=mask_color,
    )


def _curves(values, labels):
    """Normalise one curve, a (T, N) array or a list/dict of them to [(label, (T, N))]."""
    if isinstance(values, dict):
        items = list(values.items())
    elif isinstance(values, (list, tuple)) and values and np.ndim(_to_numpy(values[0])) >= 1:
        items = list(zip(labels or [None] * len(values), values))
    else:
        items = [(labels[0] if labels else None, values)]
    out = []
    for label, v in items:
        arr = _to_numpy(v).astype("float64")
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2:
            raise ValueError(f"Curves must be (T,) or (T, N); received shape {arr.shape}.")
        out.append((label, arr))
    return out


def _plot_curves(ax, curves, band):
    for label, arr in curves:
        steps = np.arange(arr.shape[0])
        mean = arr.mean(axis=1)
        (line,) = ax.plot(steps, mean, label=label)
        if band and arr.shape[1] > 1:
            std = arr.std(axis=1)
            ax.fill_between(steps, mean - std, mean + std, color=line.get_color(), alpha=0.2, linewidth=0)


def plot_energy(energies, labels=None, title="Energy per step", ylabel="energy", band=True, figsize=(4.5, 3.2)):
    """Energy of the state at every retrieval step.

    For a batch of trajectories the curve is the mean over samples with a
    +-1 standard-deviation band:

        E_bar(t) = (1 / N) * sum_n E(s_n(t))

    Args:
        energies: `(T,)` or `(T, N)` array, or a list / dict of them (one
            curve each).
        labels: Curve labels (for a list input).
        title: Axes title.
        ylabel: Y-axis label.
        band: Draw the standard-deviation band for `(T, N)` input.
        figsize: Figure size in inches.

    Returns:
        A `matplotlib.figure.Figure`.

    Raises:
        ImportError: If matplotlib is not installed.

    Example:
        >>> import numpy as np
        >>> from keras_hopfield.plotting import plot_energy
        >>> fig = plot_energy(-np.log1p(np.arange(10.0)))
        >>> len(fig.axes[0].lines)
        1
    """
    curves = _curves(energies, labels)
    fig = _new_figure(figsize)
    ax = fig.add_subplot()
    _plot_curves(ax, curves, band)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if any(label is not None for label, _ in curves):
        ax.legend(fontsize=8)
    return fig


def convergence_distances(trajectory):
    """Per-step change of a state trajectory.

        d_n(t) = || s_n(t) - s_n(t - 1) ||_2,   t = 1 .. T - 1

    Args:
        trajectory: States `(T, N, ...)` (T steps of a batch of N states).

    Returns:
        NumPy array `(T - 1, N)`.

    Raises:
        ValueError: For fewer than 2 steps or no batch axis.

    Example:
        >>> import numpy as np
        >>> from keras_hopfield.plotting import convergence_distances
        >>> convergence_distances(np.array([[[0.0]], [[3.0]], [[4.0]]])).ravel().tolist()
        [3.0, 1.0]
    """
    traj = _to_numpy(trajectory).astype("float64")
    if traj.ndim < 2 or traj.shape[0] < 2:
        raise ValueError(f"`trajectory` must be (T >= 2, N, ...); received shape {traj.shape}.")
    diff = (traj[1:] - traj[:-1]).reshape(traj.shape[0] - 1, traj.shape[1], -1)
    return np.sqrt((diff**2).sum(axis=-1))


def plot_convergence(distances, labels=None, title="Convergence", ylabel="||s(t) - s(t-1)||", logy=True,
                     band=True, figsize=(4.5, 3.2)):
    """Convergence curve(s): a per-step distance on a log scale.

    Typical inputs are `convergence_distances(trajectory)` or the error to
    the stored pattern per step, `MSE(x, s(t))`.

    Args:
        distances: `(T,)` or `(T, N)` array, or a list / dict of them.
        labels: Curve labels (for a list input).
        title: Axes title.
        ylabel: Y-axis label.
        logy: Use a logarithmic y-axis.
        band: Draw the standard-deviation band for `(T, N)` input.
        figsize: Figure size in inches.

    Returns:
        A `matplotlib.figure.Figure`.

    Raises:
        ImportError: If matplotlib is not installed.

    Example:
        >>> import numpy as np
        >>> from keras_hopfield.plotting import plot_convergence
        >>> fig = plot_convergence(0.5 ** np.arange(10))
        >>> fig.axes[0].get_yscale()
        'log'
    """
    curves = _curves(distances, labels)
    fig = _new_figure(figsize)
    ax = fig.add_subplot()
    _plot_curves(ax, curves, band)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if any(label is not None for label, _ in curves):
        ax.legend(fontsize=8)
    return fig


def _errorbar_curves(ax, curves, logy=False):
    for label, curve in curves.items():
        if isinstance(curve, dict):
            x, y, err = curve["strength"], curve["mean"], curve.get("std")
        else:
            x, y, err = (list(curve) + [None])[:3]
        x, y = np.asarray(x, dtype="float64"), np.asarray(y, dtype="float64")
        err = None if err is None else np.asarray(err, dtype="float64")
        ax.errorbar(x, y, yerr=err, marker="o", markersize=3, capsize=2, label=label)
    if logy:
        ax.set_yscale("log")


def plot_metric_vs_strength(curves, xlabel="perturbation strength", ylabel="MSE", title=None, logy=False,
                            figsize=(4.5, 3.2)):
    """Metric against perturbation strength with error bars.

    Each curve plots mean +- standard deviation over images:

        y(s) = mean_n m(x_n, f(T_s(x_n))),   err(s) = std_n m(x_n, f(T_s(x_n)))

    Args:
        curves: Dict `label -> (strengths, means, stds)` (stds may be `None`)
            or `label -> {"strength": ..., "mean": ..., "std": ...}`.
        xlabel: X-axis label.
        ylabel: Y-axis label.
        title: Axes title.
        logy: Use a logarithmic y-axis.
        figsize: Figure size in inches.

    Returns:
        A `matplotlib.figure.Figure`.

    Raises:
        ImportError: If matplotlib is not installed.

    Example:
        >>> from keras_hopfield.plotting import plot_metric_vs_strength
        >>> fig = plot_metric_vs_strength({"model": ([0.1, 0.2], [0.01, 0.02], [0.001, 0.002])})
        >>> fig.axes[0].get_xlabel()
        'perturbation strength'
    """
    fig = _new_figure(figsize)
    ax = fig.add_subplot()
    _errorbar_curves(ax, curves, logy)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


def plot_robustness_grid(records, metric="mse", group_key="perturbation", series_key="model",
                         strength_key="strength", ncols=4, logy=False, title=None, panel_size=(3.0, 2.4)):
    """One panel per perturbation: metric vs strength, one curve per model.

    This is the layout of the CRHN paper's robustness figure (Fig. 6): for
    every attack or corruption a panel with the retrieval error against the
    perturbation strength, error bars giving the spread over images.

    Args:
        records: Iterable of dicts (e.g. rows of the robustness CSV) with
            keys `group_key`, `series_key`, `strength_key`, `"<metric>_mean"`
            and optionally `"<metric>_std"`.
        metric: Metric name prefix, e.g. `"mse"`.
        group_key: Key whose values define the panels.
        series_key: Key whose values define the curves inside a panel.
        strength_key: Key of the x value.
        ncols: Panels per row.
        logy: Use logarithmic y-axes.
        title: Optional figure title.
        panel_size: Size in inches of one panel.

    Returns:
        A `matplotlib.figure.Figure`.

    Raises:
        ImportError: If matplotlib is not installed.
        ValueError: If there are no records or the metric columns are missing.

    Example:
        >>> from keras_hopfield.plotting import plot_robustness_grid
        >>> rows = [{"perturbation": "fgsm", "model": "m", "strength": s, "mse_mean": s / 10, "mse_std": 0.0}
        ...         for s in (0.1, 0.2)]
        >>> len(plot_robustness_grid(rows).axes)
        1
    """
    records = list(records)
    if not records:
        raise ValueError("`records` is empty.")
    mean_key, std_key = f"{metric}_mean", f"{metric}_std"
    if mean_key not in records[0]:
        raise ValueError(f"Records have no '{mean_key}' column; keys: {sorted(records[0])}.")
    groups = list(dict.fromkeys(r[group_key] for r in records))
    ncols = max(1, min(int(ncols), len(groups)))
    nrows = math.ceil(len(groups) / ncols)
    fig = _new_figure((panel_size[0] * ncols, panel_size[1] * nrows + (0.4 if title else 0.0)))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for k, group in enumerate(groups):
        ax = axes[k // ncols, k % ncols]
        rows = [r for r in records if r[group_key] == group]
        curves = {}
        for series in dict.fromkeys(r[series_key] for r in rows):
            sel = sorted((r for r in rows if r[series_key] == series), key=lambda r: float(r[strength_key]))
            stds = [float(r[std_key]) for r in sel] if std_key in sel[0] and sel[0][std_key] not in ("", None) else None
            curves[series] = (
                [float(r[strength_key]) for r in sel],
                [float(r[mean_key]) for r in sel],
                stds,
            )
        _errorbar_curves(ax, curves, logy)
        ax.set_title(str(group), fontsize=10)
        ax.set_xlabel("strength", fontsize=8)
        ax.set_ylabel(metric.upper(), fontsize=8)
        ax.tick_params(labelsize=7)
        if len(curves) > 1 and k == 0:
            ax.legend(fontsize=7)
    for k in range(len(groups), nrows * ncols):
        axes[k // ncols, k % ncols].set_visible(False)
    if title:
        fig.suptitle(title)
    return fig


def save_figure(fig, path, dpi=100, **kwargs):
    """Save a figure (PNG, PDF or SVG by file extension), creating parent folders.

    Args:
        fig: A `matplotlib.figure.Figure`.
        path: Output file path.
        dpi: Resolution for raster formats.
        **kwargs: Passed to `Figure.savefig`.

    Returns:
        The path as a string.

    Example:
        >>> import os, tempfile, numpy as np
        >>> from keras_hopfield.plotting import plot_energy, save_figure
        >>> path = save_figure(plot_energy(np.arange(3.0)), os.path.join(tempfile.mkdtemp(), "e.png"))
        >>> os.path.getsize(path) > 0
        True
    """
    import os

    path = os.fspath(path)
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    fig.savefig(path, dpi=dpi, **kwargs)
    return path
