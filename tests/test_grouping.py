"""Grouping strategies: the registry, planted groups recovered, clusterers."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from sklearn.cluster import DBSCAN, AgglomerativeClustering, KMeans
from sklearn.metrics import adjusted_rand_score
from sklearn.utils._param_validation import InvalidParameterError

from skl_sepnmf import SNPA, SpectrogramSeparator, _grouping
from skl_sepnmf._grouping import (
    DEFAULT_GROUPING,
    FEATURES,
    GROUPINGS,
    PATTERN_UNEXPLAINED,
    RENAMED,
    SHARING_SHARPNESS,
    SHARINGS,
    TIMBRE,
    cepstral_features,
    check_solo_segments,
    found_solo_frames,
    fundamental_frequencies,
    group_components,
    grouped_components,
    groups_of,
    guided_components,
    guided_groups,
    harmonic_profiles,
    log_frequency_matrix,
    note_rivals,
    pattern_fit,
    register_conflicts,
    register_places,
    same_sound_evidence,
    shared_memberships,
    shift_invariant_features,
    solo_frame_indices,
    template_weights,
    timbre_agreement,
    timbre_band,
    voice_conflicts,
    weighted_average_linkage,
)
from skl_sepnmf.datasets import make_mixture

DOCS = Path(__file__).parents[1] / "docs"
N_SOURCES, PER_SOURCE, N_BINS, N_FRAMES = 3, 4, 40, 60
# source of each component, interleaved so that no order-based grouping wins
TRUTH = np.tile(np.arange(N_SOURCES), PER_SOURCE)


def _planted_spectra(rng):
    """Each source's components: one spectrum times small multiplicative noise;
    activations unrelated to the sources."""
    shapes = rng.random((N_SOURCES, N_BINS)) ** 4 + 1e-3
    components = shapes[TRUTH] * rng.uniform(0.9, 1.1, (TRUTH.size, N_BINS))
    activations = rng.random((N_FRAMES, TRUTH.size))
    return components, activations


def _planted_activations(rng):
    """Each source's components: one time course (on in its own frames) times
    small noise; spectra unrelated to the sources."""
    on = rng.random((N_FRAMES, N_SOURCES)) < 0.3
    courses = on * rng.uniform(0.5, 1.0, on.shape)
    noise = rng.uniform(0.9, 1.1, (N_FRAMES, TRUTH.size))
    components = rng.random((TRUTH.size, N_BINS)) ** 4 + 1e-3
    return components, courses[:, TRUTH] * noise


def _planted_timbre(rng, sr=22050, n_bins=513):
    """Each source's components: harmonic notes at four pitches, every pitch
    played by every source, under the source's own formant (spectral envelope):
    pitch, which the spectra strategy sees first, says nothing of the source."""
    frequencies = np.linspace(0, sr / 2, n_bins)
    formants = np.array([500.0, 1500.0, 3500.0])
    f0s = np.repeat([110.0, 165.0, 247.0, 370.0], N_SOURCES)
    components = np.full((TRUTH.size, n_bins), 1e-4)
    for c, (source, f0) in enumerate(zip(TRUTH, f0s, strict=True)):
        partials = f0 * np.arange(1, int(frequencies[-1] // f0) + 1)
        bins = np.round(partials / frequencies[1]).astype(int)
        envelope = np.exp(-0.5 * (np.log(partials / formants[source]) / 0.3) ** 2)
        components[c, bins] += envelope * rng.uniform(0.8, 1.2, bins.size)
    # each note sounds in about a third of the frames, independently of the
    # others: none is heard with another more than chance has it
    on = rng.random((N_FRAMES, TRUTH.size)) < 0.3
    return components, on * rng.uniform(0.5, 1.0, on.shape)


def _planted_patterns(rng, sr=22050, n_bins=513):
    """Each source one sound: a harmonic note (the same timbre at three
    pitches) with one time course of attacks (even frames) and sustains (odd
    frames, 0.6 as loud). Each of its four components is one of its two
    halves of partials (every other one) in its attacks or in its sustains:
    no two components of a source share both spectrum and time course, and no
    timbre tells the sources apart, but the sum of a source's components is
    its one pattern."""
    frequencies = np.linspace(0, sr / 2, n_bins)
    f0s = np.array([110.0, 165.0, 247.0])
    on = rng.random((N_FRAMES // 2, N_SOURCES)) < 0.5
    notes = on * rng.uniform(0.5, 1.0, on.shape)
    components = np.full((TRUTH.size, n_bins), 1e-4)
    activations = np.zeros((N_FRAMES, TRUTH.size))
    for c, source in enumerate(TRUTH):
        part = c // N_SOURCES  # 0-3: (half of the partials, attack or sustain)
        partials = f0s[source] * np.arange(1, int(frequencies[-1] // f0s[source]) + 1)
        bins = np.round(partials / frequencies[1]).astype(int)
        half = slice(part % 2, None, 2)
        amplitudes = 1.0 / np.arange(1, bins.size + 1)
        components[c, bins[half]] += amplitudes[half] * rng.uniform(
            0.8, 1.2, amplitudes[half].size
        )
        sustain = part // 2
        activations[sustain::2, c] = notes[:, source] * (0.6 if sustain else 1.0)
    return components, activations * rng.uniform(0.9, 1.1, activations.shape)


# A strategy added to GROUPINGS needs a planted case: data whose groups it must
# find, and the strategies blind to what it plants (which must miss them).
PLANTED = {
    "spectra": _planted_spectra,
    "activations": _planted_activations,
    "timbre": _planted_timbre,
    "patterns": _planted_patterns,
    # "auto" chooses the patterns here; on the timbre case it is "timbre"
    # (test_auto_is_timbre_where_patterns_do_not_explain_the_model)
    "auto": _planted_patterns,
}
BLIND = {
    "spectra": {"activations"},  # timbre sees spectral shape too
    # timbre hears templates sounding together all through as one sound
    "activations": {"spectra"},
    "timbre": {"spectra", "activations"},  # spectra groups by pitch here
    "patterns": {"spectra", "activations", "timbre"},
    "auto": {"spectra", "activations", "timbre"},
}


def _same_partition(groups, truth) -> bool:
    planted = {tuple(np.flatnonzero(truth == k)) for k in np.unique(truth)}
    return {tuple(np.sort(g)) for g in groups} == planted


def _assert_partition(groups, n_components, n_sources):
    assert len(groups) == n_sources
    members = np.concatenate(groups)
    np.testing.assert_array_equal(np.sort(members), np.arange(n_components))


def test_every_strategy_has_a_planted_case():
    assert set(PLANTED) == set(GROUPINGS) == set(BLIND)
    assert set(FEATURES) <= set(GROUPINGS)
    assert DEFAULT_GROUPING in GROUPINGS and TIMBRE in FEATURES
    assert set(RENAMED.values()) <= set(GROUPINGS)


@pytest.mark.parametrize("name", sorted(GROUPINGS))
@pytest.mark.parametrize("seed", range(3))
def test_strategy_recovers_its_planted_groups(name, seed):
    components, activations = PLANTED[name](np.random.default_rng(seed))
    groups = GROUPINGS[name](components, activations, N_SOURCES, 0)
    _assert_partition(groups, TRUTH.size, N_SOURCES)
    assert _same_partition(groups, TRUTH)


@pytest.mark.parametrize("name", sorted(GROUPINGS))
def test_planted_groups_are_not_found_by_chance(name):
    """Random partitions, and the strategies blind to the planted feature,
    miss the planted groups: the test above is not passed for free."""
    rng = np.random.default_rng(0)
    components, activations = PLANTED[name](rng)
    for _ in range(200):
        assert not _same_partition(groups_of(rng.permutation(TRUTH), 3), TRUTH)
    for other in BLIND[name]:
        groups = GROUPINGS[other](components, activations, N_SOURCES, 0)
        assert not _same_partition(groups, TRUTH)


@pytest.mark.parametrize("name", sorted(GROUPINGS))
def test_strategy_partitions_a_factorization_of_make_mixture(name):
    mixture, _, _ = make_mixture(n_sources=3, random_state=0)
    separator = SpectrogramSeparator(
        SNPA(n_components=6), n_sources=3, grouping=name, random_state=0
    )
    separation = separator.separate(mixture)
    _assert_partition(separation.groups, 6, 3)
    sources = np.stack(list(separation.sources))
    assert sources.shape == (3,) + mixture.shape
    np.testing.assert_allclose(sources.sum(axis=0), mixture, atol=1e-5)
    # deterministic: the same seed gives the same groups
    estimator = separation.estimator
    again = GROUPINGS[name](
        estimator.components_, separation.activations, 3, separator._resolved()[1]
    )
    assert list(map(tuple, again)) == list(map(tuple, separation.groups))


@pytest.mark.parametrize("name", sorted(GROUPINGS))
def test_no_more_components_than_sources_gives_one_group_each(name):
    components, activations = PLANTED[name](np.random.default_rng(0))
    for n_sources in (TRUTH.size, TRUTH.size + 2, None):
        groups = group_components(components, activations, n_sources, name, 0)
        assert [g.tolist() for g in groups] == [[k] for k in range(TRUTH.size)]


@pytest.mark.parametrize(
    "clusterer",
    [
        AgglomerativeClustering(n_clusters=7, linkage="average", metric="cosine"),
        KMeans(2, n_init=10, random_state=0),
    ],
)
def test_a_clusterer_groups_the_default_features(clusterer):
    """Cloned, its n_clusters set to n_sources, fitted on the "timbre"
    features: on the planted spectra it finds the planted groups."""
    components, activations = PLANTED[TIMBRE](np.random.default_rng(1))
    params = clusterer.get_params()
    groups = group_components(components, activations, N_SOURCES, clusterer, 0)
    assert clusterer.get_params() == params  # the given object is not touched
    _assert_partition(groups, TRUTH.size, N_SOURCES)
    assert _same_partition(groups, TRUTH)


def test_a_separator_with_a_clusterer_separates_make_mixture():
    mixture, _, _ = make_mixture(n_sources=3, random_state=0)
    clusterer = AgglomerativeClustering(n_clusters=3)
    separator = SpectrogramSeparator(
        SNPA(n_components=6), n_sources=3, grouping=clusterer
    )
    sources = separator.fit_transform(mixture[None])
    assert sources.shape == (1, 3) + mixture.shape
    np.testing.assert_allclose(sources[0].sum(axis=0), mixture, atol=1e-5)
    assert separator.get_params()["grouping"] is clusterer


def test_a_clusterer_choosing_its_number_of_clusters():
    """DBSCAN has no n_clusters: the groups are its clusters (noise, -1, is a
    group too), and empty groups (silent sources) make up n_sources."""
    components, activations = _planted_spectra(np.random.default_rng(0))
    clusterer = DBSCAN(eps=0.5, min_samples=2)
    groups = group_components(components, activations, 5, clusterer, 0)
    assert len(groups) == 5 and _same_partition([g for g in groups if g.size], TRUTH)
    labels = np.array([-1, 0, 0, 1, -1])
    assert [g.tolist() for g in groups_of(labels, 2)] == [[0, 4], [1, 2], [3]]
    # labels within range(n_sources): one group per source, empty ones kept
    assert [g.tolist() for g in groups_of(np.array([2, 0, 2]), 3)] == [[1], [], [0, 2]]


def test_the_old_name_warns_and_means_spectra():
    mixture, _, _ = make_mixture(n_sources=3, random_state=0)
    make = lambda grouping: SpectrogramSeparator(  # noqa: E731
        SNPA(n_components=6), n_sources=3, grouping=grouping, random_state=0
    )
    with pytest.warns(FutureWarning, match="use grouping='spectra'"):
        old = make("kmeans").fit_transform(mixture[None])
    np.testing.assert_array_equal(old, make("spectra").fit_transform(mixture[None]))
    with pytest.warns(FutureWarning, match="deprecated"):
        make("kmeans").separate(mixture)


@pytest.mark.parametrize("grouping", ["mfcc", "KMEANS", 3, object()])
def test_an_unknown_grouping_is_refused_before_any_work(grouping):
    separator = SpectrogramSeparator(n_sources=2, grouping=grouping)
    with pytest.raises(InvalidParameterError, match="'grouping' parameter"):
        separator.fit(np.ones((1, 4096)))
    with pytest.raises(InvalidParameterError, match="'grouping' parameter"):
        separator.separate(np.ones(4096))


def test_recordings_is_refused_in_blind_separate_too():
    """It used to fall through to the activations grouping."""
    separator = SpectrogramSeparator(n_sources=2, grouping="recordings")
    with pytest.raises(ValueError, match="needs blind=False"):
        separator.separate(np.ones(4096))


def test_the_docs_list_every_grouping():
    guides = [(DOCS / page).read_text() for page in ("user_guide.rst", "api.rst")]
    for name in [*GROUPINGS, "recordings"]:
        assert f'"{name}"' in SpectrogramSeparator.__doc__
        assert all(f'``"{name}"``' in text for text in guides)


# Guided grouping: the solo segments, checked, and the groups they seed.
@pytest.mark.parametrize(
    "segments, n_sources, message",
    [
        ([[(0, 1)], [(2, 3)]], 3, r"names 2 sources but n_sources is 3"),
        ([[(0, 1)], []], None, r"solo_segments\[1\] is empty"),
        ([[(0, 1)], [(2, 2)]], None, r"solo_segments\[1\]\[0\] = \(2, 2\).*empty"),
        ([[(-1, 1)], [(2, 3)]], None, r"solo_segments\[0\]\[0\].*before"),
        ([[(0, 1)], [(2, 3, 4)]], None, r"solo_segments\[1\]\[0\].*not a \(start"),
        ([[(0, 1)], [("a", 3)]], None, r"solo_segments\[1\]\[0\].*not a \(start"),
        ([[(0, np.inf)], [(2, 3)]], None, r"solo_segments\[0\]\[0\].*not finite"),
        ([[(0, 5)], [(2, 3)]], None, r"\[0\]\[0\] = \(0.0, 5.0\) and .*\[1\]\[0\].*"),
        ([[(0, 1), (4, 9)], [(5, 6)]], None, r"\[0\]\[1\].*\[1\]\[0\].*overlap"),
        (3, None, r"one list of \(start, end\) segments"),
    ],
)
def test_bad_solo_segments_are_named(segments, n_sources, message):
    with pytest.raises(ValueError, match=message):
        check_solo_segments(segments, n_sources)


def test_solo_segments_of_one_source_may_touch_and_overlap():
    segments = [[(0, 1), (0.5, 2)], [(2, 3)]]
    assert check_solo_segments(segments, 2) == [[(0.0, 1.0), (0.5, 2.0)], [(2.0, 3.0)]]


def test_solo_frames_stack_the_channels_and_refuse_segments_past_the_end():
    times = np.arange(10) * 0.5  # frames every 0.5 s, 4.5 s of audio
    rows = solo_frame_indices([[(1.0, 2.0)], [(3.0, 4.4)]], times, 2, 4.6)
    assert rows[0].tolist() == [2, 3, 4, 12, 13, 14]
    assert rows[1].tolist() == [6, 7, 8, 16, 17, 18]
    with pytest.raises(ValueError, match=r"\[1\]\[0\].*ends after the recording"):
        solo_frame_indices([[(1.0, 2.0)], [(3.0, 5.0)]], times, 1, 4.6)
    with pytest.raises(ValueError, match=r"\[0\]\[0\].*holds no STFT frame"):
        solo_frame_indices([[(1.1, 1.2)], [(3.0, 4.0)]], times, 1, 4.6)


def test_guided_groups_follow_the_solos_then_timbre():
    """Components heard in a source's solo frames seed it; components never
    heard alone join the source of nearest timbre."""
    components, _ = _planted_timbre(np.random.default_rng(0))
    activations = np.zeros((N_FRAMES, TRUTH.size))
    solos = [np.arange(10 * k, 10 * k + 10) for k in range(N_SOURCES)]
    # the first pitch of each source sounds in that source's solo; in the
    # tutti (frames 30-59) every source plays its four pitches one after
    # another, the sources together (monophonic voices, as in a chorale)
    for c, source in enumerate(TRUTH):
        if c < N_SOURCES:
            activations[solos[source], c] = 1.0
        pitch = c // N_SOURCES
        activations[30 + 7 * pitch : 37 + 7 * pitch, c] = 1.0
    groups = guided_groups(components, activations, solos)
    assert [sorted(TRUTH[g].tolist()) for g in groups] == [
        [k] * PER_SOURCE for k in range(N_SOURCES)
    ]
    # the same data with the solos named in another order: groups follow them
    groups = guided_groups(components, activations, solos[::-1])
    assert [set(TRUTH[g].tolist()) for g in groups] == [{2}, {1}, {0}]
    # soft sharing: the same groups; the seeds whole to their source, the
    # others shared, their own source's share the largest
    shared, shares = guided_components(
        components, activations, solos, random_state=0, sharing="soft"
    )
    assert [g.tolist() for g in shared] == [
        g.tolist() for g in guided_groups(components, activations, solos)
    ]
    np.testing.assert_array_equal(shares[:N_SOURCES], np.eye(N_SOURCES))
    np.testing.assert_allclose(shares.sum(axis=1), 1.0)
    rest = np.arange(N_SOURCES, TRUTH.size)
    assert (shares[rest, TRUTH[rest]] >= shares[rest].max(axis=1)).all()
    assert (shares[rest].max(axis=1) < 1).all()
    hard = guided_components(components, activations, solos, sharing="hard")
    assert hard[1] is None


def _harmonic_note(f0, amplitudes, sr=22050, n_bins=4097):
    """A note's spectrum: partials of the given amplitudes, each a bump of a
    constant width in log frequency (as a real partial's is, in cents)."""
    octaves = np.log2(np.maximum(np.linspace(0, sr / 2, n_bins), 1.0))
    harmonics = np.arange(1, len(amplitudes) + 1)
    bumps = np.exp(
        -0.5 * ((octaves[None] - np.log2(f0 * harmonics)[:, None]) / 0.01) ** 2
    )
    return np.asarray(amplitudes) @ bumps + 1e-6


def test_shift_invariant_features_do_not_move_with_pitch():
    """Notes a fourth and an octave apart with the same balance of partials
    are nearer each other than to another balance at the same pitch. The
    cepstral (timbre envelope) features of these bare harmonic notes group
    them by pitch instead: the views differ, which is why both vote."""
    odd = [1.0 / h if h % 2 else 0.05 / h for h in range(1, 11)]  # clarinet-like
    every = [1.0 / h for h in range(1, 11)]
    f0s = [220.0, 220.0 * 2 ** (5 / 12), 440.0]
    notes = np.stack(
        [_harmonic_note(f0, odd) for f0 in f0s]
        + [_harmonic_note(f0, every) for f0 in f0s]
    )
    balance = np.repeat([0, 1], 3)
    same = balance[:, None] == balance[None]
    off_diagonal = ~np.eye(6, dtype=bool)

    def separated(features):
        features = features / np.linalg.norm(features, axis=1, keepdims=True)
        distance = np.linalg.norm(features[:, None] - features[None], axis=-1)
        return distance[same & off_diagonal].max() < distance[~same].min()

    activations = np.ones((1, 6))
    features = shift_invariant_features(notes, activations, n_coefficients=40)
    np.testing.assert_allclose(np.linalg.norm(features, axis=1), 1.0)
    assert separated(features)
    assert not separated(cepstral_features(notes, activations))


def _stft_note(f0, amplitudes, sr=22050, n_bins=1025):
    """A note as an STFT of n_fft = 2 (n_bins - 1) with a Hann window sees it:
    each partial a bump about a bin wide (the window's main lobe), wherever it
    falls between bins."""
    bins = np.arange(n_bins)
    positions = f0 * np.arange(1, len(amplitudes) + 1) / (sr / (2 * (n_bins - 1)))
    bumps = np.exp(-0.5 * (bins[None] - positions[:, None]) ** 2)
    return np.asarray(amplitudes) @ bumps + 1e-6


def test_a_weak_fundamental_and_odd_partials_are_read_an_octave_down():
    """A low note whose even partials are the strong ones (fundamental at 0.1,
    odd partials at half the even ones' strength): the weighted sum alone
    prefers the octave above, whose partials are exactly those even ones; the
    odd partials, which the octave above cannot have, bring it back down. A
    note without them stays where the weighted sum puts it."""
    bassoon_like = [0.1] + [(0.5 if h % 2 else 1.0) / h for h in range(2, 21)]
    f0s = [82.4, 110.0, 146.8]
    notes = np.stack([_stft_note(f0, bassoon_like) for f0 in f0s])
    np.testing.assert_allclose(
        fundamental_frequencies(notes), f0s, rtol=2 ** (1 / 48) - 1
    )
    no_odd = [0.1] + [(0.0 if h % 2 else 1.0) / h for h in range(2, 21)]
    octave_above = fundamental_frequencies(np.stack([_stft_note(110.0, no_odd)]))
    np.testing.assert_allclose(octave_above, [220.0], rtol=2 ** (1 / 48) - 1)


def test_harmonic_profiles_read_the_balance_of_partials_at_any_pitch():
    """Notes from 98 to 660 Hz, partials between bins, get their fundamental
    to an eighth tone even with weak even partials or a weaker fundamental,
    and their profiles group them by balance of partials, not by pitch."""
    odd = [1.0 / h if h % 2 else 0.05 / h for h in range(1, 17)]  # clarinet-like
    every = [1.0 / h for h in range(1, 17)]
    weak_fundamental = [0.3] + [1.0 / h for h in range(2, 17)]  # bassoon-like
    f0s = [98.0, 220.0, 293.7, 660.0]
    notes = np.stack(
        [_stft_note(f0, b) for b in (odd, every, weak_fundamental) for f0 in f0s]
    )
    fundamentals = fundamental_frequencies(notes)
    np.testing.assert_allclose(fundamentals, np.tile(f0s, 3), rtol=2 ** (1 / 48) - 1)
    profiles = harmonic_profiles(notes, np.ones((1, notes.shape[0])), n_harmonics=8)
    assert profiles.shape == (12, 8) and profiles.max() == 0.0  # the strongest
    balance = np.repeat([0, 1, 2], len(f0s))
    same = balance[:, None] == balance[None]
    distance = np.linalg.norm(profiles[:, None] - profiles[None], axis=-1)
    assert distance[same].max() < distance[~same].min()
    # partials past sr / 2 sit at the floor, 60 dB (a factor 1e-3) down
    high = harmonic_profiles(notes[[3]], None, n_harmonics=20)
    np.testing.assert_allclose(high[0, 16:], np.log(1e-3))


def test_voice_conflicts_are_two_pitches_within_an_octave_at_once():
    """Templates: A3, B3 (two semitones up), A3 again (a second part of the same
    note), A5 (two octaves up). A3 and B3 sound together: a conflict as strong
    as their activations are alike; the same note, notes two octaves apart and
    notes never heard together are none."""
    every = [1.0 / h for h in range(1, 13)]
    notes = np.stack([_stft_note(f0, every) for f0 in (220.0, 246.9, 220.0, 880.0)])
    together = np.r_[np.ones(10), np.zeros(10)]
    apart = np.r_[np.zeros(10), np.ones(10)]
    activations = np.stack([together, together, together, together]).T
    conflicts = voice_conflicts(notes, activations)
    assert conflicts.shape == (4, 4)
    np.testing.assert_allclose(conflicts, conflicts.T)
    np.testing.assert_allclose(np.diag(conflicts), 0)
    np.testing.assert_allclose(conflicts[0, 1], 1.0)  # two notes, same moments
    np.testing.assert_allclose(conflicts[1, 2], 1.0)
    assert conflicts[0, 2] == 0 and conflicts[0, 3] == 0  # same note; 2 octaves
    # the bounds: a quarter tone is one note, an octave two, a ninth none
    bounds = np.stack([_stft_note(f0, every) for f0 in (220.0, 226.4, 440.0, 493.9)])
    at_bounds = voice_conflicts(bounds, activations)
    assert at_bounds[0, 1] == 0 and at_bounds[0, 3] == 0
    np.testing.assert_allclose(at_bounds[0, 2], 1.0)
    activations[:, 1] = apart  # B3 now sounds when A3 is silent
    assert voice_conflicts(notes, activations)[0, 1] == 0
    activations[:, 1] = together + apart  # half of B3 with A3: cosine 1/sqrt 2
    np.testing.assert_allclose(voice_conflicts(notes, activations)[0, 1], 0.5**0.5)


def test_register_places_order_the_voices_sounding_together():
    """Bass, tenor and soprano notes of one balance of partials, of equal
    magnitude: when all three sound, the bass has no one under it, the tenor
    half, the soprano all; frames where a template sounds alone say nothing,
    and a template never heard with another is at 0. The places' differences
    are the register conflicts."""
    every = [1.0 / h for h in range(1, 13)]
    notes = np.stack([_stft_note(f0, every) for f0 in (98.0, 196.0, 392.0, 523.3)])
    notes /= notes.sum(axis=1, keepdims=True)
    chord = np.r_[np.ones(10), np.zeros(20)]
    soprano_alone = np.r_[np.zeros(10), np.ones(10), np.zeros(10)]
    lone = np.r_[np.zeros(20), np.ones(10)]
    activations = np.stack([chord, chord, chord + 3 * soprano_alone, lone]).T
    places = register_places(notes, activations)
    np.testing.assert_allclose(places, [0.0, 0.5, 1.0, 0.0], atol=1e-12)
    conflicts = register_conflicts(notes, activations)
    np.testing.assert_allclose(conflicts, np.abs(places[:, None] - places[None]))
    # the bass and tenor swap places when the tenor plays under the bass
    swapped = notes[[1, 0, 2, 3]]
    np.testing.assert_allclose(register_places(swapped, activations)[:2], [0.5, 0])


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("shift", [0.0, -2.5])
def test_equal_weights_give_plain_average_linkage(seed, shift):
    """Also with distances below zero, as ``1 - agreement`` goes (the
    agreement reaches about 3 with its same-sound evidence)."""
    rng = np.random.default_rng(seed)
    points = rng.normal(size=(40, 3))
    distances = np.linalg.norm(points[:, None] - points[None], axis=-1) + shift
    np.fill_diagonal(distances, 0.0)
    weighted = weighted_average_linkage(distances, np.full(40, 0.3), 4)
    plain = AgglomerativeClustering(
        4, metric="precomputed", linkage="average"
    ).fit_predict(distances)
    assert adjusted_rand_score(weighted, plain) == 1.0
    assert sorted(np.unique(weighted)) == [0, 1, 2, 3]


def test_a_faint_template_between_two_voices_does_not_bridge_them():
    """On a line: a at 0, b at 1.2, a faint template f at 2.0, c at 2.5. f and
    c merge first; unweighted, b is then nearer to them (mean of 0.8 and
    1.3) than to a (1.2), and a is left alone. Weighted, f counts next to
    nothing, b is 1.3 from them, and a and b go together."""
    places = np.array([0.0, 1.2, 2.0, 2.5])
    distances = np.abs(places[:, None] - places[None])
    unweighted = weighted_average_linkage(distances, np.ones(4), 2)
    weighted = weighted_average_linkage(distances, np.array([1, 1, 1e-3, 1]), 2)
    assert [g.tolist() for g in groups_of(unweighted, 2)] == [[0], [1, 2, 3]]
    assert [g.tolist() for g in groups_of(weighted, 2)] == [[0, 1], [2, 3]]


@pytest.mark.parametrize(
    "weights, distance, n_clusters, message",
    [
        (np.array([1.0, 0.0, 1.0]), 1.0, 2, "positive"),
        (np.ones(3), np.nan, 2, "finite"),
        (np.ones(3), 1.0, 0, "n_clusters"),
    ],
)
def test_weighted_average_linkage_refuses_what_it_cannot_merge(
    weights, distance, n_clusters, message
):
    distances = np.full((3, 3), distance)
    np.fill_diagonal(distances, 0.0)
    with pytest.raises(ValueError, match=message):
        weighted_average_linkage(distances, weights, n_clusters)


def test_every_timbre_view_weighs_the_templates():
    rng = np.random.default_rng(0)
    components, activations = rng.random((12, 257)), rng.random((40, 12))
    seen = []

    def recording(features, n_sources, random_state, sample_weight=None):
        seen.append(sample_weight)
        return np.arange(features.shape[0]) % n_sources

    with mock.patch.object(_grouping, "kmeans_labels", recording):
        timbre_agreement(components, activations, 3, 0)
    assert len(seen) == 15
    for weights in seen:
        np.testing.assert_array_equal(
            weights, template_weights(components, activations)
        )


def test_template_weights_are_the_root_of_each_models_magnitude():
    components = np.array([[1.0, 3.0], [2.0, 2.0], [0.5, 0.5], [1.0, 1.0]])
    activations = np.array([[1.0, 4.0, 1.0, 0.0], [3.0, 0.0, 1.0, 0.0]])
    # magnitudes 4 * 4, 4 * 4, 2 * 1 and 0 (never heard)
    np.testing.assert_allclose(
        template_weights(components, activations),
        [1.0, 1.0, np.sqrt(2 / 16), _grouping._WEIGHT_FLOOR],
    )
    silent = template_weights(components, np.zeros_like(activations))
    np.testing.assert_array_equal(silent, np.ones(4))
    activations[0, 1] = np.nan
    with pytest.raises(ValueError, match="not finite"):
        template_weights(components, activations)


def test_timbre_agreement_adds_same_sounds_and_subtracts_conflicts():
    rng = np.random.default_rng(0)
    every = [1.0 / h for h in range(1, 13)]
    notes = np.stack([_stft_note(f0, every) for f0 in (220.0, 246.9, 261.6, 293.7)])
    activations = rng.random((30, 4))
    with_conflicts = timbre_agreement(notes, activations, 2, 0)
    conflicts = voice_conflicts(notes, activations)
    assert conflicts[0, 1] > 0.5
    by_register = register_conflicts(notes, activations)
    assert by_register[0, 3] > 0.5  # the lowest and the highest of four
    same_sound = same_sound_evidence(activations)
    assert same_sound.max() > 0  # uniform random activations: cosines ~0.75
    partitions_only = with_conflicts - same_sound + conflicts + by_register
    assert set(np.unique(np.round(partitions_only * 15, 6))) <= set(range(16))
    np.testing.assert_allclose(np.diag(with_conflicts), 1.0)


@pytest.mark.parametrize(
    "sr, n_bins, kept, rate",
    [
        (44100, 2, 2, 44100),  # no bin above 0 Hz in the band: all kept
        (22050, 1025, 1025, 22050),
        (16000, 1025, 1025, 16000),
        (44100, 2049, 1025, 22050),
        (48000, 2049, 941, 48000 * 940 / 2048),
    ],
)
def test_the_timbre_band_ends_at_11025_hz(sr, n_bins, kept, rate):
    components = np.ones((2, n_bins))
    banded, banded_rate = timbre_band(components, sr)
    assert banded.shape == (2, kept)
    assert banded_rate == pytest.approx(rate)
    assert banded_rate / 2 <= 11025.0 or banded is components
    assert np.linspace(0, sr / 2, n_bins)[kept - 1] == pytest.approx(banded_rate / 2)


def test_the_timbre_views_do_not_hear_a_nearly_empty_band_above_11025_hz():
    """Audio resampled up from 22050 to 44100 Hz holds next to nothing above
    11025 Hz: there, each template's logarithm is the resampler's noise, at a
    level of its own. The agreement and a clusterer's groups are those of the
    band below; heard, the noise levels move them."""
    rng = np.random.default_rng(0)
    components, activations = _planted_timbre(rng, sr=44100, n_bins=1025)
    upper = np.linspace(0, 22050, 1025) > 11025
    # three noise levels, each on four templates of different sources
    levels = 10.0 ** np.repeat([-12.0, -9.0, -6.0], PER_SOURCE)[:, None]
    components[:, upper] = levels * rng.uniform(0.5, 1.5, (TRUTH.size, upper.sum()))
    agreement = timbre_agreement(components, activations, N_SOURCES, 0, sr=44100)
    below = timbre_agreement(components[:, ~upper], activations, N_SOURCES, 0, sr=22050)
    np.testing.assert_allclose(agreement, below, atol=1e-12)
    timbre = GROUPINGS[TIMBRE]
    assert _same_partition(
        timbre(components, activations, N_SOURCES, 0, sr=44100), TRUTH
    )
    clusterer = KMeans(N_SOURCES, n_init=10, random_state=0)
    groups = group_components(
        components, activations, N_SOURCES, clusterer, 0, sr=44100
    )
    assert _same_partition(groups, TRUTH)
    with mock.patch.object(_grouping, "TIMBRE_BAND_HZ", np.inf):
        whole_band = timbre_agreement(components, activations, N_SOURCES, 0, sr=44100)
        clustered_whole = group_components(
            components, activations, N_SOURCES, clusterer, 0, sr=44100
        )
    # heard, the noise moves the envelope views' partitions (the consensus of
    # all fifteen still finds the planted groups here) and misleads k-means
    assert np.abs(whole_band - below).max() > 0.1
    assert not _same_partition(clustered_whole, TRUTH)


def test_log_frequency_matrix_interpolates_every_band():
    matrix = log_frequency_matrix(22050, 1025)
    assert matrix.shape == (183, 1025)  # 55 Hz up to 11025 Hz, 24 per octave
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0)
    ramp = np.linspace(0, 11025, 1025)  # a spectrum equal to its frequency
    np.testing.assert_allclose(matrix @ ramp, 55.0 * 2 ** (np.arange(183) / 24))


