"""Every code block of the README, docs/*.md and benchmarks/README.md runs as pasted, or is checked.

The pages run from the repository root with the venv of README command 1 not activated, so
programs are called by path (``.venv/bin/python``). How each fenced block is handled:

- ```python: run in a sandbox folder holding what the pages assume after README command 1:
  ``runs/demo`` (a tiny run trained here on facades pairs), ``exported/demo`` (its export),
  ``labels.png`` and the built-in dataset's ``val/`` folder under ``~``.
- ```bash: split into commands. ``.venv/bin/python -m tfpix2pix.predict|export|data`` are run,
  as pasted, in the sandbox. ``tfpix2pix.train`` and ``benchmarks/*.py`` take minutes, so their
  arguments are parsed by the command's own parser without running (and a train command's are
  resolved into a validated config). ``pip install`` extras must exist, ``tox -e`` envs too, and
  other ``.venv/bin/`` programs must be installed; a bare ``python`` or ``tensorboard`` fails.
- ```yaml: loaded; a container ``command`` that runs tfpix2pix is parsed like a shell one.
- A block right after ``<!-- not run: REASON -->`` is not run: its commands are still parsed,
  its Python compiled. Blocks without a language (folder trees) are text.
"""

import argparse
import contextlib
import dataclasses
import importlib.metadata
import io
import json
import os
import re
import runpy
import shlex
import sys
from pathlib import Path

import pytest
import yaml
from PIL import Image

from conftest import ROOT, facades_subset, tiny_config

PAGES = ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md")),
         "benchmarks/README.md"]
VENV_BIN = ".venv/bin/"
# Run in the sandbox:
RUN = {"tfpix2pix.predict", "tfpix2pix.export", "tfpix2pix.data", "tfpix2pix.evaluate"}
# Flags parsed, not run (training takes minutes, the demo serves until stopped); a train
# command's config is resolved too.
PARSE_ONLY = {"tfpix2pix.train", "tfpix2pix.convert", "tfpix2pix.demo"}
BARE = {"python", "python3", "pip", "pip3", "tox", "tensorboard", "saved_model_cli"}
NOT_RUN = re.compile(r"<!--\s*not run:\s*(.*?)\s*-->\s*$")
NOT_RUN_BLOCKS = 13  # raise only for a block that truly cannot run here, with its reason


@dataclasses.dataclass
class Block:
    page: str
    line: int  # of the opening fence, 1-based
    lang: str
    code: str
    not_run: str | None  # the reason, for a block marked not run

    @property
    def id(self):
        return f"{self.page}:{self.line}"


def blocks(page):
    """The fenced blocks of ``page``, with their language and not-run marker."""
    lines = (ROOT / page).read_text().splitlines()
    found, i = [], 0
    while i < len(lines):
        match = re.match(r"^```(\w*)\s*$", lines[i])
        if not match:
            i += 1
            continue
        start, body = i, []
        i += 1
        while not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        i += 1
        before = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        marker = NOT_RUN.search(before)
        found.append(Block(page, start + 1, match.group(1), "\n".join(body) + "\n",
                           marker.group(1) if marker else None))
    return found


ALL = [b for page in PAGES for b in blocks(page)]
CODE = [b for b in ALL if b.lang]


# --- shell blocks -------------------------------------------------------------------------

@dataclasses.dataclass
class Command:
    argv: list
    env: dict  # VAR=value prefixes
    heredoc: str | None


