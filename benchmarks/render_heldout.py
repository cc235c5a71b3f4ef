"""Render the held-out set: Bach chorale mixtures with exact stems.

The defaults were chosen on ``../shared/data/dev``; this set judges them on
pieces, instruments and a soundfont they were not chosen on. It holds 24
mixtures of Bach chorales other than the dev ones (BWV 255, 10.7, 108.6, 269,
267, 270, 271, 260, 253), rendered like the dev set but with three
soundfonts, used in turn: FluidR3 GM, TimGM6mb and MuseScore General.

Plan (voices S A T B of the chorale; one instrument per voice, drawn at random
among those whose range fits the part, all different, at most one plucked or
keyboard instrument):

* 6 chorales (S A T B), 4 duets (S B), 4 trios (S A B or S T B), 20 s each;
* 4 + 3 + 3 solo-intro pieces of 4, 3 and 2 voices, 26 s each: voice i plays
  the first bar (4 quarter notes) of its part alone from 3.333 i to
  3.333 (i + 1) s, then all voices play the piece from its start. The notes of
  each solo bar end 0.5 quarter note (0.417 s) before the bar does, so that
  the synthesizer's release tails stay out of the next voice's solo bar; a
  piece whose solo bars still hold more than 1 % of other voices' energy is
  rendered again with a 1 quarter note gap, then replaced by the next chorale.

Each part is written alone as a MIDI file (``music21``, 72 quarter notes per
minute, velocity 90), rendered alone by the FluidSynth command line (reverb and
chorus off, gain 0.5, 22050 Hz), averaged to mono and quantized to int16; one
common factor scales the stems of a piece down if their sum would clip.
Folder ``<kind>_bwv<number>_<soundfont>`` holds ``<instrument>.flac`` per
voice and ``mix.flac``, their exact integer sum, all 16-bit FLAC at 22050 Hz.
``README.md`` lists the pieces and ``metadata.json`` their details (voice
order, instruments, duration, scale, gap). The draw (chorales, instruments) is
fixed by a ``numpy`` seed: the same set on every run.

Needs: Debian ``fluidsynth``, ``fluid-soundfont-gm``, ``timgm6mb-soundfont``,
``musescore-general-soundfont``; PyPI ``music21`` (its Bach chorale corpus
ships with it, no download).

Run: ``python benchmarks/render_heldout.py [--output DIR] [--sr RATE]
[--check]`` (default DIR: ``benchmarks/heldout-audio``, ignored by git).
``--sr 44100`` renders the pieces at 44.1 kHz (default DIR then
``benchmarks/heldout-audio-44100``, which ``bench_robustness.py`` scores):
audio whose band is the soundfonts' own, not a resampler's. The draw is the
same, hence the pieces and instruments, as long as every solo bar passes its
check at both rates (at 44.1 kHz they do: the two ``metadata.json`` list the
same pieces, instruments and gaps). ``--check`` renders nothing: it checks
the folders of DIR (stems sum to the mix, durations, solo bars; at ``--sr``)
and exits with status 1 if any fails.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

try:
    import music21
except ImportError:  # only rendering needs it: --check runs without
    music21 = None

HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "heldout-audio"
SR = 22050
QPM = 72.0
SEC_PER_Q = 60.0 / QPM
BAR_Q = 4.0  # a "bar" of the solo intro: 4 quarter notes
BAR_SEC = BAR_Q * SEC_PER_Q  # 3.333 s
MAX_SEC = 20.0
MAX_SEC_SOLOINTRO = 26.0
SEED = 20240611
# Silence (quarter notes) at the end of each solo bar, so that release tails
# stay out of the next solo bar; the larger one is tried if the check fails.
SOLO_GAPS_Q = [0.5, 1.0]
# Most energy of other voices a solo bar may hold, relative to the solo voice.
MAX_SOLO_LEAK = 0.01

DEV_SET = {"255", "10.7", "108.6", "269", "267", "270", "271", "260", "253"}
# Plain numbered files only, one per BWV number: variants such as bwv112.5-sc
# are left out.
CHORALE_FILE = re.compile(r"bwv([0-9]+(?:\.[0-9]+)?)\.(?:mxl|xml|musicxml|krn)")

# name: (file, Debian package)
SOUNDFONTS = {
    "fluidr3": ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "fluid-soundfont-gm"),
    "timgm6mb": ("/usr/share/sounds/sf2/TimGM6mb.sf2", "timgm6mb-soundfont"),
    "musescore": (
        "/usr/share/sounds/sf3/MuseScore_General_Full.sf3",
        "musescore-general-soundfont",
    ),
}
# Reverb and chorus off, as for the dev set: every stem is its dry part only
# (the rate, ``-r SR``, is added where FluidSynth is called).
FLUIDSYNTH_OPTIONS = ["-ni", "-R", "0", "-C", "0", "-g", "0.5"]


def use_rate(sr):
    """Render and check at ``sr`` Hz (``--sr``)."""
    global SR
    SR = sr


# name: (GM program 0-based, lowest MIDI note, highest MIDI note, weight)
# Ranges are sounding pitch; the weight is the relative chance of being drawn.
INSTRUMENTS = {
    "violin": (40, 55, 100, 1.0),
    "viola": (41, 48, 88, 1.0),
    "cello": (42, 36, 76, 1.0),
    "contrabass": (43, 28, 67, 1.0),
    "flute": (73, 60, 96, 1.0),
    "piccolo": (72, 74, 108, 1.0),
    "recorder": (74, 60, 91, 1.0),
    "oboe": (68, 58, 91, 1.0),
    "englishhorn": (69, 52, 81, 1.0),
    "clarinet": (71, 50, 91, 1.0),
    "bassoon": (70, 34, 75, 1.0),
    "sopranosax": (64, 56, 87, 1.0),
    "altosax": (65, 49, 81, 1.0),
    "tenorsax": (66, 44, 76, 1.0),
    "baritonesax": (67, 36, 69, 1.0),
    "trumpet": (56, 54, 82, 1.0),
    "trombone": (57, 40, 72, 1.0),
    "frenchhorn": (60, 34, 77, 1.0),
    "tuba": (58, 28, 65, 1.0),
    "harpsichord": (6, 29, 89, 0.15),
    "acousticguitar": (24, 40, 83, 0.15),
    "piano": (0, 21, 108, 0.15),
}
PLUCKED_KEYS = {"harpsichord", "acousticguitar", "piano"}
# A range that fits is not enough for a plausible sound: high instruments
# never play the bass, low ones never the soprano, the lowest only the bass.
HIGH = {
    "violin",
    "flute",
    "piccolo",
    "recorder",
    "oboe",
    "clarinet",
    "sopranosax",
    "trumpet",
}
LOW = {
    "contrabass",
    "tuba",
    "bassoon",
    "baritonesax",
    "cello",
    "trombone",
    "frenchhorn",
}
BASS_ONLY = {"contrabass", "tuba"}

VOICE_NAMES = ["soprano", "alto", "tenor", "bass"]
SOPRANO, BASS = 0, 3

# the 24 mixtures: (kind, voice indices into S A T B)
PLAN = (
    [("chorale", [0, 1, 2, 3])] * 6
    + [("duet", [0, 3])] * 4
    + [("trio", [0, 1, 3]), ("trio", [0, 2, 3])] * 2
    + [("solointro4", [0, 1, 2, 3])] * 4
    + [("solointro3", [0, 1, 3]), ("solointro3", [0, 2, 3]), ("solointro3", [0, 1, 3])]
    + [("solointro2", [0, 3])] * 3
)
FOLDER = re.compile(r"(chorale|duet|trio|solointro[234])_bwv")


def missing_requirements():
    """One message per missing tool of the rendering, empty if none."""
    problems = []
    if shutil.which("fluidsynth") is None:
        problems.append("fluidsynth not found: apt-get install fluidsynth")
    for path, package in SOUNDFONTS.values():
        if not Path(path).is_file():
            problems.append(f"soundfont {path} not found: apt-get install {package}")
    if music21 is None:
        problems.append("music21 not found: pip install music21")
    return problems


# ---------------------------------------------------------------- chorales
def candidate_chorales():
    """Sorted (bwv, path) of the corpus's Bach chorales outside the dev set."""
    seen = set()
    out = []
    for path in music21.corpus.getComposer("bach"):
        match = CHORALE_FILE.fullmatch(Path(path).name)
        if match is None or match.group(1) in DEV_SET or match.group(1) in seen:
            continue
        seen.add(match.group(1))
        out.append((match.group(1), str(path)))
    return sorted(out)


