"""The command line, generated from the config tree in ``config.py``."""

import argparse
import sys

from . import config as C
from .errors import UserError


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line and exit with status 2."""

    def error(self, message):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def build_parser(prog, description, epilog=None):
    parser = OneLineParser(prog=prog, description=description, epilog=epilog,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", metavar="YAML",
                        help="experiment file (e.g. experiments/facades.yaml); flags override it")
    groups = {}
    for key, f, typ in C.leaves():
        section = key.split(".")[0] if "." in key else "experiment"
        group = groups.get(section) or parser.add_argument_group(section)
        groups[section] = group
        names = [C.flag_name(key, f), *f.metadata["aliases"]]
        help_text = f"{f.metadata['help']} (default: {f.default!r})"
        if typ is bool and f.default:
            group.add_argument(*names, dest=key, action=argparse.BooleanOptionalAction,
                               default=None, help=f.metadata["help"] + " (default: on)")
        elif typ is bool:
            group.add_argument(*names, dest=key, action="store_const", const=True, default=None,
                               help=help_text)
        else:
            choices = f.metadata.get("choices")
            metavar = "{" + ",".join(choices) + "}" if choices else typ.__name__.upper()
            group.add_argument(*names, dest=key, type=typ, default=None, metavar=metavar,
                               help=help_text)
    return parser


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


def report_user_error(exc):
    print(f"error: {exc}", file=sys.stderr)
    return 2


__all__ = ["build_parser", "resolve_config", "report_user_error", "UserError"]
