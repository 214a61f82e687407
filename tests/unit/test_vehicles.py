"""The vehicle layer's logic: look-alike distances, the vote, passes, the hotlist index, the event hub."""

from __future__ import annotations

import asyncio
import random
import string
import time
from pathlib import Path

import pytest

from anpr.contract import ModelVersion
from anpr.domain import PlateRead
from anpr.vehicles.events import EventHub
from anpr.vehicles.hotlist import Hotlist, HotlistError, parse_hotlist
from anpr.vehicles.passes import PassSettings, PassTracker
from anpr.vehicles.records import CaptureRecord, Direction, FrameReads, HotlistEntry, MatchKind
from anpr.vehicles.similarity import canonical, confusion_distance, within_one_edit
from anpr.vehicles.voting import vote

VERSIONS = (ModelVersion("plate_detector", "2"), ModelVersion("plate_recogniser", "2"))


def read(text: str, confidence: float = 0.9, box=(100.0, 100.0, 200.0, 125.0), chars=None) -> PlateRead:
    per_char = tuple(chars) if chars else tuple(confidence ** (1 / len(text)) for _ in text)
    return PlateRead(text, confidence, per_char, box, 0.9, None)


def frame(camera: str, sequence: int, at: float, *reads: PlateRead) -> FrameReads:
    return FrameReads(camera, sequence, at, at, at, tuple(reads), tuple(None for _ in reads), VERSIONS)


def test_look_alike_swaps_cost_less_than_other_edits() -> None:
    assert confusion_distance("AB12CDE", "AB12CDE") == 0
    assert confusion_distance("AB12CDE", "A812CDE") == pytest.approx(0.3)  # B/8
    assert confusion_distance("AB12CDE", "AX12CDE") == 1.0
    assert confusion_distance("RK755AJ", "9RK755AJ") == 1.0  # an emblem read as a character
    assert canonical("OSI87FK") == canonical("0S187FK")
    assert within_one_edit("AB12CDE", "AB12CD") and not within_one_edit("AB12CDE", "AB1CD")


def test_the_vote_outvotes_one_confident_misread() -> None:
    reads = [read("AB12CDE", 0.85), read("AB12CDE", 0.8), read("A812CDE", 0.97), read("AB12CDE", 0.7)]
    voted = vote(reads)
    assert voted.text == "AB12CDE" and voted.agreeing == 3
    assert max(reads, key=lambda r: r.confidence).text == "A812CDE"  # the best single frame is the misread
    assert vote([read("AB12CD", 0.95), read("AB12CDE", 0.6), read("AB12CDE", 0.6)]).text == "AB12CDE"
    # per position: each read wrong somewhere, the vote right everywhere
    mixed = [read("XB12CDE", 0.9), read("AX12CDE", 0.9), read("AB12CDX", 0.9)]
    assert vote(mixed).text == "AB12CDE"


def test_reads_of_one_vehicle_join_one_pass_and_a_second_vehicle_its_own() -> None:
    clock = [0.0]
    tracker = PassTracker(PassSettings(gap_ms=1000), clock=lambda: clock[0])
    records: list[CaptureRecord] = []
    for k in range(8):  # vehicle A comes towards the camera (its plate grows); B is parked, far left
        t = k * 0.1
        grow = 1 + 0.12 * k
        a = read(
            "AB12CDE" if k != 5 else "A812CDE", 0.8, (300, 300 + 10 * k, 300 + 100 * grow, 300 + 10 * k + 25 * grow)
        )
        b = read("XY34ZZZ", 0.9, (20, 50, 90, 68))
        joined, closed = tracker.observe(frame("cam-1", k, t, a, b))
        assert len({p.pass_id for p, _ in joined}) == 2
        records += closed
    assert tracker.open_passes == 2 and not records
    clock[0] = 5.0
    records += tracker.expire()
    by_text = {r.text: r for r in records}
    assert set(by_text) == {"AB12CDE", "XY34ZZZ"} and by_text["AB12CDE"].frames == 8
    assert by_text["AB12CDE"].direction is Direction.TOWARDS and by_text["XY34ZZZ"].direction is Direction.UNKNOWN
    assert by_text["AB12CDE"].texts_seen == {"AB12CDE": 7, "A812CDE": 1}
    assert by_text["AB12CDE"].first_seen == 0.0 and by_text["AB12CDE"].last_seen == pytest.approx(0.7)


