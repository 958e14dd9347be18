"""A dataset tool's place in ``python -m tfpix2pix.data``: its subcommand and the run the
dispatcher calls (``run(args, out, err)``, see ``__main__``), for tools that report in
lines on standard output (``combine``, ``split``, ``to-tfrecord``)."""


def add_tool(commands, name, summary, description, work):
    """Add subcommand ``name`` to ``commands`` (the dispatcher's subparsers) and return its
    parser, for the tool's own arguments.

    ``work(args, log)`` does the tool's job; ``log(line)`` prints the line to the command's
    standard output. The exit status is 0; a user error is a ``UserError`` (the dispatcher
    reports it).
    """
    def run(args, out, err):
        work(args, lambda line: print(line, file=out))
        return 0

    parser = commands.add_parser(name, help=summary, description=description)
    parser.set_defaults(run=run)
    return parser