def part_notes(part):
    """(offset_q, dur_q, midi) of a part's notes, ties merged, grace notes
    dropped (they have no duration to render)."""
    res = []
    for n in part.stripTies().flatten().notes:
        if n.duration.isGrace or n.quarterLength <= 0:
            continue
        for pitch in n.pitches:
            res.append((float(n.offset), float(n.quarterLength), int(pitch.midi)))
    return res


def load_chorale(path):
    """The notes of each of the 4 parts; ValueError if the score has not
    exactly 4 non-empty parts (the plan assigns S A T B)."""
    parts = list(music21.corpus.parse(path).parts)
    if len(parts) != 4:
        raise ValueError(f"{len(parts)} parts")
    notes = [part_notes(p) for p in parts]
    if any(len(n) == 0 for n in notes):
        raise ValueError("empty part")
    return notes


def solointro_notes(all_notes, voices, k, gap_q):
    """Notes of voice slot k of a solo-intro piece: its first bar alone at
    bar k, cut to end gap_q quarters early, then its whole part after
    len(voices) bars."""
    notes = all_notes[voices[k]]
    end = BAR_Q - gap_q
    solo = [
        (off + BAR_Q * k, min(off + dur, end) - off, midi)
        for off, dur, midi in notes
        if off < end
    ]
    return solo + [(off + BAR_Q * len(voices), dur, midi) for off, dur, midi in notes]


