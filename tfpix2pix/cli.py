"""The command line, generated from the config tree (``tfpix2pix.config``)."""

import argparse
import re
import sys
import textwrap

from . import config as C
from .errors import UserError

DEMO_NOTE = ("Without --data (and without a --config that names a dataset), it trains the "
             "built-in demo: the flags marked 'demo:' below then default to the demo's value "
             "instead of the paper's.")


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line and exit with status 2."""

    def error(self, message):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def plain(text):
    """reST's ``literal`` markup as plain text, for --help (``a ...``. ends in one ellipsis)."""
    return re.sub(r"``(.+?)``(\.?)", lambda m: m[1] + ("" if m[1].endswith("...") else m[2]),
                  text)


def _shown(value):
    return ", ".join(value) if isinstance(value, tuple) else str(value)


def _help(f, demo=None):
    """A field's help, with its default (unless it is empty or the help says it) and the
    demo preset's value where the demo changes it."""
    text, notes = plain(f.metadata["help"]), []
    if not (f.default is False or f.default in ("", ()) or "(default:" in text):
        notes.append(f"default: {_shown(f.default)}")
    if demo is not None:
        notes.append(f"demo: {_shown(demo)}")
    return f"{text} ({'; '.join(notes)})" if notes else text


def add_flag(container, key, f, typ, demo=None):
    """Add the flag of config field ``f`` (at dotted ``key``) to a parser or argument group.

    Its value lands at ``key`` in the parsed namespace, None when not given.
    """
    if f.metadata["positional"]:
        container.add_argument(key, metavar=key.upper(), help=_help(f))
        return
    names = [C.flag_name(key, f), *f.metadata["aliases"]]
    if typ is bool and f.default:
        container.add_argument(*names, dest=key, action=argparse.BooleanOptionalAction,
                               default=None, help=_help(f, demo))
    elif typ is bool:
        container.add_argument(*names, dest=key, action="store_const", const=True, default=None,
                               help=_help(f, demo))
    elif typ is tuple:
        container.add_argument(*names, dest=key, nargs="+", default=None, metavar="PATH",
                               help=_help(f, demo))
    else:
        choices = f.metadata.get("choices")
        metavar = "{" + ",".join(choices) + "}" if choices else typ.__name__.upper()
        if f.metadata.get("separator"):
            metavar += f"[{f.metadata['separator']}...]"
        extra = {}
        if f.metadata.get("const") is not None:
            extra = {"nargs": "?", "const": f.metadata["const"]}
        container.add_argument(*names, dest=key, type=typ, default=None, metavar=metavar,
                               help=_help(f, demo), **extra)


def add_config_flags(parser, keys, tree=C.Config):
    """Add the flags of the config ``keys`` (e.g. ``"model.norm"``) to ``parser``, with the
    tree's names, help and defaults; ``given(args)`` collects the ones set."""
    fields = {key: (f, typ) for key, f, typ in C.leaves(tree)}
    for key in keys:
        add_flag(parser, key, *fields[key])


def given(args, tree=C.Config):
    """The config flags set on the command line, nested as ``config.apply_overrides`` takes."""
    keys = {key for key, _f, _typ in C.leaves(tree)}
    out = {}
    for key, value in vars(args).items():
        if key in keys and value is not None:
            *parents, leaf = key.split(".")
            section = out
            for parent in parents:
                section = section.setdefault(parent, {})
            section[leaf] = value
    return out


def _flat(nested, prefix=""):
    out = {}
    for key, value in nested.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def build_parser(prog, description, epilog=None, tree=C.Config):
    """The parser for a command whose options are the dataclass ``tree``.

    For the training ``Config`` it also takes ``--config FILE``, groups the flags by topic
    and marks the defaults the demo preset changes. Options outside a section (``--name``,
    a command's own options) stand with ``--help``.
    """
    training = tree is C.Config
    if training:
        description = f"{description}\n\n{textwrap.fill(DEMO_NOTE, 78)}"
    parser = OneLineParser(prog=prog, description=plain(description), epilog=epilog,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    groups, demo = {}, {}
    if training:
        parser.add_argument("--config", metavar="YAML",
                            help="experiment file (e.g. experiments/facades.yaml; see "
                                 "experiments/README.md); flags override it")
        groups = {topic: parser.add_argument_group(topic) for topic in C.TOPICS}
        demo = _flat(C.DEMO_PRESET)
    for key, f, typ in C.leaves(tree):
        section = key.split(".")[0] if "." in key else None
        topic = f.metadata.get("group") or C.SECTION_TOPICS.get(section, section)
        if topic is not None and topic not in groups:
            groups[topic] = parser.add_argument_group(topic)
        add_flag(groups.get(topic, parser), key, f, typ, demo.get(key))
    return parser


def parse_options(tree, args):
    """The options of a command (a ``tree`` without sections) from parsed flags, checked."""
    return C.check_choices(C.apply_overrides(tree(), given(args, tree), "command line"))


def command_options(prog, doc, epilog, tree, argv=None):
    """The options of the command ``prog`` (a ``tree`` without sections; its description
    the first line of its module's ``doc``) parsed from ``argv`` and checked as
    ``parse_options`` checks them. A flag argparse cannot read exits with status 2."""
    parser = build_parser(prog, doc.splitlines()[0], epilog, tree=tree)
    return parse_options(tree, parser.parse_args(argv))


def resolve_config(args):
    """defaults -> demo preset (when no dataset is named) -> --config file -> flags."""
    flags = given(args)
    from_file = C.load_yaml(args.config) if args.config else {}
    given_path = (flags.get("data") or {}).get("path") or (from_file.get("data") or {}).get("path")
    cfg = C.Config()
    if not given_path:
        cfg = C.apply_overrides(cfg, C.DEMO_PRESET, "demo preset")
    cfg = C.apply_overrides(cfg, from_file, f"--config {args.config}")
    cfg = C.apply_overrides(cfg, flags, "command line")
    return C.validate(cfg)


def report_user_error(exc, err=None):
    print(f"error: {exc}", file=err or sys.stderr)
    return 2


__all__ = ["build_parser", "add_config_flags", "given", "parse_options", "command_options",
           "resolve_config", "report_user_error", "UserError"]
