"""`cutbox`: the command line, a thin shell over the same core functions the API and MQTT use.

Each subcommand is one self-contained block: an `@command` function that registers its
parser (with `set_defaults(func=...)`) and the `_cmd_x(args) -> int` it runs. Heavy imports
(the model runtime, OpenCV, FastAPI) happen inside the command, so `cutbox --help` is fast.
To add a command, add one block in the "commands" part below; nothing else needs editing.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

_REGISTRY: list[Callable[[argparse._SubParsersAction], None]] = []


def command(register: Callable[[argparse._SubParsersAction], None]):
    """Decorator: `register(subparsers)` adds one subcommand (called in definition order)."""
    _REGISTRY.append(register)
    return register


def _err(line: str) -> None:
    print(f"cutbox: {line}", file=sys.stderr)


def _add_config_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config",
        metavar="FILE",
        help="cutbox.toml to use (default: $CUTBOX_CONFIG, else /etc/cutbox/cutbox.toml where installed, "
        "else firmware_config/cutbox.toml)",
    )


def _load_config(args: argparse.Namespace):
    """The validated config, or None after printing one line per problem."""
    from device.config import ConfigError, load_config
    from device.logs import apply_logging

    try:
        cfg = load_config(getattr(args, "config", None))
    except ConfigError as exc:
        for problem in exc.problems:
            _err(f"config: {problem}")
        return None
    apply_logging(cfg.logging, getattr(args, "verbose", 0), _base_level(args))
    return cfg


def _say_data_dir(cfg, args: argparse.Namespace) -> None:
    """Print where this command reads and writes the box's files, and which setting chose it,
    so a hand-run command that disagrees with the service shows it at once."""
    from device.config import data_dir_origin

    where, origin = data_dir_origin(cfg, getattr(args, "config", None))
    print(f"cutbox: data_dir {where} ({origin})", file=sys.stderr)
    owner = _owner_of(where)
    if os.geteuid() == 0 and owner not in (None, "root"):
        _err(
            f"warning: running as root in {owner}'s {where}: what this writes, {owner} may not replace (sudo -u {owner})"
        )


def _owner_of(folder: Path) -> str | None:
    import pwd

    try:
        return pwd.getpwuid(folder.stat().st_uid).pw_name
    except (OSError, KeyError):
        return None


def _open_pipeline(cfg):
    """Pipeline with the configured model, or None after one line saying what is wrong."""
    from device.pipeline import Pipeline
    from device.segment import ModelError

    try:
        return Pipeline(cfg)
    except ModelError as exc:
        _err(str(exc))
        return None


def _samples_dir() -> Path:
    return Path(__file__).resolve().parent / "samples"


# =========================================================================================
# commands: one block each (parser registration + _cmd_x). Add new commands below, in their
# own block, e.g. `catalog`, `serve`, `spin`, `calibrate`, `contact-sheet`.
# =========================================================================================


# ---- cutout -----------------------------------------------------------------------------
@command
def _add_cutout(sub) -> None:
    p = sub.add_parser("cutout", help="cut out image files, folders or globs into a folder")
    p.add_argument("paths", nargs="+", metavar="PATH", help="image files, folders or globs")
    p.add_argument("-o", "--out", metavar="DIR", default="cutbox-out", help="output folder (default: cutbox-out)")
    p.add_argument("--preset", metavar="NAME", help="compose preset (default: compose.preset from the config)")
    _add_config_arg(p)
    p.set_defaults(func=_cmd_cutout)


def _run_batch(paths: list[str], out: str, preset: str | None, args: argparse.Namespace) -> int:
    from device.workflows.batch import cut_out_files

    cfg = _load_config(args)
    if cfg is None:
        return 2
    pipeline = _open_pipeline(cfg)
    if pipeline is None:
        return 1
    try:
        try:
            pipeline.preset_config(preset)
        except ValueError as exc:
            _err(str(exc))
            return 2
        if pipeline.model_name is not None:
            backend, reason = pipeline.backend
            print(f"model: {pipeline.model_name} on {backend} ({reason})", file=sys.stderr)

        progress, report = _progress_bar()
        result = cut_out_files(pipeline, paths, out, preset, progress=progress, report=report)
    finally:
        pipeline.close()
    done = len(result.written)
    print(f"{done} cut out, {len(result.failed)} failed -> {out}", file=sys.stderr)
    return 0 if result.ok else 1


def _progress_bar() -> tuple[Callable[[Iterable[Path]], Iterable[Path]] | None, Callable[[str], None]]:
    """(progress wrapper, error-line writer) for a batch: a tqdm bar on a terminal; in a pipe or
    a log, no bar (tqdm is not even imported) and plain error lines."""
    if not sys.stderr.isatty():
        return None, lambda line: print(f"error: {line}", file=sys.stderr)
    from tqdm import tqdm

    def progress(files: Iterable[Path]) -> Iterable[Path]:
        files = list(files)
        return tqdm(files, desc="cutout", unit="img", file=sys.stderr, disable=len(files) < 2, dynamic_ncols=True)

    return progress, lambda line: tqdm.write(f"error: {line}", file=sys.stderr)


def _cmd_cutout(args: argparse.Namespace) -> int:
    return _run_batch(args.paths, args.out, args.preset, args)


# ---- demo -------------------------------------------------------------------------------
@command
def _add_demo(sub) -> None:
    p = sub.add_parser("demo", help="cut out the bundled sample photos (no camera or broker needed)")
    p.add_argument("-o", "--out", metavar="DIR", default="cutbox-out", help="output folder (default: cutbox-out)")
    p.add_argument("--preset", metavar="NAME", help="compose preset (default: compose.preset from the config)")
    _add_config_arg(p)
    p.set_defaults(func=_cmd_demo)


def _cmd_demo(args: argparse.Namespace) -> int:
    rc = _run_batch([str(_samples_dir())], args.out, args.preset, args)
    if rc == 0:
        print(f"open {Path(args.out).resolve()} to see the cut-outs", file=sys.stderr)
    return rc


# ---- bench ------------------------------------------------------------------------------
@command
def _add_bench(sub) -> None:
    p = sub.add_parser(
        "bench",
        help="time the whole pipeline on a 2304x1296 frame to its files (page and artifact ready p50/p95, per stage, throughput, peak RSS)",
    )
    p.add_argument(
        "--threads", type=int, default=1, help="CPU cores to pin to; also OpenCV and LiteRT threads (default 1)"
    )
    p.add_argument("--frames", type=int, default=50, help="timed frames (default 50)")
    p.add_argument("--warmup", type=int, default=3, help="untimed frames first (default 3)")
    p.add_argument(
        "--preset",
        default="marketplace-white",
        help="compose preset, or 'all' for every preset in turn (default marketplace-white: 2000x2000 JPEG on white + mask)",
    )
    p.add_argument(
        "--source",
        choices=("camera", "file"),
        default="camera",
        help="camera: a fresh copy of the frame each time; file: decode it from a JPEG file each time (default camera)",
    )
    p.add_argument(
        "--plate",
        action="store_true",
        help="also time booth plate mode (after the generic run) and print the plate/generic p50 ratios",
    )
    p.add_argument(
        "--budget-ms",
        type=float,
        metavar="MS",
        help="exit 1 (after the report) when any preset's artifact ready p95 is over MS; judge it on a quiet machine",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _add_config_arg(p)
    p.set_defaults(func=_cmd_bench)


def _cmd_bench(args: argparse.Namespace) -> int:
    from device.devtools.bench import (
        apply_budget,
        format_compare,
        format_presets,
        format_table,
        run_bench,
        run_plate_compare,
        run_presets,
    )

    if args.threads < 1 or args.frames < 1 or args.warmup < 0:
        _err("bench: --threads and --frames must be >= 1, --warmup >= 0")
        return 2
    if args.budget_ms is not None and not args.budget_ms > 0:
        _err("bench: --budget-ms must be > 0")
        return 2
    cfg = _load_config(args)
    if cfg is None:
        return 2
    if args.plate and args.preset == "all":
        _err("bench: --plate times one preset; name it with --preset")
        return 2
    kw: dict[str, Any] = {"threads": args.threads, "frames": args.frames, "warmup": args.warmup, "source": args.source}
    run: Callable[..., dict]
    fmt: Callable[[dict], str]
    if args.preset == "all":
        run, fmt = run_presets, format_presets
    else:
        run, fmt = (run_plate_compare, format_compare) if args.plate else (run_bench, format_table)
        kw["preset"] = args.preset
    try:
        report = run(cfg, **kw)
    except (ValueError, RuntimeError) as exc:
        _err(f"bench: {' '.join(str(exc).split())}")
        return 1
    over = apply_budget(report, args.budget_ms) if args.budget_ms is not None else []
    print(json.dumps(report, indent=2) if args.json else fmt(report))
    for line in over:
        _err(f"bench: {line}")
    return 1 if over else 0


# ---- config check -----------------------------------------------------------------------
@command
def _add_config(sub) -> None:
    p = sub.add_parser("config", help="configuration tools")
    csub = p.add_subparsers(dest="config_cmd", required=True, metavar="{check}")
    c = csub.add_parser(
        "check",
        help="validate a cutbox.toml and every file and device it names: OK, or one line per problem with the fix",
    )
    c.add_argument("file", metavar="FILE", nargs="?", help="the file to check (or give it with --config)")
    c.add_argument(
        "--config", metavar="FILE", dest="config_file", help="the file to check, as the other commands take it"
    )
    c.add_argument("--env", action="store_true", help="also apply CUTBOX__SECTION__KEY environment overrides")
    c.add_argument(
        "--root", metavar="DIR", help="look up the absolute paths it names under DIR (an image being prepared)"
    )
    c.set_defaults(func=_cmd_config_check)


def _cmd_config_check(args: argparse.Namespace) -> int:
    from device.config import ConfigError, load_config

    if args.file and args.config_file and args.file != args.config_file:
        _err(f"config check: two files given ({args.file} and --config {args.config_file}): give one")
        return 2
    file = args.file or args.config_file
    if file is None:
        _err("config check: name the file: cutbox config check --config /etc/cutbox/cutbox.toml")
        return 2
    try:
        cfg = load_config(file, env=None if args.env else {})
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem)
        return 1
    from device.workflows.config_check import check_resources

    found = check_resources(cfg, Path(args.root) if args.root else None)
    for problem in found.problems:
        print(problem)
    for warning in found.warnings:
        print(f"warning: {warning}")
    if found.problems:
        return 1
    print("OK")
    return 0


# ---- serve ------------------------------------------------------------------------------
@command
def _add_serve(sub) -> None:
    p = sub.add_parser("serve", help="run the box: operator page, REST API, MQTT publisher and commands")
    p.add_argument("--host", help="listen address (default: api.host)")
    p.add_argument("--port", type=int, help="TCP port (default: api.port)")
    p.add_argument("--source", metavar="PATH", help="files/hotfolder source path (default: source.path)")
    _add_config_arg(p)
    p.set_defaults(func=_cmd_serve)


def _cmd_serve(args: argparse.Namespace) -> int:
    import contextlib

    import uvicorn

    from device.api import create_app
    from device.box.overrides import SettingsOverrides
    from device.box.systemd_notify import notifier
    from device.config import DEFAULT_CONFIG, ConfigError, config_file
    from device.service import CutboxService

    cfg = _load_config(args)
    if cfg is None:
        return 2
    if args.source:
        cfg = cfg.model_copy(update={"source": cfg.source.model_copy(update={"path": Path(args.source)})})
    if args.port is not None and not 1 <= args.port <= 65535:
        _err("serve: --port must be 1..65535")
        return 2
    overrides = SettingsOverrides(config_file(getattr(args, "config", None)) or DEFAULT_CONFIG, cfg)
    _say_data_dir(cfg, args)
    cfg = overrides.apply()  # what the page changed before the last restart
    service = CutboxService(cfg)
    service.settings.overrides = overrides
    service.start()
    try:
        app = create_app(service, cfg)
    except ConfigError as exc:
        for problem in exc.problems:
            _err(f"config: {problem}")
        service.stop()
        return 2
    notify = notifier()

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        # The service feeds the watchdog only while its work loop beats (captures, idle checks).
        service.start_watchdog(notify)
        notify.ready()
        notify.status(f"serving on {args.host or cfg.api.host}:{args.port or cfg.api.port}")
        try:
            yield
        finally:
            notify.stopping()

    app.router.lifespan_context = lifespan
    host, port = args.host or cfg.api.host, args.port or cfg.api.port
    scheme = "https" if cfg.api.tls_cert else "http"
    print(f"cutbox: serving {scheme}://{host}:{port}/ (station {cfg.station.id})", file=sys.stderr)
    try:
        tls: dict[str, Any] = (
            {"ssl_certfile": str(cfg.api.tls_cert), "ssl_keyfile": str(cfg.api.tls_key)} if cfg.api.tls_cert else {}
        )
        uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=2, **tls)
    finally:
        service.stop()
    return 0


# ---- spin -------------------------------------------------------------------------------
@command
def _add_spin(sub) -> None:
    p = sub.add_parser("spin", help="shoot a turntable spin set: every view cut out with one crop box")
    p.add_argument("--steps", type=int, help="views per turn, 360/steps degrees apart (default: turntable.steps)")
    p.add_argument("--sku", help="product SKU: names the files, goes into the metadata")
    p.add_argument("--read-sku", action="store_true", help="read the SKU from a barcode/QR code in the first view")
    p.add_argument("--source", metavar="PATH", help="files/hotfolder source path (default: source.path)")
    p.add_argument("--preset", metavar="NAME", help="compose preset (default: compose.preset)")
    p.add_argument(
        "-o",
        "--out",
        metavar="DIR",
        default="cutbox-out",
        help="output folder; files go to DIR/<sku>/<spin id>/ (default: cutbox-out)",
    )
    _add_config_arg(p)
    p.set_defaults(func=_cmd_spin)


def _cmd_spin(args: argparse.Namespace) -> int:
    from device.limits import MAX_SPIN_STEPS
    from device.sources import SourceError, open_source
    from device.turntable import TurntableError, open_turntable
    from device.workflows.batch import write_capture
    from device.workflows.sku import SkuError, clean_sku, file_stem, group_dir
    from device.workflows.spin import shoot_spin

    cfg = _load_config(args)
    if cfg is None:
        return 2
    steps = args.steps if args.steps is not None else cfg.turntable.steps
    if not 1 <= steps <= MAX_SPIN_STEPS:
        _err(f"spin: --steps must be 1..{MAX_SPIN_STEPS} (got {steps})")
        return 2
    try:
        sku = clean_sku(args.sku) if args.sku else None
    except SkuError as exc:
        _err(f"spin: {exc}")
        return 2
    if args.source:
        cfg = cfg.model_copy(update={"source": cfg.source.model_copy(update={"path": Path(args.source)})})
    pipeline = _open_pipeline(cfg)
    if pipeline is None:
        return 1
    source = table = None
    try:
        try:
            pipeline.preset_config(args.preset)
            source = open_source(cfg.source, data_dir=cfg.station.data_dir)  # tethered shots go there
            table = open_turntable(cfg.turntable)
            captures = shoot_spin(
                source,
                pipeline,
                table,
                steps,
                sku,
                preset=args.preset,
                read_sku=args.read_sku,
                on_step=lambda i, n, a: print(f"view {i + 1}/{n} at {a:.1f} deg", file=sys.stderr),
            )
        except (ValueError, SourceError, TurntableError, SkuError) as exc:
            _err(f"spin: {exc}")
            return 1
        spin_id = captures[0].meta["spin_id"]
        folder = group_dir(Path(args.out), captures[0].sku) / spin_id
        for cap in captures:
            write_capture(cap.complete(), folder, file_stem(cap.sku, cap.id, cap.meta["angle"]))
        print(
            json.dumps(
                {
                    "spin_id": spin_id,
                    "sku": captures[0].sku,
                    "views": len(captures),
                    "box": captures[0].meta["spin_box"],
                    "folder": str(folder),
                }
            )
        )
        return 0
    finally:
        for closable in (table, source):
            if closable is not None:
                closable.close()
        pipeline.close()


# ---- calibrate ---------------------------------------------------------------------------
@command
def _add_calibrate(sub) -> None:
    p = sub.add_parser(
        "calibrate", help="photograph the empty booth into a clean plate (or --check that the stored one still fits)"
    )
    p.add_argument(
        "--frames", type=int, default=None, help="frames averaged into the plate (default booth.plate_frames)"
    )
    p.add_argument(
        "--average",
        choices=("median", "mean"),
        default=None,
        help="how frames are averaged (default booth.plate_average)",
    )
    p.add_argument(
        "--check", action="store_true", help="do not calibrate: grab one frame and say whether the stored plate fits it"
    )
    p.add_argument("paths", nargs="*", help="files source: image files of the empty booth instead of source.path")
    _add_config_arg(p)
    p.set_defaults(func=_cmd_calibrate)


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from device.booth.plate import Plate, PlateError, check_plate_cfg, plate_dir, plate_summary
    from device.sources import open_source
    from device.sources.base import SourceError
    from device.workflows.calibrate import calibrate

    cfg = _load_config(args)
    if cfg is None:
        return 2
    n = args.frames or cfg.booth.plate_frames
    if n < 1:
        _err("calibrate: --frames must be >= 1")
        return 2
    try:
        source = open_source(cfg.source, args.paths or None, data_dir=cfg.station.data_dir)
    except SourceError as exc:
        _err(f"calibrate: {exc}")
        return 2
    _say_data_dir(cfg, args)
    try:
        if args.check:
            plate = Plate.load(plate_dir(cfg.station.data_dir))
            fit = check_plate_cfg(plate, source.grab(), cfg.booth)
            print(json.dumps({"fits": fit.ok, "reason": fit.reason, "measures": fit.measures}, indent=1))
            return 0 if fit.ok else 1
        plate = calibrate(source, n, cfg.station.data_dir, args.average or cfg.booth.plate_average)
    except (PlateError, SourceError) as exc:
        _err(f"calibrate: {exc}")
        return 1
    finally:
        source.close()
    print(json.dumps(plate_summary(plate), indent=1))
    return 0


# ---- catalog ----------------------------------------------------------------------------
@command
def _add_catalog(sub) -> None:
    p = sub.add_parser("catalog", help="run the catalog receiver: MQTT captures -> checked files + SQLite index")
    p.add_argument(
        "--stats",
        action="store_true",
        help="print the index counts, when it last stored and the newest quarantined messages as JSON, and exit",
    )
    p.add_argument(
        "--max-age",
        type=float,
        metavar="SECONDS",
        help="with --stats: exit 1 when nothing was stored for this long (a health check)",
    )
    _add_config_arg(p)
    p.set_defaults(func=_cmd_catalog)


def _cmd_catalog(args: argparse.Namespace) -> int:
    from device.catalog.receiver import run_command

    return run_command(args)


# ---- status ------------------------------------------------------------------------------
@command
def _add_status(sub) -> None:
    p = sub.add_parser(
        "status", help="the box's disk use, captures today and outbox (depth, oldest unreceipted) read from disk"
    )
    _add_config_arg(p)
    p.set_defaults(func=_cmd_status)


def _cmd_status(args: argparse.Namespace) -> int:
    from device.box.retention import local_status

    cfg = _load_config(args)
    if cfg is None:
        return 2
    _say_data_dir(cfg, args)
    print(json.dumps(local_status(cfg), indent=1))
    return 0


# ---- contact-sheet ----------------------------------------------------------------------
@command
def _add_contact_sheet(sub) -> None:
    p = sub.add_parser("contact-sheet", help="before/after PNG of the bundled samples in every preset")
    p.add_argument("photos", nargs="*", help="photos (default: the bundled samples in device/samples/)")
    p.add_argument("--out", default="contact-sheet.png", help="PNG to write (default contact-sheet.png)")
    p.add_argument("--preset", action="append", metavar="NAME", help="preset to show (repeatable; default: all)")
    p.add_argument("--alpha-dir", metavar="DIR", help="take masks from DIR/<stem>.png soft alphas instead of the model")
    _add_config_arg(p)
    p.set_defaults(func=_cmd_contact_sheet)


def _cmd_contact_sheet(args: argparse.Namespace) -> int:
    from device.config import ConfigError
    from device.devtools.contact_sheet import run

    try:
        return run(args)
    except (ConfigError, ValueError) as exc:
        _err(f"contact-sheet: {exc}")
        return 2


# ---- add further commands above this line, one block each ---------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cutbox", description="Capture box: product photo in, catalog-ready cut-out out."
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-v info, -vv debug)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in _REGISTRY:
        register(sub)
    return parser


def _base_level(args: argparse.Namespace) -> int:
    """serve runs under systemd: what it chose (model, backend, camera) belongs in the journal."""
    return logging.INFO if getattr(args, "command", None) == "serve" else logging.WARNING


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = _base_level(args) - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # cutbox uses no pydantic plugins: without this, building the config's models first scans
    # the entry points of every installed package for them (about 50 ms of each start)
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