# ---------------------------------------------------------------- instruments
def allowed(name, voice, lowest, highest, used):
    """Whether instrument ``name`` may play ``voice``, whose notes span
    ``lowest`` to ``highest``, beside the instruments ``used``."""
    _, low, high, _ = INSTRUMENTS[name]
    if name in used or not (low <= lowest and highest <= high):
        return False
    if (voice == BASS and name in HIGH) or (voice == SOPRANO and name in LOW):
        return False
    if voice != BASS and name in BASS_ONLY:
        return False
    return not (name in PLUCKED_KEYS and used & PLUCKED_KEYS)


def draw_assignment(rng, notes, voices):
    """One try: voice -> instrument, lowest voice first (it has the fewest
    candidates); None if a voice is left without any."""
    used = set()
    assign = {}
    for v in sorted(voices, reverse=True):
        pitches = [m for _, _, m in notes[v]]
        cands = [
            (name, weight)
            for name, (*_, weight) in INSTRUMENTS.items()
            if allowed(name, v, min(pitches), max(pitches), used)
        ]
        if not cands:
            return None
        names, weights = zip(*cands, strict=True)
        weights = np.array(weights) / np.sum(weights)
        name = names[rng.choice(len(names), p=weights)]
        used.add(name)
        assign[v] = name
    return assign


def pick_instruments(rng, notes, voices):
    """One instrument per voice, in the order of ``voices``."""
    for _ in range(1000):
        assign = draw_assignment(rng, notes, voices)
        if assign is not None:
            return [assign[v] for v in voices]
    raise RuntimeError("no instrument assignment")


# ---------------------------------------------------------------- audio
def make_part_midi(notes, program, path):
    """Write one part alone as a MIDI file (72 qpm, the given GM program)."""
    part = music21.stream.Part()
    inst = music21.instrument.Instrument()
    inst.midiProgram = program
    inst.midiChannel = 0
    part.insert(0, inst)
    part.insert(0, music21.tempo.MetronomeMark(number=QPM, referent=1.0))
    for off, dur, midi in notes:
        n = music21.note.Note(midi)
        n.quarterLength = dur
        n.volume.velocity = 90
        part.insert(off, n)
    part.write("midi", fp=path)


