"""rawdenoise calibrate: round trips on synthetic DNG shoots, outputs, every error case."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.stats as st

from rawdenoise.calibration import stats
from rawdenoise.calibration.core import calibrate_camera
from rawdenoise.calibration.synthetic import true_parameters, write_calibration_set
from rawdenoise.cli import main
from rawdenoise.default_plugins.camera_profiles import PROFILES
from rawdenoise.specs import CameraProfile

A7S2, D850, A7M4 = PROFILES
ISOS = (100, 400, 1600, 6400)


def one_error(stderr: str, *words: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("rawdenoise: error: ")]
    assert len(errors) == 1, stderr
    assert lines[0] == errors[0], stderr  # nothing before the error
    assert all(ln.startswith(("rawdenoise: error: ", "hint: ")) for ln in lines), stderr
    assert "Traceback" not in stderr
    for word in words:
        assert word in errors[0], errors[0]
    return errors[0]


@pytest.fixture(scope="module")
def a7s2_shoot(tmp_path_factory) -> tuple[Path, list]:
    truth = true_parameters(A7S2, ISOS)
    folder = tmp_path_factory.mktemp("a7s2")
    write_calibration_set(
        folder,
        truth,
        dark_frames=6,
        flat_levels=(0.1, 0.4, 0.95),
        make="SONY",
        model="ILCE-7SM2",
        seed=1,
    )
    return folder, truth


@pytest.fixture(scope="module")
def d850_shoot(tmp_path_factory) -> tuple[Path, list]:
    truth = true_parameters(D850, ISOS)
    folder = tmp_path_factory.mktemp("d850")
    write_calibration_set(
        folder,
        truth,
        dark_frames=6,
        flat_levels=(0.1, 0.4, 0.95),
        cfa="BGGR",
        make="NIKON CORPORATION",
        model="NIKON D850",
        seed=2,
    )
    return folder, truth


def check_recovered(per_iso: list[dict], truth: list, *, read_key: str = "tl_sigma") -> None:
    assert [p["iso"] for p in per_iso] == [t.iso for t in truth]
    for got, want in zip(per_iso, truth, strict=True):
        assert got["K"] == pytest.approx(want.k, rel=0.03), got["iso"]
        assert got[read_key] == pytest.approx(want.read_sigma, rel=0.05), got["iso"]
        assert got["row_sigma"] == pytest.approx(want.row_sigma, rel=0.10), got["iso"]
        if read_key == "tl_sigma":
            assert got["tl_lambda"] == pytest.approx(want.tl_lambda, abs=0.05), got["iso"]
        assert np.allclose(got["color_bias"], want.color_bias, atol=0.15), got["iso"]


# ---- round trips ----------------------------------------------------------------------------


@pytest.mark.slow
def test_round_trip_sony_a7s2_json(a7s2_shoot, tmp_path, capsys):
    folder, truth = a7s2_shoot
    out = tmp_path / "a7s2.json"
    code = main(
        [
            "calibrate",
            "--dark",
            str(folder / "dark"),
            "--flat",
            str(folder / "flat"),
            "--json",
            "--out",
            str(out),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    data = json.loads(captured.out)
    check_recovered(data["per_iso"], truth)
    assert data["fits"]["tukey"]["slope"] == pytest.approx(A7S2.noise.tukey.slope, abs=0.05)
    assert data["fits"]["row"]["slope"] == pytest.approx(A7S2.noise.row.slope, abs=0.05)
    assert data["fits"]["tukey"]["bias"] == pytest.approx(A7S2.noise.tukey.bias, abs=0.1)
    # the profile: written where asked, loadable, matched by the camera's EXIF
    profile = CameraProfile.from_dict(json.loads(out.read_text()))
    assert data["profile"] == str(out) and profile.id == "sony-ilce-7sm2"
    assert profile.matches("SONY", "ILCE-7SM2") and profile.cfa == "RGGB"
    assert len(profile.iso_points) == 4 and len(profile.noise.tukey_lambdas) == 4
    assert profile.k_for_iso(3200) == pytest.approx(9.563e-4 * 3200, rel=0.03)
    assert len(profile.noise.color_bias) == 16
    # the plots exist beside it, are PNG, and the output names them
    assert set(data["plots"]) == {"mean_variance", "noise_fits", "ppcc"}
    for path in data["plots"].values():
        assert Path(path).parent == tmp_path
        assert Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_round_trip_nikon_d850_table_and_profile(d850_shoot, rawdenoise_home, capsys):
    folder, truth = d850_shoot
    code = main(["calibrate", "--dark", str(folder / "dark"), "--flat", str(folder / "flat")])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    target = rawdenoise_home / "data" / "profiles" / "nikon-corporation-nikon-d850.json"
    assert f"profile: {target}" in captured.out
    for kind in ("mean_variance", "noise_fits", "ppcc"):
        plot = target.with_name(f"{target.stem}_{kind}.png")
        assert plot.exists() and f"plot:    {plot}" in captured.out
    assert "noise per ISO" in captured.out and "log σ = slope" in captured.out
    for t in truth:
        assert f"{t.iso:g}" in captured.out
    profile = CameraProfile.from_dict(json.loads(target.read_text()))
    assert profile.cfa == "BGGR"
    per_iso = [dataclasses.asdict(p) | {"K": p.k} for p in profile.iso_points]
    check_recovered(per_iso, truth)
    assert profile.noise.tukey.slope == pytest.approx(D850.noise.tukey.slope, abs=0.05)
    assert profile.noise.row.slope == pytest.approx(D850.noise.row.slope, abs=0.05)
    # the registry finds it by EXIF make/model (user profiles are read from the data dir)
    from rawdenoise import registry

    found = registry.find_camera_profile("NIKON CORPORATION", "NIKON D850")
    assert found is not None
    # and the noise synthesizer runs from it
    from rawdenoise.noise import NoisyPairGenerator

    torch = pytest.importorskip("torch")
    pair = NoisyPairGenerator.from_profile(profile, iso=1600)(torch.zeros(1, 4, 8, 8), 15871.0, 1)
    assert pair.params.k.item() == pytest.approx(truth[2].k, rel=0.03)


def test_round_trip_gaussian_read_noise_single_flat_level(tmp_path):
    """Gaussian read noise (read_sigma, Gaussian slope); one flat level: the dark anchor."""
    truth = true_parameters(A7M4, (200, 800, 3200), read_kind="gaussian")
    write_calibration_set(
        tmp_path, truth, read_kind="gaussian", dark_frames=6, flat_levels=(0.4,), seed=3
    )
    result = calibrate_camera(tmp_path / "dark", tmp_path / "flat")
    check_recovered([r.to_json() for r in result.isos], truth, read_key="read_sigma")
    assert result.fits["gaussian"].slope == pytest.approx(A7M4.noise.gaussian.slope, abs=0.05)
    assert not [w for w in result.warnings if "outlier" in w]


# ---- estimators -------------------------------------------------------------------------------


def test_ppcc_matches_scipy():
    rng = np.random.default_rng(0)
    u = rng.uniform(size=20000)
    x = 3 * (u**-0.1 - (1 - u) ** -0.1) / -0.1
    ppcc = stats.Ppcc(x)
    lam = ppcc.best_lambda()
    assert lam == pytest.approx(st.ppcc_max(x), abs=2e-3)
    _, (slope, _, r) = st.probplot(x, sparams=(lam,), dist="tukeylambda")
    assert ppcc.scale(lam)[0] == pytest.approx(slope, rel=1e-9)
    assert ppcc.correlation(lam) == pytest.approx(r, rel=1e-9)
    assert ppcc.normal_scale() == pytest.approx(st.probplot(x)[1][0], rel=1e-9)


def test_photon_transfer_cancels_fixed_pattern_and_drops_clipped_tiles():
    rng = np.random.default_rng(1)
    k, read = 2.0, 3.0
    scene = np.linspace(200, 9000, 256 * 256).reshape(1, 256, 256).repeat(4, 0)
    scene *= 1 + 0.05 * rng.standard_normal((4, 256, 256))  # strong PRNU
    frames = [rng.poisson(scene / k) * k + rng.normal(0, read, scene.shape) for _ in range(2)]
    high = np.full(4, 8000.0)
    pts = stats.photon_transfer_points(frames[0], frames[1], low=np.full(4, -500.0), high=high)
    assert pts.clipped > 0 and all(m.max() < 8000 for m in pts.means)
    fit = stats.fit_photon_transfer(pts.means[0], pts.variances[0], tile_pixels=256)
    assert fit.slope == pytest.approx(k, rel=0.05)
    single = stats.photon_transfer_points(frames[0], None, low=np.full(4, -500.0), high=high)
    spatial = stats.fit_photon_transfer(single.means[0], single.variances[0], tile_pixels=256)
    assert spatial.slope > 1.5 * k  # what ELD's spatial variance would have measured


# ---- warnings ---------------------------------------------------------------------------------


def test_suspicious_fits_are_warned(tmp_path, capsys):
    truth = true_parameters(A7S2, ISOS)
    truth[2] = dataclasses.replace(truth[2], read_sigma=truth[2].read_sigma * 1.8)
    write_calibration_set(
        tmp_path, truth, height=128, width=128, dark_frames=2, flat_levels=(0.2, 0.5), seed=4
    )
    for f in (tmp_path / "flat").glob("*L0.5_01.dng"):
        f.unlink()  # no pair at the bright level ...
    for f in (tmp_path / "flat").glob("*iso6400_L0.2_01.dng"):
        f.unlink()  # ... and none at all at ISO 6400: spatial variance
    out = tmp_path / "p.json"
    code = main(
        [
            "calibrate",
            "--dark",
            str(tmp_path / "dark"),
            "--flat",
            str(tmp_path / "flat"),
            "--out",
            str(out),
            "--no-plots",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    warnings = [ln for ln in captured.err.splitlines() if ln.startswith("rawdenoise: warning: ")]
    text = "\n".join(warnings)
    assert "ISO 1600 is an outlier" in text
    assert "ISO 6400: no two flat frames with the same brightness" in text
    assert out.exists()


# ---- errors: one line, exit 3 ------------------------------------------------------------------


def small_shoot(folder: Path, isos=(400, 1600), **kw) -> tuple[Path, Path]:
    opts = dict(height=128, width=128, dark_frames=2, flat_levels=(0.3,), flat_frames=2)
    opts.update(kw)
    return write_calibration_set(folder, true_parameters(A7S2, isos), **opts)


def run_error(capsys, dark: Path, flat: Path, *extra: str, code: int = 3) -> str:
    got = main(["calibrate", "--dark", str(dark), "--flat", str(flat), *extra])
    captured = capsys.readouterr()
    assert got == code, captured.err
    assert captured.out == ""
    return captured.err


def test_error_too_few_frames(tmp_path, capsys):
    dark, flat = small_shoot(tmp_path, dark_frames=1)
    one_error(run_error(capsys, dark, flat), "too few dark frames at ISO 400", "need at least 2")


def test_error_single_iso(tmp_path, capsys):
    dark, flat = small_shoot(tmp_path, isos=(800,))
    one_error(run_error(capsys, dark, flat), "2 or more ISOs", "found 1 (800)")


def test_error_saturated_flats(tmp_path, capsys):
    dark, flat = small_shoot(tmp_path, flat_levels=(1.6,))
    one_error(run_error(capsys, dark, flat), "flat frames at ISO 400 are saturated")


def test_error_underexposed_flats(tmp_path, capsys):
    dark, flat = small_shoot(tmp_path, flat_levels=(0.004,))
    one_error(run_error(capsys, dark, flat), "flat frames at ISO 400 are too dark")


def test_error_swapped_folders(tmp_path, capsys):
    dark, flat = small_shoot(tmp_path)
    one_error(run_error(capsys, flat, dark), "dark frames at ISO 400 are not dark")


def test_error_mixed_cameras(tmp_path, capsys, make_dng):
    dark, flat = small_shoot(tmp_path)
    make_dng(
        "other.dng",
        h=128,
        w=128,
        black=512,
        white=16383,
        iso=400,
        make="Other",
        model="Camera",
        folder=flat,
    )
    one_error(run_error(capsys, dark, flat), "different cameras", "'Other Camera'")


def test_error_mixed_sizes(tmp_path, capsys, make_dng):
    dark, flat = small_shoot(tmp_path)
    make_dng(
        "big.dng",
        h=192,
        w=128,
        black=512,
        white=16383,
        iso=400,
        make="rawdenoise",
        model="Synthetic",
        folder=dark,
    )
    one_error(run_error(capsys, dark, flat), "different sizes", "128x192")


def test_error_non_bayer_sensor(tmp_path, capsys):
    import tifffile

    dark, flat = small_shoot(tmp_path)
    for f in dark.glob("*iso400*"):
        f.unlink()
    for i in range(2):
        tifffile.imwrite(
            dark / f"linear_{i}.dng",
            np.full((64, 64, 3), 600, np.uint16),
            photometric=34892,
            extratags=[
                (50706, "B", 4, (1, 4, 0, 0), True),
                (271, "s", 0, "rawdenoise", True),
                (272, "s", 0, "Synthetic", True),
                (34855, "H", 1, 400, True),
            ],
        )
    one_error(run_error(capsys, dark, flat), "unsupported sensor")


def test_error_missing_or_empty_folders(tmp_path, capsys):
    dark, flat = small_shoot(tmp_path)
    one_error(run_error(capsys, tmp_path / "nope", flat), "--dark", "no such folder")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not a raw file")
    one_error(run_error(capsys, dark, empty), "--flat", "no RAW files")


def test_error_unscannable_folder(tmp_path, capsys, monkeypatch):
    dark, flat = small_shoot(tmp_path)
    is_file = Path.is_file

    def refuse(self):
        if self.parent == flat:
            raise PermissionError(13, "Permission denied", str(self))
        return is_file(self)

    monkeypatch.setattr(Path, "is_file", refuse)
    one_error(run_error(capsys, dark, flat), "--flat", "cannot scan", "Permission denied")


def test_error_a_folder_far_too_big_to_be_frames(tmp_path, capsys, monkeypatch):
    """``--dark /`` (or a home folder) is refused once the walk passes the cap, not walked
    for minutes; a frame folder below the cap is read as before."""
    from rawdenoise.calibration import frames

    dark, flat = small_shoot(tmp_path)
    monkeypatch.setattr(frames, "MAX_SCANNED", len(list(flat.rglob("*"))))
    assert len(frames.find_raw_files(flat, "flat")) > 0  # exactly at the cap: fine
    (flat / "notes.txt").write_text("one entry more")
    one_error(run_error(capsys, dark, flat), "--flat", "not a folder of flat frames")


def test_empty_paths_are_usage_errors(tmp_path, capsys):
    dark, flat = small_shoot(tmp_path)
    for args in (
        ["--dark", "", "--flat", str(flat)],
        ["--dark", str(dark), "--flat", ""],
        ["--dark", str(dark), "--flat", str(flat), "--out", ""],
    ):
        assert main(["calibrate", *args]) == 2, args
        one_error(capsys.readouterr().err, "empty path")
    assert list(tmp_path.glob("*.json")) == []


def test_error_missing_iso(tmp_path, capsys, make_dng):
    dark, flat = small_shoot(tmp_path)
    make_dng(
        "noiso.dng",
        h=128,
        w=128,
        black=512,
        white=16383,
        iso=None,
        make="rawdenoise",
        model="Synthetic",
        folder=flat,
    )
    one_error(run_error(capsys, dark, flat), "noiso.dng", "no ISO")


@pytest.mark.parametrize("content", [b"", b"junk" * 10])
def test_error_junk_frame_is_not_a_raw_file(tmp_path, capsys, content):
    dark, flat = small_shoot(tmp_path)
    (dark / "junk.dng").write_bytes(content)
    one_error(run_error(capsys, dark, flat), "junk.dng: cannot decode RAW data")


def _odd_frame(folder: Path, name: str, **kw) -> None:
    from rawdenoise.dng import write_dng

    opts = dict(black_level=512, white_level=16383, make="rawdenoise", model="Synthetic", iso=400)
    write_dng(folder / name, np.full((128, 128), 600, np.uint16), **{**opts, **kw})


def test_error_frame_level_and_pattern_errors_name_the_file(tmp_path, capsys):
    dark, flat = small_shoot(tmp_path)
    _odd_frame(dark, "rggg.dng", extra_tags=[(33422, "B", 4, (0, 1, 1, 1))])
    one_error(run_error(capsys, dark, flat), "rggg.dng: ", "colour pattern")
    (dark / "rggg.dng").unlink()
    _odd_frame(dark, "white.dng", white_level=500)
    one_error(run_error(capsys, dark, flat), "white.dng: white level", "not above black")


def test_error_noise_free_darks(tmp_path, capsys):
    dark, flat = small_shoot(tmp_path)
    for f in dark.glob("*.dng"):
        f.unlink()
    for iso in (400, 1600):
        for i in range(2):
            _odd_frame(dark, f"const{iso}_{i}.dng", iso=iso)
    out = tmp_path / "out.json"
    err = run_error(capsys, dark, flat, "--out", str(out))
    one_error(err, "dark frames at ISO 400", "const400_0.dng", "no read noise")
    assert "Warning" not in err
    assert not out.exists()


def test_constant_sample_ppcc_is_quiet():
    with np.errstate(all="raise"):
        assert stats.Ppcc(np.zeros(100)).correlation(0.1) == 0.0


def test_existing_profile_needs_overwrite(tmp_path, capsys):
    dark, flat = small_shoot(tmp_path, flat_levels=(0.1, 0.4), dark_frames=2)
    out = tmp_path / "cam.json"
    out.write_text("{}")
    one_error(run_error(capsys, dark, flat, "--out", str(out), code=5), "exists")
    assert out.read_text() == "{}"  # untouched
    args = ["calibrate", "--dark", str(dark), "--flat", str(flat), "--out", str(out)]
    assert main(["-q", *args, "--overwrite", "--name", "my-cam", "--no-plots"]) == 0
    assert json.loads(out.read_text())["id"] == "my-cam"
    assert not list(tmp_path.glob("*.png"))
    capsys.readouterr()
    assert main(["calibrate", "--dark", str(dark), "--flat", str(flat), "--name", "bad name"]) == 2


def test_inputs_are_not_modified(tmp_path, capsys):
    dark, _ = small_shoot(tmp_path, flat_levels=(0.1, 0.4))
    before = {p: p.read_bytes() for p in sorted(tmp_path.rglob("*.dng"))}
    copy = tmp_path / "copy"
    shutil.copytree(tmp_path / "flat", copy)
    assert (
        main(
            [
                "calibrate",
                "--dark",
                str(dark),
                "--flat",
                str(copy),
                "--out",
                str(tmp_path / "o.json"),
                "--no-plots",
            ]
        )
        == 0
    )
    after = {p: p.read_bytes() for p in before}
    assert before == after


# ---- output errors: one line, exit 5, and the profile and its plots are all or nothing ---------


def run_output_error(capsys, dark: Path, flat: Path, *extra: str) -> str:
    code = main(["calibrate", "--dark", str(dark), "--flat", str(flat), *extra])
    captured = capsys.readouterr()
    assert code == 5, captured.err
    assert "internal error" not in captured.err
    return captured.err


def test_unusable_output_path_fails_before_calibrating(tmp_path, capsys, monkeypatch):
    import rawdenoise.calibration.core as core

    dark, flat = small_shoot(tmp_path / "shoot")
    monkeypatch.setattr(core, "calibrate_camera", lambda *a, **k: pytest.fail("calibrated"))
    blocker = tmp_path / "bright.dng"
    blocker.write_bytes(b"raw")
    err = run_output_error(capsys, dark, flat, "--out", str(blocker / "x.json"))
    one_error(err, f"cannot write {blocker / 'x.json'}: {blocker} is a file, not a folder")
    out = tmp_path / "out"
    (out / "cam_ppcc.png").mkdir(parents=True)  # a plot's name is taken by a folder
    err = run_output_error(capsys, dark, flat, "--out", str(out / "cam.json"), "--overwrite")
    one_error(err, f"cannot write {out / 'cam_ppcc.png'}: it is a folder")
    assert sorted(p.name for p in out.iterdir()) == ["cam_ppcc.png"]


@pytest.mark.parametrize("existing", [False, True])
def test_failed_write_leaves_no_profile_or_plots(tmp_path, capsys, monkeypatch, existing):
    import errno

    from matplotlib.figure import Figure

    dark, flat = small_shoot(tmp_path / "shoot")
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    if existing:  # replacing an earlier profile: it is kept as it was when the write fails
        (out / "cam.json").write_text("{}")
    real_savefig, calls = Figure.savefig, []

    def savefig(self, fname, *args, **kwargs):
        calls.append(fname)
        if len(calls) == 3:  # the disk fills up while the last plot is written
            Path(fname).write_bytes(b"\x89PNG partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_savefig(self, fname, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", savefig)
    extra = ["--overwrite"] if existing else []
    err = run_output_error(capsys, dark, flat, "--out", str(out / "cam.json"), *extra)
    one_error(err, f"cannot write {out / 'cam_ppcc.png'}: no space left on the device")
    expected = {"notes.txt": "mine", **({"cam.json": "{}"} if existing else {})}
    assert {p.name: p.read_text() for p in out.iterdir()} == expected  # no temporary files
    monkeypatch.setattr(Figure, "savefig", real_savefig)  # space freed: a re-run just works
    assert main(["-q", "calibrate", "--dark", str(dark), "--flat", str(flat), "--out",
                 str(out / "cam.json"), *extra]) == 0  # fmt: skip
    assert sorted(p.name for p in out.iterdir()) == [
        "cam.json",
        "cam_mean_variance.png",
        "cam_noise_fits.png",
        "cam_ppcc.png",
        "notes.txt",
    ]
    assert json.loads((out / "cam.json").read_text())["id"]


def test_a_profile_named_like_a_built_in_one_is_written_with_a_warning(tmp_path, capsys):
    from rawdenoise.dirs import profiles_dir
    from rawdenoise.registry import get_camera_profile

    dark, flat = small_shoot(tmp_path, flat_levels=(0.1, 0.4), dark_frames=2)
    args = ["calibrate", "--dark", str(dark), "--flat", str(flat), "--no-plots"]
    assert main([*args, "--name", "sony-a7s2"]) == 0
    err = capsys.readouterr().err
    assert "rawdenoise also has a profile named 'sony-a7s2'" in err
    assert "builtin:sony-a7s2" in err
    assert (profiles_dir() / "sony-a7s2.json").is_file()
    assert get_camera_profile("builtin:sony-a7s2").source != get_camera_profile("sony-a7s2").source
    assert main([*args, "--name", "my-own-cam"]) == 0
    assert "also has a profile" not in capsys.readouterr().err