def test_found_solos_grow_from_a_lone_component_within_their_channel():
    """A frame one component explains (share >= 0.8) starts a solo; it grows
    through neighbours whose top share stays >= 0.5, never into the next
    channel, never from a frame below 0.8 alone, never through quiet frames."""
    components = np.eye(3)
    groups = [np.array([0]), np.array([1]), np.array([2])]
    activations = np.full((40, 3), 0.3)  # channel 0: rows 0-19, channel 1: 20-39
    activations[2:10, 0] = 5.0  # a solo of source 0 ...
    activations[10, 0] = 1.0  # ... that grows by a frame of share 1 / 1.6
    activations[12:18, 1] = 5.0
    activations[16:20, 2] = 0.0  # source 1's solo runs to the end of channel 0,
    activations[18:20, 1] = 0.6
    activations[20, 1] = 1.0  # and the next channel's first frame is not its
    activations[25:35, 2] = 5.0
    activations[37, 0] = 1.0  # share 0.63 but no frame of 0.8 beside it
    activations[36, 1] = 1e-3  # quiet: 1e-3 of a loud frame
    activations[36, [0, 2]] = 0.0
    solos = found_solo_frames(
        components, activations, groups, n_channels=2, frame_seconds=0.05
    )
    assert [rows.tolist() for rows in solos] == [
        list(range(2, 11)),
        list(range(12, 20)),
        list(range(25, 35)),
    ]


