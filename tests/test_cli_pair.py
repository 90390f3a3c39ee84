"""``rawdenoise pair``: folder -> pair list, --check, JSON, exit codes."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from _pair_scenes import SESSION, expected_pairs, shoot, shuffled_names

from rawdenoise.cli import main


def _flat(text: str) -> str:
    """Rich wraps long lines on a non-terminal stderr: compare on single spaces."""
    return " ".join(text.split())


def test_pair_folder_writes_led_list(make_dng, tmp_path: Path, capsys) -> None:
    names = shuffled_names(len(SESSION))
    shoot(make_dng, tmp_path, SESSION, names)
    assert main(["pair", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    target = tmp_path / "pairs.txt"
    assert out.strip().splitlines()[-1] == str(target)  # the result ends with the list's path
    assert err.strip() == f"wrote {target}"  # stderr: messages only
    lines = target.read_text().splitlines()
    want = expected_pairs(SESSION, names)
    assert [ln.split(" ")[:2] for ln in lines] == [[n, c] for n, c, _ in want]
    assert out.startswith("8 RAW files, 3 scenes, 0 skipped\n5 pairs")
    assert "ISO coverage per ratio" in out
    # the seed's example (30 s ISO 100 / 1/10 s ISO 6400) and what completes it
    assert (
        "to complete x4.69: also shoot ISO 320 at 2 s (low-ISO pair at ratio 4.688), paired "
        "with a clean frame at ISO 100 x 30 s\n" in out
    )
    assert main(["pair", str(tmp_path), "--overwrite", "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["pair_list"] == str(target)  # nothing but JSON on stdout


def test_led_parser_reads_our_output(make_dng, tmp_path: Path, capsys) -> None:
    """LED's FewshotPairedRAWDataset: line.split(' ')[:2] joined to dataroot, noisy first."""
    shoot(make_dng, tmp_path, SESSION, shuffled_names(len(SESSION)))
    assert main(["pair", str(tmp_path), "--out", str(tmp_path / "list.txt")]) == 0
    with open(tmp_path / "list.txt") as fh:
        for line in fh:
            lq, gt = line.split(" ")[0:2]
            gt = gt.rstrip("\n")
            assert (tmp_path / lq).is_file() and (tmp_path / gt).is_file()
            assert not lq.startswith('"')