def shell_commands(text):
    """The simple commands of a shell block: continuations joined, multi-line quotes read
    whole, ``#`` comments dropped, split at ``&&``, ``||``, ``|`` and ``;``."""
    lines, i, commands = text.splitlines(), 0, []
    while i < len(lines):
        chunk = lines[i]
        i += 1
        while True:
            if chunk.rstrip().endswith("\\") and i < len(lines):
                chunk = chunk.rstrip()[:-1] + " " + lines[i]
                i += 1
                continue
            lexer = shlex.shlex(chunk, posix=True, punctuation_chars=True)
            lexer.whitespace_split = True
            try:
                tokens = list(lexer)
            except ValueError:  # a quote closes on a later line
                assert i < len(lines), f"unclosed quote in: {chunk}"
                chunk += "\n" + lines[i]
                i += 1
                continue
            break
        heredoc = None
        if "<<" in tokens:
            at = tokens.index("<<")
            end, tokens = tokens[at + 1], tokens[:at] + tokens[at + 2:]
            body = []
            while lines[i].strip() != end:
                body.append(lines[i])
                i += 1
            i += 1
            heredoc = "\n".join(body) + "\n"
        argv = []
        for token in tokens + [";"]:
            if token in ("&&", "||", "|", ";"):
                if argv:
                    env = {}
                    while argv and re.match(r"^[A-Za-z_]\w*=", argv[0]):
                        key, _, value = argv.pop(0).partition("=")
                        env[key] = value
                    commands.append(Command(argv, env, heredoc))
                argv = []
            else:
                argv.append(token)
    return commands


def test_the_shell_splitter_reads_continuations_quotes_comments_and_heredocs():
    text = ("A=1 prog --x 'two\nlines' && other | third   # note\n"
            "cont \\\n  --y 2\n"
            "py - <<'PY'\nprint(1)\nPY\n")
    got = [(c.argv, c.env, c.heredoc) for c in shell_commands(text)]
    assert got == [(["prog", "--x", "two\nlines"], {"A": "1"}, None), (["other"], {}, None),
                   (["third"], {}, None), (["cont", "--y", "2"], {}, None),
                   (["py", "-"], {}, "print(1)\n")]


@contextlib.contextmanager
def restored_environ():
    """Undo what a command sets in os.environ (e.g. TF_CPP_MIN_LOG_LEVEL) when it ends."""
    saved = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


class _Parsed(Exception):
    def __init__(self, namespace):
        super().__init__()
        self.namespace = namespace


def parse_only(target, args, monkeypatch, capsys):
    """Run a command (``-m`` module or script) until its parser has read ``args``; return
    the namespace. A refused flag fails the test with the parser's message."""
    original = argparse.ArgumentParser.parse_args

    def parse_then_stop(self, args=None, namespace=None):
        raise _Parsed(original(self, args, namespace))

    with monkeypatch.context() as m, restored_environ():
        m.setattr(argparse.ArgumentParser, "parse_args", parse_then_stop)
        m.setattr(sys, "argv", [target, *args])
        m.chdir(ROOT)
        try:
            if target.endswith(".py"):
                m.syspath_prepend(str((ROOT / target).parent))
                runpy.run_path(str(ROOT / target), run_name="__main__")
            else:
                runpy.run_module(target, run_name="__main__")
        except _Parsed as parsed:
            return parsed.namespace
        except SystemExit as exc:
            if exc.code == 0 and {"-h", "--help"} & set(args):
                return None  # it printed its help
            pytest.fail(f"{target} {shlex.join(args)}: refused (exit {exc.code}): "
                        f"{capsys.readouterr().err.strip()}")
    pytest.fail(f"{target} never parsed its arguments")


def run_command(module, args):
    """Run ``python -m module args`` in this process, in the current folder; it must exit 0."""
    err, code = io.StringIO(), 0
    with pytest.MonkeyPatch.context() as m, restored_environ(), \
            contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        m.setattr(sys, "argv", [module, *args])
        try:
            runpy.run_module(module, run_name="__main__")
        except SystemExit as exc:
            code = exc.code or 0
    assert code == 0, f"python -m {module} {shlex.join(args)}: exit {code}\n" + \
        err.getvalue()[-2000:]