def test_found_solos_are_none_unless_every_source_has_enough():
    components = np.eye(3)
    groups = [np.array([0]), np.array([1, 2])]
    activations = np.full((30, 3), 0.3)
    activations[0:6, 0] = 5.0
    activations[10:13, 1] = 5.0  # 3 frames of source 1
    found = partial(found_solo_frames, components, activations, groups)
    assert found(frame_seconds=0.1) is not None  # 0.3 s >= 0.25 s
    assert found(frame_seconds=0.05) is None  # 0.15 s of source 1
    assert (
        found_solo_frames(components, np.full((30, 3), 0.3), groups, frame_seconds=1)
        is None
    )


def test_shared_memberships_follow_the_agreement_with_each_group():
    """Two tight groups (agreement 0.9 inside, 0.1 across) and a template that
    agrees 0.5 with both: the grouped templates keep nearly all of their
    model, the undecided one is split evenly; its own group keeps the largest
    share even where it agrees more with the other; an empty group gets
    nothing, and rows sum to one."""
    agreement = np.full((5, 5), 0.1)
    agreement[:2, :2] = agreement[2:4, 2:4] = 0.9
    agreement[4, :] = agreement[:, 4] = 0.5
    np.fill_diagonal(agreement, 1.0)
    groups = [np.array([0, 1, 4]), np.array([2, 3]), np.array([], dtype=int)]
    shares = shared_memberships(agreement, groups)
    np.testing.assert_allclose(shares.sum(axis=1), 1.0)
    np.testing.assert_array_equal(shares[:, 2], 0.0)
    # template 0 agrees 0.7 on average with 1 and 4 (not itself), 0.1 with
    # group 1
    expected = 1 / (1 + np.exp(-SHARING_SHARPNESS * 0.6))
    np.testing.assert_allclose(shares[0, 0], expected)
    np.testing.assert_allclose(shares[4, :2], 0.5)  # 0.5 with both groups
    # put in the group it agrees less with (0.3 against 0.5), template 4
    # still keeps a share there as large as any: an even split
    agreement[4, 2:4] = agreement[2:4, 4] = 0.3
    shares = shared_memberships(agreement, [np.array([0, 1]), np.array([2, 3, 4])])
    np.testing.assert_allclose(shares[4], [0.5, 0.5])
    assert (shares[:4].argmax(axis=1) == [0, 0, 1, 1]).all()


