"""Command line: import monthly actuals from CSV exports, list and revert imports, seed the demo plan.

    kpi-workbench [--db PATH] [--lang ja|en] import --plan PLAN [--profile NAME] [--mapping FILE.json]
                  [--save-profile NAME] [--dry-run] [--accept-rejected] [--replace | --keep-earlier] FILE...
    kpi-workbench [--db PATH] imports --plan PLAN
    kpi-workbench [--db PATH] revert IMPORT_ID
    kpi-workbench [--db PATH] seed
    kpi-workbench [--db PATH] plan create --template ID [--fiscal-start YYYY-MM] [--months N] [--name NAME]
    kpi-workbench [--db PATH] plan list
    kpi-workbench [--db PATH] kpi add --plan PLAN --key KEY --name NAME [--unit U] [--kind K] [--aggregation A] ...
    kpi-workbench [--db PATH] profiles list|show NAME|export NAME [--out FILE]
    kpi-workbench mapping --schema
    kpi-workbench [--db PATH] mapping --suggest FILE --plan PLAN [--out FILE.json] [--shape S] [--encoding E] ...
    kpi-workbench [--db PATH] [--lang ja|en] report --plan PLAN [--audience exec|field] [--month YYYY-MM]
                  [--format pdf|html|xlsx|yaml] [--no-actuals] -o FILE
    kpi-workbench [--db PATH] plan-import [--name NAME] FILE.yaml
    kpi-workbench [--db PATH] [--lang ja|en] check --plan PLAN [--format text|json]
    kpi-workbench db copy --from PATH|URL --to PATH|URL

The messages are the app's (translation catalogue; --lang, else LC_ALL / LC_MESSAGES / LANG). Exit status: 0 done
(or already imported), 1 an error in the input or rejected rows not accepted (nothing written), 2 a usage
error, 3 the database is locked by another process. A dry run exits as the real run would. `check` exits 0
when the plan has no high-severity finding and 1 otherwise.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any, TextIO

from kpi_core import ingest
from kpi_core.adapters.store import (
    DatabaseLocked,
    NotFound,
    Store,
    StoreError,
    default_db_path,
    may_create,
    open_store,
)
from kpi_core.adapters.templates import (
    find_template,
    load_templates,
    localized,
)
from kpi_core.domain.kpi_rules import parse_amount, validate_kpi
from kpi_core.domain.model import KPI, Aggregation, Direction, Kind, Plan
from kpi_core.domain.plan_rules import validate_plan_fields
from kpi_core.domain.report import AUDIENCES, FORMATS
from kpi_core.domain.units import format_value, moment_text, parse_month
from kpi_core.errors import WorkbenchError
from kpi_core.i18n import normalise_language, t
from kpi_core.services.actuals import mapping_aliases
from kpi_core.services.db_copy import copy_database
from kpi_core.services.plan_file import export_plan_file, import_plan_file
from kpi_core.services.plans import create_plan_from_template

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_LOCKED = 0, 1, 2, 3


class CliError(WorkbenchError):
    """A user-facing failure with a catalogue key."""


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
        if value:  # the C / POSIX locale (containers, CI) speaks English
            return "en" if value.split(".")[0] in ("C", "POSIX") else normalise_language(value)
    return normalise_language(None)


def _common(parser: argparse.ArgumentParser, lang: str, top: bool) -> None:
    """--db and --lang, accepted before or after the command (sub-commands must not reset them)."""
    default = None if top else argparse.SUPPRESS
    parser.add_argument("--db", default=default, metavar="PATH", help=t("cli.help.db", lang))
    parser.add_argument("--lang", default=default, choices=("ja", "en"), help=t("cli.help.lang", lang))


def _reading_options(parser: argparse.ArgumentParser, lang: str) -> None:
    """How to read an export (shape, encoding, delimiter, header line, decimal mark, size bound): see `_read`."""
    parser.add_argument("--shape", choices=ingest.SHAPES, help=t("cli.help.shape", lang))
    parser.add_argument("--encoding", help=t("cli.help.encoding", lang))
    parser.add_argument("--delimiter", help=t("cli.help.delimiter", lang))
    parser.add_argument("--header-line", type=int, metavar="N", help=t("cli.help.header_line", lang))
    parser.add_argument("--decimal", choices=("comma", "point"), help=t("cli.help.decimal", lang))
    parser.add_argument("--max-mb", type=float, default=ingest.DEFAULT_MAX_BYTES / ingest.MB,
                        help=t("cli.help.max_mb", lang))


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
    _reading_options(imp, lang)
    imp.add_argument("--dry-run", action="store_true", help=t("cli.help.dry_run", lang))
    imp.add_argument("--accept-rejected", action="store_true", help=t("cli.help.accept_rejected", lang))
    imp.add_argument("--strict", action="store_true", help=t("cli.help.strict", lang))
    earlier = imp.add_mutually_exclusive_group()
    earlier.add_argument("--replace", dest="replace", action="store_const", const=True,
                         help=t("cli.help.replace", lang))
    earlier.add_argument("--keep-earlier", dest="replace", action="store_const", const=False,
                         help=t("cli.help.keep_earlier", lang))
    imp.add_argument("files", nargs="+", metavar="FILE", help=t("cli.help.files", lang))

    listing = commands.add_parser("imports", help=t("cli.help.imports", lang))
    _common(listing, lang, top=False)
    listing.add_argument("--plan", required=True, help=t("cli.help.plan", lang))

    revert = commands.add_parser("revert", help=t("cli.help.revert", lang))
    _common(revert, lang, top=False)
    revert.add_argument("import_id", type=int, metavar="IMPORT_ID")

    _db_commands(commands, lang)

    seed = commands.add_parser("seed", help=t("cli.help.seed", lang))
    _common(seed, lang, top=False)
    _plan_parsers(commands, lang)
    _add_check_parser(commands, lang)
    add_report_commands(commands, lang)
    return parser


def _plan_parsers(commands, lang: str) -> None:
    """plan create|list, kpi add, profiles list|show|export, mapping --schema|--suggest."""
    plan = commands.add_parser("plan", help=t("cli.help.plan_command", lang))
    plan_actions = plan.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = plan_actions.add_parser("create", help=t("cli.help.plan_create", lang))
    _common(create, lang, top=False)
    create.add_argument("--template", required=True, help=t("cli.help.template", lang))
    create.add_argument("--fiscal-start", metavar="YYYY-MM", help=t("cli.help.fiscal_start", lang))
    create.add_argument("--months", type=int, default=12, help=t("cli.help.months", lang))
    create.add_argument("--name", help=t("cli.help.plan_name", lang))
    listing = plan_actions.add_parser("list", help=t("cli.help.plan_list", lang))
    _common(listing, lang, top=False)

    kpi = commands.add_parser("kpi", help=t("cli.help.kpi_command", lang))
    kpi_actions = kpi.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = kpi_actions.add_parser("add", help=t("cli.help.kpi_add", lang))
    _common(add, lang, top=False)
    add.add_argument("--plan", required=True, help=t("cli.help.plan", lang))
    add.add_argument("--key", required=True, help=t("cli.help.kpi_key", lang))
    add.add_argument("--name", required=True, help=t("cli.help.kpi_name", lang))
    add.add_argument("--unit", default="", help=t("cli.help.kpi_unit", lang))
    add.add_argument("--kind", choices=[k.value for k in Kind], default=Kind.LEADING.value)
    add.add_argument("--aggregation", choices=[a.value for a in Aggregation], default=Aggregation.SUM.value)
    add.add_argument("--direction", choices=[d.value for d in Direction], default=Direction.UP.value)
    add.add_argument("--annual-target", default="", help=t("cli.help.annual_target", lang))

    profiles = commands.add_parser("profiles", help=t("cli.help.profiles", lang))
    profile_actions = profiles.add_subparsers(dest="action", required=True, metavar="ACTION")
    for action in ("list", "show", "export"):
        sub = profile_actions.add_parser(action, help=t(f"cli.help.profiles_{action}", lang))
        _common(sub, lang, top=False)
        if action != "list":
            sub.add_argument("profile", metavar="NAME")
        if action == "export":
            sub.add_argument("--out", metavar="FILE.json", help=t("cli.help.out", lang))

    mapping = commands.add_parser("mapping", help=t("cli.help.mapping_command", lang))
    _common(mapping, lang, top=False)
    wanted = mapping.add_mutually_exclusive_group(required=True)
    wanted.add_argument("--schema", action="store_true", help=t("cli.help.schema", lang))
    wanted.add_argument("--suggest", metavar="FILE", help=t("cli.help.suggest", lang))
    mapping.add_argument("--plan", help=t("cli.help.suggest_plan", lang))
    mapping.add_argument("--out", metavar="FILE.json", help=t("cli.help.suggest_out", lang))
    _reading_options(mapping, lang)


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


def _add_check_parser(commands, lang: str) -> None:
    check = commands.add_parser("check", help=t("health.cli.help", lang), description=t("health.cli.help", lang))
    _common(check, lang, top=False)
    check.add_argument("--plan", required=True, help=t("cli.help.plan", lang))
    check.add_argument("--format", choices=("text", "json"), default="text", help=t("health.cli.help_format", lang))


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


def _mapping_file(path: str) -> dict:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise CliError("cli.mapping_file_error", path=path, error=str(exc)) from None
    return ingest.read_mapping_file(data, path)


def choose_mapping(store: Store, plan: Plan, parsed: ingest.ParsedFile, args: argparse.Namespace) -> tuple[dict, str]:
    """(mapping, where it came from): --mapping file, --profile, the saved profile of this header, or a
    suggestion from the aliases (summary layouts only: a record list needs its counts and filters said)."""
    if args.mapping:
        return _mapping_file(args.mapping), args.mapping
    if args.profile:
        profile = store.get_profile(args.profile)
        if profile is None:
            raise CliError("cli.profile_not_found", profile=args.profile)
        return profile.mapping, profile.name
    profile = ingest.find_mapping(store, parsed, plan)
    if profile:
        return profile.mapping, profile.name
    shape = args.shape or parsed.shape
    if shape != "records":
        mapping = ingest.suggest_mapping(parsed, mapping_aliases(store, plan), ingest.plan_keys(store, plan), shape)
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
    o.text(ingest.describe(parsed, o.lang, preview.mapping["shape"]), 2)
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


def _read(path: str, args: argparse.Namespace) -> ingest.ParsedFile:
    """An export read with the reading options given on the command line (the rest detected)."""
    return ingest.read_export(path, max_bytes=int(args.max_mb * ingest.MB), encoding=args.encoding,
                              delimiter=_delimiter(args.delimiter), header_line=args.header_line,
                              decimal=args.decimal)


def _prepare(store: Store, plan: Plan, path: str, args: argparse.Namespace, o: _Output, units: dict[str, str]):
    """Read, map and preview one file; nothing is written."""
    parsed = _read(path, args)
    mapping, source = choose_mapping(store, plan, parsed, args)
    if args.shape and args.shape != mapping.get("shape"):
        mapping = {**mapping, "shape": args.shape}
    preview = ingest.preview_import(store, plan, parsed, mapping, o.lang)
    _show_preview(o, parsed, preview, source, units)
    return parsed, mapping, preview


def _delimiter(text: str | None) -> str | None:
    if text is None:
        return None
    return {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}.get(text.lower(), text)


def cmd_import(store: Store, args: argparse.Namespace, o: _Output) -> int:
    """All files are read and previewed first; only when every one is fine is anything written, all in one
    transaction (a dry run stops there, with the exit code of the real run)."""
    plan = find_plan(store, args.plan)
    units = _units(store, plan)
    prepared = [_prepare(store, plan, path, args, o, units) for path in args.files]
    if args.dry_run:
        o.say("cli.dry_run")
    accept = args.accept_rejected and not args.strict
    for _, _, preview in prepared:
        blocker = ingest.commit_blocker(preview, accept, args.replace)
        if blocker:
            raise blocker
    if args.dry_run:
        return EXIT_OK

    def write_all() -> list:
        """Every file in one transaction: all files are imported or none (a failure or a crash undoes them all)."""
        results = []
        for parsed, mapping, preview in prepared:
            results.append((parsed.file_name, ingest.commit_import(
                store, plan, parsed, mapping, preview, accept_rejected=accept, replace=args.replace)))
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
    imports = store.list_imports(plan.id)
    if not imports:
        o.say("cli.no_imports", plan=plan.name)
        return EXIT_OK
    o.say("cli.imports_header", plan=plan.name)
    for row in imports:
        o.text(t("cli.import_row", o.lang, id=row.id, created=moment_text(row.created_at),
                 file=row.file_name, encoding=ingest.encoding_label(row.encoding), rows=row.rows_total,
                 accepted=row.rows_accepted, rejected=row.rows_rejected,
                 status=t(f"cli.import_status.{row.status}", o.lang)), 2)
    return EXIT_OK


def cmd_revert(store: Store, args: argparse.Namespace, o: _Output) -> int:
    try:
        result = ingest.revert_import(store, args.import_id)
    except NotFound:
        raise CliError("cli.import_not_found", import_id=args.import_id) from None
    o.text(result.message(o.lang))
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


# ---------------------------------------------------------------- db: init, check, backup
def _db_commands(commands, lang: str) -> None:
    db = commands.add_parser("db", help=t("store.cli.help_db", lang), description=t("store.cli.help_db", lang))
    actions = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    for name in ("init", "check", "backup"):
        action = actions.add_parser(name, help=t(f"store.cli.help_{name}", lang))
        _common(action, lang, top=False)
        if name == "backup":
            action.add_argument("--to", metavar="PATH", help=t("store.cli.help_to", lang))
    _db_copy_parser(actions, lang)


def cmd_db(store: Store | None, args: argparse.Namespace, o: _Output) -> int:
    """Opening the store already created (init), read in full and upgraded the file; say what there is."""
    if args.db_command == "copy":
        return cmd_db_copy(args, o)
    if args.db_command == "backup":
        o.say("store.cli.backup_done", path=store.backup(args.to))
        return EXIT_OK
    counts = store.check()
    if args.db_command == "init":
        o.say("store.cli.init_done" if store.created_schema else "store.cli.init_exists", path=store.location,
              version=store.schema_version())
    else:
        o.say("store.cli.check_ok", path=store.location, version=store.schema_version(), tables=len(counts),
              rows=sum(counts.values()))
    return EXIT_OK


# ---------------------------------------------------------------- db copy: a file to a server and back
def _db_copy_parser(actions, lang: str) -> None:
    copy = actions.add_parser("copy", help=t("dbcopy.help", lang), description=t("dbcopy.help", lang))
    copy.add_argument("--from", dest="source", required=True, metavar="PATH|URL", help=t("dbcopy.help_from", lang))
    copy.add_argument("--to", dest="target", required=True, metavar="PATH|URL", help=t("dbcopy.help_to", lang))
    copy.add_argument("--lang", default=argparse.SUPPRESS, choices=("ja", "en"), help=t("cli.help.lang", lang))


def cmd_db_copy(args: argparse.Namespace, o: _Output) -> int:
    """Open both databases (the source must exist; the target is created and initialised when missing) and copy."""
    opened: list[Store] = []
    try:
        opened.append(open_store(args.source, create=False))
        opened.append(open_store(args.target, create=True))
        copied = copy_database(*opened)
    except StoreError as exc:
        return _failed(o, exc)
    finally:
        for store in opened:
            store.close()
    o.say("dbcopy.done", rows=sum(copied.values()), tables=len(copied), source=args.source, target=args.target)
    for table, rows in copied.items():
        o.text(f"{table}: {rows}", indent=2)
    return EXIT_OK


# ---------------------------------------------------------------- plans, KPIs, profiles, the mapping format
def _refuse(messages: list) -> None:
    errors = [m for m in messages if m.level == "error"]
    if errors:
        raise CliError(errors[0].key, **errors[0].values)


def cmd_plan(store: Store, args: argparse.Namespace, o: _Output) -> int:
    if args.action == "list":
        plans = store.list_plans()
        if not plans:
            o.say("cli.no_plans")
        for p in plans:
            o.text(t("cli.plan_row", o.lang, id=p.id, name=p.name, start=f"{p.fiscal_start:%Y-%m}",
                     end=f"{p.end_month:%Y-%m}", status=t(f"enum.plan_status.{p.status.value}", o.lang),
                     template=p.template or "-"))
        return EXIT_OK
    template = find_template(args.template)
    if template is None:
        raise CliError("cli.template_not_found", template=args.template,
                       known=", ".join(t_.id for t_ in load_templates()[0]))
    start = _fiscal_start(args.fiscal_start)
    name = (args.name or "").strip() or localized(template.name, o.lang)
    _refuse(validate_plan_fields(name, months=args.months))
    plan = create_plan_from_template(store, template, o.lang, name=name, fiscal_start=start, months=args.months)
    o.say("cli.plan_created", id=plan.id, name=plan.name, start=f"{plan.fiscal_start:%Y-%m}",
          end=f"{plan.end_month:%Y-%m}", kpis=len(store.list_kpis(plan.id)))
    return EXIT_OK


def _fiscal_start(text: str | None) -> date | None:
    if not text:
        return None
    try:
        month = parse_month(text)
    except ValueError:
        month = None
    if month is None:
        raise CliError("cli.bad_month", month=text)
    return month


def cmd_kpi(store: Store, args: argparse.Namespace, o: _Output) -> int:
    plan = find_plan(store, args.plan)
    others = store.list_kpis(plan.id)
    kgi = store.get_kgi(plan.id)
    unit = args.unit.strip()
    # Typed as on Step 4's form: '25' or '25%' for a rate, 1億2千万 or ５０００ for an amount.
    annual_target, problems = parse_amount(args.annual_target, unit, args.name.strip())
    _refuse(problems)
    kpi = KPI(plan_id=plan.id, key=args.key.strip(), name=args.name.strip(), unit=unit,
              kind=Kind(args.kind), aggregation=Aggregation(args.aggregation), direction=Direction(args.direction),
              annual_target=annual_target, position=len(others))
    _refuse(validate_kpi(kpi, others, kgi.key if kgi else ""))
    saved = store.save_kpi(kpi, None)
    o.say("cli.kpi_added", kpi_key=saved.key, name=saved.name, plan=plan.name)
    return EXIT_OK


def cmd_profiles(store: Store, args: argparse.Namespace, o: _Output) -> int:
    if args.action == "list":
        profiles = store.list_profiles(None) + [p for plan in store.list_plans() for p in store.list_profiles(plan.id)
                                                if p.plan_id is not None]
        if not profiles:
            o.say("cli.no_profiles")
        for p in {p.id: p for p in profiles}.values():
            metrics = ", ".join(p.mapping.get("metrics", {}))
            o.text(t("cli.profile_row", o.lang, id=p.id, name=p.name, shape=p.mapping.get("shape", "?"),
                     metrics=metrics, updated=f"{p.updated_at:%Y-%m-%d}"))
        return EXIT_OK
    profile = store.get_profile(args.profile)
    if profile is None:
        raise CliError("cli.profile_not_found", profile=args.profile)
    data = ingest.mapping_file_bytes(profile.mapping)
    if args.action == "export" and args.out:
        Path(args.out).write_bytes(data)
        o.say("cli.profile_exported", name=profile.name, path=args.out)
    else:
        o.text(data.decode("utf-8").rstrip("\n"))
    return EXIT_OK


def cmd_mapping(store: Store | None, args: argparse.Namespace, o: _Output) -> int:
    if args.suggest:
        return _suggest_mapping(store, args, o)
    o.text(json.dumps(ingest.mapping_schema(), ensure_ascii=False, indent=2))
    return EXIT_OK


def _suggest_mapping(store: Store, args: argparse.Namespace, o: _Output) -> int:
    """The mapping the Actuals page would suggest for the file, written for review (to --out, else as the output,
    with the notes on the error stream so that the output stays a mapping file); nothing is imported."""
    plan = find_plan(store, args.plan)
    parsed = _read(args.suggest, args)
    try:
        suggested = ingest.suggest_mapping(parsed, mapping_aliases(store, plan), ingest.plan_keys(store, plan),
                                           args.shape)
        if not suggested["metrics"]:
            raise CliError("cli.nothing_suggested", file=parsed.file_name,
                           metrics=", ".join(ingest.plan_keys(store, plan)))
        similar = ingest.similar_names(suggested)
        data = ingest.mapping_file_bytes(ingest.validate_mapping(parsed, suggested))
        shape = suggested["shape"]
    finally:
        parsed.close()
    notes = o.out if args.out else o.err
    if args.out:
        Path(args.out).write_bytes(data)
    else:
        o.text(data.decode("utf-8").rstrip("\n"))
    print(ingest.describe(parsed, o.lang, shape), file=notes)
    print(t("cli.suggested", o.lang, file=parsed.file_name, metrics=", ".join(json.loads(data)["metrics"])),
          file=notes)
    if similar:
        print(t("ingest.msg.similar_names", o.lang, pairs=", ".join(f"{name} → {key}" for key, name in similar)),
              file=notes)
    print(t("cli.suggested_next", o.lang, plan=shlex.quote(args.plan), mapping=shlex.quote(args.out or "FILE.json"),
            file=shlex.quote(args.suggest)), file=notes)
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


def cmd_check(store: Store, args: argparse.Namespace, o: _Output) -> int:
    """The health check of a plan for a scheduled run: the month's snapshot is taken when due."""
    from kpi_core.services.health import health_summary, plan_health

    plan = find_plan(store, args.plan)
    report = plan_health(store, plan.id).report
    summary = health_summary(plan, report, o.lang)
    if args.format == "json":
        o.text(json.dumps(summary, ensure_ascii=False, indent=2))
    else:
        o.text(summary["headline"])
        if not summary["findings"]:
            o.say("health.cli.none")
        for finding in summary["findings"]:
            o.text(t("health.cli.line", o.lang, severity=t(f"health.severity.{finding['severity']}", o.lang),
                     pitfall=finding["pitfall"], evidence=finding["evidence_text"], fix=finding["fix_text"],
                     step=t(f"health.step.{finding['step']}", o.lang)), 2)
    return EXIT_ERROR if report.high else EXIT_OK