def render_midi(soundfont, midi, wav):
    """The MIDI file rendered by FluidSynth, averaged to mono (float64)."""
    options = [*FLUIDSYNTH_OPTIONS, "-r", str(SR)]
    cmd = ["fluidsynth", *options, "-F", str(wav), soundfont, str(midi)]
    result = subprocess.run(cmd, capture_output=True)
    if result.returncode != 0 or not Path(wav).exists():
        raise RuntimeError(f"fluidsynth failed: {result.stderr.decode()[-500:]}")
    x, sr = sf.read(wav, dtype="float64", always_2d=True)
    if sr != SR:
        raise RuntimeError(f"fluidsynth rendered {wav} at {sr} Hz, not {SR}")
    return x.mean(axis=1)


def quantize_common(stems):
    """int16 stems, their int16 sum and the common factor applied so that the
    sum does not clip (the mixture must be their exact sum)."""
    k = 1.0
    for _ in range(20):
        q = [
            np.clip(np.round(s * k * 32767.0), -32768, 32767).astype(np.int64)
            for s in stems
        ]
        tot = np.sum(q, axis=0)
        peak = int(np.max(np.abs(tot))) if tot.size else 0
        if peak <= 32767:
            return [x.astype(np.int16) for x in q], tot.astype(np.int16), k
        k *= 0.98 * 32767.0 / peak
    raise RuntimeError("could not avoid clipping")


def render_stems(notes, voices, insts, solo, gap_q, soundfont, tmp, stem):
    """Float stems of one piece, one per voice, cut or padded to one length."""
    stems = []
    for k, v in enumerate(voices):
        part = solointro_notes(notes, voices, k, gap_q) if solo else notes[v]
        midi = Path(tmp) / f"{stem}_{k}.mid"
        make_part_midi(part, INSTRUMENTS[insts[k]][0], str(midi))
        stems.append(render_midi(soundfont, midi, midi.with_suffix(".wav")))
    cap = MAX_SEC_SOLOINTRO if solo else MAX_SEC
    n = min(int(round(cap * SR)), max(len(s) for s in stems))
    return [np.pad(s[:n], (0, n - len(s[:n]))) for s in stems]


def write_folder(folder, insts, qstems, mix):
    if folder.is_dir():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for name, q in zip(insts, qstems, strict=True):
        sf.write(folder / f"{name}.flac", q, SR, subtype="PCM_16")
    sf.write(folder / "mix.flac", mix, SR, subtype="PCM_16")


def render_piece(piece, output, rng, tmp, gap_q=0.0, insts=None):
    """Render one piece into its folder of ``output``; its metadata entry.

    ``piece``: (kind, bwv, path, voices, soundfont name). Instruments are
    drawn unless given (a retry with a larger gap keeps them).
    """
    kind, bwv, path, voices, sfname = piece
    notes = load_chorale(path)
    if insts is None:
        insts = pick_instruments(rng, notes, voices)
    solo = kind.startswith("solointro")
    folder = output / f"{kind}_bwv{bwv}_{sfname}"
    stems = render_stems(
        notes, voices, insts, solo, gap_q, SOUNDFONTS[sfname][0], tmp, folder.name
    )
    qstems, mix, scale = quantize_common(stems)
    write_folder(folder, insts, qstems, mix)
    return {
        "folder": folder.name,
        "kind": kind,
        "bwv": bwv,
        "soundfont": sfname,
        "instruments": insts,
        "voices": [VOICE_NAMES[v] for v in voices],
        "sr": SR,
        "duration": len(mix) / SR,
        "scale": scale,
        "gap_q": gap_q,
    }


# ---------------------------------------------------------------- checks
def solo_leaks(stems, n_solos):
    """Per solo bar: energy of the other stems over the solo stem's."""
    ratios = []
    for i in range(n_solos):
        a, b = int(round(i * BAR_SEC * SR)), int(round((i + 1) * BAR_SEC * SR))
        e = [np.sum(x[a:b].astype(np.float64) ** 2) for x in stems]
        own = e[i]
        ratios.append((sum(e) - own) / own if own > 0 else np.inf)
    return ratios