def test_an_infinite_sharpness_gives_whole_components():
    """Each component whole to its group where it agrees most with its own
    group; a singleton's own group has no other member and counts as its
    best."""
    rng = np.random.default_rng(1)
    labels = np.array([0, 1, 1, 0, 2, 1])
    agreement = 0.6 * (labels[:, None] == labels[None]) + 0.3 * rng.random((6, 6))
    agreement = (agreement + agreement.T) / 2
    groups = groups_of(labels, 3)
    shares = shared_memberships(agreement, groups, sharpness=np.inf)
    np.testing.assert_array_equal(shares, np.eye(3)[labels])


def test_grouped_components_share_only_with_soft_sharing():
    """Soft sharing keeps the groups of the strategy and adds each
    component's shares, largest in its own group; "hard", a single source or
    no more components than sources give no shares."""
    components, activations = _planted_timbre(np.random.default_rng(0))
    for grouping in ("timbre", "spectra"):
        hard, none, _ = grouped_components(
            components, activations, N_SOURCES, grouping, 0, sharing="hard"
        )
        groups, shares, grouped_by = grouped_components(
            components, activations, N_SOURCES, grouping, 0
        )
        assert none is None and grouped_by == grouping
        assert [g.tolist() for g in groups] == [g.tolist() for g in hard]
        assert shares.shape == (TRUTH.size, N_SOURCES)
        for k, group in enumerate(groups):  # ties possible
            assert (shares[group, k] >= shares[group].max(axis=1) - 1e-12).all()
    few = grouped_components(components[:3], activations[:, :3], 3, "timbre", 0)
    assert few.memberships is None and few.grouping is None  # nothing grouped
    single = grouped_components(components, activations, 1, "timbre", 0)
    assert single[1] is None and single[0][0].tolist() == list(range(TRUTH.size))


