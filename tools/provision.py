"""Give one box its own identity in a fresh cutbox.toml (run by tools/install-pi.sh).

    python -m tools.provision CONFIG --set station.id=booth-3 --set api.token_file=/etc/cutbox/api-token ...
    python -m tools.provision CONFIG --pin station.data_dir=/var/lib/cutbox   # unless already absolute
    python -m tools.provision --station-id-from HOSTNAME      # print the station id a hostname gives

Two boxes with the shipped defaults would both be `booth-1` with client id `cutbox-booth-1`:
on one broker they kick each other off. The installer sets the station id (from the hostname
unless given), a unique MQTT client id, the token and password files, on the first install
only. Keys are set in place in the documented default file, keeping every comment; a key
that is commented out (`# key = ...`) is replaced where it stands, a missing one is added
at the end of its section. The result must still validate.

`--pin` is for a config kept from an older install, whose unit set the data folders through
the environment: the folders are written into the file (only where it names none, or a
relative one), so the service and a hand-run command read the same place from one file.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tomllib
from pathlib import Path


def station_id_from_hostname(hostname: str) -> str:
    """A valid station id (A-Z a-z 0-9 _ -, at most 64) from a hostname: its first label."""
    label = hostname.strip().split(".")[0].lower()
    sid = re.sub(r"[^a-z0-9_-]+", "-", label).strip("-")[:64]
    return sid or "booth"


def toml_value(raw: str) -> str:
    """The TOML text for a value given on the command line: kept when it parses as TOML
    (true, 42, "x"), quoted as a string otherwise."""
    try:
        tomllib.loads(f"v = {raw}")
        return raw
    except tomllib.TOMLDecodeError:
        return json.dumps(raw)


def set_key(text: str, dotted: str, value_toml: str) -> str:
    """`text` with `section.key = value` set (section may be nested: mqtt.tls.enabled)."""
    section, key = dotted.rsplit(".", 1)
    lines = text.splitlines()
    header = re.compile(rf"^\[{re.escape(section)}\]\s*(#.*)?$")
    start = next((i for i, line in enumerate(lines) if header.match(line.strip())), None)
    if start is None:
        return text.rstrip("\n") + f"\n\n[{section}]\n{key} = {value_toml}\n"
    end = next((i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith("[")), len(lines))
    live = re.compile(rf"^{re.escape(key)}\s*=")
    commented = re.compile(rf"^#\s*{re.escape(key)}\s*=")
    for pattern in (live, commented):
        for i in range(start + 1, end):
            if pattern.match(lines[i].strip()):
                lines[i] = f"{key} = {value_toml}"
                return "\n".join(lines) + "\n"
    insert = end
    while insert > start + 1 and not lines[insert - 1].strip():
        insert -= 1
    lines.insert(insert, f"{key} = {value_toml}")
    return "\n".join(lines) + "\n"


def lookup(data: dict, dotted: str) -> object:
    node: object = data
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def needs_pin(text: str, dotted: str) -> bool:
    """True when the file does not already set `dotted` to an absolute path."""
    value = lookup(tomllib.loads(text), dotted)
    return not (isinstance(value, str) and value.startswith("/"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.provision", description=__doc__.split("\n\n")[0])
    parser.add_argument("config", nargs="?", type=Path, help="the cutbox.toml to edit in place")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="section.key=value")
    parser.add_argument(
        "--pin", action="append", default=[], metavar="KEY=PATH", help="set a folder unless already absolute"
    )
    parser.add_argument("--station-id-from", metavar="HOSTNAME", help="print the station id for a hostname")
    args = parser.parse_args(argv)
    if args.station_id_from is not None:
        print(station_id_from_hostname(args.station_id_from))
        return 0
    if args.config is None:
        parser.error("name the config file")
    text = args.config.read_text(encoding="utf-8")
    for item in args.set:
        key, sep, raw = item.partition("=")
        if not sep or "." not in key:
            parser.error(f"--set {item!r}: use section.key=value")
        text = set_key(text, key.strip(), toml_value(raw.strip()))
    for item in args.pin:
        key, sep, raw = item.partition("=")
        if not sep or "." not in key or not raw.strip().startswith("/"):
            parser.error(f"--pin {item!r}: use section.key=/absolute/path")
        if needs_pin(text, key.strip()):
            text = set_key(text, key.strip(), json.dumps(raw.strip()))
            print(f"provision: {key.strip()} = {raw.strip()} written into {args.config}", file=sys.stderr)
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        print(f"provision: the result is not valid TOML ({exc}); {args.config} left as it was", file=sys.stderr)
        return 1
    tmp = args.config.with_name(args.config.name + ".new")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(args.config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
