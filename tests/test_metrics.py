"""Metrics against their textbook formulas, edge cases, matching and scorers."""

from __future__ import annotations

import numpy as np
import pytest

from skl_sepnmf.metrics import (
    SCORE_CAP_DB,
    bss_eval,
    make_separation_scorer,
    match_sources,
    sdr_scorer,
    separation_scores,
    si_sdr,
    si_sdr_scorer,
    snr,
    snr_scorer,
)


@pytest.fixture
def signals():
    rng = np.random.default_rng(0)
    return rng.standard_normal((3, 500)), rng.standard_normal((3, 500))


def test_snr_is_the_textbook_formula(signals):
    s, noise = signals
    estimate = s + 0.3 * noise
    expected = [
        20 * np.log10(np.linalg.norm(a) / np.linalg.norm(a - b))
        for a, b in zip(s, estimate, strict=True)
    ]
    np.testing.assert_allclose(snr(s, estimate), expected, rtol=1e-12)
    assert snr(s[0], estimate[0]) == pytest.approx(expected[0])


def test_si_sdr_is_the_textbook_formula_and_scale_invariant(signals):
    s, noise = signals
    estimate = 0.7 * s[0] + 0.2 * noise[0]
    alpha = estimate @ s[0] / (s[0] @ s[0])
    target = alpha * s[0]
    expected = 10 * np.log10(target @ target / np.sum((estimate - target) ** 2))
    assert si_sdr(s[0], estimate) == pytest.approx(expected, rel=1e-12)
    assert si_sdr(s[0], 5 * estimate) == pytest.approx(expected, rel=1e-12)
    shifted = estimate + 3.0
    assert si_sdr(s[0] + 1.0, shifted, zero_mean=True) == pytest.approx(
        si_sdr(s[0] - s[0].mean(), shifted - shifted.mean())
    )


def test_metrics_broadcast_over_leading_axes(signals):
    s, noise = signals
    estimates = s[None] + 0.1 * np.stack([noise, 2 * noise])
    assert snr(s, estimates).shape == (2, 3)
    assert si_sdr(s, estimates).shape == (2, 3)


@pytest.mark.parametrize("metric", [snr, si_sdr])
def test_silent_and_exact_cases_are_finite_and_documented(metric):
    silence, tone = np.zeros(64), np.sin(np.arange(64.0))
    assert metric(tone, tone) == SCORE_CAP_DB  # exact estimate
    assert metric(silence, silence) == SCORE_CAP_DB  # silence found
    assert metric(silence, tone) == -SCORE_CAP_DB  # sound where there is none
    values = metric(np.stack([silence, tone]), np.stack([tone, silence]))
    assert np.all(np.isfinite(values))


@pytest.mark.parametrize("metric", [snr, si_sdr])
@pytest.mark.parametrize("form", ["direct", "pairwise", "matched"])
def test_a_silent_estimate_of_a_sound_scores_the_low_cap(signals, metric, form):
    """Issue 13 (10): si_sdr(s, 0) was +100 and snr(s, 0) 0 dB."""
    from skl_sepnmf.metrics import _pairwise

    s, _ = signals
    silence = np.zeros_like(s)
    if form == "direct":
        values = metric(s, silence)
    elif form == "pairwise":
        values = _pairwise(metric, s, silence[:1])[:, 0]
    else:
        values = match_sources(s, silence, metric=metric)[1]
    np.testing.assert_array_equal(values, -SCORE_CAP_DB)


@pytest.mark.parametrize("metric", ["snr", "si_sdr"])
def test_matching_never_prefers_silence_to_a_real_estimate(signals, metric):
    s, noise = signals
    poor = s[:1] - 2.0 * s[:1] + 0.5 * noise[:1]  # negative SNR, but a sound
    estimates = np.concatenate([np.zeros_like(poor), poor])
    matched, scores = match_sources(s[:1], estimates, metric=metric)
    assert matched.tolist() == [1]
    assert scores[0] > -SCORE_CAP_DB
    table = separation_scores(s, np.zeros_like(s))
    assert table["snr"].mean() == table["si_sdr"].mean() == -SCORE_CAP_DB