@pytest.mark.parametrize("seed", range(3))
def test_pattern_fit_measures_how_much_the_patterns_leave(seed):
    """Near 0 where each source is one pattern; above the threshold of "auto"
    where every source plays notes at four pitches (a rank-3 fit of 12
    independent notes)."""
    rng = np.random.default_rng(seed)
    groups, unexplained = pattern_fit(*_planted_patterns(rng), N_SOURCES)
    assert _same_partition(groups, TRUTH) and 0 <= unexplained < 0.05
    _, unexplained = pattern_fit(*_planted_timbre(rng), N_SOURCES)
    assert PATTERN_UNEXPLAINED < unexplained <= 1


def test_auto_is_timbre_where_patterns_do_not_explain_the_model():
    """Same groups and shares as "timbre" on the planted timbre case; on the
    planted patterns, their groups with whole components (no timbre shares)."""
    components, activations = _planted_timbre(np.random.default_rng(0))
    for sharing in SHARINGS:
        auto = grouped_components(
            components, activations, N_SOURCES, "auto", 0, sharing=sharing
        )
        timbre = grouped_components(
            components, activations, N_SOURCES, TIMBRE, 0, sharing=sharing
        )
        assert list(map(tuple, auto.groups)) == list(map(tuple, timbre.groups))
        assert auto.grouping == timbre.grouping == TIMBRE
        if sharing == "soft":
            np.testing.assert_array_equal(auto.memberships, timbre.memberships)
    components, activations = _planted_patterns(np.random.default_rng(0))
    for grouping in ("auto", "patterns"):
        groups, shares, grouped_by = grouped_components(
            components, activations, N_SOURCES, grouping, 0
        )
        assert _same_partition(groups, TRUTH) and shares is None
        assert grouped_by == "patterns"


