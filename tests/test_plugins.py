"""Plugins: built-ins through the hooks, entry points, isolation, allow-list, discovery cache.

Third-party plugins are simulated with real distribution metadata: a ``NAME-VERSION.dist-info``
folder (``METADATA`` + ``entry_points.txt``) and a module on ``sys.path``, which is exactly what
``importlib.metadata`` reads for an installed wheel; no pip needed. The example plugins in
``plugins/`` are used where installed (CI installs them; otherwise those tests skip).
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from rawdenoise import plugin_cache, plugins, registry
from rawdenoise.dirs import profiles_dir
from rawdenoise.errors import ExitCode, PluginError
from rawdenoise.specs import ArchitectureSpec, CameraProfile, LogLinear, NoiseParams

NOISE = NoiseParams(
    k_min=0.5,
    k_max=8.0,
    tukey=LogLinear(0.8, 0.1, 0.05),
    gaussian=LogLinear(0.8, 0.6, 0.05),
    row=LogLinear(0.8, -2.0, 0.05),
    tukey_lambdas=(0.1,),
)

PLUGIN_SOURCE = """\
from rawdenoise import hookimpl
from rawdenoise.specs import ArchitectureSpec

@hookimpl
def register_architectures(register):
    register(ArchitectureSpec(name={arch!r}, factory="{module}:make_net", multiple_of=8,
                              default_options={{"width": 3}}))

@hookimpl
def register_camera_profiles(register):
    register({profile!r})

def make_net(width=3):
    import torch

    net = torch.nn.Conv2d(4, 4, 1)
    net.width = width
    return net
"""


def profile_dict(pid: str, make: str = "Acme", model: str = "Nightcam 1") -> dict:
    return CameraProfile(id=pid, make=make, model=model, noise=NOISE, source="test").to_dict()


def add_dist(
    site: Path,
    dist: str,
    version: str,
    module: str,
    source: str,
    *,
    ep_name: str | None = None,
    editable: bool = False,
) -> Path:
    """Install a fake distribution into ``site``: dist-info metadata + entry module."""
    for old in site.glob(f"{dist.replace('-', '_')}-*.dist-info"):
        for f in old.iterdir():
            f.unlink()
        old.rmdir()
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        f"[rawdenoise]\n{ep_name or dist} = {module}\n", encoding="utf-8"
    )
    if editable:
        (info / "direct_url.json").write_text(
            json.dumps({"url": f"file://{site}", "dir_info": {"editable": True}}),
            encoding="utf-8",
        )
    (site / f"{module}.py").write_text(source, encoding="utf-8")
    importlib.invalidate_caches()
    return info


def plugin_source(module: str, arch: str, pid: str, **profile_kw: str) -> str:
    return PLUGIN_SOURCE.format(module=module, arch=arch, profile=profile_dict(pid, **profile_kw))


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A fresh folder on sys.path for fake distributions (in-process tests)."""
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    before = set(sys.modules)
    plugins.reset()
    yield folder
    for name in set(sys.modules) - before:
        if name.startswith("fake_"):
            del sys.modules[name]
    plugins.reset()
    importlib.invalidate_caches()


def run_cli(*args: str, site: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    return run_python(
        "from rawdenoise.cli import main; import sys; sys.exit(main(sys.argv[1:]))",
        *args,
        site=site,
        **env,
    )


def run_python(code: str, *args: str, site: Path | None = None, **env: str):
    environ = {**os.environ, **env}
    if site is not None:
        environ["PYTHONPATH"] = os.pathsep.join(
            [str(site), *filter(None, [os.environ.get("PYTHONPATH")])]
        )
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=120,
    )


def installed(dist: str) -> bool:
    try:
        metadata.distribution(dist)
    except metadata.PackageNotFoundError:
        return False
    return True


def warning_lines(stderr: str) -> list[str]:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert "Traceback" not in stderr
    assert all(ln.startswith("rawdenoise: warning: ") for ln in lines), stderr
    return lines


# --------------------------------------------------------------------------- built-ins


def test_builtin_architectures_match_the_contract() -> None:
    unet = registry.get_architecture("unet")
    assert unet.factory == "rawdenoise.networks.unet:UNet"
    assert dict(unet.default_options) == {"channels": 32}
    assert unet.multiple_of == 16 and unet.repnr_exclude == ("conv10_1",)
    tiny = registry.get_architecture("tiny")
    assert tiny.factory == "rawdenoise.networks.tiny:TinyNet" and tiny.multiple_of == 4
    assert registry.get_architecture("builtin:tiny") is tiny
    names = [s.name for s in registry.list_architectures()]
    assert names[:2] == ["unet", "tiny"]


