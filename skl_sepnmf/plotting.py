"""Figures of a factorization (matplotlib, the optional ``plot`` extra)."""

from __future__ import annotations

import numpy as np


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as error:  # pragma: no cover - depends on the install
        raise ImportError(
            "skl_sepnmf.plotting needs matplotlib: pip install 'skl-sepnmf[plot]'"
        ) from error
    return plt


def plot_components(
    components,
    activations,
    *,
    sr=22050,
    hop_length=512,
    n_fft=None,
    title=None,
    floor=1e-2,
):
    """Spectra (log scale) and activations over time of each component.

    The notebook's two figures in one: for component k, its template
    ``components[k]`` as ``log10`` magnitude against frequency, and its
    activation ``activations[:, k]`` against time.

    Parameters
    ----------
    components : ndarray of shape (n_components, n_bins)
        Spectral templates (an estimator's ``components_``).
    activations : ndarray of shape (n_frames, n_components)
        Activations (``transform`` of the frames).
    sr : int, default=22050
        Sample rate, for the frequency and time axes.
    hop_length : int, default=512
        Samples between frames, for the time axis.
    n_fft : int, default=None
        FFT size; None infers it from the number of bins, ``2 (n_bins - 1)``.
    title : str, default=None
    floor : float, default=1e-2
        Lowest magnitude drawn on the log axis, relative to 1 (the notebook's
        ``ylim(-2, ...)``).

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    plt = _pyplot()
    components = np.asarray(components)
    activations = np.asarray(activations)
    n_components, n_bins = components.shape
    n_fft = 2 * (n_bins - 1) if n_fft is None else n_fft
    freqs = np.arange(n_bins) * sr / n_fft
    times = np.arange(activations.shape[0]) * hop_length / sr
    fig, axes = plt.subplots(
        n_components, 2, figsize=(12, 1.4 * n_components + 1), squeeze=False
    )
    top = np.log10(max(components.max(), floor))
    for k in range(n_components):
        spectrum, activation = axes[k]
        spectrum.plot(freqs, np.log10(components[k] + 1e-16), lw=0.6)
        spectrum.set_ylim(np.log10(floor), top + 0.1)
        spectrum.set_xlim(0, freqs[-1])
        spectrum.set_ylabel(f"#{k}")
        activation.plot(times, activations[:, k], lw=0.8)
        activation.set_xlim(0, times[-1] if len(times) > 1 else 1)
        activation.set_ylim(0, activations.max() * 1.05 or 1)
    axes[0, 0].set_title("spectrum (log10 magnitude)")
    axes[0, 1].set_title("activation")
    axes[-1, 0].set_xlabel("frequency (Hz)")
    axes[-1, 1].set_xlabel("time (s)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_grid_results(grid, x="estimator__n_components", ax=None):
    """Mean test score against one parameter, one line per other setting.

    Parameters
    ----------
    grid : fitted GridSearchCV
    x : str, default="estimator__n_components"
        Parameter on the horizontal axis.
    ax : matplotlib Axes, default=None

    Returns
    -------
    ax : matplotlib Axes
    """
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    results = grid.cv_results_
    lines: dict[str, list[tuple[float, float]]] = {}
    for params, score in zip(
        results["params"], results["mean_test_score"], strict=True
    ):
        label = ", ".join(
            f"{key.removeprefix('estimator__')}={_short(value)}"
            for key, value in sorted(params.items())
            if key != x
        )
        lines.setdefault(label, []).append((params[x], score))
    for label, points in sorted(lines.items()):
        points.sort()
        ax.plot(*zip(*points, strict=True), marker="o", label=label)
    ax.set_xlabel(x.removeprefix("estimator__"))
    ax.set_ylabel("mean test score")
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    return ax


def _short(value):
    """A parameter value as a legend shows it (estimators by class name)."""
    return type(value).__name__ if hasattr(value, "get_params") else value


def plot_sources(
    sources,
    *,
    sr=22050,
    n_fft=2048,
    hop_length=512,
    names=None,
    references=None,
):
    """Spectrograms (dB) of separated sources, one row each, on a shared scale.

    Parameters
    ----------
    sources : ndarray of shape (n_sources, n_times) or (n_sources, n_channels, n_times)
        Waveforms (multichannel sources are shown mixed down to mono).
    sr : int, default=22050
    n_fft : int, default=2048
    hop_length : int, default=512
    names : list of str, default=None
        Row labels; ``source k`` by default.
    references : ndarray of the shape of ``sources``, default=None
        The true sources, in the same order (e.g. matched by
        :func:`~skl_sepnmf.metrics.match_sources`): drawn in a second column,
        on the same scale, beside each estimate.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    import librosa

    plt = _pyplot()
    columns = [np.asarray(sources)]
    if references is not None:
        columns.append(np.asarray(references))
        if columns[1].shape != columns[0].shape:
            raise ValueError(
                f"references of shape {columns[1].shape} for sources of shape "
                f"{columns[0].shape}."
            )
    columns = [c.mean(axis=1) if c.ndim == 3 else c for c in columns]
    spectra = [
        np.abs(librosa.stft(c, n_fft=n_fft, hop_length=hop_length)) for c in columns
    ]
    top = max(float(s.max()) for s in spectra) or 1.0
    decibels = [librosa.amplitude_to_db(s, ref=top, top_db=None) for s in spectra]
    n_rows = len(columns[0])
    names = names or [f"source {k}" for k in range(n_rows)]
    fig, axes = plt.subplots(
        n_rows,
        len(columns),
        figsize=(10, 1.8 * n_rows + 0.5),
        squeeze=False,
        sharex=True,
        sharey=True,
    )
    extent = [0, columns[0].shape[-1] / sr, 0, sr / 2]
    for c, images in enumerate(decibels):
        for ax, image in zip(axes[:, c], images, strict=True):
            shown = ax.imshow(
                image, origin="lower", aspect="auto", extent=extent, vmin=-80, vmax=0
            )
    for ax, name in zip(axes[:, 0], names, strict=True):
        ax.set_ylabel(f"{name}\nHz")
    if references is not None:
        axes[0, 0].set_title("separated")
        axes[0, 1].set_title("reference")
    for ax in axes[-1]:
        ax.set_xlabel("time (s)")
    fig.colorbar(shown, ax=axes.ravel().tolist(), label="dB")
    return fig