def test_a_silent_model_explains_nothing_and_auto_falls_back_to_timbre():
    """All-zero activations: the fit explains nothing (1.0, not nan) and "auto"
    falls back to "timbre"."""
    components, activations = _planted_patterns(np.random.default_rng(0))
    silent = np.zeros_like(activations)
    groups, unexplained = pattern_fit(components, silent, N_SOURCES)
    assert unexplained == 1.0
    _assert_partition(groups, TRUTH.size, N_SOURCES)
    auto = grouped_components(components, silent, N_SOURCES, "auto", 0)
    assert auto.grouping == TIMBRE
    timbre = GROUPINGS[TIMBRE](components, silent, N_SOURCES, 0)
    assert list(map(tuple, auto.groups)) == list(map(tuple, timbre))


def test_pattern_fit_does_not_depend_on_the_level():
    """The same ratio and groups at any gain of the activations (the fit runs
    on a model of unit mean)."""
    components, activations = _planted_timbre(np.random.default_rng(0))
    fits = [
        pattern_fit(components, gain * activations, N_SOURCES)
        for gain in (1e-8, 1.0, 1e4)
    ]
    for groups, unexplained in fits[1:]:
        assert unexplained == pytest.approx(fits[0][1], rel=1e-6)
        assert list(map(tuple, groups)) == list(map(tuple, fits[0][0]))


