"""rawdenoise.pairing: the pair-list format, validation, grouping a folder, coverage."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import pytest
from _pair_scenes import (
    SESSION,
    expected_pairs,
    mosaic,
    scene,
    shoot,
    shuffled_names,
)

from rawdenoise.errors import InputError, OutputExistsError
from rawdenoise.pairing import (
    Pair,
    check_pair_list,
    find_pairs,
    load_pairs,
    read_pair_list,
    write_pair_list,
)

# --------------------------------------------------------------------------------------------
# Format
# --------------------------------------------------------------------------------------------


def _touch(folder: Path, *names: str) -> None:
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(b"x")


def test_read_tolerates_crlf_comments_tabs_prefixes_columns_and_spaces(tmp_path: Path) -> None:
    _touch(tmp_path, "a.ARW", "b.ARW", "short/c.ARW", "long/d.ARW", "my dark.dng", "my  clean.dng")
    _touch(tmp_path, "e 1.CR2", "f 2.CR2", "g h.dng", "i j.dng")
    text = (
        "# pairs for my camera\r\n"
        "\r\n"
        "a.ARW b.ARW\r\n"
        "   \r\n"
        "./short/c.ARW\t./long/d.ARW   ISO800 ISO100\r\n"
        '"my dark.dng" "my  clean.dng" x10\r\n'
        "e 1.CR2 f 2.CR2 ISO3200\r\n"
        '"g h.dng" i j.dng\r\n'
    )
    (tmp_path / "pairs.txt").write_bytes(text.encode())
    entries = read_pair_list(tmp_path / "pairs.txt")
    got = [(e.noisy.relative_to(tmp_path).as_posix(), e.clean.name, e.line) for e in entries]
    assert got == [
        ("a.ARW", "b.ARW", 3),
        ("short/c.ARW", "d.ARW", 5),
        ("my dark.dng", "my  clean.dng", 6),
        ("e 1.CR2", "f 2.CR2", 7),
        ("g h.dng", "i j.dng", 8),
    ]
    assert entries[1].extra == ("ISO800", "ISO100")
    assert entries[3].extra == ("ISO3200",)
    assert not any("\r" in str(e.clean) for e in entries)


def test_read_accepts_windows_separators(tmp_path: Path) -> None:
    _touch(tmp_path, "short/c.ARW", "long/d.ARW")
    (tmp_path / "pairs.txt").write_text("short\\c.ARW long\\d.ARW\n")
    [entry] = read_pair_list(tmp_path / "pairs.txt")
    assert entry.noisy == tmp_path / "short" / "c.ARW" and entry.clean.is_file()


def test_read_relative_to_root_and_bad_lines(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _touch(data, "n.dng", "c.dng")
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "l.txt").write_text("n.dng c.dng\n")
    [entry] = read_pair_list(lists / "l.txt", root=data)
    assert entry.noisy == data / "n.dng" and entry.clean == data / "c.dng"

    (lists / "bad.txt").write_text('n.dng c.dng\nonly_one.dng\n"unclosed c.dng\n')
    with pytest.raises(InputError) as err:
        read_pair_list(lists / "bad.txt")
    assert "line 2" in err.value.message and "only_one.dng" in err.value.message
    assert "line 3" in err.value.message and "unclosed quote" in err.value.message
    with pytest.raises(InputError, match="no such file"):
        read_pair_list(tmp_path / "missing.txt")


def test_write_is_relative_quoted_atomic_and_round_trips(tmp_path: Path) -> None:
    caps = tmp_path / "caps"
    _touch(caps, "dark one.dng", "clean.dng", "sub/x.dng")
    out = tmp_path / "lists" / "pairs.txt"
    pairs = [(caps / "dark one.dng", caps / "clean.dng"), (caps / "sub/x.dng", caps / "clean.dng")]
    write_pair_list(out, pairs)
    assert out.read_text() == (
        '"../caps/dark one.dng" ../caps/clean.dng\n../caps/sub/x.dng ../caps/clean.dng\n'
    )
    entries = read_pair_list(out)
    assert [(e.noisy.resolve(), e.clean.resolve()) for e in entries] == [
        ((caps / "dark one.dng").resolve(), (caps / "clean.dng").resolve()),
        ((caps / "sub/x.dng").resolve(), (caps / "clean.dng").resolve()),
    ]
    with pytest.raises(OutputExistsError, match="exists"):
        write_pair_list(out, [(caps / "clean.dng", caps / "sub/x.dng")])
    assert "dark one" in out.read_text()  # unchanged
    write_pair_list(out, [(caps / "sub/x.dng", caps / "clean.dng")], overwrite=True)
    assert out.read_text() == "../caps/sub/x.dng ../caps/clean.dng\n"
    assert sorted(p.name for p in out.parent.iterdir()) == ["pairs.txt"]  # no temp files left


def test_writer_refuses_names_it_cannot_read_back(tmp_path: Path) -> None:
    for name in ("a\nb.dng", "a\rb.dng", "a\x1bb.dng", "a\u2028b.dng", "a '\"b.dng"):
        with pytest.raises(InputError, match="cannot write the file name"):
            write_pair_list(tmp_path / "p.txt", [(tmp_path / name, tmp_path / "c.dng")])
        assert not (tmp_path / "p.txt").exists()


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def test_load_pairs_computes_ratio_from_exif(make_dng, tmp_path: Path) -> None:
    paths = shoot(make_dng, tmp_path)
    (tmp_path / "pairs.txt").write_text(
        "DSC00002.dng DSC00001.dng\nDSC00005.dng DSC00006.dng\nDSC00008.dng DSC00007.dng\n"
    )
    pairs = load_pairs(tmp_path / "pairs.txt")
    assert [p.ratio for p in pairs] == pytest.approx([10, 100, 4.6875])
    first = pairs[0]
    assert first.noisy == paths[1] and first.clean == paths[0]
    assert (first.noisy_iso, first.clean_iso) == (400, 100)
    assert (first.noisy_exposure, first.clean_exposure) == (Fraction(1, 4), Fraction(10))
    assert first.camera == "Test Cam" and first.size == (64, 96) and first.line == 1
    assert [p.iso_class for p in pairs] == ["low", "high", "high"]


def test_swapped_pair_is_one_error_naming_the_line(make_dng, tmp_path: Path) -> None:
    shoot(make_dng, tmp_path)
    (tmp_path / "pairs.txt").write_text("DSC00002.dng DSC00001.dng\nDSC00006.dng DSC00005.dng\n")
    result = check_pair_list(tmp_path / "pairs.txt")
    assert len(result.pairs) == 1 and len(result.problems) == 1
    assert result.problems[0].startswith("line 2: ") and "swap" in result.problems[0]
    with pytest.raises(InputError) as err:
        load_pairs(tmp_path / "pairs.txt")
    assert "line 2" in err.value.message and "swap the two names" in err.value.message
    assert "line 1" not in err.value.message


def test_every_problem_is_collected_into_one_error(make_dng, tmp_path: Path) -> None:
    shoot(make_dng, tmp_path, SESSION[:3])
    make_dng("big.dng", h=80, w=96, iso=100, exposure="10")
    make_dng("other.dng", h=64, w=96, iso=100, exposure="10", make="Other", model="X")
    (tmp_path / "junk.dng").write_text("not a raw file")
    lines = [
        "DSC00002.dng DSC00001.dng",  # fine
        "missing.dng DSC00001.dng",  # 2 missing
        "DSC00002.dng big.dng",  # 3 size
        "DSC00002.dng other.dng",  # 4 camera
        "DSC00002.dng DSC00002.dng",  # 5 same file
        "junk.dng DSC00001.dng",  # 6 not RAW
        "DSC00003.dng DSC00001.dng",  # 7 fine
        "DSC00002.dng DSC00003.dng",  # 8 same level: ratio 1
    ]
    (tmp_path / "p.txt").write_text("\n".join(lines) + "\n")
    result = check_pair_list(tmp_path / "p.txt")
    assert [p.line for p in result.pairs] == [1, 7]
    by_line = {int(p.split(":")[0].split()[1]): p for p in result.problems}
    assert sorted(by_line) == [2, 3, 4, 5, 6, 8]
    assert "missing.dng not found" in by_line[2]
    assert "differ in size" in by_line[3] and "96x80" in by_line[3]
    assert "different cameras" in by_line[4] and "Other X" in by_line[4]
    assert "same file" in by_line[5]
    assert "junk.dng" in by_line[6] and "decode" in by_line[6]
    assert "not above 1" in by_line[8]
    with pytest.raises(InputError) as err:
        load_pairs(tmp_path / "p.txt")
    assert "6 problems" in err.value.message and "and 1 more" in err.value.message
    assert "\n" not in err.value.message

    capped = check_pair_list(tmp_path / "p.txt", max_ratio=5)
    assert "line 7: ratio 10 is above the maximum 5" in capped.problems


def test_mixed_cameras_across_a_list_are_refused(make_dng, tmp_path: Path) -> None:
    shots = [*SESSION[:2], *(replace(s, camera=("Other", "X")) for s in SESSION[3:6])]
    shoot(make_dng, tmp_path, shots)
    (tmp_path / "p.txt").write_text("DSC00002.dng DSC00001.dng\nDSC00003.dng DSC00005.dng\n")
    result = check_pair_list(tmp_path / "p.txt")
    assert len(result.pairs) == 2
    assert result.problems == [
        "the list mixes cameras (Test Cam: 1 pair, Other X: 1 pair): a fine-tune adapts one camera"
    ]


def test_truncated_file_is_caught(make_dng, tmp_path: Path) -> None:
    shoot(make_dng, tmp_path, SESSION[:2])
    good = tmp_path / "DSC00001.dng"
    data = good.read_bytes()
    good.write_bytes(data[: len(data) // 2])
    (tmp_path / "p.txt").write_text("DSC00002.dng DSC00001.dng\n")
    [problem] = check_pair_list(tmp_path / "p.txt").problems
    assert problem.startswith("line 1: DSC00001.dng: ") and "truncated" in problem


# --------------------------------------------------------------------------------------------
# Pairing a folder
# --------------------------------------------------------------------------------------------


def test_find_pairs_three_scenes_shuffled_names(make_dng, tmp_path: Path) -> None:
    names = shuffled_names(len(SESSION))
    shoot(make_dng, tmp_path, SESSION, names)
    result = find_pairs(tmp_path)
    got = [(p.noisy.name, p.clean.name, p.ratio) for p in result.pairs]
    want = expected_pairs(SESSION, names)
    assert [(n, c) for n, c, _ in got] == [(n, c) for n, c, _ in want]
    assert [r for *_, r in got] == pytest.approx([r for *_, r in want])
    assert [p.scene for p in result.pairs] == [1, 1, 2, 2, 3]
    assert [s.reference.path.name for s in result.scenes] == [names[0], names[5], names[6]]
    assert result.skipped == [] and result.warnings == [] and result.frames == 8
    assert all(p.similarity is not None and p.similarity > 0.95 for p in result.pairs)

    cov = {round(c.ratio, 2): c for c in result.coverage}
    assert sorted(cov) == [4.69, 10, 100]
    assert cov[10].complete and cov[100].complete
    assert cov[10].low_iso == (400,) and cov[10].high_iso == (3200,)
    assert not cov[4.69].complete and cov[4.69].missing == ("low",)
    # the seed's worked example: 640 at a low ISO is ISO 320 for 2 s (ratio's capture plan)
    [shot] = cov[4.69].plan.suggestions
    assert (shot.iso, shot.seconds) == (320, Fraction(2))


def test_max_gap_splits_or_merges_bursts(make_dng, tmp_path: Path) -> None:
    shoot(make_dng, tmp_path, SESSION[:6])
    # scene 2 starts 280 s after scene 1's last exposure ended
    assert len(find_pairs(tmp_path, verify=False, max_gap=60).scenes) == 2
    merged = find_pairs(tmp_path, verify=False, max_gap=400)
    assert len(merged.scenes) == 1
    # one burst: only the brightest frame is the reference, so scene 2's 1 s frame is noisy
    assert len(merged.pairs) == 5 and {p.clean.name for p in merged.pairs} == {"DSC00001.dng"}


def test_sequence_and_folder_grouping_without_a_clock(make_dng, tmp_path: Path) -> None:
    # clock never set: every frame has the same capture time
    shots = [replace(s, at=0) for s in SESSION]
    names = [f"IMG_{n:04d}.dng" for n in (1, 2, 3, 10, 11, 12, 20, 21)]
    shoot(make_dng, tmp_path / "flat", shots, names)
    assert len(find_pairs(tmp_path / "flat", verify=False).scenes) == 1  # time cannot split
    seq = find_pairs(tmp_path / "flat", group_by="sequence")
    assert [(p.noisy.name, p.clean.name) for p in seq.pairs] == [
        (n, c) for n, c, _ in expected_pairs(shots, names)
    ]

    for number in (1, 2, 3):
        members = [i for i, s in enumerate(shots) if s.scene == number]
        shoot(
            make_dng,
            tmp_path / "tree" / f"scene{number}",
            [shots[i] for i in members],
            [f"A{i:03d}.dng" for i in members],
        )
    by_folder = find_pairs(tmp_path / "tree", recursive=True, group_by="folder")
    assert len(by_folder.scenes) == 3 and len(by_folder.pairs) == 5
    assert {p.noisy.parent.name for p in by_folder.pairs if p.scene == 2} == {"scene2"}
    assert find_pairs(tmp_path / "tree").frames == 0  # not recursive


def test_frames_without_capture_time_fall_back_to_numbering(make_dng, tmp_path: Path) -> None:
    shoot(make_dng, tmp_path, SESSION[:3])
    shoot(make_dng, tmp_path, SESSION[3:6], ["X_0001.dng", "X_0002.dng", "X_0003.dng"], day="")
    result = find_pairs(tmp_path, verify=False)
    assert len(result.scenes) == 2 and len(result.pairs) == 4
    assert {p.clean.name for p in result.pairs if p.scene == 2} == {"X_0003.dng"}
    assert "3 frames without a capture time" in result.warnings[0]


def test_mixed_camera_folder_pairs_per_camera_and_warns(make_dng, tmp_path: Path) -> None:
    other = [replace(s, camera=("Other", "X")) for s in SESSION[:3]]
    shoot(make_dng, tmp_path, [*SESSION[:3], *other])
    result = find_pairs(tmp_path)
    assert result.cameras == {"Test Cam": 2, "Other X": 2}
    assert all(
        (p.noisy.name in {"DSC00002.dng", "DSC00003.dng"}) == (p.clean.name == "DSC00001.dng")
        for p in result.pairs
    )
    assert "Test Cam (3)" in result.warnings[0] and "Other X (3)" in result.warnings[0]


def test_unreadable_frames_are_skipped_with_reason(make_dng, tmp_path: Path) -> None:
    shoot(make_dng, tmp_path, SESSION[:3])
    (tmp_path / "notes.ARW").write_text("this is not a raw file")
    big = make_dng("cut.nef", h=256, w=256)
    big.write_bytes(big.read_bytes()[:3000])
    make_dng("noexif.dng", iso=None, exposure=None)
    (tmp_path / "readme.txt").write_text("ignored: not a RAW extension")
    (tmp_path / "._DSC00001.dng").write_bytes(b"macOS resource fork")  # hidden: ignored
    result = find_pairs(tmp_path)
    assert len(result.pairs) == 2 and result.frames == 6
    reasons = {s.path.name: s.reason for s in result.skipped}
    assert set(reasons) == {"notes.ARW", "cut.nef", "noexif.dng"}
    assert "cannot decode" in reasons["notes.ARW"]
    assert "truncated" in reasons["cut.nef"]
    assert "no ISO" in reasons["noexif.dng"]


def test_verification_flags_a_moved_camera(make_dng, tmp_path: Path) -> None:
    shots = [SESSION[0], replace(SESSION[1], shift=24), SESSION[2]]
    shoot(make_dng, tmp_path, shots)
    result = find_pairs(tmp_path)
    moved, still = result.pairs
    assert moved.similarity < 0.5 < 0.95 < still.similarity
    assert len(result.warnings) == 1
    assert "DSC00002.dng and DSC00001.dng do not show the same scene" in result.warnings[0]
    assert find_pairs(tmp_path, verify=False).warnings == []


def test_verification_flags_a_brightness_mismatch(make_dng, tmp_path: Path) -> None:
    # EXIF says ratio 10 but the frame is only 2x darker (aperture opened, light changed)
    shoot(make_dng, tmp_path, SESSION[:1])
    make_dng(
        "DSC00002.dng",
        mosaic=mosaic(scene(1), 2.0, seed=5),
        black=64,
        white=16383,
        iso=400,
        exposure=Fraction(1, 4),
        capture_time=SESSION[1].time(),
    )
    [warning] = find_pairs(tmp_path).warnings
    assert "measured" in warning and "EXIF says 10" in warning and "aperture" in warning


def test_clean_frames_at_the_reference_level_are_not_paired(make_dng, tmp_path: Path) -> None:
    shots = [SESSION[0], replace(SESSION[0], at=12, iso=200, exposure=Fraction(5)), SESSION[1]]
    shoot(make_dng, tmp_path, shots)
    result = find_pairs(tmp_path)
    assert [(p.noisy.name, p.clean.name) for p in result.pairs] == [
        ("DSC00003.dng", "DSC00001.dng")
    ]
    assert "DSC00002.dng has the reference's exposure level" in result.warnings[0]


def test_a_high_iso_frame_at_the_reference_level_is_a_ratio_1_pair(
    make_dng, tmp_path: Path
) -> None:
    """A normally exposed high-ISO photo and its clean low-ISO twin (same exposure level):
    found by ``pair`` and accepted in a list, at ratio 1; reversed, refused."""
    twin = replace(SESSION[0], at=12, iso=6400, exposure=Fraction(10, 64))  # level 1000
    shoot(make_dng, tmp_path, [SESSION[0], twin, SESSION[1]])
    result = find_pairs(tmp_path)
    found = {(p.noisy.name, p.clean.name): p.ratio for p in result.pairs}
    assert found == pytest.approx({("DSC00002.dng", "DSC00001.dng"): 1.0,
                                   ("DSC00003.dng", "DSC00001.dng"): 10.0})  # fmt: skip
    assert not any("exposure level" in w for w in result.warnings)
    (tmp_path / "p.txt").write_text("DSC00002.dng DSC00001.dng\nDSC00001.dng DSC00002.dng\n")
    checked = check_pair_list(tmp_path / "p.txt")
    assert [p.line for p in checked.pairs] == [1]
    assert len(checked.problems) == 1 and "line 2" in checked.problems[0]


def test_written_list_of_found_pairs_validates(make_dng, tmp_path: Path) -> None:
    shoot(make_dng, tmp_path / "caps", SESSION, shuffled_names(len(SESSION)))
    found = find_pairs(tmp_path / "caps")
    out = write_pair_list(tmp_path / "caps" / "pairs.txt", found.pairs)
    loaded = load_pairs(out)
    assert [(p.noisy, p.clean, p.ratio) for p in loaded] == [
        (p.noisy, p.clean, p.ratio) for p in found.pairs
    ]
    assert all(isinstance(p, Pair) and p.line == i + 1 for i, p in enumerate(loaded))
    first = out.read_text().splitlines()[0].split(" ")
    assert first[2:] == ["ISO400", "ISO100", "x10"]


def test_bundled_samples_pair_with_a_high_match() -> None:
    """A real scene (GoPro crop) and its ratio-100 dark frame with realistic ISO 6400 noise."""
    import rawdenoise.samples

    folder = Path(rawdenoise.samples.__file__).parent
    result = find_pairs(folder)
    [pair] = result.pairs
    assert (pair.noisy.name, pair.clean.name) == ("dark_iso6400.dng", "bright_iso100.dng")
    assert pair.ratio == pytest.approx(100) and pair.similarity > 0.9
    assert result.warnings == [] and result.skipped == []


@pytest.mark.realdata
def test_real_frames_of_different_views_are_flagged(shared_data, tmp_path: Path) -> None:
    """GoPro FUSION front and back lenses: same camera, size and moment, different scenes."""
    front = shared_data / "gopro_fusion_front_iso100_GPFR7066.dng"
    back = shared_data / "gopro_fusion_back_iso100_GPBK7066.dng"
    (tmp_path / "p.txt").write_text(f"{back} {front}\n")
    result = check_pair_list(tmp_path / "p.txt")
    assert result.problems == []
    [pair] = result.pairs
    assert pair.camera == "GoPro FUSION" and pair.ratio == pytest.approx(1.84, abs=0.01)
    assert pair.similarity < 0.5
    assert any("do not show the same scene" in w for w in result.warnings)
