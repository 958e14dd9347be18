"""The command line, generated from the config tree in ``config.py``."""

import argparse
import sys

from . import config as C
from .errors import UserError


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line and exit with status 2."""

    def error(self, message):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def build_parser(prog, description, epilog=None, tree=C.Config):
    """The parser for a command whose options are the dataclass ``tree``.

    For the training ``Config`` it also takes ``--config FILE``; flags are grouped by section.
    """
    parser = OneLineParser(prog=prog, description=description, epilog=epilog,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    if tree is C.Config:
        parser.add_argument("--config", metavar="YAML",
                            help="experiment file (e.g. experiments/facades.yaml); flags "
                                 "override it")
    groups = {}
    if tree is C.Config:  # topics in their reading order
        groups = {topic: parser.add_argument_group(topic) for topic in C.TOPICS}
    for key, f, typ in C.leaves(tree):
        section = key.split(".")[0] if "." in key else "options"
        topic = f.metadata.get("group") or C.SECTION_TOPICS.get(section, section)
        group = groups.get(topic) or parser.add_argument_group(topic)
        groups[topic] = group
        help_text = f"{f.metadata['help']} (default: {f.default!r})"
        if f.metadata["positional"]:
            group.add_argument(key, metavar=key.upper(), help=f.metadata["help"])
            continue
        names = [C.flag_name(key, f), *f.metadata["aliases"]]
        if typ is bool and f.default:
            group.add_argument(*names, dest=key, action=argparse.BooleanOptionalAction,
                               default=None, help=f.metadata["help"] + " (default: on)")
        elif typ is bool:
            group.add_argument(*names, dest=key, action="store_const", const=True, default=None,
                               help=help_text)
        elif typ is tuple:
            group.add_argument(*names, dest=key, nargs="+", default=None, metavar="PATH",
                               help=f.metadata["help"])
        else:
            choices = f.metadata.get("choices")
            metavar = "{" + ",".join(choices) + "}" if choices else typ.__name__.upper()
            extra = {}
            if f.metadata.get("const") is not None:
                extra = {"nargs": "?", "const": f.metadata["const"]}
            group.add_argument(*names, dest=key, type=typ, default=None, metavar=metavar,
                               help=help_text, **extra)
    return parser


def parse_options(tree, args):
    """The options of a command (a ``tree`` without sections) from parsed flags, checked."""
    flags = {k: v for k, v in vars(args).items() if v is not None}
    return C.check_choices(C.apply_overrides(tree(), flags, "command line"))


def _nest(flat):
    out = {}
    for key, value in flat.items():
        *parents, leaf = key.split(".")
        d = out
        for p in parents:
            d = d.setdefault(p, {})
        d[leaf] = value
    return out


def resolve_config(args):
    """defaults -> demo preset (when no dataset is named) -> --config file -> flags."""
    flags = {k: v for k, v in vars(args).items() if k != "config" and v is not None}
    from_file = C.load_yaml(args.config) if args.config else {}
    given_path = flags.get("data.path") or (from_file.get("data") or {}).get("path")
    cfg = C.Config()
    if not given_path:
        cfg = C.apply_overrides(cfg, C.DEMO_PRESET, "demo preset")
    cfg = C.apply_overrides(cfg, from_file, f"--config {args.config}")
    cfg = C.apply_overrides(cfg, _nest(flags), "command line")
    return C.validate(cfg)


def report_user_error(exc, err=None):
    print(f"error: {exc}", file=err or sys.stderr)
    return 2


__all__ = ["build_parser", "parse_options", "resolve_config", "report_user_error", "UserError"]