def test_patterns_of_a_few_frames_and_of_one_sound():
    """Fewer frames than sources: a fit all the same (random start, not
    NNDSVDa's error). One steady sound: one pattern explains it, "auto" keeps
    timbre (no empty sources)."""
    components, activations = _planted_patterns(np.random.default_rng(0))
    groups, unexplained = pattern_fit(components, activations[:2], N_SOURCES)
    _assert_partition(groups, TRUTH.size, N_SOURCES)
    assert 0 <= unexplained <= 1
    steady = np.ones_like(activations)
    groups, unexplained = pattern_fit(components, steady, N_SOURCES)
    assert unexplained == 1.0
    grouped = grouped_components(components, steady, N_SOURCES, "auto", 0)
    assert grouped.grouping == TIMBRE


def test_same_sound_evidence_is_for_templates_heard_together_all_through():
    """Identical time courses: the full weight; half-overlapping ones
    (cosine 0.5): nothing; the diagonal: nothing."""
    on = np.zeros((8, 4))
    on[:4, 0] = on[:4, 1] = 1.0  # one sound's two parts
    on[2:6, 2] = 1.0  # overlaps the first sound half the time
    on[6:, 3] = 1.0  # never with the others
    evidence = same_sound_evidence(on)
    assert evidence[0, 1] == evidence[1, 0] == pytest.approx(2.0)
    assert evidence[0, 2] == evidence[2, 3] == evidence[0, 3] == 0.0
    np.testing.assert_array_equal(np.diag(evidence), 0.0)