def check_folder(folder, info=None):
    """(problems, duration in s, solo-bar leaks) of one rendered folder."""
    folder = Path(folder)
    problems = []
    files = sorted(f.name for f in folder.iterdir() if f.name.endswith(".flac"))
    if "mix.flac" not in files:
        return ["no mix.flac"], 0.0, []
    mix, sr = sf.read(folder / "mix.flac", dtype="int16")
    if sr != SR:
        problems.append(f"mix sr {sr}")
    names = info["instruments"] if info else [f[:-5] for f in files if f != "mix.flac"]
    stems = []
    for nm in names:
        x, sr2 = sf.read(folder / f"{nm}.flac", dtype="int16")
        if sr2 != SR or x.ndim != 1:
            problems.append(f"{nm}: sr {sr2} ndim {x.ndim}")
        if len(x) != len(mix):
            problems.append(f"{nm}: length {len(x)} != mix {len(mix)}")
            return problems, len(mix) / SR, []
        stems.append(x.astype(np.int64))
    tot = np.sum(stems, axis=0)
    if not np.array_equal(tot, mix.astype(np.int64)):
        diff = np.max(np.abs(tot - mix))
        problems.append(f"stems do not sum to mix (max diff {diff})")
    for nm, x in zip(names, stems, strict=True):
        if np.sum(x.astype(np.float64) ** 2) == 0:
            problems.append(f"{nm}: zero energy")
    kind = folder.name.split("_")[0]
    dur = len(mix) / SR
    cap = MAX_SEC_SOLOINTRO if kind.startswith("solointro") else MAX_SEC
    if dur > cap + 1e-9:
        problems.append(f"duration {dur:.3f} > {cap:.1f}")
    ratios = []
    if kind.startswith("solointro"):
        nv = int(kind[-1])
        if nv != len(stems):
            problems.append(f"solointro{nv} with {len(stems)} stems")
        ratios = solo_leaks(stems, nv)
        for i, r in enumerate(ratios):
            if not r < MAX_SOLO_LEAK:
                problems.append(f"solo bar {i}: others/own energy {r:.4f}")
    return problems, dur, ratios


def check_output(output):
    """Check every rendered folder of ``output``; exit status 1 if any fails."""
    meta_file = output / "metadata.json"
    if not meta_file.is_file():
        sys.exit(f"{meta_file} not found: render the set first")
    meta = {d["folder"]: d for d in json.loads(meta_file.read_text())}
    bad = 0
    for folder in sorted(output.iterdir()):
        if not (folder / "mix.flac").exists():
            continue
        d = folder.name
        probs, dur, ratios = check_folder(folder, meta.get(d))
        if d not in meta:
            probs.append("not in metadata.json")
        else:
            expected = {f"{i}.flac" for i in meta[d]["instruments"]} | {"mix.flac"}
            extra = {f.name for f in folder.iterdir()} - expected
            if extra:
                probs.append(f"unexpected files {sorted(extra)}")
        leaks = " ".join(f"{r:.2e}" for r in ratios)
        print(f"{d:<40} {dur:6.3f}s {leaks} {probs if probs else 'OK'}")
        bad += bool(probs)
    print("folders with problems:", bad)
    return 1 if bad else 0


# ---------------------------------------------------------------- the set
def render_one(kind, voices, sfname, cands, order, rng, tmp, output):
    """Render the next candidate chorale that fits the plan entry and passes
    the checks; its metadata entry."""
    gaps = SOLO_GAPS_Q if kind.startswith("solointro") else [0.0]
    while True:
        bwv, path = cands[order.pop(0)]
        piece = (kind, bwv, path, voices, sfname)
        insts = None
        for gap in gaps:
            try:
                d = render_piece(piece, output, rng, tmp, gap, insts)
            except ValueError as e:
                print(f"skip bwv{bwv}: {e}", file=sys.stderr)
                break
            insts = d["instruments"]
            probs, _, _ = check_folder(output / d["folder"], d)
            if not probs:
                return d
            print(
                f"check failed {d['folder']} (gap {gap:.2f} q): {probs}",
                file=sys.stderr,
            )
            shutil.rmtree(output / d["folder"])


