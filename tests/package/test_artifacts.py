"""The deploy artifacts: `make package` (the real `sam build`, arm64, no Docker) builds, every
handler imports from what was built, the sizes fit Lambda, and the layer carries only what the
functions import.

Each test run calls `make package` once (xdist workers share it): with `--cached` SAM reuses
its dependency folders while the requirements files are unchanged (5 to 8 s here) and copies
all sources afresh, so the checks always see the current tree. The first build downloads the
arm64 wheels (about 35 s). The import check
installs the very distributions of the built layer (names and versions from its dist-info) for
this machine into `.aws-sam/host-deps/<hash>/`, once per set of versions, with pip's cache.
Without Python 3.13 or `sam` this fails: it never skips. `pytest -rP` shows the sizes.
"""

from __future__ import annotations

import ast
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest

pytestmark = pytest.mark.package

ROOT = Path(__file__).resolve().parents[2]
SAM_DIR = ROOT / ".aws-sam"
LAMBDA_UNZIPPED_LIMIT = 262_144_000  # 250 MB: function + layers, unzipped
EM_AARCH64, EM_X86_64 = 183, 62
AL2023_GLIBC = 34  # glibc 2.34
# What a function imports must never come from these (dev only, or push_sender's own package)
NOT_IN_LAYER = ("nudge_cli", "nudge_local", "tests", "matplotlib", "moto", "pytest",
                "samcli", "firebase_admin", "grpc", "httpx")  # fmt: skip
TEST_DOUBLE_CLASS = re.compile(r"^(InMemory|Fake)")
# Functions with dependencies of their own (functions/<name>/requirements.txt), by built name
OWN_DEPENDENCIES = {
    "".join(w.title() for w in p.parent.name.split("_")) + "Function": p.parent.name
    for p in sorted((ROOT / "functions").glob("*/requirements.txt"))
}