def test_a_pass_closes_after_its_gap_and_the_same_plate_later_is_a_new_pass() -> None:
    tracker = PassTracker(PassSettings(gap_ms=1000, max_ms=3000), clock=lambda: 0.0)
    tracker.observe(frame("cam-1", 1, 0.0, read("AB12CDE")))
    _, closed = tracker.observe(frame("cam-1", 2, 0.5, read("AB12CDE")))
    assert not closed
    _, closed = tracker.observe(frame("cam-1", 3, 2.0, read("AB12CDE")))  # 1.5 s later: a new pass
    assert [r.frames for r in closed] == [2]
    for k in range(4, 40):  # a parked car read for ever: closed at max_ms
        _, closed = tracker.observe(frame("cam-1", k, 2.0 + (k - 3) * 0.25, read("AB12CDE")))
        if closed:
            break
    assert closed and closed[0].last_seen - closed[0].first_seen <= 3.0 + 0.25
    other = PassTracker(PassSettings(), clock=lambda: 0.0)
    other.observe(frame("cam-2", 1, 0.0, read("AB12CDE")))
    assert other.open_passes == 1  # cameras are independent


def test_a_frame_gives_each_pass_at_most_one_read() -> None:
    tracker = PassTracker(PassSettings(), clock=lambda: 0.0)
    joined, _ = tracker.observe(frame("cam-1", 1, 0.0, read("AB12CDE"), read("AB12CDE", box=(400, 100, 500, 125))))
    assert len({p.pass_id for p, _ in joined}) == 2  # two cars with the same plate text: cloned plates


def test_open_passes_are_bounded_per_camera_and_in_cameras() -> None:
    tracker = PassTracker(PassSettings(max_open_per_camera=2, max_cameras=3), clock=lambda: 0.0)
    closed = []
    for k, text in enumerate(["AAAA111", "BBBB222", "CCCC333"]):
        closed += tracker.observe(frame("cam-1", k, 0.0, read(text, box=(10 + 200 * k, 10, 100 + 200 * k, 30))))[1]
    assert [r.text for r in closed] == ["AAAA111"] and tracker.open_passes == 2
    for camera in ("cam-2", "cam-3", "cam-4"):
        closed += tracker.observe(frame(camera, 1, 0.0, read("DDDD444")))[1]
    assert tracker.open_passes <= 3 * 2 and len(closed) == 3  # cam-1, the quietest camera, closed its two


def _random_plates(count: int, seed: int = 0) -> list[str]:
    from anpr_benchmarks.hotlist import uk_plates

    return uk_plates(count, random.Random(seed))