def render_all(output):
    """Render the plan into ``output``; the metadata entries."""
    output.mkdir(parents=True, exist_ok=True)
    # start clean: a folder of an earlier run would be taken for part of this one
    for folder in output.iterdir():
        if FOLDER.match(folder.name):
            shutil.rmtree(folder)
    rng = np.random.default_rng(SEED)
    cands = candidate_chorales()
    order = list(rng.permutation(len(cands)))
    sfnames = list(SOUNDFONTS)
    infos = []
    with tempfile.TemporaryDirectory() as tmp:
        for idx, (kind, voices) in enumerate(PLAN):
            sfname = sfnames[idx % len(sfnames)]
            d = render_one(kind, voices, sfname, cands, order, rng, tmp, output)
            piece = f"{d['folder']:<40} {','.join(d['instruments'])}"
            print(f"{piece} {d['duration']:.3f}s scale={d['scale']:.3f}")
            infos.append(d)
    return infos


def readme_row(d):
    pairs = ", ".join(
        f"{i} ({v})" for i, v in zip(d["instruments"], d["voices"], strict=True)
    )
    solo = gap = ""
    if d["kind"].startswith("solointro"):
        solo = "; ".join(
            f"voice {i} = {nm}.flac ({i * BAR_SEC:.3f}-{(i + 1) * BAR_SEC:.3f} s)"
            for i, nm in enumerate(d["instruments"])
        )
        gap = f"{d['gap_q']:.2f}"
    return (
        f"| {d['folder']} | {d['kind']} | {d['bwv']} | {d['soundfont']} | {pairs} "
        f"| {d['duration']:.3f} | {solo} | {gap} |"
    )


def write_readme(infos, output):
    lines = [
        "# Held-out set: rendered Bach chorale mixtures with true stems",
        "",
        "Made by `benchmarks/render_heldout.py` (music21 corpus, one MIDI file per "
        f"part, FluidSynth `-ni -R 0 -C 0 -g 0.5 -r {SR}`, mono = mean of "
        f"channels, 16-bit FLAC at {SR} Hz, `mix.flac` = exact int16 sum of the "
        "stems). Tempo 72 quarter notes per minute. Each piece is cut to its "
        "first 20 s (solointro: 26 s). Dev-set chorales (BWV 255, 10.7, 108.6, "
        "269, 267, 270, 271, 260, 253) are not used.",
        "",
        "Soundfonts: fluidr3 = FluidR3_GM.sf2 (fluid-soundfont-gm), timgm6mb = "
        "TimGM6mb.sf2 (timgm6mb-soundfont), musescore = MuseScore_General_Full.sf3 "
        "(musescore-general-soundfont).",
        "",
        "Solointro: voice i (0 = first listed, soprano) plays its first 4 quarter "
        "notes alone from 3.333*i s to 3.333*(i+1) s, in the order listed; then all "
        "voices play together from the start of the piece. The notes of each solo "
        "bar are cut to end 0.5 quarter note (0.417 s) before the bar ends "
        "(column gap), so synth release tails do not leak into the next solo bar.",
        "",
        "| folder | kind | BWV | soundfont | instruments (voice order, soprano "
        "first) | duration (s) | solo bars | gap (quarters) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    lines += [readme_row(d) for d in infos]
    lines.append("")
    (output / "README.md").write_text("\n".join(lines))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--output",
        type=Path,
        metavar="DIR",
        help=f"folder of the set (default: {OUTPUT}, or {OUTPUT}-RATE with --sr)",
    )
    parser.add_argument(
        "--sr",
        type=int,
        default=SR,
        metavar="RATE",
        help=f"sample rate in Hz (default: {SR})",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="render nothing, only check the folders already in DIR",
    )
    args = parser.parse_args()
    if args.sr <= 0:
        parser.error(f"--sr must be a positive rate in Hz, not {args.sr}")
    if args.output is None:
        args.output = (
            OUTPUT if args.sr == SR else OUTPUT.with_name(f"{OUTPUT.name}-{args.sr}")
        )
    use_rate(args.sr)
    if args.check:
        if not args.output.is_dir():
            sys.exit(f"{args.output} not found: render the set first")
        return check_output(args.output)
    problems = missing_requirements()
    if problems:
        sys.exit("\n".join(problems))
    infos = render_all(args.output)
    write_readme(infos, args.output)
    (args.output / "metadata.json").write_text(json.dumps(infos, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