def test_create_network_builds_with_options() -> None:
    torch = pytest.importorskip("torch")
    net = registry.create_network("tiny", {"channels": 4})
    assert net(torch.zeros(1, 4, 8, 12)).shape == (1, 4, 8, 12)
    assert net.conv1.out_channels == 4
    # the spec's repnr_exclude names a real child of the network
    assert all(hasattr(net, name) for name in registry.get_architecture("tiny").repnr_exclude)
    with pytest.raises(PluginError, match="does not accept 'depth'") as err:
        registry.create_network("tiny", {"depth": 3})
    assert "channels" in err.value.hint


def test_unknown_names_suggest_close_ones() -> None:
    with pytest.raises(PluginError) as err:
        registry.get_architecture("unte")
    assert err.value.exit_code == ExitCode.PLUGIN
    assert err.value.message == "unknown architecture 'unte'"
    assert err.value.hint == "did you mean unet?"
    with pytest.raises(PluginError) as err:
        registry.get_camera_profile("sony-a7s3")
    assert "sony-a7s2" in err.value.hint
    with pytest.raises(PluginError, match="no plugin 'nosuch'"):
        registry.get_architecture("nosuch:unet")


def test_builtin_camera_profiles_found_by_exif() -> None:
    ids = {p.id for p in registry.list_camera_profiles()}
    assert {"sony-a7s2", "nikon-d850", "sony-a7m4"} <= ids
    assert registry.find_camera_profile("SONY", "ILCE-7SM2").id == "sony-a7s2"
    assert registry.find_camera_profile("NIKON CORPORATION", "NIKON D850").id == "nikon-d850"
    assert registry.find_camera_profile("Acme", "Unknown 9") is None
    assert registry.get_camera_profile("sony-a7m4").make.upper() == "SONY"


def test_user_profiles_take_precedence_and_bad_files_warn(capsys) -> None:
    folder = profiles_dir()
    folder.mkdir(parents=True)
    mine = CameraProfile(id="my-a7s2", make="SONY", model="ILCE-7SM2", noise=NOISE)
    (folder / "my-a7s2.json").write_text(json.dumps(mine.to_dict()), encoding="utf-8")
    (folder / "broken.json").write_text("{not json", encoding="utf-8")
    (folder / "partial.json").write_text('{"id": "x"}', encoding="utf-8")
    twin = {**mine.to_dict(), "model": "ILCE-7SM3"}  # same id, read after my-a7s2.json (name order)
    (folder / "zz-twin.json").write_text(json.dumps(twin), encoding="utf-8")
    wrong = {**mine.to_dict(), "id": "wrong", "aliases": "SONY A7S2", "white_level": "high"}
    (folder / "wrong.json").write_text(json.dumps(wrong), encoding="utf-8")
    assert registry.find_camera_profile("SONY", "ILCE-7SM2") == mine
    assert registry.get_camera_profile("user:my-a7s2") == mine
    assert registry.get_camera_profile("sony-a7s2").id == "sony-a7s2"  # built-ins still there
    lines = warning_lines(capsys.readouterr().err)
    assert len(lines) == 4
    assert any("broken.json" in ln for ln in lines) and any("partial.json" in ln for ln in lines)
    assert any("zz-twin.json" in ln and "already used by" in ln for ln in lines)
    assert any("wrong.json" in ln and "aliases must be a list" in ln for ln in lines)
    assert any("partial.json" in ln and "no 'make' field" in ln for ln in lines)
    # the folder is re-read when it changes (calibrate writes there while rawdenoise runs)
    (folder / "my-a7s2.json").unlink()
    assert registry.find_camera_profile("SONY", "ILCE-7SM2").id == "sony-a7s2"


# --------------------------------------------------------------------------- entry points


