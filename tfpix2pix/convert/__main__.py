"""Convert a PyTorch pix2pix/CycleGAN generator: ``python -m tfpix2pix.convert --from-pytorch
FILE.pth --netG unet_256 --norm batch [--out RUN_DIR]``.

FILE.pth is a state dict of the PyTorch reference's UnetGenerator or ResnetGenerator
(junyanz/pytorch-CycleGAN-and-pix2pix), e.g. its released pix2pix and CycleGAN models.
The result is a run folder that predict, export and tfpix2pix.load() take as they are.
"""

import argparse
import sys

from ..cli import OneLineParser, report_user_error
from ..data.layouts import DIRECTIONS
from ..errors import UserError
from .layout import CONVERTIBLE, NORMS

EPILOG = """examples:
  python -m tfpix2pix.convert --from-pytorch facades_label2photo.pth --netG unet_256 \\
      --norm batch --direction BtoA
  python -m tfpix2pix.convert --from-pytorch horse2zebra.pth --netG resnet_9blocks \\
      --norm instance --no-dropout --out runs/horse2zebra
  python -m tfpix2pix.predict --model runs/facades_label2photo --input labels/
"""


def build_parser():
    parser = OneLineParser(prog="python -m tfpix2pix.convert",
                           description=__doc__.split("\n\n", 1)[1].strip(), epilog=EPILOG,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--from-pytorch", required=True, metavar="FILE.pth",
                        help="the generator's state dict (torch.save(net.state_dict(), ...)); "
                             "loaded with weights_only=True, so no pickled code runs")
    parser.add_argument("--netG", required=True, choices=CONVERTIBLE,
                        help="the generator the file holds, in the reference's names")
    parser.add_argument("--norm", required=True, choices=NORMS,
                        help="its normalisation: batch (the reference's pix2pix) or instance "
                             "(its CycleGAN; InstanceNorm without affine parameters)")
    parser.add_argument("--no-dropout", action="store_true",
                        help="the generator was built without dropout (the reference's "
                             "CycleGAN models; needed for a ResNet, whose keys depend on it)")
    parser.add_argument("--direction", default="AtoB", choices=DIRECTIONS.names,
                        help="which side of [A | B] pairs the model translates (default: AtoB; "
                             "BtoA for facades_label2photo, map2sat and day2night)")
    parser.add_argument("--name", default="",
                        help="the run's name (default: the file's stem)")
    parser.add_argument("--out", default="", metavar="RUN_DIR",
                        help="the run folder to create (default: runs/<name>); it must not "
                             "exist, or be empty")
    return parser


def main(argv=None, out=None, err=None):
    args = build_parser().parse_args(argv)
    try:
        from .command import convert
        convert(args.from_pytorch, args.netG, args.norm, use_dropout=not args.no_dropout,
                direction=args.direction, name=args.name, run_dir=args.out, out=out)
    except UserError as exc:
        return report_user_error(exc, err)
    return 0


def main_entry():
    sys.exit(main())


if __name__ == "__main__":
    main_entry()