def test_the_hotlist_matches_exactly_by_look_alikes_and_by_one_edit_and_nothing_else() -> None:
    entries = [HotlistEntry(p, "stolen", 1) for p in _random_plates(1000)] + [HotlistEntry("AB1", "wanted", 2)]
    hotlist = Hotlist(entries, fuzzy_min_length=5)
    target = entries[7].plate
    assert [m.kind for m in hotlist.match(target)] == [MatchKind.EXACT]
    lookalike = target.replace(target[2], {"1": "I", "0": "O", "8": "B", "5": "S"}.get(target[2], target[2]))
    if lookalike != target:
        assert MatchKind.LOOKALIKE in [m.kind for m in hotlist.match(lookalike)]
    assert [m.kind for m in hotlist.match(target[:-1])] == [MatchKind.ONE_EDIT]  # a character dropped
    assert [m.kind for m in hotlist.match(target + "X")] == [MatchKind.ONE_EDIT]
    assert not hotlist.match("ZZ00ZZZ9") or all(m.entry.plate != target for m in hotlist.match("ZZ00ZZZ9"))
    assert [m.kind for m in hotlist.match("4BI")] == [MatchKind.LOOKALIKE]  # short: look-alikes only
    assert not hotlist.match("AB12")  # one edit from AB1, but AB1 is too short for fuzzy matching
    # Against the definition, by brute force, on reads near and far from the list.
    rng = random.Random(3)

    def mutate(text: str) -> str:
        at = rng.randrange(len(text))
        kind = rng.randrange(3)
        if kind == 0:
            return text[:at] + rng.choice(string.ascii_uppercase) + text[at + 1 :]
        return text[:at] + text[at + 1 :] if kind == 1 else text[:at] + rng.choice(string.digits) + text[at:]

    reads = [mutate(e.plate) for e in entries[:600]] + _random_plates(200, seed=9) + ["AB1", "A81", "AB"]
    for text in reads:
        found = {m.entry.plate for m in hotlist.match(text)}
        expected = {
            e.plate
            for e in entries
            if canonical(e.plate) == canonical(text)
            or (len(e.plate) >= 5 and within_one_edit(canonical(e.plate), canonical(text)))
        }
        assert found == expected, text


def test_a_hotlist_of_100000_entries_indexes_in_seconds_and_matches_by_lookup() -> None:
    plates = _random_plates(100_000, seed=5)
    started = time.process_time()
    hotlist = Hotlist([HotlistEntry(p, "stolen", 1) for p in plates])
    built = time.process_time() - started
    misses = _random_plates(20_000, seed=6)
    started = time.process_time()
    hits = sum(bool(hotlist.match(p)) for p in plates[:2000]) + sum(bool(hotlist.match(p)) for p in misses)
    per_read_us = (time.process_time() - started) / 22_000 * 1e6
    print(f"hotlist of {len(hotlist)}: indexed in {built:.1f} CPU-s, {per_read_us:.1f} CPU-us a read")
    assert hits >= 2000  # every listed plate found (the benchmark measures the speed: anpr bench hotlist)


def test_a_hotlist_file_is_parsed_and_its_errors_name_the_line_not_the_plate(tmp_path: Path) -> None:
    good = (
        "plate,category,priority,note\n# the list of 2026-12-01\n"
        "ab 12-cde,stolen,1,silver estate\nXY99ZZZ,no_insurance,3,\n"
    )
    assert parse_hotlist(good) == [
        HotlistEntry("AB12CDE", "stolen", 1, "silver estate"),
        HotlistEntry("XY99ZZZ", "no_insurance", 3, ""),
    ]
    for bad in ("plate,category\nAB12CDE,stolen\n", "plate,category,priority,note\nSECRET1,stolen,high,\n"):
        with pytest.raises(HotlistError) as refused:
            parse_hotlist(bad)
        assert "SECRET1" not in str(refused.value)
    with pytest.raises(HotlistError, match="line 2"):
        parse_hotlist("plate,category,priority,note\nSECRET1,stolen,high,\n")


def test_a_subscriber_that_falls_behind_is_cut_off_and_publishing_never_waits() -> None:
    async def scenario() -> tuple[int, int, bool, bool]:
        hub = EventHub(buffer=4)
        slow = hub.subscribe(("cam-",), captures=True, hits=True, with_images=False)
        other = hub.subscribe(("elsewhere/",), captures=True, hits=True, with_images=False)
        record = CaptureRecord("p", "cam-1", "AB12CDE", 0.9, None, 0.0, 0.0, 1, 1, Direction.UNKNOWN, VERSIONS)
        for _ in range(10):
            hub.publish(record)  # nobody reads: the slow one overflows at the fifth
        return hub.subscribers, slow.queue.qsize(), slow.overflowed.is_set(), other.queue.empty()

    subscribers, queued, overflowed, other_untouched = asyncio.run(scenario())
    assert overflowed and queued == 4 and subscribers == 1 and other_untouched