def test_third_party_plugin_registers_through_both_hooks(site: Path) -> None:
    add_dist(site, "fake-zoo", "1.0", "fake_zoo", plugin_source("fake_zoo", "zoonet", "zoo-cam"))
    spec = registry.get_architecture("zoonet")
    assert spec.multiple_of == 8 and registry.architecture_provider("zoonet").name == "fake-zoo"
    assert registry.create_network("zoonet", {"width": 5}).width == 5  # factory, lazily
    assert registry.find_camera_profile("ACME", "nightcam 1").id == "zoo-cam"
    assert registry.get_camera_profile("fake-zoo:zoo-cam").source == "test"
    record = next(p for p in plugins.discover().plugins if p.name == "fake-zoo")
    assert (record.version, record.status, record.editable) == ("1.0", "loaded", False)


def test_name_clashes_are_reported_and_resolved_with_plugin_prefix(site: Path) -> None:
    add_dist(site, "fake-a", "1.0", "fake_a", plugin_source("fake_a", "dup", "cam-a"))
    add_dist(site, "fake-b", "2.0", "fake_b", plugin_source("fake_b", "dup", "cam-b"))
    add_dist(site, "fake-c", "1.0", "fake_c", plugin_source("fake_c", "tiny", "cam-c"))
    with pytest.raises(PluginError, match="registered by several plugins") as err:
        registry.get_architecture("dup")
    assert "fake-a:dup" in err.value.hint and "fake-b:dup" in err.value.hint
    assert registry.get_architecture("fake-b:dup").factory == "fake_b:make_net"
    assert registry.get_architecture("fake_a:dup").factory == "fake_a:make_net"  # normalized
    # a built-in name wins over a plugin's; the plugin's stays reachable
    assert registry.get_architecture("tiny").factory.startswith("rawdenoise.")
    assert registry.get_architecture("fake-c:tiny").factory == "fake_c:make_net"
    clashes = {c["name"]: c for c in registry.clashes()}
    assert clashes["dup"]["resolves_to"] is None
    assert clashes["tiny"]["resolves_to"] == "builtin:tiny"
    assert {"fake-a:dup", "fake-b:dup"} <= set(registry.names("architecture"))


def test_broken_plugins_warn_once_and_the_rest_loads(site: Path, capsys) -> None:
    add_dist(site, "fake-boom", "1.0", "fake_boom", "raise RuntimeError('boom at import')\n")
    add_dist(
        site,
        "fake-junk",
        "1.0",
        "fake_junk",
        "from rawdenoise import hookimpl\n"
        "from rawdenoise.specs import ArchitectureSpec\n"
        "@hookimpl\n"
        "def register_architectures(register):\n"
        "    register(42)\n"
        "    register({'name': 'bad name!', 'factory': 'x:y'})\n"
        "    register(ArchitectureSpec(name='junk-ok', factory='fake_junk:x'))\n",
    )
    add_dist(site, "fake-raiser", "1.0", "fake_raiser", REGISTERS_THEN_RAISES)
    add_dist(site, "fake-wrongargs", "1.0", "fake_wrongargs", WRONG_ARGS)
    assert registry.get_architecture("junk-ok").factory == "fake_junk:x"
    assert registry.get_architecture("unet").name == "unet"
    with pytest.raises(PluginError, match="unknown architecture"):  # it raised after this
        registry.get_architecture("half-arch")
    with pytest.raises(PluginError, match="unknown camera profile"):  # nor its other hook's
        registry.get_camera_profile("raiser-cam")
    raiser = next(p for p in plugins.discover().plugins if p.name == "fake-raiser")
    assert raiser.status == "failed" and not raiser.architectures
    lines = warning_lines(capsys.readouterr().err)
    assert len(lines) == 5, lines
    text = "\n".join(lines)
    assert "plugin 'fake-boom' (fake-boom 1.0) failed to load fake_boom: RuntimeError" in text
    assert "registered int 42" in text and "invalid architecture name 'bad name!'" in text
    assert (
        "register_architectures failed: ValueError: no profiles today; the plugin is skipped"
        in text
    )
    assert "fake-wrongargs" in text and "not a valid plugin" in text
    registry.get_architecture("tiny")  # warnings are not repeated within a process
    assert capsys.readouterr().err == ""


# registers an architecture, then raises: the plugin is skipped as a whole
REGISTERS_THEN_RAISES = f"""\
from rawdenoise import hookimpl
from rawdenoise.specs import ArchitectureSpec

@hookimpl
def register_architectures(register):
    register(ArchitectureSpec(name="half-arch", factory="fake_raiser:x"))
    raise ValueError("no profiles today")

@hookimpl
def register_camera_profiles(register):
    register({profile_dict("raiser-cam")!r})
"""