def test_seed_example_list_passes_check(make_dng, tmp_path: Path, capsys) -> None:
    """The seed's list verbatim: IMG_0001.CR2 IMG_0002.CR2 (noisy first).

    The files hold DNG data under .CR2 names (LibRaw and exifread detect the format from the
    content): this covers the list format and validation, not decoding real Canon CR2 data.
    """
    shots = [SESSION[1], SESSION[0], SESSION[3], SESSION[5]]  # noisy, clean, noisy, clean
    names = [f"IMG_000{i}.CR2" for i in range(1, 5)]
    shoot(make_dng, tmp_path / "shots", shots, names)
    lst = tmp_path / "list.txt"
    lst.write_text("IMG_0001.CR2 IMG_0002.CR2\nIMG_0003.CR2 IMG_0004.CR2\n")
    assert main(["pair", "--check", str(lst), "--root", str(tmp_path / "shots")]) == 0
    out = capsys.readouterr().out
    assert "ISO coverage per ratio" in out and out.strip().endswith(f"\n{lst}: 2 pairs OK")
    assert main(["pair", "--check", str(lst), "--root", str(tmp_path / "shots"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is True and [p["ratio"] for p in data["pairs"]] == [10, 100]
    assert [Path(p["noisy"]).name for p in data["pairs"]] == ["IMG_0001.CR2", "IMG_0003.CR2"]

    # and the folder command finds the same pairs and writes the same two columns
    assert main(["pair", str(tmp_path / "shots")]) == 0
    capsys.readouterr()
    written = (tmp_path / "shots" / "pairs.txt").read_text().splitlines()
    seed = [ln.split(" ") for ln in lst.read_text().splitlines()]
    assert [ln.split(" ")[:2] for ln in written] == seed


def test_check_handles_crlf_comments_and_spaces(make_dng, tmp_path: Path, capsys) -> None:
    shoot(make_dng, tmp_path, SESSION[:3], ["clean one.dng", "dark one.dng", "dark two.dng"])
    (tmp_path / "p.txt").write_bytes(
        b'# my pairs\r\n\r\n"dark one.dng" "clean one.dng"\r\n./dark two.dng  clean one.dng\r\n'
    )
    assert main(["pair", "--check", str(tmp_path / "p.txt")]) == 0
    out, err = capsys.readouterr()
    assert out.strip().endswith("2 pairs OK")
    assert "LED's own loader cannot read it" in _flat(err)


def test_check_reports_a_swapped_pair(make_dng, tmp_path: Path, capsys) -> None:
    shoot(make_dng, tmp_path, SESSION[:3])
    (tmp_path / "p.txt").write_text("DSC00002.dng DSC00001.dng\nDSC00001.dng DSC00003.dng\n")
    assert main(["pair", "--check", str(tmp_path / "p.txt")]) == 3
    out, err = capsys.readouterr()
    assert "DSC00002.dng" in out and "OK" not in out  # the usable line 1, no verdict
    err_lines = err.splitlines()
    error = [ln for ln in err_lines if ln.startswith("rawdenoise: error: ")]
    assert len(error) == 1 and "1 problem" in error[0] and "line 2" in error[0]
    assert any(ln.startswith("rawdenoise: problem: line 2: ") and "swap" in ln for ln in err_lines)
    assert "Traceback" not in err


def test_mixed_camera_folder_is_reported(make_dng, tmp_path: Path, capsys) -> None:
    other = [replace(s, camera=("Other", "X")) for s in SESSION[:3]]
    shoot(make_dng, tmp_path, [*SESSION[:3], *other])
    assert main(["pair", str(tmp_path)]) == 3
    err = _flat(capsys.readouterr().err)
    assert "the folder mixes cameras (Test Cam: 2 pairs, Other X: 2 pairs)" in err
    assert "--camera 'Test Cam'" in err
    assert not (tmp_path / "pairs.txt").exists()

    assert main(["pair", str(tmp_path), "--camera", "other"]) == 0
    capsys.readouterr()
    lines = (tmp_path / "pairs.txt").read_text().splitlines()
    assert [ln.split(" ")[:2] for ln in lines] == [
        ["DSC00005.dng", "DSC00004.dng"],
        ["DSC00006.dng", "DSC00004.dng"],
    ]


def test_json_lists_pairs_ratios_isos_warnings_skipped(make_dng, tmp_path: Path, capsys) -> None:
    shots = [SESSION[0], replace(SESSION[1], shift=24), SESSION[2]]
    shoot(make_dng, tmp_path, shots)
    (tmp_path / "broken.ARW").write_bytes(b"\x00" * 100)
    assert main(["pair", str(tmp_path), "--json"]) == 3  # the list is written; one file is not
    out, err = capsys.readouterr()
    data = json.loads(out)
    assert (tmp_path / "pairs.txt").is_file()
    assert err.strip().splitlines()[-2] == (
        f"rawdenoise: error: 1 of the 4 RAW files could not be read and is not in "
        f"{tmp_path / 'pairs.txt'} (reasons above)"
    )
    assert data["pair_list"] == str(tmp_path / "pairs.txt")
    assert [(Path(p["noisy"]).name, p["ratio"]) for p in data["pairs"]] == [
        ("DSC00002.dng", 10),
        ("DSC00003.dng", 10),
    ]
    assert data["isos"] == [400, 3200]
    assert data["ratios"][0]["complete"] is True and data["ratios"][0]["pairs"] == 2
    assert len(data["warnings"]) == 1 and "do not show the same scene" in data["warnings"][0]
    assert [Path(s["path"]).name for s in data["skipped"]] == ["broken.ARW"]


def test_unreadable_frames_listed_and_nothing_usable_exits_3(
    make_dng, tmp_path: Path, capsys
) -> None:
    (tmp_path / "a.NEF").write_text("not raw")
    cut = make_dng("b.dng", h=256, w=256)
    cut.write_bytes(cut.read_bytes()[:3000])
    assert main(["pair", str(tmp_path)]) == 3
    err = _flat(capsys.readouterr().err)
    assert "skipped a.NEF: cannot decode" in err and "skipped b.dng:" in err
    assert "rawdenoise: error: none of the 2 RAW files" in err
    assert not (tmp_path / "pairs.txt").exists()

    single = tmp_path / "single"
    shoot(make_dng, single, SESSION[:1])
    assert main(["pair", str(single)]) == 3
    assert "no usable pairs" in _flat(capsys.readouterr().err)

    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["pair", str(empty)]) == 3
    assert "hint: add --recursive" in capsys.readouterr().err


def test_output_is_not_overwritten(make_dng, tmp_path: Path, capsys) -> None:
    shoot(make_dng, tmp_path, SESSION[:3])
    (tmp_path / "pairs.txt").write_text("keep me\n")
    assert main(["pair", str(tmp_path)]) == 5  # a file in the way
    assert "exists" in capsys.readouterr().err
    assert (tmp_path / "pairs.txt").read_text() == "keep me\n"
    assert main(["pair", str(tmp_path), "--overwrite"]) == 0
    assert (tmp_path / "pairs.txt").read_text().startswith("DSC00002.dng DSC00001.dng")


def test_usage_errors_exit_2(tmp_path: Path, capsys) -> None:
    (tmp_path / "p.txt").write_text("a b\n")
    for args in (
        ["pair"],
        ["pair", str(tmp_path), "--check", str(tmp_path / "p.txt")],
        ["pair", "--check", str(tmp_path / "p.txt"), "--out", "x.txt"],
        ["pair", str(tmp_path), "--root", str(tmp_path)],
        ["pair", str(tmp_path), "--group-by", "moon"],
        ["pair", str(tmp_path), "--max-gap", "nan"],
        ["pair", str(tmp_path), "--max-gap", "inf"],
        ["pair", str(tmp_path), "--max-gap", "-1"],
    ):
        assert main(args) == 2, args
        assert "rawdenoise: error: " in capsys.readouterr().err
    assert main(["pair", str(tmp_path / "nope")]) == 3
    assert "no such folder" in capsys.readouterr().err


def test_pair_list_never_overwrites_an_input_frame(make_dng, tmp_path: Path, capsys) -> None:
    shoot(make_dng, tmp_path, SESSION[:3], ["IMG_0001.dng", "IMG_0002.dng", "IMG_0003.dng"])
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    (tmp_path / "link.txt").symlink_to("IMG_0001.dng")
    for out in ("IMG_0001.dng", "link.txt", "new.NEF"):
        args = ["pair", str(tmp_path), "--no-verify", "-o", str(tmp_path / out), "--overwrite"]
        assert main(args) == 2, out
        out_, err = capsys.readouterr()
        assert out_ == "" and err.startswith("rawdenoise: error: --out "), err
        assert "Traceback" not in err
    assert {p.name: p.read_bytes() for p in tmp_path.glob("*.dng")} == before
    assert not (tmp_path / "new.NEF").exists()


def test_frames_whose_names_break_the_list_are_skipped(make_dng, tmp_path: Path, capsys) -> None:
    shoot(make_dng, tmp_path, SESSION[:3], ["IMG_0001.dng", "IMG\n0002.dng", "IMG_0003.dng"])
    assert main(["pair", str(tmp_path), "--no-verify"]) == 3
    out, err = capsys.readouterr()
    assert out.endswith(f"\n{tmp_path / 'pairs.txt'}\n")
    assert "rawdenoise: warning: skipped IMG\\n0002.dng: file name contains a control" in err
    assert (tmp_path / "pairs.txt").read_text().splitlines() == [
        "IMG_0003.dng IMG_0001.dng ISO3200 ISO100 x10"
    ]
    assert main(["pair", "--check", str(tmp_path / "pairs.txt"), "--no-verify"]) == 0


def test_empty_paths_are_usage_errors(tmp_path: Path, capsys) -> None:
    (tmp_path / "p.txt").write_text("a b\n")
    for args in (
        ["pair", ""],
        ["pair", str(tmp_path), "-o", ""],
        ["pair", "--check", ""],
        ["pair", "--check", str(tmp_path / "p.txt"), "--root", ""],
    ):
        assert main(args) == 2, args
        err = capsys.readouterr().err
        assert err.startswith("rawdenoise: error: ") and "empty path" in err, err
    assert main(["pair", "--check", str(tmp_path)]) == 2  # still: a folder is not a list
    assert "is a directory" in capsys.readouterr().err


def test_a_link_to_a_frame_already_found_is_read_once(make_dng, tmp_path: Path, capsys) -> None:
    shoot(make_dng, tmp_path, SESSION[:3], ["IMG_0001.dng", "IMG_0002.dng", "IMG_0003.dng"])
    (tmp_path / "IMG_0000.dng").symlink_to("IMG_0002.dng")
    (tmp_path / "IMG_0004.dng").write_bytes((tmp_path / "IMG_0003.dng").read_bytes())  # a copy
    assert main(["pair", str(tmp_path), "--no-verify"]) == 0
    out, err = capsys.readouterr()
    assert "IMG_0000.dng is the same file as IMG_0002.dng (a link): read once" in _flat(err)
    assert out.startswith("4 RAW files")
    lines = (tmp_path / "pairs.txt").read_text().splitlines()
    assert [ln.split(" ")[0] for ln in lines] == ["IMG_0002.dng", "IMG_0003.dng", "IMG_0004.dng"]


def test_camera_matching_several_is_a_usage_error(make_dng, tmp_path: Path, capsys) -> None:
    other = [replace(s, camera=("Other", "Cam")) for s in SESSION[:3]]
    shoot(make_dng, tmp_path, [*SESSION[:3], *other])
    assert main(["pair", str(tmp_path), "--no-verify", "--camera", "cam"]) == 2
    err = _flat(capsys.readouterr().err)
    assert "--camera 'cam' matches several cameras: Test Cam, Other Cam" in err
    assert not (tmp_path / "pairs.txt").exists()


def test_folder_only_options_are_refused_with_check(tmp_path: Path, capsys) -> None:
    (tmp_path / "p.txt").write_text("a b\n")
    for extra in (["--max-gap", "-5"], ["--max-gap", "60"], ["--group-by", "time"]):
        assert main(["pair", "--check", str(tmp_path / "p.txt"), *extra]) == 2, extra
        err = capsys.readouterr().err
        assert f"rawdenoise: error: {extra[0]} cannot be used with --check" in err