def audio_players(signals, sr, *, names=None, start=0.0, duration=5.0):
    """Audio players of an excerpt of each signal, for a notebook or the docs.

    Each signal becomes an :class:`IPython.display.Audio` (the audio embedded
    in the page, rendered by Jupyter and by sphinx-gallery as an HTML
    ``<audio>`` element), labelled, in one table. The levels are kept (no
    per-player normalization, samples clipped to [-1, 1]), so that a quiet
    source sounds quiet. The excerpts are embedded as MP3 when libsndfile
    writes it (1.1 and later: 5 s of 22050 Hz mono in 30 kB, every browser
    plays it), else as 16-bit WAV (220 kB).

    Parameters
    ----------
    signals : sequence of ndarray of shape (n_times,) or (n_channels, n_times)
        Waveforms at rate ``sr`` (e.g. the mixture, then each source).
    sr : int
        Sample rate, Hz.
    names : list of str, default=None
        Labels; ``signal k`` by default.
    start : float, default=0.0
        Start of the excerpt, in seconds.
    duration : float or None, default=5.0
        Length of the excerpt, in seconds (None: to the end).

    Returns
    -------
    players : IPython.display.HTML
    """
    import html
    import tempfile
    from pathlib import Path

    import soundfile as sf

    try:
        from IPython.display import HTML, Audio
    except ImportError as error:  # pragma: no cover - depends on the install
        raise ImportError("audio_players needs IPython: pip install ipython") from error
    names = names or [f"signal {k}" for k in range(len(signals))]
    if len(names) != len(signals):
        raise ValueError(f"{len(names)} names for {len(signals)} signals.")
    begin = int(round(start * sr))
    end = None if duration is None else begin + int(round(duration * sr))
    suffix = ".mp3" if "MP3" in sf.available_formats() else ".wav"
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for k, (name, signal) in enumerate(zip(names, signals, strict=True)):
            excerpt = np.clip(
                np.asarray(signal, dtype=np.float64)[..., begin:end], -1, 1
            )
            path = Path(folder) / f"{k}{suffix}"
            sf.write(path, excerpt.T, sr)  # soundfile wants (n_times, n_channels)
            player = Audio(filename=path)._repr_html_()
            rows.append(f"<tr><td>{html.escape(str(name))}</td><td>{player}</td></tr>")
    return HTML("<table>" + "".join(rows) + "</table>")
