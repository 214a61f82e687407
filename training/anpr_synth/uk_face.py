"""A plate face drawn like the UK's mandatory Charles Wright 2001 characters, built as a TrueType font.

No free font has the UK plate face, and real UK plates differ from every other face the generator
draws where it matters: the digit 1 is a bare stem with a short flag and no foot, the letter I a bare
stem, O a rounded rectangle beside an oval 0, all in heavy strokes (14 mm in 79 mm characters, 50 mm
wide). The glyphs here are stroked centrelines in those proportions, written into a font file once (in
this user's own folder under the temp folder) so the generator draws them like any other face.
"""

from __future__ import annotations

import hashlib
import math
import os
import stat
import tempfile
from functools import lru_cache
from pathlib import Path

from fontTools.fontBuilder import FontBuilder
from fontTools.pens.ttGlyphPen import TTGlyphPen

STROKE = 140  # font units: 14 mm of a 79 mm character
HALF = STROKE / 2
CAP = 790
L, R, B, T = HALF, 500 - HALF, HALF, CAP - HALF  # the centreline box of a 50 mm wide character
MID = (B + T) / 2
RADIUS = (R - L) / 2  # of the round letters' corners
CX = (L + R) / 2
SIDE_BEARING = 40

Point = tuple[float, float]
Stroke = list[Point]


def _arc(cx: float, cy: float, rx: float, ry: float, start: float, end: float) -> Stroke:
    """Points of an elliptical arc from `start` to `end` degrees (either direction), every 10 degrees."""
    steps = max(2, int(abs(end - start) / 10) + 1)
    return [
        (cx + rx * math.cos(math.radians(a)), cy + ry * math.sin(math.radians(a)))
        for a in (start + (end - start) * k / (steps - 1) for k in range(steps))
    ]


def _stadium(cx: float, rx: float) -> Stroke:
    """A closed rounded rectangle the full height: straight sides, round top and bottom."""
    top, bottom = T - rx, B + rx
    return _arc(cx, top, rx, rx, 0, 180) + _arc(cx, bottom, rx, rx, 180, 360) + [(cx + rx, top)]


def _ellipse(cx: float, cy: float, rx: float, ry: float) -> Stroke:
    return _arc(cx, cy, rx, ry, 0, 360)


UPPER, LOWER = (T + MID) / 2, (MID + B) / 2  # centres of two stacked bowls (B, S, 3, 8, 9)
BOWL = (T - MID) / 2