@pytest.mark.parametrize("metric", [snr, si_sdr])
def test_mismatched_shapes_are_named(metric):
    with pytest.raises(ValueError, match=r"\(2, 100\) and \(2, 90\)"):
        metric(np.ones((2, 100)), np.ones((2, 90)))
    with pytest.raises(ValueError, match="do not broadcast"):
        metric(np.ones((2, 100)), np.ones((3, 100)))
    with pytest.raises(ValueError, match="nan or inf"):
        metric(np.ones(4), np.array([1, np.nan, 1, 1]))


def test_hungarian_matching_recovers_a_permutation(signals):
    s, noise = signals
    estimates = s[[2, 0, 1]] + 0.1 * noise
    matched, scores = match_sources(s, estimates)
    assert matched.tolist() == [1, 2, 0]
    np.testing.assert_allclose(scores, snr(s, estimates[matched]))


def test_best_matching_allows_repeats_hungarian_does_not():
    refs = np.array([[1.0, 0.0, 0.0, 0.0], [0.9, 0.1, 0.0, 0.0]])
    estimates = np.array([[1.0, 0.05, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]])
    best, _ = match_sources(refs, estimates, method="best")
    one_to_one, _ = match_sources(refs, estimates)
    assert best.tolist() == [0, 0]
    assert sorted(one_to_one.tolist()) == [0, 1]


def test_fewer_estimates_score_missing_references_as_silence(signals):
    s, _ = signals
    matched, scores = match_sources(s, s[:1])
    assert matched.tolist() == [0, -1, -1]
    assert scores[0] == SCORE_CAP_DB
    np.testing.assert_allclose(scores[1:], -SCORE_CAP_DB)  # silence: the low cap


def test_extra_estimates_are_ignored(signals):
    s, noise = signals
    estimates = np.concatenate([noise, s[::-1]])
    matched, scores = match_sources(s, estimates)
    assert matched.tolist() == [5, 4, 3]
    np.testing.assert_allclose(scores, SCORE_CAP_DB)


@pytest.mark.parametrize("metric", [snr, si_sdr])
def test_pairwise_gram_form_equals_direct_evaluation(signals, metric):
    """The Gram-form matrix against snr() / si_sdr() called on each pair."""
    from skl_sepnmf.metrics import _pairwise

    s, noise = signals
    silence = np.zeros((1, s.shape[1]))
    refs = np.concatenate([s, silence])
    estimates = np.concatenate(
        [
            s + 0.5 * noise,  # moderate scores
            s[:1] + 1e-3 * noise[:1],  # about 60 dB
            s[1:2],  # exact: the high cap
            0.3 * s[2:],  # rescaled: the high cap for si_sdr
            0.3 * noise,
            silence,
        ]
    )
    gram = _pairwise(metric, refs, estimates)
    direct = np.array([[metric(r, e) for e in estimates] for r in refs])
    assert gram.shape == (4, 10)
    np.testing.assert_allclose(gram, direct, rtol=0, atol=1e-9)
    assert (gram == SCORE_CAP_DB).any() and (gram == -SCORE_CAP_DB).any()
    # the scores reported for the matched pairs are the direct formula's
    matched, scores = match_sources(refs, estimates, metric=metric)
    expected = [metric(r, estimates[j]) for r, j in zip(refs, matched, strict=True)]
    np.testing.assert_allclose(scores, expected, rtol=1e-13)


def test_matching_needs_no_pairs_by_times_array():
    """6 x 6 sources of 2e5 samples: 58 MB for an n_ref x n_est x n_times array."""
    import tracemalloc

    rng = np.random.default_rng(1)
    n_sources, n_times = 6, 200_000
    refs = rng.standard_normal((n_sources, n_times))
    estimates = refs[::-1] + 0.1 * rng.standard_normal((n_sources, n_times))
    all_pairs = n_sources * n_sources * n_times * 8
    for metric in (snr, si_sdr):
        tracemalloc.start()
        try:
            matched, _ = match_sources(refs, estimates, metric=metric)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert matched.tolist() == [5, 4, 3, 2, 1, 0]
        # a few signals' worth of temporaries at most (one source is 1.6 MB)
        assert peak < all_pairs / 10, f"{metric.__name__}: {peak / 2**20:.1f} MiB"


