"""Dataset tools: ``python -m tfpix2pix.data to-tfrecord DIR OUT [--shards N]``."""

import sys

from ..cli import OneLineParser, report_user_error
from ..errors import UserError
from .layouts import DEFAULT_PREPROCESS, PREPROCESS_MODES

EPILOG = """examples:
  python -m tfpix2pix.data to-tfrecord datasets/facades datasets/facades-tfrecord
  python -m tfpix2pix.train --config experiments/facades.yaml --data datasets/facades-tfrecord
  python -m tfpix2pix.data to-tfrecord datasets/maps gs://my-bucket/maps --shards 16
"""


def build_parser():
    parser = OneLineParser(prog="python -m tfpix2pix.data", description=__doc__.splitlines()[0],
                           epilog=EPILOG)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    convert = commands.add_parser(
        "to-tfrecord", help="write a dataset folder's pairs as sharded TFRecords",
        description="Write each split (train/, val/, test/) of DIR as sharded TFRecords in OUT, "
                    "with an index.json; --data OUT then trains on the same pairs in the same "
                    "order. DIR and OUT may be gs:// or s3:// URLs.")
    convert.add_argument("dir", metavar="DIR", help="dataset folder holding train/ (and val/, "
                         "test/) with [A | B] .jpg or .png pairs")
    convert.add_argument("out", metavar="OUT", help="output folder (new, empty, or an earlier "
                         "to-tfrecord output, which is replaced)")
    convert.add_argument("--shards", type=int, default=0, metavar="N",
                         help="shards per split (default 0: about one per 256 MB)")
    convert.add_argument("--preprocess", default=DEFAULT_PREPROCESS, choices=PREPROCESS_MODES,
                         help="the --preprocess you will train with: only resize_and_crop (the "
                              "default) needs every pair twice as wide as high")
    return parser


def main(argv=None, out=None, err=None):
    """Run the command; return its exit status (0, or 2 for a user error)."""
    args = build_parser().parse_args(argv)
    out = out or sys.stdout
    try:
        from . import tfrecord
        tfrecord.write(args.dir, args.out, args.shards, log=lambda line: print(line, file=out),
                       preprocess=args.preprocess)
    except UserError as exc:
        return report_user_error(exc, err)
    return 0


if __name__ == "__main__":
    sys.exit(main())
