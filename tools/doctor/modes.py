"""The doctor's options beyond one local log: other sources, --suggest, --html, and comparing two runs.

Kept apart from tools/doctor/diagnosis.py (running the checks, the one-log report), which only hands over to `run`
here when one of these options is used.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from tools.console import BAD_INPUT, FINDINGS, OK, Progress
from tools.doctor.eventlog import EventLogError, open_log
from tools.doctor.sources import is_remote, list_applications, local_copy, render_applications

LIST_LIMIT = 20


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("new", nargs="?", metavar="NEW",
                        help="a second log: compare PATH (the old run) with NEW (duration, shuffle, spill, peaks, "
                             "findings gained and lost)")
    parser.add_argument("--suggest", metavar="APP",
                        help="print the settings to merge under sparkstack:applications.APP, sized from this run's "
                             "peaks and task times (YAML; JSON with --json)")
    parser.add_argument("--html", type=Path, metavar="FILE",
                        help="also write a self-contained HTML report (findings, stage timeline, task durations, "
                             "memory against its limit, spill) to FILE")
    parser.add_argument("--history-server", metavar="URL",
                        help="read the log from a running History Server's REST API (with --app ID); without --app, "
                             "list its recent applications and their status")
    parser.add_argument("--app", metavar="ID", help="with --history-server: the application id to diagnose")
    parser.add_argument("--limit", type=int, default=LIST_LIMIT,
                        help=f"with --history-server alone: how many applications to list (default {LIST_LIMIT})")


def handles(args: argparse.Namespace) -> bool:
    """Whether `run` here answers: any option of this module, or a path that is not local."""
    return bool(args.new or args.suggest or args.html or args.history_server or args.app or args.path is None
                or is_remote(args.path))


def _fail(message: str) -> int:
    print(f"doctor: {message}", file=sys.stderr)
    return BAD_INPUT


def _diagnose(path: str | None, server: str | None, app: str | None, progress: Progress) -> Any:
    from tools.doctor.diagnosis import diagnose, report  # diagnosis imports this module

    with local_copy(path, server, app) as local:
        log = open_log(local)
        analysis, findings = diagnose(log, progress)
    return log, analysis, findings, report(log, analysis, findings)


def run(args: argparse.Namespace) -> int:
    from tools.doctor import compare, report_html, suggest
    from tools.doctor.diagnosis import render

    if args.app and not args.history_server:
        return _fail("--app ID reads an application from a History Server; add --history-server URL")
    if args.history_server and args.path:
        return _fail("pass either a log PATH or --history-server URL --app ID, not both")
    if args.path is None and not args.history_server:
        return _fail("pass an event log PATH (a file, an eventlog_v2_* directory, a folder of logs, s3a:// or gs://) "
                     "or --history-server URL")
    if args.new and (args.suggest or args.html or args.history_server):
        return _fail("comparing two logs (PATH NEW) takes neither --suggest, --html nor --history-server")
    if args.suggest and not suggest.APP_NAME.fullmatch(args.suggest):
        return _fail(f"--suggest {args.suggest}: not an application name; use the key under "
                     "sparkstack:applications (lower-case letters, digits and '-')")
    progress = Progress()
    try:
        with progress.until_done():
            if args.history_server and not args.app:
                rows = list_applications(args.history_server, args.limit)
                print(json.dumps(rows, indent=2) if args.json else render_applications(args.history_server, rows))
                return OK
            source = args.path if args.path else f"{args.history_server} application {args.app}"
            log, analysis, findings, doc = _diagnose(args.path, args.history_server, args.app, progress)
            if args.new:
                _, new_analysis, _, new_doc = _diagnose(args.new, None, None, progress)
                result = compare.compare(doc, new_doc, compare.totals(analysis, doc["application"]["duration_s"]),
                                         compare.totals(new_analysis, new_doc["application"]["duration_s"]))
                print(json.dumps(result, indent=2) if args.json else compare.render(result))
                return FINDINGS if compare.worse(result) else OK
            if args.html:
                report_html.write(args.html, doc, analysis, str(source))
                print(f"doctor: wrote {args.html}", file=sys.stderr)
    except EventLogError as err:
        return _fail(str(err))
    except OSError as err:
        return _fail(f"{err.filename or args.path}: cannot be read or written ({err.strerror or err}); check the path "
                     "and its permissions")
    if args.suggest:
        crashed = any(f.check in ("executor_oom", "driver_oom") and f.severity == "critical" for f in findings)
        try:
            advice = suggest.suggest(analysis, args.suggest, oom=crashed)
        except suggest.CannotSuggestError as err:
            return _fail(f"{source}: cannot suggest settings: {err}")
        described = f"{doc['application']['name']} ({doc['application']['id']}), {source}"
        print(json.dumps(advice.to_json(), indent=2) if args.json else suggest.render_yaml(advice, described))
        return OK
    text = json.dumps(doc, indent=2) if args.json else render(log, analysis, findings, args.verbose)
    if not args.json and str(source) != args.path:  # a download: name where it came from, not the temporary copy
        text = text.replace(f"log: {log.path}", f"log: {source}, downloaded", 1)
    elif not args.json and is_remote(str(source)):
        text = text.replace(f"log: {log.path}", f"log: {source}, copied", 1)
    print(text)
    return FINDINGS if any(f.severity != "info" for f in findings) else OK