def check_python_command(argv, heredoc, run, monkeypatch, capsys):
    args = argv[1:]
    if args[:1] == ["-m"] and args[1:2] and args[1].startswith("tfpix2pix."):
        module, rest = args[1], args[2:]
        assert module in RUN | PARSE_ONLY, f"test_docs has no rule for python -m {module}"
        if run and module in RUN:
            rest = [os.path.expanduser(a) if a.startswith("~") else a for a in rest]
            return run_command(module, rest)
        namespace = parse_only(module, rest, monkeypatch, capsys)
        if module == "tfpix2pix.train" and namespace is not None:
            from tfpix2pix import cli

            with monkeypatch.context() as m:
                m.chdir(ROOT)  # --config paths are relative to the repository
                cli.resolve_config(namespace)
        return None
    if args[:1] and args[0].startswith("benchmarks/") and args[0].endswith(".py"):
        return parse_only(args[0], args[1:], monkeypatch, capsys)
    if args == ["-"]:
        assert heredoc, "python - without a heredoc"
        return compile(heredoc, "<heredoc>", "exec")
    if args[:1] == ["-c"]:
        return compile(args[1], "<-c>", "exec")
    pytest.fail(f"test_docs has no rule for {shlex.join(argv)}")


def check_command(command, run, monkeypatch, capsys):
    argv = command.argv
    program = argv[0]
    if program == "python3" and argv[1:3] == ["-m", "venv"]:
        return
    assert program not in BARE, (f"{shlex.join(argv)}: call {program} from the venv by path "
                                 f"({VENV_BIN}{program}); the pages do not activate it")
    if program == "export":
        for assignment in argv[1:]:
            key, _, value = assignment.partition("=")
            if key == "TF_CONFIG":
                json.loads(value)
        return
    if not program.startswith(VENV_BIN):
        assert not run, f"{shlex.join(argv)}: test_docs cannot run {program}; mark the block " \
                        "<!-- not run: REASON -->"
        return
    tool = program[len(VENV_BIN):]
    if tool == "python":
        check_python_command(argv, command.heredoc, run, monkeypatch, capsys)
    elif tool == "pip":
        assert argv[1] == "install", argv
        extras = set(importlib.metadata.metadata("tfpix2pix").get_all("Provides-Extra"))
        for arg in argv[2:]:
            if arg.startswith(".["):
                asked = set(arg[2:-1].split(","))
                assert asked <= extras, f"{arg}: no extra {asked - extras} in setup.py"
    elif tool == "tox":
        envs = re.search(r"envlist\s*=\s*(.+)", (ROOT / "tox.ini").read_text()).group(1)
        assert argv[1] == "-e" and argv[2] in envs.replace(",", " ").split(), argv
    else:
        assert (Path(sys.executable).parent / tool).exists(), f"{tool} is not installed"


# --- the sandbox: what the pages assume after README command 1 -----------------------------

