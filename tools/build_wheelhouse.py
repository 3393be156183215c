"""Build the wheelhouse a Pi installs from without internet (`tools/install-pi.sh --offline`).

    python -m tools.build_wheelhouse [--out wheelhouse] [--python-version 3.11]
    python -m tools.build_wheelhouse --host        # for this machine instead (tests, x86 CI)

Run it on any machine with internet (x86 is fine): it downloads binary wheels for the Pi
(aarch64, CPython 3.11 as on Bookworm, glibc up to 2.36) of every dependency in
pyproject.toml (base + `pi` + `serial` extras), with tools/constraints-pi.txt applied
(numpy < 2 for apt's picamera2 stack), plus setuptools and wheel so the editable install
of cutbox itself builds offline. Ship the folder with the release: `install-pi.sh --offline`
looks for `wheelhouse/` beside `tools/`.

pip evaluates environment markers (`platform_machine == 'aarch64'`) against the machine it
runs on, not against `--platform`; so the markers of cutbox's own requirements are evaluated
here for the target first, and only the ones that apply are handed to pip.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parent.parent
CONSTRAINTS = REPO / "tools" / "constraints-pi.txt"
EXTRAS = ("pi", "serial")
BUILD_REQUIREMENTS = ["setuptools>=68", "wheel"]
# picamera2 and libcamera come from apt (python3-picamera2): the PyPI picamera2 would pull
# its own simplejpeg and numpy; gpiozero is taken from PyPI (pure Python) over apt's.
FROM_APT = {"picamera2"}
# Bookworm: glibc 2.36, so any manylinux tag up to 2_36 runs there.
AARCH64_TAGS = ["manylinux2014_aarch64"] + [f"manylinux_2_{v}_aarch64" for v in range(17, 37)]


def target_environment(python_version: str, machine: str) -> dict[str, str]:
    return {
        "python_version": python_version,
        "python_full_version": f"{python_version}.0",
        "platform_machine": machine,
        "platform_system": "Linux",
        "sys_platform": "linux",
        "os_name": "posix",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "extra": "",
    }


def requirements_for(python_version: str, machine: str, pyproject: Path = REPO / "pyproject.toml") -> list[str]:
    """cutbox's dependencies (base + pi + serial extras) whose markers hold on the target,
    without the markers, minus what apt provides."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    raw = list(project["dependencies"])
    for extra in EXTRAS:
        raw += project.get("optional-dependencies", {}).get(extra, [])
    env = target_environment(python_version, machine)
    out: list[str] = []
    for line in raw:
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        if req.name.lower() in FROM_APT:
            continue
        req.marker = None
        text = str(req)
        if text not in out:
            out.append(text)
    return out


def pip_download_command(
    out: Path, requirements: list[str], python_version: str, host: bool, extra_args: list[str]
) -> list[str]:
    cmd = [sys.executable, "-m", "pip", "download", "--dest", str(out), "--only-binary=:all:"]
    if not host:
        cmd += ["--python-version", python_version, "--implementation", "cp"]
        cmd += ["--abi", f"cp{python_version.replace('.', '')}", "--abi", "abi3", "--abi", "none"]
        for tag in AARCH64_TAGS:
            cmd += ["--platform", tag]
        cmd += ["--platform", "any"]
    cmd += ["--constraint", str(CONSTRAINTS), *extra_args, *requirements, *BUILD_REQUIREMENTS]
    return cmd


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.build_wheelhouse", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", type=Path, default=REPO / "wheelhouse", help="folder for the wheels (default ./wheelhouse)"
    )
    parser.add_argument("--python-version", default="3.11", help="the Pi's Python (Bookworm: 3.11)")
    parser.add_argument("--host", action="store_true", help="wheels for this machine, not the Pi (tests, CI)")
    parser.add_argument("--dry-run", action="store_true", help="print the requirements and the pip command only")
    parser.add_argument(
        "pip_args", nargs="*", help="passed to pip download after --, e.g. -- --no-index --find-links DIR"
    )
    args = parser.parse_args(argv)
    version = ".".join(platform.python_version_tuple()[:2]) if args.host else args.python_version
    machine = platform.machine() if args.host else "aarch64"
    reqs = requirements_for(version, machine)
    cmd = pip_download_command(args.out, reqs, version, args.host, args.pip_args)
    if args.dry_run:
        print(json.dumps({"requirements": reqs, "command": cmd}, indent=2))
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    run = subprocess.run(cmd)
    if run.returncode != 0:
        print("build_wheelhouse: pip download failed (see above); nothing is complete", file=sys.stderr)
        return run.returncode
    manifest = {
        "python_version": version,
        "machine": machine,
        "requirements": reqs,
        "constraints": CONSTRAINTS.read_text(encoding="utf-8"),
        "wheels": sorted(p.name for p in args.out.glob("*.whl")),
    }
    (args.out / "requirements.txt").write_text("\n".join(reqs + BUILD_REQUIREMENTS) + "\n", encoding="utf-8")
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    print(f"{len(manifest['wheels'])} wheels in {args.out} for {machine} Python {version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