GLYPHS: dict[str, tuple[float, list[Stroke]]] = {  # character: (advance, strokes)
    "A": (500, [[(L, B), (CX, T), (R, B)], [(L + 75, 270), (R - 75, 270)]]),
    "B": (
        500,
        [
            [(L, B), (L, T), (R - 150, T)] + _arc(R - 150, UPPER, 150, BOWL, 90, -90) + [(L, MID)],
            [(L, MID)] + _arc(R - 160, LOWER, 160, BOWL, 90, -90) + [(L, B)],
        ],
    ),
    "C": (500, [_arc(CX, T - RADIUS, RADIUS, RADIUS, 25, 180) + _arc(CX, B + RADIUS, RADIUS, RADIUS, 180, 335)]),
    "D": (
        500,
        [
            [(L, B), (L, T), (CX - 20, T)]
            + _arc(CX - 20, T - RADIUS, RADIUS + 20, RADIUS, 90, 0)
            + _arc(CX - 20, B + RADIUS, RADIUS + 20, RADIUS, 0, -90)
            + [(L, B)]
        ],
    ),
    "E": (500, [[(R, T), (L, T), (L, B), (R, B)], [(L, MID), (R - 40, MID)]]),
    "F": (500, [[(R, T), (L, T), (L, B)], [(L, MID), (R - 40, MID)]]),
    "G": (
        500,
        [
            _arc(CX, T - RADIUS, RADIUS, RADIUS, 25, 180)
            + _arc(CX, B + RADIUS, RADIUS, RADIUS, 180, 360)
            + [(R, 340), (CX + 20, 340)]
        ],
    ),
    "H": (500, [[(L, B), (L, T)], [(R, B), (R, T)], [(L, MID), (R, MID)]]),
    "I": (STROKE, [[(HALF, B), (HALF, T)]]),
    "J": (500, [[(R, T)] + _arc(CX, B + RADIUS, RADIUS, RADIUS, 0, -180) + [(L, B + RADIUS + 40)]]),
    "K": (500, [[(L, B), (L, T)], [(R, T), (L, 300)], [(L + 120, 400), (R, B)]]),
    "L": (500, [[(L, T), (L, B), (R, B)]]),
    "M": (500, [[(L, B), (L, T), (CX, 300), (R, T), (R, B)]]),
    "N": (500, [[(L, B), (L, T), (R, B), (R, T)]]),
    "O": (500, [_stadium(CX, RADIUS)]),
    "P": (500, [[(L, B), (L, T), (R - 150, T)] + _arc(R - 150, T - 190, 150, 190, 90, -90) + [(L, T - 380)]]),
    "Q": (500, [_stadium(CX, RADIUS), [(CX + 40, 210), (R + 30, B - 30)]]),
    "R": (
        500,
        [
            [(L, B), (L, T), (R - 150, T)] + _arc(R - 150, T - 190, 150, 190, 90, -90) + [(L, T - 380)],
            [(CX - 10, T - 380), (R, B)],
        ],
    ),
    "S": (500, [_arc(CX, UPPER, RADIUS, BOWL, 20, 270) + _arc(CX, LOWER, RADIUS, BOWL, 90, -160)]),
    "T": (500, [[(L - 20, T), (R + 20, T)], [(CX, T), (CX, B)]]),
    "U": (500, [[(L, T)] + _arc(CX, B + RADIUS, RADIUS, RADIUS, 180, 360) + [(R, T)]]),
    "V": (500, [[(L, T), (CX, B), (R, T)]]),
    "W": (560, [[(L, T), (L + 90, B), (280, 520), (560 - L - 90, B), (560 - L, T)]]),
    "X": (500, [[(L, T), (R, B)], [(R, T), (L, B)]]),
    "Y": (500, [[(L, T), (CX, MID - 30), (R, T)], [(CX, MID - 30), (CX, B)]]),
    "Z": (500, [[(L, T), (R, T), (L, B), (R, B)]]),
    "0": (500, [_ellipse(CX, MID, RADIUS - 10, (T - B) / 2)]),
    "1": (330, [[(120, T - 150), (330 - HALF, T), (330 - HALF, B)]]),
    "2": (500, [_arc(CX, T - RADIUS, RADIUS, RADIUS, 160, -20) + [(L, B), (R, B)]]),
    "3": (500, [_arc(CX, UPPER, RADIUS, BOWL, 150, -90) + _arc(CX, LOWER, RADIUS, BOWL, 90, -150)]),
    "4": (500, [[(R - 80, B), (R - 80, T), (L, 250), (R + 20, 250)]]),
    "5": (500, [[(R, T), (L + 10, T), (L + 10, 430)] + _arc(CX, 250, RADIUS, 190, 125, -150)]),
    "6": (
        500,
        [_ellipse(CX, LOWER, RADIUS, BOWL), [(L, LOWER)] + _arc(CX, T - RADIUS, RADIUS, RADIUS, 180, 40)],
    ),
    "7": (500, [[(L - 10, T), (R, T), (CX - 40, B)]]),
    "8": (500, [_ellipse(CX, UPPER + 10, RADIUS - 20, BOWL - 10), _ellipse(CX, LOWER, RADIUS, BOWL)]),
    "9": (
        500,
        [_ellipse(CX, UPPER, RADIUS, BOWL), [(R, UPPER)] + _arc(CX, B + RADIUS, RADIUS, RADIUS, 0, -140)],
    ),
}


def _clockwise(points: list[Point]) -> list[Point]:
    """TrueType fills with the non-zero rule: contours all wound one way draw their union."""
    area = sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in zip(points, points[1:] + points[:1]))
    return points if area < 0 else points[::-1]


