"""Dataset tools: ``python -m tfpix2pix.data COMMAND ...`` (see docs/datasets.md).

Each command is a module of this package with ``add_command(subparsers)``, which sets
``run(args, out, err)`` as the parser's default; this file dispatches, and holds
``validate``'s parser, whose flags come from the config tree (which data/ must not import).
"""

import argparse
import sys

from ..cli import OneLineParser, add_config_flags, parse_options, report_user_error
from ..config import DataConfig
from ..errors import UserError
from . import cityscapes, combine, download, split, to_tfrecord, validate

EPILOG = """examples:
  python -m tfpix2pix.data download facades
  python -m tfpix2pix.data validate datasets/facades
  python -m tfpix2pix.data combine --a my_data/A --b my_data/B --out datasets/my_pairs
  python -m tfpix2pix.data split my_pairs --out datasets/my_pairs --val 0.1 --test 0.1
  python -m tfpix2pix.data prepare-cityscapes --gtfine gtFine_trainvaltest.zip \\
      --leftimg leftImg8bit_trainvaltest.zip --out datasets/cityscapes
  python -m tfpix2pix.data to-tfrecord datasets/facades datasets/facades-tfrecord
  python -m tfpix2pix.data to-tfrecord datasets/maps gs://my-bucket/maps --shards 16
"""


def _run_validate(args, out, err):
    opts = parse_options(DataConfig, args)
    reading = {k: getattr(opts, k) for k in ("preprocess", "load_size", "crop_size",
                                             "input_nc", "output_nc", "direction")}
    reports = validate.survey(args.dir, opts.dataset_mode, decode=not args.quick, stream=err,
                     **reading)
    problems = [line for report in reports for line in report.problems]
    for report in reports:
        print(validate.describe(report), file=out)
    for line in problems:
        print(f"problem: {line}", file=out)
    pairs = sum(report.pairs for report in reports)
    if problems:
        print(f"{args.dir}: {len(problems)} problem{'s' * (len(problems) > 1)} in {pairs} "
              "pairs", file=out)
        return 1
    print(f"{args.dir}: {pairs} pairs, no problems", file=out)
    return 0


def _add_validate(commands):
    """``validate``: its flags are training's data options, from the config tree."""
    parser = commands.add_parser(
        "validate", help="check every image of a dataset folder and list all problems",
        description="Check a dataset folder as training would (readable images, [A | B] "
                    "geometry, channels, partners in A/ and B/), listing every problem; "
                    "print the pairs, sizes, channels and bit depth of each split. Exit "
                    "status 1 if a problem was found.")
    parser.add_argument("dir", metavar="DIR", help="dataset folder (train/, val/, test/; or "
                        "A/ and B/; or a to-tfrecord folder)")
    parser.add_argument("--quick", action="store_true",
                        help="read only the JPEG and PNG headers (a broken body is then "
                             "found by training's first decode)")
    add_config_flags(parser, ["dataset_mode", "direction", "preprocess", "load_size",
                              "crop_size", "input_nc", "output_nc"], tree=DataConfig)
    parser.set_defaults(run=_run_validate)
    return parser


def build_parser():
    parser = OneLineParser(prog="python -m tfpix2pix.data",
                           description="Dataset tools: download, prepare, combine, split, "
                                       "validate and convert pix2pix datasets.",
                           epilog=EPILOG,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True,
                                     parser_class=OneLineParser)
    for add in (download.add_command, cityscapes.add_command, combine.add_command,
                split.add_command, _add_validate, to_tfrecord.add_command):
        add(commands)
    return parser


def main(argv=None, out=None, err=None):
    """Run the command; return its exit status (0; 1 when validate finds problems; 2 for a
    user error)."""
    args = build_parser().parse_args(argv)
    out, err = out or sys.stdout, err or sys.stderr
    try:
        return args.run(args, out, err)
    except UserError as exc:
        return report_user_error(exc, err)


if __name__ == "__main__":
    sys.exit(main())