def test_note_rivals_are_other_notes_not_parts_of_one_sound():
    """Templates: A3, B3, A3 again (a second part of the note, heard now and
    then), E5 (beyond an octave: still another note of a
    voice). A3 and B3 sound at different moments: rivals; A3's two parts: not
    (one note); E5 starts and stops with A3 all through (cosine 1: a part of
    its sound, e.g. misread upper partials): not A3's rival, but B3's; the
    diagonal: none."""
    every = [1.0 / h for h in range(1, 13)]
    notes = np.stack([_stft_note(f0, every) for f0 in (220.0, 246.9, 220.0, 659.3)])
    first = np.r_[np.ones(6), np.zeros(6)]
    second = np.r_[np.zeros(6), np.ones(6)]
    now_and_then = np.zeros(12)
    now_and_then[[0, 6]] = 1.0  # cosine 0.29 with A3 and with B3
    activations = np.stack([first, second, now_and_then, first]).T
    rivals = note_rivals(notes, activations)
    assert rivals.shape == (4, 4)
    np.testing.assert_array_equal(rivals, rivals.T)
    np.testing.assert_array_equal(np.diag(rivals), 0.0)
    assert rivals[0, 1] == 1.0 and rivals[1, 3] == 1.0
    assert rivals[0, 2] == 0.0  # the same note
    assert rivals[1, 2] == 1.0  # B3 and A3's second part
    assert rivals[0, 3] == 0.0  # E5 always with A3: one sound
