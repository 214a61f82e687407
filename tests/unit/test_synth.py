"""The synthetic generator: deterministic, varied, and its labels match what it draws."""

from __future__ import annotations

import numpy as np

from anpr_synth import PLATE_LAYOUTS, generate_frame, generate_plate_crop
from anpr_synth.degrade import CameraConditions, apply_camera
from anpr_synth.labelled_set import iter_labelled_set
from anpr_synth.plate_text import plate_label
from anpr_synth.synthetic_set import write_labelled_set


def test_same_seed_gives_the_same_frame_and_other_seeds_differ() -> None:
    a, b, c = generate_frame(3, 5), generate_frame(3, 5), generate_frame(4, 5)
    assert a.jpeg == b.jpeg and a.plates == b.plates
    assert a.jpeg != c.jpeg


def test_label_boxes_are_the_extent_of_the_drawn_plate_pixels() -> None:
    checked = 0
    for index in range(8):
        frame = generate_frame(11, index, keep_masks=True)
        assert len(frame.plate_masks) == len(frame.plates)
        for plate, mask in zip(frame.plates, frame.plate_masks):
            ys, xs = np.nonzero(mask)
            x, y, w, h = plate.box
            # Every drawn plate pixel lies inside the label box, and fills it to its edges.
            assert xs.min() >= x - 1 and xs.max() <= x + w and ys.min() >= y - 1 and ys.max() <= y + h
            assert xs.max() - xs.min() >= w - 3 and ys.max() - ys.min() >= h - 3
            checked += 1
    assert checked >= 8


def test_plates_are_inside_the_frame_and_do_not_overlap() -> None:
    for index in range(10):
        frame = generate_frame(12, index)
        height, width = frame.image.shape[:2]
        boxes = [p.box for p in frame.plates]
        for x, y, w, h in boxes:
            assert 0 <= x and 0 <= y and x + w <= width and y + h <= height
        for i, (x1, y1, w1, h1) in enumerate(boxes):
            for x2, y2, w2, h2 in boxes[i + 1 :]:
                assert x1 + w1 <= x2 or x2 + w2 <= x1 or y1 + h1 <= y2 or y2 + h2 <= y1


def test_every_layout_writes_plate_alphabet_strings_of_one_to_ten_characters() -> None:
    rng = np.random.default_rng(0)
    for layout in PLATE_LAYOUTS:
        for _ in range(50):
            label = plate_label(layout.text(rng))
            assert 1 <= len(label) <= 10 and label.isalnum() and label == label.upper(), (layout.name, label)


def test_frames_vary_in_size_plate_count_and_layout() -> None:
    frames = [generate_frame(21, i) for i in range(40)]
    assert len({f.image.shape for f in frames}) >= 3
    assert len({len(f.plates) for f in frames}) >= 3
    assert len({p.layout for f in frames for p in f.plates}) >= 6


def test_plate_crops_match_the_recogniser_input() -> None:
    crop, label = generate_plate_crop(np.random.default_rng(1))
    assert crop.shape == (32, 128) and crop.dtype == np.uint8
    assert 1 <= len(label) <= 10
    assert crop.std() > 10  # a plate, not a flat patch


def test_written_set_round_trips_through_the_reader(tmp_path) -> None:
    plates = write_labelled_set(tmp_path, count=4, seed=5, progress=False)
    entries = list(iter_labelled_set(tmp_path))
    assert len(entries) == 4
    assert sum(len(e.plates) for e in entries) == plates
    frame = generate_frame(5, 0)
    first = entries[0]
    assert [p.text for p in first.plates] == [p.text for p in frame.plates]
    assert [p.box for p in first.plates] == [(x, y, x + w, y + h) for x, y, w, h in (p.box for p in frame.plates)]


def _still_camera(**changes: object) -> CameraConditions:
    """Daylight, no noise, no glare, near-lossless JPEG: only what a test changes degrades the frame."""
    base = dict(
        night=False,
        infrared=False,
        ambient_gain=1.0,
        plate_gain=1.0,
        colour_cast=(1.0, 1.0, 1.0),
        motion_length=0.0,
        motion_angle=0.0,
        defocus_sigma=0.0,
        noise_sigma=0.0,
        jpeg_quality=100,
        glare=False,
    )
    return CameraConditions(**{**base, **changes})