@pytest.fixture(scope="module")
def sandbox(facades, tmp_path_factory):
    """A folder with runs/demo (a tiny facades run), exported/demo, datasets/facades,
    labels.png, my_labels.png and ~/.cache/tfpix2pix/datasets/shapes-v1/val."""
    from tfpix2pix.training import loop

    root = tmp_path_factory.mktemp("docs")
    data = facades_subset(facades, root / "datasets" / "facades", train=8, val=2)
    cfg = tiny_config(data, root / "runs" / "demo", data={"direction": "BtoA"},
                      train={"n_epochs": 1, "n_epochs_decay": 0})
    loop.train(dataclasses.replace(cfg, name="demo"), out=io.StringIO(), err=io.StringIO())
    val = root / "home" / ".cache" / "tfpix2pix" / "datasets" / "shapes-v1" / "val"
    val.mkdir(parents=True)
    for pair in sorted((data / "val").iterdir()):
        os.symlink(os.readlink(pair), val / pair.name)
    pair = Image.open(sorted((data / "val").iterdir())[0]).convert("RGB")
    w, h = pair.size
    for name in ("labels.png", "my_labels.png"):  # facades pairs are [photo | labels]
        pair.crop((w // 2, 0, w, h)).save(root / name)
    with pytest.MonkeyPatch.context() as m:
        m.chdir(root)
        run_command("tfpix2pix.export", ["runs/demo"])
    return root


@pytest.fixture
def in_sandbox(sandbox, monkeypatch):
    monkeypatch.chdir(sandbox)
    monkeypatch.setenv("HOME", str(sandbox / "home"))
    return sandbox


# --- the tests ----------------------------------------------------------------------------

@pytest.mark.parametrize("block", [b for b in CODE if b.lang in ("bash", "console", "sh")],
                         ids=lambda b: b.id)
def test_shell_block(block, request, monkeypatch, capsys):
    text = block.code
    if block.lang == "console":  # only the prompt lines are commands
        text = "\n".join(line[2:] for line in text.splitlines() if line.startswith("$ "))
    commands = shell_commands(text)
    runs = [c for c in commands if c.argv[:2] == [VENV_BIN + "python", "-m"] and c.argv[2] in RUN]
    if block.not_run is None and runs:
        request.getfixturevalue("in_sandbox")
    for command in commands:
        check_command(command, block.not_run is None, monkeypatch, capsys)


@pytest.mark.parametrize("block", [b for b in CODE if b.lang == "python"], ids=lambda b: b.id)
def test_python_block(block, request):
    code = compile(block.code, block.id, "exec")
    if block.not_run is None:
        request.getfixturevalue("in_sandbox")
        exec(code, {"__name__": "__docs__"})


@pytest.mark.parametrize("block", [b for b in CODE if b.lang == "yaml"], ids=lambda b: b.id)
def test_yaml_block(block, monkeypatch, capsys):
    def commands(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "command" and isinstance(value, list):
                    yield value
                else:
                    yield from commands(value)
        elif isinstance(node, list):
            for value in node:
                yield from commands(value)

    for argv in commands(yaml.safe_load(block.code)):
        if argv[:2] == ["python", "-m"]:  # the container's own python
            check_python_command(argv, None, False, monkeypatch, capsys)


def test_every_block_has_a_known_language_and_every_not_run_a_reason():
    languages = {b.lang for b in CODE}
    assert languages <= {"bash", "console", "sh", "python", "yaml"}, languages
    not_run = [b for b in ALL if b.not_run is not None]
    for block in not_run:
        assert len(block.not_run.split()) >= 3, f"{block.id}: say why it is not run"
    assert len(not_run) == NOT_RUN_BLOCKS, [f"{b.id}: {b.not_run}" for b in not_run]


def test_the_readme_opens_with_the_two_commands_and_ci_runs_the_second():
    first = CODE[0]
    assert first.page == "README.md" and first.lang == "bash" and first.not_run is None
    lines = [line for line in first.code.splitlines() if line and not line.startswith("#")]
    assert lines == [
        'python3 -m venv .venv && .venv/bin/pip install -e ".[cpu]" && '
        ".venv/bin/python -m tfpix2pix.train",
        "python3 -m venv .venv && .venv/bin/pip install tox && .venv/bin/tox -e py311"]
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    assert ci[-1] == lines[1]
    text = (ROOT / "README.md").read_text()
    assert text.index("```bash") < text.index("\n## "), "the commands come first"
    assert len(text.splitlines()) <= 200, "the README is a front page; the rest goes to docs/"


def _anchor(heading):
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


@pytest.mark.parametrize("page", PAGES)
def test_links_point_at_files_and_headings_that_exist(page):
    path = ROOT / page
    for target in re.findall(r"\]\(([^)\s]+)\)", path.read_text()):
        if re.match(r"^[a-z]+://", target):
            continue
        file, _, anchor = target.partition("#")
        linked = (path.parent / file).resolve() if file else path
        assert linked.exists(), f"{page}: link to {target}: no such file"
        if anchor:
            headings = re.findall(r"^#+ (.+)$", linked.read_text(), flags=re.M)
            assert anchor in {_anchor(h) for h in headings}, f"{page}: no heading #{anchor}"