WRONG_ARGS = """\
from rawdenoise import hookimpl
@hookimpl
def register_architectures(register, extra):
    register(None)
"""


def test_allow_list(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    add_dist(site, "fake-one", "1.0", "fake_one", plugin_source("fake_one", "one", "cam-one"))
    add_dist(
        site,
        "fake-two",
        "1.0",
        "fake_two",
        plugin_source("fake_two", "two", "cam-two"),
        ep_name="second",
    )
    monkeypatch.setenv(plugins.LOAD_ENV, "")
    names = {s.name for s in registry.list_architectures()}
    assert "one" not in names and "two" not in names and "unet" in names
    assert {i.name for i in plugins.discover().excluded} >= {"fake-one", "second"}
    assert "fake_one" not in sys.modules  # excluded plugins are not imported
    monkeypatch.setenv(plugins.LOAD_ENV, "Fake_One")  # distribution name, normalized
    assert {"one"} <= {s.name for s in registry.list_architectures()}
    assert "two" not in {s.name for s in registry.list_architectures()}
    monkeypatch.setenv(plugins.LOAD_ENV, "second, nothing-else")  # entry-point name
    names = {s.name for s in registry.list_architectures()}
    assert "two" in names and "one" not in names
    monkeypatch.setenv(plugins.LOAD_ENV, "nothing-else, second ")  # spaces around names
    assert "two" in {s.name for s in registry.list_architectures()}


# --------------------------------------------------------------------------- example plugins

EXAMPLES = ("rawdenoise-nafnet", "rawdenoise-camera-nikon-d850-lrd")


@pytest.mark.skipif(
    not all(installed(d) for d in EXAMPLES),
    reason="example plugins not installed (pip install -e plugins/<name>, as .ci/run does)",
)
def test_example_plugins_listed_and_hidden_by_allow_list() -> None:
    proc = run_cli("plugins", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    by_dist = {p["distribution"]: p for p in data["plugins"] if p["kind"] == "plugin"}
    assert by_dist["rawdenoise-nafnet"]["architectures"] == ["nafnet"]
    assert by_dist["rawdenoise-camera-nikon-d850-lrd"]["camera_profiles"] == ["nikon-d850-lrd"]
    assert by_dist["rawdenoise-nafnet"]["editable"] is True
    assert "nafnet" in {a["name"] for a in data["architectures"]}

    hidden = run_cli("plugins", "--json", **{plugins.LOAD_ENV: ""})
    assert hidden.returncode == 0, hidden.stderr
    data = json.loads(hidden.stdout)
    assert [p["kind"] for p in data["plugins"]] == ["builtin", "user"]
    assert {e["distribution"] for e in data["excluded"]} >= set(EXAMPLES)
    assert "nafnet" not in {a["name"] for a in data["architectures"]}


@pytest.mark.skipif(not installed("rawdenoise-nafnet"), reason="rawdenoise-nafnet not installed")
def test_nafnet_plugin_builds_through_the_registry() -> None:
    torch = pytest.importorskip("torch")
    options = {"width": 8, "enc_blocks": [1, 1], "middle_blocks": 1, "dec_blocks": [1, 1]}
    net = registry.create_network("rawdenoise-nafnet:nafnet", options)
    assert registry.get_architecture("naf") is registry.get_architecture("nafnet")
    x = torch.rand(1, 4, 19, 23)
    with torch.no_grad():
        assert net(x).shape == x.shape


@pytest.mark.skipif(
    not installed("rawdenoise-camera-nikon-d850-lrd"), reason="camera plugin not installed"
)
def test_camera_plugin_profile_by_id_but_builtin_wins_by_exif() -> None:
    lrd = registry.get_camera_profile("nikon-d850-lrd")
    assert lrd.model == "NIKON D850" and "LRD" in lrd.source
    assert registry.find_camera_profile("NIKON CORPORATION", "NIKON D850").id == "nikon-d850"


# --------------------------------------------------------------------------- CLI, subprocesses

_PROBE = """\
import contextlib, io, json, sys
from rawdenoise.cli import main
buf = io.StringIO()
with contextlib.redirect_stdout(buf):
    code = main(["plugins", "--json"])
data = json.loads(buf.getvalue())
print(json.dumps({
    "code": code,
    "torch": "torch" in sys.modules,
    "imported": sorted(m for m in sys.modules if m.startswith("fake_")),
    "status": data["manifest"]["status"],
    "architectures": [a["qualified"] for a in data["architectures"]],
    "profiles": [p["id"] for p in data["camera_profiles"]],
    "errors": data["errors"],
}))
"""


def probe(site: Path) -> dict:
    proc = run_python(_PROBE, site=site)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_broken_plugin_cli_warns_and_carries_on(tmp_path: Path) -> None:
    site = tmp_path / "site"
    add_dist(site, "fake-broken", "0.1", "fake_broken", "import no_such_module_anywhere\n")
    proc = run_cli("plugins", "--json", site=site)
    assert proc.returncode == 0, proc.stderr
    (line,) = warning_lines(proc.stderr)
    assert "fake-broken" in line and "ModuleNotFoundError" in line
    data = json.loads(proc.stdout)
    assert any("fake-broken" in e for e in data["errors"])
    failed = next(p for p in data["plugins"] if p["name"] == "fake-broken")
    assert failed["status"] == "failed"
    human = run_cli("plugins", site=site)
    assert human.returncode == 0 and "error: plugin 'fake-broken'" in human.stdout
    ratio = run_cli(
        "ratio", "--bright-iso", "100", "--bright-time", "1", "--dark-iso", "100",
        "--dark-time", "1/10", site=site,
    )  # fmt: skip
    assert ratio.returncode == 0, ratio.stderr
    lookup = run_python(
        "from rawdenoise.registry import get_architecture; print(get_architecture('unet').name)",
        site=site,
    )
    assert lookup.returncode == 0 and lookup.stdout.strip() == "unet"
    assert len(warning_lines(lookup.stderr)) == 1


def test_discovery_cache_second_run_imports_no_plugin_and_no_torch(tmp_path: Path) -> None:
    site = tmp_path / "site"
    add_dist(site, "fake-cached", "1.0", "fake_cached", plugin_source("fake_cached", "c1", "cc"))
    first = probe(site)
    assert first["code"] == 0 and first["imported"] == ["fake_cached"]
    assert first["status"] == "updated" and "fake-cached:c1" in first["architectures"]
    second = probe(site)
    assert second["status"] == "hit"
    assert second["imported"] == [] and second["torch"] is False
    assert second["architectures"] == first["architectures"]
    assert "cc" in second["profiles"] and second["errors"] == []
    # the registry serves cached specs too, still without importing the plugin
    proc = run_python(
        "import sys; from rawdenoise import registry;"
        "print(registry.get_architecture('c1').multiple_of, 'fake_cached' in sys.modules,"
        " registry.find_camera_profile('Acme', 'Nightcam 1').id)",
        site=site,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["8", "False", "cc"]


def test_discovery_cache_rebuilt_when_a_plugin_version_changes(tmp_path: Path) -> None:
    site = tmp_path / "site"
    add_dist(site, "fake-ver", "1.0", "fake_ver", plugin_source("fake_ver", "old-arch", "p1"))
    assert probe(site)["imported"] == ["fake_ver"]
    assert probe(site)["imported"] == []
    add_dist(site, "fake-ver", "1.1", "fake_ver", plugin_source("fake_ver", "new-arch", "p1"))
    upgraded = probe(site)
    assert upgraded["imported"] == ["fake_ver"] and upgraded["status"] == "updated"
    assert "fake-ver:new-arch" in upgraded["architectures"]
    assert "fake-ver:old-arch" not in upgraded["architectures"]
    assert probe(site)["imported"] == []


def test_discovery_cache_written_for_other_spec_fields_is_not_trusted(tmp_path: Path) -> None:
    """A manifest written by a build whose specs had other fields (same version string, as
    during development) lacks the new fields: its entries are dropped and plugins imported."""
    from rawdenoise.dirs import plugin_cache_dir

    site = tmp_path / "site"
    add_dist(site, "fake-fields", "1.0", "fake_fields", plugin_source("fake_fields", "f1", "ff"))
    assert probe(site)["imported"] == ["fake_fields"]
    (manifest,) = plugin_cache_dir().glob("manifest-*.json")
    data = json.loads(manifest.read_text())
    assert data["spec_fields"]
    data["spec_fields"] = "0" * 12
    for entry in data["entries"].values():
        for arch in entry["architectures"]:
            arch.pop("widen", None)  # what a build from before ``widen`` wrote
    manifest.write_text(json.dumps(data))
    again = probe(site)
    assert again["imported"] == ["fake_fields"] and "fake-fields:f1" in again["architectures"]
    assert json.loads(manifest.read_text())["spec_fields"] != "0" * 12
    assert probe(site)["imported"] == []


def test_editable_plugins_are_never_cached(tmp_path: Path) -> None:
    site = tmp_path / "site"
    source = plugin_source("fake_edit", "edit-arch", "pe")
    add_dist(site, "fake-edit", "1.0", "fake_edit", source, editable=True)
    assert probe(site)["imported"] == ["fake_edit"]
    assert probe(site)["imported"] == ["fake_edit"]


def test_corrupt_or_foreign_manifest_is_rebuilt(site: Path) -> None:
    add_dist(site, "fake-man", "1.0", "fake_man", plugin_source("fake_man", "m1", "pm"))
    path = plugin_cache.manifest_path()
    for bad in ("{truncated", '["a list"]', '{"schema": 999, "entries": {}}'):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(bad, encoding="utf-8")
        plugins.reset()
        assert plugins.discover().manifest_status == "rebuilt"
        assert "m1" in {s.name for s in registry.list_architectures()}
        entries, status = plugin_cache.read_manifest()
        assert status == "ok" and any(k.startswith("fake-man==1.0|") for k in entries)
    # a malformed entry is dropped and its plugin imported again
    data = json.loads(path.read_text(encoding="utf-8"))
    key = next(k for k in data["entries"] if k.startswith("fake-man"))
    data["entries"][key]["architectures"] = [{"name": "m1"}]  # no factory
    path.write_text(json.dumps(data), encoding="utf-8")
    plugins.reset()
    record = next(p for p in plugins.discover().plugins if p.name == "fake-man")
    assert record.status == "loaded" and [a.name for a in record.architectures] == ["m1"]


def test_plugins_command_paths_and_refresh(site: Path, capsys) -> None:
    from rawdenoise.cli import main

    add_dist(site, "fake-ref", "1.0", "fake_ref", plugin_source("fake_ref", "r1", "pr"))
    assert main(["plugins", "--paths", "--json"]) == 0
    paths = json.loads(capsys.readouterr().out)["paths"]
    assert paths["profiles"] == str(profiles_dir())
    assert paths["plugin_manifest"] == str(plugin_cache.manifest_path())
    assert main(["plugins", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["manifest"]["status"] == "updated"
    assert main(["plugins", "--json", "--refresh"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["manifest"]["status"] == "updated"
    assert next(p for p in data["plugins"] if p["name"] == "fake-ref")["status"] == "loaded"
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "fake-ref  (fake-ref 1.0; loaded; fake_ref)" in out
    assert "architectures:   unet, tiny" in out and "plugin_manifest" in out


def test_dict_registrations_are_validated_like_specs(site: Path) -> None:
    spec = ArchitectureSpec(name="dicty", factory="fake_dict:net", multiple_of=2)
    add_dist(
        site,
        "fake-dict",
        "1.0",
        "fake_dict",
        "from rawdenoise import hookimpl\n"
        "@hookimpl\n"
        "def register_architectures(register):\n"
        f"    register({spec.to_dict()!r})\n",
    )
    assert registry.get_architecture("dicty") == spec


# --------------------------------------------------------------------------- rawdenoise.testing


def test_contract_checks_pass_for_builtins_and_catch_bad_specs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("torch")
    from rawdenoise.testing import check_architecture, check_camera_profile, check_entry_module

    check_architecture("tiny")
    for profile in registry.list_camera_profiles():
        check_camera_profile(profile)
    bad = ArchitectureSpec(
        name="tiny-bad", factory="rawdenoise.networks.tiny:TinyNet", repnr_exclude=("nope",)
    )
    with pytest.raises(AssertionError, match="repnr_exclude names no module"):
        check_architecture(bad, repnr=False)
    wrong = ArchitectureSpec(
        name="tiny-wrong", factory="rawdenoise.networks.tiny:TinyNet", out_channels=3
    )
    with pytest.raises(AssertionError, match="output shape"):
        check_architecture(wrong)
    check_entry_module("rawdenoise.default_plugins.architectures")
    (tmp_path / "fake_heavy_entry.py").write_text("import numpy\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(AssertionError, match="imports numpy"):
        check_entry_module("fake_heavy_entry")