def test_a_custom_metric_is_called_on_one_pair_at_a_time(signals):
    s, noise = signals
    shapes = []

    def negative_mse(reference, estimate):
        shapes.append((np.shape(reference), np.shape(estimate)))
        return -float(np.mean((reference - estimate) ** 2))

    estimates = s[[2, 0, 1]] + 0.1 * noise
    matched, scores = match_sources(s, estimates, metric=negative_mse)
    assert matched.tolist() == [1, 2, 0]
    assert set(shapes) == {((500,), (500,))}
    assert len(shapes) == 3 + 3 * 3  # each reference against silence, then pairs
    expected = [-np.mean((s[i] - estimates[j]) ** 2) for i, j in enumerate(matched)]
    np.testing.assert_allclose(scores, expected)


def test_multichannel_sources_are_scored_as_one_signal(signals):
    s, noise = signals
    stereo = np.stack([s, s[::-1]], axis=1)  # (3, 2, 500)
    estimate = stereo + 0.1 * np.stack([noise, noise], axis=1)
    matched, scores = match_sources(stereo, estimate)
    assert matched.tolist() == [0, 1, 2]
    expected = snr(stereo.reshape(3, -1), estimate.reshape(3, -1))
    np.testing.assert_allclose(scores, expected)
    with pytest.raises(ValueError, match="same channels and length"):
        match_sources(stereo, s)


def test_separation_scores_table(signals):
    s, noise = signals
    estimates = s[::-1] + 0.1 * noise
    table = separation_scores(s, estimates)
    assert table["estimate"].tolist() == [2, 1, 0]
    assert set(table) == {"reference", "estimate", "snr", "si_sdr"}
    np.testing.assert_allclose(table["snr"], snr(s, estimates[::-1]))
    np.testing.assert_allclose(table["si_sdr"], si_sdr(s, estimates[::-1]))


class _Identity:
    """Returns the sources it is handed: a perfect 'separator'."""

    def transform(self, X):
        return X


def test_scorers_average_matched_scores_over_mixtures(signals):
    s, noise = signals
    Y = np.stack([s, s])
    X = np.stack([s[::-1], s + 0.1 * noise])
    per_mixture = [SCORE_CAP_DB, snr(s, s + 0.1 * noise).mean()]
    assert snr_scorer(_Identity(), X, Y) == pytest.approx(np.mean(per_mixture))
    assert si_sdr_scorer(_Identity(), X, Y) > 0
    scorer = make_separation_scorer("snr", matching="best")
    assert scorer(_Identity(), X, Y) == pytest.approx(np.mean(per_mixture))
    with pytest.raises(ValueError, match="metric must be one of"):
        make_separation_scorer("pesq")
    with pytest.raises(ValueError, match="2 sets of reference sources for 1"):
        snr_scorer(_Identity(), X[:1], Y)


def _dev_stems(name, start, seconds):
    """Excerpts of the true stems of a dev mixture (real instruments)."""
    from skl_sepnmf.datasets import load_stems, stem_files
    from tests.conftest import DATA_DIR

    folder = DATA_DIR / "dev" / name
    if not folder.exists():
        pytest.skip(f"{folder} is absent")
    _, stems, sr, _ = load_stems(stem_files(folder, mixture_name="mix"))
    a = int(start * sr)
    return stems[:, a : a + int(seconds * sr)].astype(np.float64)