PROBE = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("app", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
assert callable(module.lambda_handler), "no lambda_handler"
origins = {}
for name in ("nudge", "pydantic_core", "aws_lambda_powertools", "boto3", "firebase_admin"):
    if name in sys.modules:
        origins[name] = sys.modules[name].__file__
dev = [m for m in ("nudge_local", "nudge_cli", "tests", "moto") if m in sys.modules]
print(json.dumps({"origins": origins, "dev": dev}))
"""


@dataclass(frozen=True)
class Build:
    root: Path  # a hard-linked snapshot of .aws-sam/build
    python313: str  # the interpreter `make package` gave sam
    seconds: float

    @property
    def layer(self) -> Path:
        return self.root / "NudgeLayer" / "python"


def _tree_size(path: Path) -> int:
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() or p.is_symlink())


def _pins(site: Path) -> list[str]:
    """name==version of every distribution installed in a built directory."""
    pins = []
    for info in sorted(site.glob("*.dist-info")):
        meta = metadata.Distribution.at(info).metadata
        pins.append(f"{meta['Name']}=={meta['Version']}")
    return pins


def _elf_machine(path: Path) -> int | None:
    with path.open("rb") as f:
        head = f.read(20)
    if head[:4] != b"\x7fELF":
        return None
    return int.from_bytes(head[18:20], "little" if head[5] == 1 else "big")


@pytest.fixture(scope="session")
def build(tmp_path_factory: pytest.TempPathFactory, testrun_uid: str) -> Iterator[Build]:
    """Run `make package` once per test run and snapshot the result (xdist workers take turns
    under a lock; a second worker of the same run reuses the build if nothing rebuilt since)."""
    SAM_DIR.mkdir(exist_ok=True)
    snapshot = tmp_path_factory.mktemp("sam") / "build"
    record = SAM_DIR / ".package-test-run.json"
    with (SAM_DIR / ".package-test.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        built_at = SAM_DIR / "build" / "template.yaml"
        last = json.loads(record.read_text()) if record.exists() else {}
        if not (
            last.get("run") == testrun_uid
            and built_at.exists()
            and built_at.stat().st_mtime_ns == last.get("built_at")
        ):
            record.unlink(missing_ok=True)
            started = time.perf_counter()
            out = subprocess.run(
                ["make", "package"], cwd=ROOT, capture_output=True, text=True, timeout=900
            )
            seconds = time.perf_counter() - started
            assert out.returncode == 0, f"make package failed:\n{out.stdout[-4000:]}\n{out.stderr}"
            found = re.search(r"^make package: sam build with (\S+)$", out.stdout, re.M)
            assert found, f"make package did not name its python3.13:\n{out.stdout[:2000]}"
            last = {
                "run": testrun_uid,
                "built_at": built_at.stat().st_mtime_ns,
                "python313": found.group(1),
                "seconds": seconds,
            }
            record.write_text(json.dumps(last))
        try:  # hard links: instant, and sam replaces files rather than rewriting them
            shutil.copytree(SAM_DIR / "build", snapshot, symlinks=True, copy_function=os.link)
        except OSError:
            shutil.rmtree(snapshot, ignore_errors=True)
            shutil.copytree(SAM_DIR / "build", snapshot, symlinks=True)
    yield Build(snapshot, last["python313"], last["seconds"])
    shutil.rmtree(snapshot, ignore_errors=True)


@pytest.fixture(scope="session")
def host_deps(build: Build) -> dict[str, Path]:
    """The layer's and each function's own exact distributions (push_sender's, the console's),
    for this machine (cached by hash)."""
    dirs = {}
    sites = [("layer", build.layer)]
    sites += [(name, build.root / built) for built, name in OWN_DEPENDENCIES.items()]
    with (SAM_DIR / ".package-test.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for label, site in sites:
            pins = _pins(site)
            assert pins, f"no distributions in {site}"
            key = hashlib.sha256("\n".join([build.python313, *pins]).encode()).hexdigest()[:16]
            target = SAM_DIR / "host-deps" / f"{label}-{key}"
            if not (target / ".complete").exists():
                shutil.rmtree(target, ignore_errors=True)
                requirements = target.with_name(target.name + ".txt")
                requirements.parent.mkdir(exist_ok=True)
                requirements.write_text("\n".join(pins) + "\n")
                out = subprocess.run(
                    [build.python313, "-m", "pip", "install", "--quiet",
                     "--disable-pip-version-check", "--no-deps", "--only-binary=:all:",
                     "--target", str(target), "-r", str(requirements)],
                    capture_output=True, text=True, timeout=900,
                )  # fmt: skip
                assert out.returncode == 0, f"pip install for this machine failed:\n{out.stderr}"
                (target / ".complete").touch()
                for stale in target.parent.glob(f"{label}-*"):
                    if stale.name not in (target.name, requirements.name):
                        shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
            dirs[label] = target
    return dirs


def test_every_function_is_built(build: Build) -> None:
    handlers = sorted(p.parent.name for p in (ROOT / "functions").glob("*/app.py"))
    built = sorted(p.parent.name for p in build.root.glob("*Function/app.py"))
    expected = sorted("".join(w.title() for w in h.split("_")) + "Function" for h in handlers)
    assert built == expected
    print(f"make package took {build.seconds:.1f} s")


def test_native_code_is_arm64(build: Build) -> None:
    machines: dict[int | None, list[str]] = {}
    for part in (build.layer, *(build.root / built for built in OWN_DEPENDENCIES)):
        for path in part.rglob("*"):
            if path.is_file() and not path.is_symlink() and (machine := _elf_machine(path)):
                machines.setdefault(machine, []).append(str(path.relative_to(build.root)))
    assert machines.get(EM_AARCH64), "no aarch64 binaries at all"
    others = {m: v[:5] for m, v in machines.items() if m != EM_AARCH64}
    assert not others, f"binaries for another machine (e_machine {EM_X86_64} is x86_64): {others}"
    # the python3.13 runtime is Amazon Linux 2023: glibc 2.34
    too_new = [
        f"{wheel.parent.name}: {tag}"
        for part in (build.layer, *(build.root / built for built in OWN_DEPENDENCIES))
        for wheel in part.glob("*.dist-info/WHEEL")
        for tag in re.findall(r"^Tag: (.*)$", wheel.read_text(), re.M)
        if (glibc := re.search(r"manylinux_2_(\d+)_", tag)) and int(glibc.group(1)) > AL2023_GLIBC
    ]
    assert not too_new, f"wheels that need a newer glibc than Lambda's 2.{AL2023_GLIBC}: {too_new}"


def test_every_handler_imports_with_the_built_layer(
    build: Build, host_deps: dict[str, Path], tmp_path: Path
) -> None:
    """Each handler in a fresh Python 3.13 (-I -S: no venv, no site-packages), with only the
    built layer's nudge package and this machine's build of the same distributions. Bytecode
    goes to a separate folder: the built trees stay as they were."""
    pycache = tmp_path / "pycache"
    layer_code = tmp_path / "layer"
    layer_code.mkdir()
    (layer_code / "nudge").symlink_to(build.layer / "nudge")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "POWERTOOLS_SERVICE_NAME": "nudge",
        "POWERTOOLS_METRICS_NAMESPACE": "Nudge",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "NUDGE_ENGAGEMENT": "{}",
        "NUDGE_EVENTS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/EventsQueue",
    }

    def probe(app: Path) -> tuple[str, subprocess.CompletedProcess[str]]:
        # Lambda's order: the function's own code, then the layer
        path = [str(layer_code), str(host_deps["layer"])]
        if app.parent.name in OWN_DEPENDENCIES:  # its own dependencies sit next to app.py
            path.insert(0, str(host_deps[OWN_DEPENDENCIES[app.parent.name]]))
        code = f"import sys; sys.path[:0] = {path!r}\n{PROBE}"
        return app.parent.name, subprocess.run(
            [build.python313, "-I", "-S", "-X", f"pycache_prefix={pycache}", "-c", code,
             str(app)],
            capture_output=True, text=True, env=env, timeout=120,
        )  # fmt: skip

    apps = sorted(build.root.glob("*Function/app.py"))
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(pool.map(probe, apps))
    failed = {n: r.stderr[-1500:] for n, r in results.items() if r.returncode != 0}
    assert not failed, "\n\n".join(f"{n}:\n{err}" for n, err in failed.items())
    for name, result in results.items():
        seen = json.loads(result.stdout.strip().splitlines()[-1])
        assert seen["dev"] == [], f"{name} imported dev-only modules: {seen['dev']}"
        assert seen["origins"]["nudge"].startswith(str(layer_code)), (name, seen)
        for module in ("pydantic_core", "aws_lambda_powertools"):
            origin = seen["origins"].get(module)
            assert origin is None or origin.startswith(str(host_deps["layer"])), (name, seen)


def test_built_code_ships_its_bytecode(build: Build) -> None:
    """Lambda can't write __pycache__ (read-only code), so a module without a shipped .pyc is
    compiled from source on every cold start. Each module of nudge and of the handlers has a
    3.13 .pyc that is never checked against the source's mtime (flags 0b01: unchecked hash)."""
    sources = [*(build.layer / "nudge").rglob("*.py"), *build.root.glob("*Function/app.py")]
    missing, checked = [], []
    for source in sources:
        compiled = source.parent / "__pycache__" / f"{source.stem}.cpython-313.pyc"
        if not compiled.is_file():
            missing.append(str(source.relative_to(build.root)))
            continue
        flags = int.from_bytes(compiled.read_bytes()[4:8], "little")
        if flags != 0b01:
            checked.append(f"{compiled.relative_to(build.root)}: flags {flags:#04b}")
    assert len(sources) > 100
    assert not missing, f"no bytecode for {missing}"
    assert not checked, f"bytecode checked against the source on load: {checked}"


def test_layer_and_each_function_fit_in_250_mb(build: Build) -> None:
    layer = _tree_size(build.root / "NudgeLayer")
    mb = 1_000_000
    for built, name in OWN_DEPENDENCIES.items():
        own = _tree_size(build.root / built)
        print(
            f"unzipped: layer {layer / mb:.1f} MB + {name} {own / mb:.1f} MB = "
            f"{(layer + own) / mb:.1f} MB (limit {LAMBDA_UNZIPPED_LIMIT / mb:.1f} MB)"
        )
        assert layer + own < LAMBDA_UNZIPPED_LIMIT, name


def test_layer_pins_the_boto3_and_botocore_the_venv_tests_against(build: Build) -> None:
    built = dict(pin.lower().split("==") for pin in _pins(build.layer))
    venv = {name: metadata.version(name) for name in ("boto3", "botocore")}
    assert {name: built.get(name) for name in venv} == venv, (
        "shared/requirements.txt must pin boto3 and botocore to the venv's versions "
        "(`.venv/bin/pip show boto3 botocore`)"
    )


def test_layer_carries_only_what_the_functions_import(build: Build) -> None:
    layer = build.layer
    # every top-level entry is the nudge package or was installed by pip (named in a RECORD)
    installed = {"nudge", "requirements.txt", "__pycache__"}  # __pycache__: `make package`'s
    for record in layer.glob("*.dist-info/RECORD"):
        for line in record.read_text().splitlines():
            installed.add(line.split(",")[0].split("/")[0])
    entries = {p.name for p in layer.iterdir()}
    assert entries <= installed, f"not from pip, not nudge: {sorted(entries - installed)}"
    for name in NOT_IN_LAYER:
        assert not (layer / name).exists() and not (layer / f"{name}.py").exists(), name
    assert not list(layer.glob("nudge*.egg-info")), "the dev install's egg-info was copied"

    # nudge in the layer is exactly shared/nudge: nothing stale, nothing missing, no caches
    def files(top: Path) -> set[str]:
        return {
            str(p.relative_to(top))
            for p in top.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
        }

    built = files(layer / "nudge")  # its bytecode: test_built_code_ships_its_bytecode
    assert built == files(ROOT / "shared" / "nudge")
    assert "api/mobile-openapi.json" in built and "py.typed" in built

    doubles, dev_imports = [], []
    for path in (layer / "nudge").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef) and TEST_DOUBLE_CLASS.match(node.name):
                doubles.append(f"{path.relative_to(layer)}: class {node.name}")
            names = (
                [a.name for a in node.names] if isinstance(node, ast.Import)
                else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level
                else []
            )  # fmt: skip
            dev_imports += [
                f"{path.relative_to(layer)}: {n}" for n in names if n.split(".")[0] in NOT_IN_LAYER
            ]
    assert not doubles, f"test doubles in the layer (they belong in tests/fakes): {doubles}"
    # firebase, gRPC and httpx are push_sender's own (imported lazily in adapters/fcm*)
    lazy_ok = {"firebase_admin", "grpc", "httpx"}
    dev_imports = [i for i in dev_imports if i.rsplit(": ", 1)[1].split(".")[0] not in lazy_ok]
    assert not dev_imports, f"the layer imports dev-only code: {dev_imports}"
    # HTML only as the console's page templates (the HTML report is the CLI's, never here)
    assert not any("report_html" in name for name in built)
    assert all(name.startswith("console/templates/") for name in built if name.endswith(".html"))
