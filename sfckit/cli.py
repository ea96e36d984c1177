"""Command-line interface, generated from the steps (:mod:`sfckit.steps`).

Each step's verb gets its input/output paths, one option per settings field (name, type,
choices, default and help from the field) and the execution options (``--jobs``,
``--quiet``, ``--scheduler``). ``run`` and ``demo`` drive whole studies. No analysis logic
and no defaults live here. User errors print one line (``sfckit: error: ...``) and exit
with status 2.
"""

from __future__ import annotations

import argparse
import sys
import types
import typing
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from sfckit.errors import EXIT_USER_ERROR, UserError, closed_pipe_status, interrupted_status
from sfckit.version import __version__

INPUT, SETTING = "input__", "setting__"


def _literal_choices(annotation: Any) -> list[str] | None:
    """The choices of a ``Literal`` (or ``Literal | None``) annotation."""
    if typing.get_origin(annotation) is Literal:
        return [str(a) for a in typing.get_args(annotation)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return _literal_choices(members[0])
    return None


def _members(annotation: Any) -> list[Any]:
    """The types of an annotation (union members, ``Annotated`` unwrapped, None dropped)."""
    if typing.get_origin(annotation) is typing.Annotated:
        return _members(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [m for a in typing.get_args(annotation) if a is not type(None) for m in _members(a)]
    return [annotation]


def _fixed_length(annotation: Any) -> int:
    """``tuple[float, float]`` and the like: how many values follow the option (0: not one)."""
    for member in _members(annotation):
        arguments = typing.get_args(member)
        if typing.get_origin(member) is tuple and Ellipsis not in arguments:
            return len(arguments)
    return 0


def _is_names(annotation: Any) -> bool:
    """``tuple[str, ...]``: comma-separated names."""
    return any(
        typing.get_origin(a) is tuple and Ellipsis in typing.get_args(a)
        for a in _members(annotation)
    )


def _bounds(field: Any) -> str:
    symbols = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
    parts = [
        f"{symbol} {getattr(item, name)}"
        for item in field.metadata
        for name, symbol in symbols.items()
        if getattr(item, name, None) is not None
    ]
    return ", ".join(parts)


def setting_help(field: Any) -> str:
    """Help text of a settings field: description, bounds and default (the default as it is
    typed: ``0.01 0.08`` for an option that takes two values, ``a,b`` for a list; not
    repeated where the description already says what the default means)."""
    text = field.description or ""
    bounds = _bounds(field)
    if bounds:
        text += f" ({bounds})"
    if not field.is_required() and "default" not in text:
        default = field.get_default()
        if isinstance(default, tuple):
            separator = " " if _fixed_length(field.annotation) else ","
            default = separator.join(f"{v:g}" if isinstance(v, float) else str(v) for v in default)
        text += f" [default: {default if default not in (None, '') else 'none'}]"
    return text.replace("%", "%%")


def closest(word: str, candidates: Sequence[str]) -> str | None:
    """The candidate nearest to a mistyped ``word`` (None when none is near)."""
    import difflib

    found = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return found[0] if found else None


class OneLineParser(argparse.ArgumentParser):
    """argparse with sfckit's error shape: one line naming the problem and the fix, exit 2
    (argparse prints its whole usage instead). Unknown options and verbs are named first,
    with the nearest spelling, before any complaint about what is missing."""

    @property
    def verb(self) -> str | None:
        """The verb of a sub-command's parser (None for ``sfckit`` itself)."""
        return self.prog.partition(" ")[2] or None

    def _help_hint(self) -> str:
        return f"see '{self.prog} --help'"

    def error(self, message: str):  # noqa: D102 (argparse's hook)
        import re

        fix = f"{self._help_hint()} for the options"
        choice = re.match(r"argument (\S+): invalid choice: '(.*)' \(choose from (.*)\)$", message)
        if choice:
            option, given, allowed = choice.groups()
            names = re.findall(r"'([^']*)'", allowed)
            best = closest(given, names)
            message = f"invalid {option.split('/')[0]} '{given}'"
            fix = (f"did you mean '{best}'? " if best else "") + f"choose from {', '.join(names)}"
        if not self.verb and message.endswith("required: VERB"):
            message, fix = (
                "no verb given",
                "e.g. sfckit demo, or sfckit run study.yaml; see 'sfckit --help'",
            )
        where = f"{self.verb}: " if self.verb else ""
        raise UserError(f"{where}{message}", fix=fix)

    def parse_known_args(self, args=None, namespace=None):  # noqa: D102 (argparse's method)
        arguments = list(sys.argv[1:] if args is None else args)
        self._check_names(arguments)
        return super().parse_known_args(arguments, namespace)

    def parse_args(self, args=None, namespace=None):  # noqa: D102 (argparse's method)
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            verb = getattr(parsed, "verb", None)
            command = f"sfckit {verb}" if verb else self.prog
            raise UserError(
                f"{verb + ': ' if verb else ''}unexpected argument {extras[0]!r}",
                fix=f"options take the form --name VALUE; see '{command} --help'",
            )
        return parsed

    def _check_names(self, arguments: list[str]) -> None:
        """Name the first unknown option (or verb) and its nearest spelling."""
        verbs = next((a for a in self._actions if isinstance(a, argparse._SubParsersAction)), None)
        for argument in arguments:
            if argument == "--":
                return
            if argument.startswith("-") and len(argument) > 1:
                if self._negative_number_matcher.match(argument):
                    continue
                flag = argument.split("=", 1)[0]
                if flag not in self._option_string_actions:
                    self._unknown_option(flag)
            elif verbs is not None:  # the verb: what follows is its parser's to check
                if argument not in verbs.choices:
                    best = closest(argument, list(verbs.choices))
                    raise UserError(
                        f"unknown verb '{argument}'",
                        fix=f"did you mean 'sfckit {best}'? (all verbs: 'sfckit --help')"
                        if best
                        else "see 'sfckit --help' for the verbs",
                    )
                return

    def _unknown_option(self, flag: str) -> None:
        options = [o for o in self._option_string_actions if o.startswith("--")]
        best = closest(flag, options)
        where = f"{self.verb}: " if self.verb else ""
        raise UserError(
            f"{where}unknown option {flag}",
            fix=f"did you mean {best}? (all options: '{self.prog} --help')"
            if best
            else f"{self._help_hint()} for the options",
        )


def add_setting(parser: argparse.ArgumentParser, name: str, field: Any) -> None:
    """One command-line option for one settings field."""
    from sfckit.declarations.base import option_name

    flags = [option_name(name), *(field.json_schema_extra or {}).get("cli_aliases", [])]
    options: dict[str, Any] = {
        "dest": SETTING + name,
        "help": setting_help(field),
        "default": argparse.SUPPRESS,
    }
    annotation = field.annotation
    if annotation is bool:
        # a switch that is on by default is turned off with --no-<name>
        options["action"] = argparse.BooleanOptionalAction if field.default else "store_true"
    else:
        choices = _literal_choices(annotation)
        if choices:
            options["choices"] = choices
        elif _fixed_length(annotation) == 2:
            options["nargs"] = 2
            options["metavar"] = ("LOW", "HIGH")
        elif _fixed_length(annotation) == 3:
            options["nargs"] = 3
            options["metavar"] = ("X", "Y", "Z")
        elif _is_names(annotation):
            options["metavar"] = "X,Y,..."
        else:
            options["metavar"] = name.upper()
        if field.is_required():
            options["required"] = True
    parser.add_argument(*flags, **options)


# What the generated examples put for an input, an output or a required setting (examples
# only: the values a user passes are never defaulted here).
EXAMPLE_VALUES = {
    "manifest": "manifest.tsv",
    "participants": "bids/participants.tsv",
    "func_derivatives": "derivatives/fmriprep",
    "features": "results/features/harvard-oxford/sfc.tsv",
    "features_dir": "results/features/harvard-oxford",
    "stats": "results/stats/harvard-oxford results/stats/schaefer-100",
    "a": "results/stats/harvard-oxford",
    "b": "results/stats/schaefer-100",
    "model": "model.skops",
    "save": "model.skops",
    "results": "results",
    "positive": "TRD",
    "negative": "nTRD",
    "groups": "TRD,nTRD",
    "within": "TRD,nTRD",
    "controls": "HC",
    "scores": "hamd,bsi",
    "clinical": "age,hamd",
    "target": "remission",
}


def describe(text: str, width: int = 88) -> str:
    """A docstring's first paragraph as help text: without its ``sfckit VERB:`` lead,
    markup or line breaks, wrapped to ``width``."""
    import textwrap

    first = " ".join(text.split("\n\n")[0].replace("``", "").split())
    lead, colon, rest = first.partition(": ")
    if colon and lead.startswith("sfckit "):
        first = rest[:1].upper() + rest[1:]
    return textwrap.fill(first, width)


EXAMPLE_OUTPUTS = {"manifest": "manifest.tsv", "score": "scores.tsv", "simulate": "cohort"}
EXAMPLE_OPTIONAL = ("features", "func_derivatives")  # optional, but one of a few is needed


def step_example(step: Any) -> str:
    """A command line that runs ``step``: its required inputs, output and settings."""
    words = ["sfckit", step.name]
    for option in step.inputs:
        if option.required or option.name in EXAMPLE_OPTIONAL:
            words += [option.flag, EXAMPLE_VALUES.get(option.name, option.name.upper())]
    if step.output.required:
        output = EXAMPLE_OUTPUTS.get(step.name, f"results/{step.name}")
        words += [step.output.flag, EXAMPLE_VALUES.get(step.output.name, output)]
    for name, field in step.settings.model_fields.items():
        if field.is_required():
            from sfckit.declarations.base import option_name

            words += [option_name(name), EXAMPLE_VALUES.get(name, name.upper())]
    return " ".join(words)


def add_step_parser(verbs: Any, step: Any) -> None:
    """The sub-command of one step."""
    sub = verbs.add_parser(
        step.name,
        help=step.help,
        allow_abbrev=False,
        description=describe(step.settings.__doc__ or step.help),
        epilog=f"example:\n  {step_example(step)}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for option in (*step.inputs, step.output):
        dest = "output" if option is step.output else INPUT + option.name
        sub.add_argument(
            option.flag,
            dest=dest,
            required=option.required,
            nargs="+" if option.many else None,
            action="extend" if option.many else None,  # --model A --model B, or --model A B
            metavar=option.name.upper(),
            help=option.help,
        )
    for name, field in step.settings.model_fields.items():
        add_setting(sub, name, field)
    if step.parallel:
        sub.add_argument("--jobs", type=int, default=1, help="worker processes (-1: all cores)")
    if step.scheduler:
        sub.add_argument(
            "--scheduler",
            help="Dask: local-cluster, tcp://host:port, or a cluster file (.yaml; docs/guide)",
        )
    sub.add_argument("--quiet", action="store_true", help="no progress bar")
    sub.set_defaults(step=step)


def build_parser() -> argparse.ArgumentParser:
    """The ``sfckit`` argument parser."""
    from sfckit.steps.registry import all_steps

    parser = OneLineParser(
        prog="sfckit",
        description="Regional structure-function coupling (GMV-ALFF) studies.",
        allow_abbrev=False,
    )
    parser.add_argument("--version", action="version", version=f"sfckit {__version__}")
    verbs = parser.add_subparsers(
        dest="verb", required=True, metavar="VERB", parser_class=OneLineParser
    )
    for step in all_steps().values():
        if step.verb:
            add_step_parser(verbs, step)

    run = verbs.add_parser(
        "run",
        help="run a whole study from a study file (YAML)",
        allow_abbrev=False,
        description=describe(
            "Run a whole study from a study file (YAML): its manifest, atlases and the "
            "settings of each step; the steps run in order into one results folder, finished "
            "steps are reused by a rerun, and the report comes last. 'sfckit run --keys' "
            "prints every key a study file can hold."
        ),
        epilog="examples:\n  sfckit run study.yaml --jobs 2\n  sfckit run --keys",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument(
        "study", type=Path, nargs="?", help="the study file (its keys: sfckit run --keys)"
    )
    run.add_argument("--out", type=Path, help="output folder (default: the study's 'output')")
    run.add_argument(
        "--jobs", type=int, help="worker processes (default: the study's 'jobs'; -1: all cores)"
    )
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument(
        "--print-schema", action="store_true", help="print the study file's JSON Schema and exit"
    )
    run.add_argument(
        "--keys",
        action="store_true",
        help="print the study file's reference (every section and key: type, default, "
        "meaning) and exit",
    )
    run.set_defaults(handler=_run)

    demo = verbs.add_parser(
        "demo",
        help="simulate the built-in cohort and run every step",
        allow_abbrev=False,
        description=describe(
            "Simulate the built-in cohort (310 participants with planted effects) and run "
            "every step on it, ending with the report: what sfckit does, on data whose truth "
            "is known."
        ),
        epilog="example:\n  sfckit demo --out sfckit-demo --jobs 2",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument(
        "--out",
        type=Path,
        default=Path("sfckit-demo"),
        help="the demo folder (cohort, results, report) [default: sfckit-demo]",
    )
    demo.add_argument("--seed", type=int, help="simulation seed (default: the simulator's)")
    demo.add_argument("--jobs", type=int, default=1, help="worker processes (-1: all cores)")
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    demo.set_defaults(handler=_demo)
    _add_bids_parser(verbs)
    return parser


def _add_bids_parser(verbs: Any) -> None:
    """``sfckit bids``: the BIDS-App call over the manifest, extract and stats steps (their
    settings as options; one --fd-threshold for both)."""
    from sfckit.bids import GROUP_SETTINGS, SHARED_SETTINGS
    from sfckit.declarations.settings import ExtractSettings, ManifestSettings, StatsSettings

    bids = verbs.add_parser(
        "bids",
        help="BIDS-App call: sfckit bids FMRIPREP_DIR OUTPUT_DIR participant|group",
        allow_abbrev=False,
        description=describe(
            "Participant level: manifest + extract of the selected participants, one "
            "features file per participant (BIDS derivative names). Group level: the group "
            "tables and group statistics."
        ),
        epilog="examples:\n  sfckit bids derivatives/fmriprep derivatives/sfckit participant "
        "--participant-label 01 02\n  sfckit bids derivatives/fmriprep derivatives/sfckit group",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    bids.add_argument("fmriprep_dir", type=Path, help="fMRIPrep derivatives folder")
    bids.add_argument("output_dir", type=Path, help="sfckit's derivatives folder")
    bids.add_argument("analysis_level", help="participant or group")
    bids.add_argument(
        "--participant-label", nargs="+", metavar="LABEL", help="labels (with or without sub-)"
    )
    bids.add_argument(
        "--anat-derivatives",
        type=Path,
        help="CAT12 or SPM folder (default: fMRIPrep's GM probseg via --gm)",
    )
    bids.add_argument(
        "--participants",
        type=Path,
        help="participants.tsv with participant_id and group (default: FMRIPREP_DIR's)",
    )
    bids.add_argument(
        "--atlas",
        default="harvard-oxford",
        help="built-in name, label image, FSL atlas XML or TemplateFlow folder "
        "[default: harvard-oxford]",
    )
    bids.add_argument(
        "--atlas-labels",
        type=Path,
        help="the label image's table: TSV (index, name), FreeSurfer LUT, Schaefer order/.lut",
    )
    bids.add_argument(
        "--work-dir",
        type=Path,
        help="participant level: cached work (default: OUTPUT_DIR/.sfckit/work)",
    )
    bids.add_argument(
        "--study",
        type=Path,
        help="group level: take the stats options from this study file's stats section",
    )
    for name, field in ManifestSettings.model_fields.items():
        if name not in SHARED_SETTINGS:
            add_setting(bids, name, field)
    for name, field in ExtractSettings.model_fields.items():
        add_setting(bids, name, field)
    for name in GROUP_SETTINGS:  # the group level's stats options
        add_setting(bids, name, StatsSettings.model_fields[name])
    bids.add_argument("--jobs", type=int, default=1, help="worker processes (-1: all cores)")
    bids.add_argument("--quiet", action="store_true", help="no progress bar")
    bids.set_defaults(handler=_bids)


def _bids(args: argparse.Namespace) -> None:
    from sfckit.bids import (
        check_folders,
        check_level,
        group_settings,
        run_group_level,
        run_participant_level,
        split_settings,
    )

    check_level(args.analysis_level)
    check_folders(args.fmriprep_dir, args.output_dir, args.analysis_level)
    manifest_settings, extract_settings = split_settings(_setting_values(args))
    if args.analysis_level == "participant":
        written = run_participant_level(
            args.fmriprep_dir,
            args.output_dir,
            labels=args.participant_label,
            participants=args.participants,
            anat_dir=args.anat_derivatives,
            atlas=args.atlas,
            atlas_labels=args.atlas_labels,
            manifest_settings=manifest_settings,
            extract_settings=extract_settings,
            work_dir=args.work_dir,
            jobs=args.jobs,
            progress=not args.quiet,
            log=(lambda line: None) if args.quiet else _stderr,
        )
        print(f"participant level: {len(written)} participant(s) in {args.output_dir.resolve()}")
    else:
        folder = run_group_level(
            args.output_dir,
            atlas=args.atlas,
            atlas_labels=args.atlas_labels,
            participants=args.participants,
            fmriprep_dir=args.fmriprep_dir,
            stats_settings=group_settings(_setting_values(args), args.study),
        )
        print(f"group level: tables and statistics in {folder.resolve()}")


def _setting_values(args: argparse.Namespace) -> dict[str, Any]:
    """The settings given on the command line (options added by :func:`add_setting`)."""
    return {k[len(SETTING) :]: v for k, v in vars(args).items() if k.startswith(SETTING)}


def _run_step(args: argparse.Namespace) -> None:
    from sfckit.declarations.base import validate_settings
    from sfckit.io.outputs import check_writable
    from sfckit.steps.base import Execution, as_paths

    step = args.step
    settings = validate_settings(
        step.settings, _setting_values(args), command=f"sfckit {step.name}"
    )
    inputs = as_paths({k[len(INPUT) :]: v for k, v in vars(args).items() if k.startswith(INPUT)})
    execution = Execution(
        jobs=getattr(args, "jobs", 1),
        progress=not args.quiet,
        scheduler=getattr(args, "scheduler", None),
        log=(lambda line: None) if args.quiet else _stderr,
    )
    out = Path(args.output) if args.output is not None else None
    if out is not None:
        check_writable(out)  # a read-only or full place is refused before any work
    result = step.run(inputs, out, settings, execution)
    for line in step.summary(result, settings, out):
        print(line)


def _run(args: argparse.Namespace) -> None:
    from sfckit.study import print_schema, run_study

    if args.print_schema:
        print_schema()
        return
    if args.keys:
        from sfckit.docs import study_file_markdown

        sys.stdout.write(study_file_markdown())
        return
    if args.study is None:
        raise UserError(
            "no study file given", fix="sfckit run study.yaml (its keys: sfckit run --keys)"
        )
    if args.out is not None:
        from sfckit.io.outputs import check_writable

        check_writable(args.out)  # before the study file's checks read the manifest
    out = run_study(args.study, args.out, jobs=args.jobs, progress=not args.quiet)
    print(f"results are in {out.resolve()}")


def _demo(args: argparse.Namespace) -> None:
    from sfckit.declarations.settings import SimulationSettings
    from sfckit.demo import run_demo
    from sfckit.io.outputs import check_writable

    settings = SimulationSettings() if args.seed is None else SimulationSettings(seed=args.seed)
    check_writable(args.out)  # before the simulation
    report = run_demo(args.out, settings=settings, jobs=args.jobs, progress=not args.quiet)
    print(f"results are in {Path(args.out).resolve()}")
    print(f"report: {report.resolve()}")


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"sfckit: warning: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    from contextlib import nullcontext

    from sfckit.io.outputs import cli_command, recorded_command

    # called with its own arguments (from Python, a test): provenance names those, not the
    # process's command line
    command = nullcontext() if argv is None else recorded_command(cli_command(argv))
    try:
        with command:
            args = build_parser().parse_args(argv)
            warnings.showwarning = _show_warning
            if hasattr(args, "step"):
                _run_step(args)
            else:
                args.handler(args)
    except UserError as error:
        print(f"sfckit: error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except (KeyboardInterrupt, ImportError) as error:
        return interrupted_status(error)
    except BrokenPipeError:
        return closed_pipe_status()
    try:
        sys.stdout.flush()  # a closed pipe shows only here when the last lines were buffered
    except BrokenPipeError:
        return closed_pipe_status()
    return 0


if __name__ == "__main__":
    sys.exit(main())