def test_bss_eval_equals_mir_eval_on_real_stems():
    """SDR/SIR/SAR and the permutation of mir_eval's bss_eval_sources, 1e-3 dB."""
    mir_eval = pytest.importorskip("mir_eval")
    # viola and tuba, 0.5 s at 22.05 kHz (mir_eval takes ~1 s per pair)
    refs = _dev_stems("duet_bwv269", 4.0, 0.5)
    rng = np.random.default_rng(0)
    # a plausible separation: permuted, leaking the mixture, filtered, noisy
    leaked = 0.7 * refs[::-1] + 0.15 * refs.sum(axis=0)
    estimates = np.apply_along_axis(np.convolve, 1, leaked, [1.0, 0.4, -0.2], "same")
    estimates += 0.01 * rng.standard_normal(estimates.shape)
    table = bss_eval(refs, estimates)
    with pytest.warns(FutureWarning):  # deprecated in mir_eval 0.8, still the field's
        sdr, sir, sar, perm = mir_eval.separation.bss_eval_sources(refs, estimates)
    assert table["estimate"].tolist() == perm.tolist() == [1, 0]
    np.testing.assert_allclose(table["sdr"], sdr, rtol=0, atol=1e-3)
    np.testing.assert_allclose(table["sir"], sir, rtol=0, atol=1e-3)
    np.testing.assert_allclose(table["sar"], sar, rtol=0, atol=1e-3)
    # the SDR forgives the filter that the SNR counts as error
    assert np.all(table["sdr"] > snr(refs, estimates[perm]) + 1.0)


def test_bss_eval_matches_one_to_one_like_match_sources(signals):
    s, noise = signals
    estimates = np.concatenate([noise[:1], s[[2, 0, 1]] + 0.1 * noise])  # one extra
    for match_on in ("sir", "sdr"):
        table = bss_eval(s, estimates, match_on=match_on, filter_length=16)
        assert table["estimate"].tolist() == [2, 3, 1]
    fewer = bss_eval(s, estimates[1:3], filter_length=16)
    assert sorted(fewer["estimate"].tolist()) == [-1, 0, 1]
    assert fewer["sdr"][fewer["estimate"] == -1] == -SCORE_CAP_DB
    best = bss_eval(s, np.stack([s[0], s[0]]), method="best", filter_length=16)
    assert best["estimate"].tolist()[0] in (0, 1)
    with pytest.raises(ValueError, match="match_on must be"):
        bss_eval(s, s, match_on="snr")


def test_bss_eval_silent_signals_are_finite_and_documented(signals):
    s, _ = signals
    silence = np.zeros_like(s[0])
    # a silent estimate of a sounding reference: the low cap in all three
    table = bss_eval(s[:2], np.stack([s[0], silence]), filter_length=16)
    assert table["estimate"].tolist() == [0, 1]
    assert table["sdr"][0] == SCORE_CAP_DB
    for name in ("sdr", "sir", "sar"):
        assert table[name][1] == -SCORE_CAP_DB
    # a silent reference: +cap against silence, -cap against sound
    refs = np.stack([s[0], silence])
    found = bss_eval(refs, np.stack([s[0] + 0.1 * s[1], silence]), filter_length=16)
    missed = bss_eval(refs, np.stack([s[0], s[1]]), filter_length=16)
    assert [found[n][1] for n in ("sdr", "sir", "sar")] == [SCORE_CAP_DB] * 3
    assert [missed[n][1] for n in ("sdr", "sir", "sar")] == [-SCORE_CAP_DB] * 3
    everything = bss_eval(np.zeros((2, 500)), np.zeros((2, 500)))
    assert np.all(np.isfinite(everything["sdr"]))
    with pytest.raises(ValueError, match="linearly dependent"):
        bss_eval(np.stack([s[0], s[0]]), s[:2], filter_length=16)
    with pytest.raises(ValueError, match="nan or inf"):
        bss_eval(s, np.full_like(s, np.nan))


def test_sdr_scorer_is_bss_eval_sdr():
    rng = np.random.default_rng(2)
    s, noise = rng.standard_normal((2, 2, 4000))  # longer than the 512-tap filter
    X = np.stack([s[::-1] + 0.1 * noise])
    expected = bss_eval(s, X[0])["sdr"].mean()
    assert sdr_scorer(_Identity(), X, s[None]) == pytest.approx(expected)
    assert make_separation_scorer("sdr").__name__ == "sdr_scorer"