def _edge_width(image: np.ndarray) -> int:
    """Pixels of one row that are neither the dark nor the light side of a vertical edge."""
    row = image[image.shape[0] // 2].astype(int)
    return int(((row > 40) & (row < 200)).sum())


def test_blur_is_capped_by_plate_height_so_small_plates_stay_legible() -> None:
    edge = np.full((64, 128, 3), 230, np.uint8)
    edge[:, :64] = 20
    no_plate = np.zeros((64, 128), np.float32)
    rng = np.random.default_rng(0)
    blurred = _still_camera(motion_length=12.0)
    sharp, _ = apply_camera(edge, rng, _still_camera(), no_plate, min_plate_height=200)
    big_plates, _ = apply_camera(edge, rng, blurred, no_plate, min_plate_height=200)
    small_plates, _ = apply_camera(edge, rng, blurred, no_plate, min_plate_height=20)
    assert _edge_width(sharp) <= 2
    assert _edge_width(big_plates) >= 6  # 12 px of motion at 1280 wide, 7 px at this width: not capped
    assert _edge_width(small_plates) <= 3  # capped at 0.1 plate heights: 2 px


def test_glare_does_not_wash_out_plates() -> None:
    scene = np.full((40, 40, 3), 30, np.uint8)
    scene[10:30, 5:35] = 220  # a white plate...
    scene[15:25, 12:16] = 20  # ...with one dark character stroke
    plate = np.zeros((40, 40), np.float32)
    plate[10:30, 5:35] = 1.0
    glare = _still_camera(glare=True)
    for seed in range(5):  # the same seed puts the same blobs in the same places, with or without a plate
        with_plate, _ = apply_camera(scene, np.random.default_rng(seed), glare, plate, 20, camera_width=1280)
        unmasked, _ = apply_camera(scene, np.random.default_rng(seed), glare, np.zeros_like(plate), 20, 1280)

        def contrast(image: np.ndarray) -> float:
            return float(image[16:24, 20:30].mean()) - float(image[16:24, 13:15].mean())

        assert contrast(unmasked) < 60  # full-strength glare: the stroke is (nearly) gone
        assert contrast(with_plate) > 100  # a quarter of it over plates: still readable


def test_infrared_plates_are_bright_with_dark_ink_whatever_their_colours() -> None:
    """Under an ANPR camera's infrared flash a yellow plate is as white as a white one; black and
    coloured inks stay dark (else the characters vanish and the label promises what no one can read)."""
    plate = np.zeros((20, 60), np.float32)
    plate[:, :] = 1.0
    ir = _still_camera(infrared=True, ambient_gain=0.2, plate_gain=1.3)
    for background, ink in (
        ((246, 200, 30), (15, 15, 15)),
        ((236, 236, 230), (20, 40, 120)),
        ((240, 240, 235), (150, 20, 20)),
    ):
        scene = np.full((20, 60, 3), background, np.uint8)
        scene[5:15, 20:40] = ink
        grey, _ = apply_camera(scene, np.random.default_rng(0), ir, plate, 20, camera_width=1280)
        assert grey[:4].mean() > 180 and grey[8:12, 25:35].mean() < 0.5 * grey[:4].mean(), (background, ink)


def test_some_plates_have_light_characters_on_a_dark_plate() -> None:
    """Black plates with white or silver characters exist (older UK, Malaysian, Singaporean): the
    generator draws them, so the models do not learn that characters are always the dark pixels."""
    from anpr_synth.plate_render import render_plate

    (dark,) = [layout for layout in PLATE_LAYOUTS if layout.name == "dark"]
    rng = np.random.default_rng(5)
    for _ in range(5):
        plate = render_plate(dark, dark.text(rng), rng)
        grey = plate[..., :3].mean(axis=-1)[plate[..., 3] > 0]
        assert np.median(grey) < 80 and np.percentile(grey, 97) > 150  # mostly dark, with bright strokes
    white = [layout for layout in PLATE_LAYOUTS if layout.name == "uk_front"][0]
    plate = render_plate(white, white.text(rng), rng)
    assert np.median(plate[..., :3].mean(axis=-1)[plate[..., 3] > 0]) > 150  # the usual plates stay light


def test_a_face_drawing_o_and_zero_as_one_glyph_is_told_from_one_that_does_not() -> None:
    from anpr_synth.fonts import available_fonts, draws_o_as_zero

    faces = available_fonts("plate")
    # DejaVu (matplotlib's fallback, always present) draws a narrower, oval zero.
    assert not any(draws_o_as_zero(path) for path in faces if "DejaVu" in path)
    open_din = "/usr/share/fonts/truetype/opendin/OSP-DIN.ttf"  # Debian fonts-opendin (make system-packages)
    if open_din in faces:
        assert draws_o_as_zero(open_din)


def test_free_layout_plates_holding_o_or_zero_are_never_drawn_in_a_face_that_draws_them_alike(monkeypatch) -> None:
    from anpr_synth import fonts, plate_render
    from anpr_synth.plate_text import PLATE_LAYOUTS

    twin, distinct = "twin-face", "distinct-face"
    monkeypatch.setattr(plate_render, "available_fonts", lambda kind="plate": (twin, distinct))
    monkeypatch.setattr(plate_render, "draws_o_as_zero", lambda path: path == twin)
    real_font = fonts.available_fonts("plate")[0]
    used: list[str] = []

    def load(path: str, size: int):
        used.append(path)
        return fonts.load_font(real_font, size)

    monkeypatch.setattr(plate_render, "load_font", load)
    free = next(layout for layout in PLATE_LAYOUTS if layout.name == "personalised")
    fixed = next(layout for layout in PLATE_LAYOUTS if layout.name == "fr")
    assert free.free_text and not fixed.free_text
    for seed in range(12):
        used.clear()
        plate_render.render_plate(free, "GO0GLE", np.random.default_rng(seed))
        assert used and twin not in used
    faces_for_fixed = set()
    for seed in range(12):
        used.clear()
        plate_render.render_plate(fixed, "AB-010-CD", np.random.default_rng(seed))
        faces_for_fixed.add(used[0])
    assert faces_for_fixed == {twin, distinct}  # a layout that fixes letters and digits may use either


def test_vanity_plates_are_mostly_letters_like_the_words_and_names_they_spell() -> None:
    from anpr_synth.plate_text import LETTERS, personalised

    rng = np.random.default_rng(5)
    labels = [plate_label(personalised(rng)) for _ in range(600)]
    letters_only = sum(all(c in LETTERS for c in label) for label in labels) / len(labels)
    # Half drawn from letters alone, the rest from letters and digits (letters only by chance ~1 in 4).
    assert 0.5 < letters_only < 0.75


def test_the_uk_face_draws_every_plate_character_and_tells_look_alikes_apart() -> None:
    from anpr_synth.fonts import _glyph, draws_o_as_zero, load_font
    from anpr_synth.plate_text import DIGITS, LETTERS
    from anpr_synth.uk_face import uk_face_path

    font = load_font(uk_face_path(), 64)
    masks = {c: _glyph(font, c) for c in LETTERS + DIGITS}
    assert all(mask.sum() > 100 for mask in masks.values())
    for a, b in ("1I", "0O", "8B", "5S", "2Z", "0D"):
        overlap = (masks[a] & masks[b]).sum() / (masks[a] | masks[b]).sum()
        assert overlap < 0.9, (a, b, overlap)
    assert not draws_o_as_zero(uk_face_path())
    one, letter_i = masks["1"], masks["I"]
    assert one.any(axis=0).sum() > 1.5 * letter_i.any(axis=0).sum()  # the 1's flag: wider than the bare I


def test_uk_layouts_are_drawn_mostly_in_the_uk_face_and_other_layouts_never(monkeypatch) -> None:
    from anpr_synth import plate_render
    from anpr_synth.uk_face import uk_face_path

    first_face: list[str] = []
    load_font = plate_render.load_font

    def load(path: str, size: int):
        first_face.append(path)
        return load_font(path, size)

    monkeypatch.setattr(plate_render, "load_font", load)

    def uk_face_share(name: str) -> float:
        layout = next(layout for layout in PLATE_LAYOUTS if layout.name == name)
        drawn = 0
        for seed in range(60):
            rng = np.random.default_rng(seed)
            first_face.clear()
            plate_render.render_plate(layout, layout.text(rng), rng)
            drawn += first_face[0] == uk_face_path()
        return drawn / 60

    assert 0.4 < uk_face_share("uk_rear") < 0.8
    assert uk_face_share("fr") == 0.0