def _stroke_contours(stroke: Stroke, shift: float, corners: set[Point]) -> list[list[Point]]:
    """A centreline as filled polygons: a rectangle per segment, a round join at each inner vertex and
    a square one where an end meets another stroke's vertex (`corners`: B's, D's, E's square corners)."""
    points = [(x + shift, y) for x, y in stroke]
    contours = [
        [(x - HALF, y - HALF), (x - HALF, y + HALF), (x + HALF, y + HALF), (x + HALF, y - HALF)]
        for x, y in (points[0], points[-1])
        if (round(x - shift), round(y)) in corners
    ]
    for (x1, y1), (x2, y2) in zip(points, points[1:]):
        length = math.hypot(x2 - x1, y2 - y1)
        if length < 1e-6:
            continue
        nx, ny = -(y2 - y1) / length * HALF, (x2 - x1) / length * HALF
        contours.append([(x1 + nx, y1 + ny), (x2 + nx, y2 + ny), (x2 - nx, y2 - ny), (x1 - nx, y1 - ny)])
    for x, y in points[1:-1]:
        contours.append(
            [(x + HALF * math.cos(a * math.pi / 8), y + HALF * math.sin(a * math.pi / 8)) for a in range(16)]
        )
    return [_clockwise(contour) for contour in contours]


def _corners(strokes: list[Stroke]) -> set[Point]:
    """Stroke ends that another stroke, or the same one elsewhere, also passes through as a vertex."""
    seen: dict[Point, int] = {}
    for stroke in strokes:
        for x, y in stroke:
            seen[(round(x), round(y))] = seen.get((round(x), round(y)), 0) + 1
    return {
        (round(x), round(y)) for stroke in strokes for x, y in (stroke[0], stroke[-1]) if seen[(round(x), round(y))] > 1
    }


def build_face(path: Path) -> None:
    """Writes the face as a TrueType file at `path`."""
    order = [".notdef", "space", *GLYPHS]
    builder = FontBuilder(1000, isTTF=True)
    builder.setupGlyphOrder(order)
    builder.setupCharacterMap({ord(" "): "space", **{ord(c): c for c in GLYPHS}})
    glyphs, metrics = {}, {}
    for name in (".notdef", "space"):
        glyphs[name] = TTGlyphPen(None).glyph()
        metrics[name] = (300, 0)
    for character, (advance, strokes) in GLYPHS.items():
        pen = TTGlyphPen(None)
        corners = _corners(strokes)
        contours = [contour for stroke in strokes for contour in _stroke_contours(stroke, SIDE_BEARING, corners)]
        for contour in contours:
            pen.moveTo((round(contour[0][0]), round(contour[0][1])))
            for x, y in contour[1:]:
                pen.lineTo((round(x), round(y)))
            pen.closePath()
        glyphs[character] = pen.glyph()
        metrics[character] = (int(advance + 2 * SIDE_BEARING), round(min(x for c in contours for x, _ in c)))
    builder.setupGlyf(glyphs)
    builder.setupHorizontalMetrics(metrics)
    builder.setupHorizontalHeader(ascent=CAP + 100, descent=-100)
    builder.setupNameTable({"familyName": "ANPR UK Plate", "styleName": "Regular"})
    builder.setupOS2(sTypoAscender=CAP + 100, sTypoDescender=-100, usWinAscent=CAP + 100, usWinDescent=100)
    builder.setupPost()
    builder.save(str(path))


def _private_folder() -> Path:
    """This user's folder for built fonts under the temp folder; a fresh one if that name is not ours."""
    folder = Path(tempfile.gettempdir()) / f"anpr-fonts-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    info = folder.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        return Path(tempfile.mkdtemp(prefix="anpr-fonts-"))
    return folder


@lru_cache(maxsize=1)
def uk_face_path() -> str:
    """The face's font file, written on first use (atomically: generator workers may race)."""
    digest = hashlib.sha1(repr((GLYPHS, STROKE, SIDE_BEARING)).encode()).hexdigest()[:12]  # a changed glyph, a new file
    path = _private_folder() / f"uk_plate_face_{digest}.ttf"
    if not path.exists():
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        build_face(partial)
        os.replace(partial, path)
    return str(path)
