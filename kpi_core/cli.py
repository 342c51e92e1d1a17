"""Command line: import monthly actuals from CSV exports, list and revert imports, seed the demo plan.

    kpi-workbench [--db PATH] [--lang ja|en] import --plan PLAN [--profile NAME] [--mapping FILE.json]
                  [--save-profile NAME] [--dry-run] [--strict] FILE...
    kpi-workbench [--db PATH] imports --plan PLAN
    kpi-workbench [--db PATH] revert IMPORT_ID
    kpi-workbench [--db PATH] seed
    kpi-workbench [--db PATH] [--lang ja|en] report --plan PLAN [--audience exec|field] [--month YYYY-MM]
                  [--format pdf|html|xlsx|yaml] [--no-actuals] -o FILE
    kpi-workbench [--db PATH] plan-import [--name NAME] FILE.yaml

The messages are the app's (translation catalogue; --lang, else LC_ALL / LC_MESSAGES / LANG). Exit status: 0 done
(or already imported, or a dry run), 1 an error in the input (nothing written), 2 a usage error, 3 the database
is locked by another process.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from kpi_core import ingest
from kpi_core.adapters.plan_file import PlanFileError
from kpi_core.adapters.store import DatabaseLocked, NotFound, Store, StoreError, open_store
from kpi_core.domain.model import Plan
from kpi_core.domain.report import AUDIENCES, FORMATS, ReportError
from kpi_core.domain.units import format_value, parse_month
from kpi_core.i18n import normalise_language, t
from kpi_core.services.plan_file import export_plan_file, import_plan_file

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_LOCKED = 0, 1, 2, 3


class CliError(Exception):
    """A user-facing failure with a catalogue key."""

    def __init__(self, key: str, **values: Any):
        super().__init__(key)
        self.key, self.values = key, values


# ---------------------------------------------------------------- language and arguments
def default_language(argv: Sequence[str], environ: dict[str, str] | None = None) -> str:
    """--lang from the arguments (needed before parsing, for the help texts), else the locale environment."""
    for i, arg in enumerate(argv):
        if arg == "--lang" and i + 1 < len(argv):
            return normalise_language(argv[i + 1])
        if arg.startswith("--lang="):
            return normalise_language(arg.split("=", 1)[1])
    env = os.environ if environ is None else environ
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(name, "")
        if value and value.split(".")[0] not in ("C", "POSIX"):
            return normalise_language(value)
    return normalise_language(None)


def _common(parser: argparse.ArgumentParser, lang: str, top: bool) -> None:
    """--db and --lang, accepted before or after the command (sub-commands must not reset them)."""
    default = None if top else argparse.SUPPRESS
    parser.add_argument("--db", default=default, metavar="PATH", help=t("cli.help.db", lang))
    parser.add_argument("--lang", default=default, choices=("ja", "en"), help=t("cli.help.lang", lang))


def build_parser(lang: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kpi-workbench", description=t("cli.help.description", lang))
    _common(parser, lang, top=True)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    imp = commands.add_parser("import", help=t("cli.help.import", lang), description=t("cli.help.import", lang))
    _common(imp, lang, top=False)
    imp.add_argument("--plan", required=True, help=t("cli.help.plan", lang))
    imp.add_argument("--profile", help=t("cli.help.profile", lang))
    imp.add_argument("--mapping", metavar="FILE.json", help=t("cli.help.mapping", lang))
    imp.add_argument("--save-profile", metavar="NAME", help=t("cli.help.save_profile", lang))
    imp.add_argument("--shape", choices=ingest.SHAPES, help=t("cli.help.shape", lang))
    imp.add_argument("--encoding", help=t("cli.help.encoding", lang))
    imp.add_argument("--delimiter", help=t("cli.help.delimiter", lang))
    imp.add_argument("--header-line", type=int, metavar="N", help=t("cli.help.header_line", lang))
    imp.add_argument("--max-mb", type=float, default=ingest.DEFAULT_MAX_BYTES / ingest.MB,
                     help=t("cli.help.max_mb", lang))
    imp.add_argument("--dry-run", action="store_true", help=t("cli.help.dry_run", lang))
    imp.add_argument("--strict", action="store_true", help=t("cli.help.strict", lang))
    imp.add_argument("files", nargs="+", metavar="FILE", help=t("cli.help.files", lang))

    listing = commands.add_parser("imports", help=t("cli.help.imports", lang))
    _common(listing, lang, top=False)
    listing.add_argument("--plan", required=True, help=t("cli.help.plan", lang))

    revert = commands.add_parser("revert", help=t("cli.help.revert", lang))
    _common(revert, lang, top=False)
    revert.add_argument("import_id", type=int, metavar="IMPORT_ID")

    seed = commands.add_parser("seed", help=t("cli.help.seed", lang))
    _common(seed, lang, top=False)
    add_report_commands(commands, lang)
    return parser


def add_report_commands(commands, lang: str) -> None:
    """`report` (a report, the workbook or the plan file to a file) and `plan-import` (a plan file as a new plan)."""
    report = commands.add_parser("report", help=t("cli.help.report", lang), description=t("cli.help.report", lang))
    _common(report, lang, top=False)
    report.add_argument("--plan", required=True, help=t("cli.help.plan", lang))
    report.add_argument("--audience", choices=AUDIENCES, default="exec", help=t("cli.help.audience", lang))
    report.add_argument("--month", metavar="YYYY-MM", help=t("cli.help.month", lang))
    report.add_argument("--format", choices=FORMATS, default="pdf", help=t("cli.help.format", lang))
    report.add_argument("--no-actuals", action="store_true", help=t("cli.help.no_actuals", lang))
    report.add_argument("-o", "--output", required=True, metavar="FILE", help=t("cli.help.output", lang))
    plan_import = commands.add_parser("plan-import", help=t("cli.help.plan_import", lang))
    _common(plan_import, lang, top=False)
    plan_import.add_argument("--name", help=t("cli.help.plan_name", lang))
    plan_import.add_argument("file", metavar="FILE.yaml")


# ---------------------------------------------------------------- helpers
def find_plan(store: Store, text: str) -> Plan:
    """A live plan by id or by name (exact, then ignoring case)."""
    text = text.strip()
    if text.isdigit():
        try:
            return store.get_plan(int(text))
        except NotFound:
            pass
    plans = store.list_plans()
    for same in (lambda p: p.name == text, lambda p: p.name.casefold() == text.casefold()):
        matches = [p for p in plans if same(p)]
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise CliError("cli.plan_ambiguous", plan=text, ids=", ".join(str(p.id) for p in matches))
    raise CliError("cli.plan_not_found", plan=text)


def template_aliases(plan: Plan) -> dict[str, list[str]]:
    """Column aliases from the template the plan was made from; none when there is no readable template."""
    if not plan.template:
        return {}
    try:
        from kpi_core.adapters.templates import aliases_for, find_template
    except ImportError:
        return {}
    template = find_template(plan.template)
    return aliases_for(template) if template else {}


def _mapping_file(path: str) -> dict:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CliError("cli.mapping_file_error", path=path, error=str(exc)) from None
    if not isinstance(data, dict):
        raise CliError("cli.mapping_file_error", path=path, error="not a JSON object")
    return data


def choose_mapping(store: Store, plan: Plan, parsed: ingest.ParsedFile, args: argparse.Namespace) -> tuple[dict, str]:
    """(mapping, where it came from): --mapping file, --profile, the saved profile of this header, or a
    suggestion from the aliases (summary layouts only: a record list needs its counts and filters said)."""
    if args.mapping:
        return _mapping_file(args.mapping), args.mapping
    if args.profile:
        profile = store.get_profile(args.profile)
        if profile is None:
            raise CliError("cli.profile_not_found", profile=args.profile)
        return profile["mapping"], profile["name"]
    profile = ingest.find_mapping(store, parsed, plan)
    if profile:
        return profile["mapping"], profile["name"]
    shape = args.shape or parsed.shape
    if shape != "records":
        aliases = ingest.plan_aliases(store, plan, template_aliases(plan))
        mapping = ingest.suggest_mapping(parsed, aliases, ingest.plan_keys(store, plan), shape)
        if mapping["metrics"]:
            return mapping, "suggested"
    raise CliError("cli.no_mapping", file=parsed.file_name)


def _units(store: Store, plan: Plan) -> dict[str, str]:
    kgi = store.get_kgi(plan.id)
    units = {kgi.key: kgi.unit} if kgi else {}
    units.update({k.key: k.unit for k in store.list_kpis(plan.id)})
    return units


class _Output:
    def __init__(self, lang: str, out: TextIO, err: TextIO):
        self.lang, self.out, self.err = lang, out, err

    def say(self, key: str, **values: Any) -> None:
        print(t(key, self.lang, **values), file=self.out)

    def text(self, text: str, indent: int = 0) -> None:
        print(" " * indent + text, file=self.out)

    def error(self, text: str) -> None:
        print(t("cli.error", self.lang, message=text), file=self.err)


# ---------------------------------------------------------------- commands
def _show_preview(o: _Output, parsed: ingest.ParsedFile, preview: ingest.ImportPreview, source: str,
                  units: dict[str, str]) -> None:
    o.say("cli.file", file=parsed.file_name)
    o.text(ingest.describe(parsed, o.lang), 2)
    o.say("cli.mapping_source", source=source)
    lang = o.lang
    for row in preview.values.itertuples():
        unit = units.get(row.metric, "")
        value = format_value(row.value, unit, lang, full_digits=True)
        before = "" if row.status == "new" else format_value(row.current, unit, lang, full_digits=True)
        status = t(f"cli.status.{row.status}", lang, before=before)
        o.text(f"{row.metric:<18} {row.month:%Y-%m}  {value:>18}  {status}", 2)
    for item in preview.messages:
        o.text(item.text(lang), 2)
    if preview.skipped:
        o.say("cli.skipped", count=len(preview.skipped))
        for s in preview.skipped:
            o.text(t("cli.line", lang, line=s.line, text=s.message(lang)), 4)
    if preview.rejections:
        o.say("cli.rejected", count=len(preview.rejections))
        for r in preview.rejections:
            line = t("cli.line", lang, line=r.line, text=r.message(lang)) if r.line else r.message(lang)
            o.text(line, 4)


def _prepare(store: Store, plan: Plan, path: str, args: argparse.Namespace, o: _Output, units: dict[str, str]):
    """Read, map and preview one file; nothing is written."""
    parsed = ingest.read_export(path, max_bytes=int(args.max_mb * ingest.MB), encoding=args.encoding,
                                delimiter=_delimiter(args.delimiter), header_line=args.header_line)
    mapping, source = choose_mapping(store, plan, parsed, args)
    if args.shape and args.shape != mapping.get("shape"):
        mapping = {**mapping, "shape": args.shape}
    preview = ingest.preview_import(store, plan, parsed, mapping, o.lang)
    _show_preview(o, parsed, preview, source, units)
    if args.strict and preview.rejections and preview.already_imported is None:
        raise CliError("cli.strict_failed", file=parsed.file_name, count=len(preview.rejections))
    return parsed, mapping, preview


def _delimiter(text: str | None) -> str | None:
    if text is None:
        return None
    return {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}.get(text.lower(), text)


def cmd_import(store: Store, args: argparse.Namespace, o: _Output) -> int:
    """All files are read and previewed first; only when every one is fine is anything written, all in one
    transaction."""
    plan = find_plan(store, args.plan)
    units = _units(store, plan)
    prepared = [_prepare(store, plan, path, args, o, units) for path in args.files]
    if args.dry_run:
        o.say("cli.dry_run")
        return EXIT_OK
    def write_all() -> list:
        """Every file in one transaction: all files are imported or none (a failure or a crash undoes them all)."""
        results = []
        for parsed, mapping, preview in prepared:
            if preview.already_imported is None and not preview.actuals:
                raise ingest.IngestError("ingest.nothing_to_import")
            results.append((parsed.file_name, ingest.commit_import(store, plan, parsed, mapping, preview)))
            if args.save_profile:
                ingest.save_mapping_profile(store, parsed, mapping, args.save_profile, plan)
        return results

    results = store.atomic(write_all)
    # Said only once everything is written: output that cannot be printed (a closed pipe) undoes nothing.
    for file_name, result in results:
        o.text(f"{file_name}: {result.message(o.lang)}")
        if args.save_profile:
            o.say("cli.profile_saved", name=args.save_profile)
    return EXIT_OK


def cmd_imports(store: Store, args: argparse.Namespace, o: _Output) -> int:
    plan = find_plan(store, args.plan)
    frame = store.list_imports(plan.id)
    if frame.empty:
        o.say("cli.no_imports", plan=plan.name)
        return EXIT_OK
    o.say("cli.imports_header", plan=plan.name)
    for row in frame.itertuples():
        o.text(t("cli.import_row", o.lang, id=row.id, created=f"{row.created_at:%Y-%m-%d %H:%M}",
                 file=row.file_name, encoding=ingest.encoding_label(row.encoding), rows=row.rows_total,
                 accepted=row.rows_accepted, rejected=row.rows_rejected,
                 status=t(f"cli.import_status.{row.status}", o.lang)), 2)
    return EXIT_OK


def cmd_revert(store: Store, args: argparse.Namespace, o: _Output) -> int:
    try:
        rows = store.revert_import(args.import_id)
    except NotFound:
        raise CliError("cli.import_not_found", import_id=args.import_id) from None
    o.say("cli.reverted", import_id=args.import_id, rows=rows)
    return EXIT_OK


def cmd_seed(store: Store, args: argparse.Namespace, o: _Output) -> int:
    try:
        from kpi_core.services.demo import seed_demo
    except ImportError:
        raise CliError("cli.seed_unavailable") from None
    plan = seed_demo(store, lang=o.lang)
    if plan is None:
        o.say("cli.seed_skipped")
    else:
        o.say("cli.seeded", plan_id=plan.id, name=plan.name)
    return EXIT_OK


def cmd_report(store: Store, args: argparse.Namespace, o: _Output) -> int:
    plan = find_plan(store, args.plan)
    month = None
    if args.month:
        try:
            month = parse_month(args.month)
        except ValueError:
            month = None
        if month is None:
            raise CliError("cli.bad_month", month=args.month[:20])
    if args.format == "yaml" and args.no_actuals:
        data = export_plan_file(store, plan, with_actuals=False).encode("utf-8")
    else:
        # Imported here: the PDF and chart libraries take seconds to load, which no other command should pay.
        from kpi_core.services.report import render_report
        data = render_report(store, plan, args.audience, month, args.format, o.lang)
    target = Path(args.output)
    if not target.parent.is_dir():
        raise CliError("cli.no_folder", path=str(target.parent))
    # Written beside the target and renamed: a scheduled run never leaves half a report behind.
    partial = target.with_name(f".{target.name}.partial")
    try:
        partial.write_bytes(data)
        partial.replace(target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise CliError("cli.cannot_write", path=str(target), error=exc.strerror or str(exc)) from None
    o.say("cli.report_written", path=str(target), size=f"{len(data):,}")
    return EXIT_OK


def cmd_plan_import(store: Store, args: argparse.Namespace, o: _Output) -> int:
    try:
        text = Path(args.file).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError("cli.cannot_read", path=args.file, error=getattr(exc, "strerror", None) or str(exc)) from None
    plan = import_plan_file(store, text, args.name)
    o.say("cli.plan_imported", plan_id=plan.id, name=plan.name)
    return EXIT_OK


COMMANDS = {"import": cmd_import, "imports": cmd_imports, "revert": cmd_revert, "seed": cmd_seed,
            "report": cmd_report, "plan-import": cmd_plan_import}


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    lang = default_language(argv)
    args = build_parser(lang).parse_args(argv)
    o = _Output(normalise_language(args.lang or lang), out or sys.stdout, err or sys.stderr)
    try:
        store = open_store(args.db)
    except DatabaseLocked as exc:
        o.error(t(exc.key, o.lang, **exc.values))
        return EXIT_LOCKED
    except StoreError as exc:
        o.error(t(exc.key, o.lang, **exc.values))
        return EXIT_ERROR
    try:
        return COMMANDS[args.command](store, args, o)
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly; what was written stays written.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR
    except ingest.IngestError as exc:
        o.error(exc.message(o.lang))
    except CliError as exc:
        o.error(t(exc.key, o.lang, **exc.values))
    except ReportError as exc:
        o.error(t(exc.key, o.lang, **exc.values))
    except PlanFileError as exc:
        o.error(exc.message(o.lang))
    except DatabaseLocked as exc:
        o.error(t(exc.key, o.lang, **exc.values))
        return EXIT_LOCKED
    except StoreError as exc:
        o.error(t(exc.key, o.lang, **exc.values))
    finally:
        store.close()
    return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