COMMANDS = {"import": cmd_import, "imports": cmd_imports, "revert": cmd_revert, "seed": cmd_seed,
            "plan": cmd_plan, "kpi": cmd_kpi, "profiles": cmd_profiles, "mapping": cmd_mapping,
            "report": cmd_report, "plan-import": cmd_plan_import, "check": cmd_check, "db": cmd_db}
NO_DATABASE = ("mapping",)


def _quiet_broken_pipe() -> int:
    """The reader went away (`| head`): stop quietly; what was written stays written."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return EXIT_ERROR


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    lang = default_language(argv)
    parser = build_parser(lang)
    args = parser.parse_args(argv)
    if args.command == "mapping" and args.suggest and not args.plan:
        parser.error(t("cli.suggest_needs_plan", lang))
    o = _Output(normalise_language(args.lang or lang), out or sys.stdout, err or sys.stderr)
    if (args.command in NO_DATABASE and not getattr(args, "suggest", None)) \
            or getattr(args, "db_command", None) == "copy":
        try:
            return COMMANDS[args.command](None, args, o)
        except BrokenPipeError:
            return _quiet_broken_pipe()
    path = args.db or default_db_path()
    creating = args.command == "db" and args.db_command == "init"
    try:
        store = open_store(path, create=creating or may_create(path))
    except StoreError as exc:
        return _failed(o, exc)
    try:
        return COMMANDS[args.command](store, args, o)
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except WorkbenchError as exc:  # the edge: any failure of the error base, said in the user's language
        return _failed(o, exc)
    finally:
        store.close()


def _failed(o: _Output, exc: WorkbenchError) -> int:
    """A command's failure told to its user; the exit code says "database in use" apart from other failures."""
    o.error(exc.message(o.lang))
    return EXIT_LOCKED if isinstance(exc, DatabaseLocked) else EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
