"""``python -m tfpix2pix.data download`` against a local HTTP server, and safe extraction
(``tfpix2pix.data.download``, ``resumable``, ``archive``, ``staging``)."""

import hashlib
import http.server
import io
import json
import os
import tarfile
import threading

import numpy as np
import pytest
from PIL import Image

from tfpix2pix.data import archive, download, resumable, staging
from tfpix2pix.data.__main__ import main

COUNTS = {"train": 3, "val": 1, "test": 1}


def png_bytes(seed, size=(16, 8), mode="RGB"):
    """A noisy PNG (noise, so that the archive is a few kB and can be cut in the middle)."""
    rng = np.random.default_rng(seed)
    shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(buf, format="PNG")
    return buf.getvalue()


def add_file(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def tarball(counts=COUNTS, top="tiny", seed=0, extra=()):
    """A .tar.gz of ``top``/<split>/<i>.png [A | B] pairs, plus ``extra`` (name, data) files."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for s, (split, n) in enumerate(counts.items()):
            for i in range(n):
                add_file(tar, f"{top}/{split}/{i}.png", png_bytes(seed + 10 * s + i))
        for name, data in extra:
            add_file(tar, name, data)
    return buf.getvalue()


class Server(http.server.ThreadingHTTPServer):
    """Serves ``files`` ({path: bytes}) with Range support, and misbehaves on request:
    ``errors``: answer that many requests with HTTP 500 first; ``cut_after``: the first
    response stops after that many bytes and closes; ``ignore_range``: always 200;
    ``short``: the file ends there, whatever Content-Length says."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.files, self.requests = {}, []
        self.errors, self.cut_after, self.ignore_range, self.short = 0, None, False, None

    @property
    def base(self):
        return f"http://127.0.0.1:{self.server_address[1]}/pix2pix/datasets"


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        server = self.server
        server.requests.append((self.path, self.headers.get("Range")))
        if server.errors:
            server.errors -= 1
            self.send_error(500, "Internal Server Error")
            return
        data = server.files.get(self.path)
        if data is None:
            self.send_error(404, "Not Found")
            return
        start, wanted = 0, self.headers.get("Range")
        if wanted and not server.ignore_range:
            start = int(wanted.split("=")[1].split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        body = data[start:server.short] if server.short is not None else data[start:]
        if server.cut_after is not None:
            body, server.cut_after = body[:server.cut_after], None
        self.wfile.write(body)  # HTTP/1.0: the connection closes when the handler returns


@pytest.fixture
def server():
    httpd = Server()
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def tiny(server, monkeypatch):
    """The dataset "tiny" registered (3/1/1 pairs expected), served by ``server``; quick
    retries."""
    monkeypatch.setitem(download.DATASETS._entries, "tiny", download.Dataset("test", COUNTS))
    monkeypatch.setenv(download.BASE_VARIABLE, server.base)
    monkeypatch.setattr(resumable, "BACKOFF", 0.01)
    server.files["/pix2pix/datasets/tiny.tar.gz"] = tarball()
    return server.files["/pix2pix/datasets/tiny.tar.gz"]


def run(*argv):
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def assert_one_line_error(code, err, *needles):
    """Exit 2 and exactly one ``error:`` line, the last one (retry notes may come before)."""
    assert code == 2, err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and err.rstrip("\n").endswith(errors[0]), err
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])
    return errors[0]


def nothing_left(root, name="tiny", part=False):
    """No dataset folder and no hidden temporary beside it (nor the .part, unless kept)."""
    entries = sorted(os.listdir(root)) if os.path.isdir(root) else []
    expected = [f".{name}.tar.gz.part"] if part else []
    assert entries == expected, entries


# --- the download --------------------------------------------------------------------------

def test_download_extracts_checks_and_writes_a_manifest(tiny, server, tmp_path):
    root = tmp_path / "datasets"
    code, out, err = run("download", "tiny", "--root", str(root))
    assert code == 0, err
    for split, n in COUNTS.items():
        assert len(os.listdir(root / "tiny" / split)) == n
    manifest = json.loads((root / "tiny" / "MANIFEST.json").read_text())
    assert manifest["sha256"] == hashlib.sha256(tiny).hexdigest()
    assert manifest["archive_bytes"] == len(tiny) and manifest["splits"] == COUNTS
    assert manifest["source"] == server.base + "/tiny.tar.gz"
    assert manifest["tool"].startswith("tfpix2pix ") and manifest["date"][:2] == "20"
    assert sorted(os.listdir(root)) == ["tiny"]  # no .part, no temporary folder
    assert "downloading [####################]" in err and "B/s" in err and "ETA" in err
    assert "extracting [" in err
    assert out.strip() == (f"tiny: train 3, val 1, test 1 pairs in {root / 'tiny'} (sha256 "
                           f"{manifest['sha256'][:16]}...); train with --data {root / 'tiny'}")
    assert server.requests == [("/pix2pix/datasets/tiny.tar.gz", None)]


def test_the_default_source_is_the_pix2pix_site(monkeypatch):
    monkeypatch.delenv(download.BASE_VARIABLE, raising=False)
    assert download.archive_source("maps") == \
        "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/maps.tar.gz"
    monkeypatch.setenv(download.BASE_VARIABLE, "http://mirror.example/p2p/")
    assert download.archive_source("maps") == "http://mirror.example/p2p/maps.tar.gz"
    assert download.archive_source("maps", "/tmp/m.tar.gz") == "/tmp/m.tar.gz"


def test_a_cut_connection_resumes_with_a_range_request(tiny, server, tmp_path):
    server.cut_after = len(tiny) // 2
    code, _, err = run("download", "tiny", "--root", str(tmp_path))
    assert code == 0, err
    assert server.requests[1][1] == f"bytes={len(tiny) // 2}-"
    assert "trying again" in err and "closed at" in err
    manifest = json.loads((tmp_path / "tiny" / "MANIFEST.json").read_text())
    assert manifest["sha256"] == hashlib.sha256(tiny).hexdigest()


def test_a_part_left_by_a_killed_run_is_resumed(tiny, server, tmp_path):
    (tmp_path / ".tiny.tar.gz.part").write_bytes(tiny[:1000])
    (tmp_path / ".tiny.tmp-1-deadbeef").mkdir()  # a killed run's half extraction
    code, _, err = run("download", "tiny", "--root", str(tmp_path))
    assert code == 0, err
    assert server.requests == [("/pix2pix/datasets/tiny.tar.gz", "bytes=1000-")]
    assert sorted(os.listdir(tmp_path)) == ["tiny"]


def test_a_server_that_ignores_range_sends_the_file_again(tiny, server, tmp_path):
    server.ignore_range = True
    (tmp_path / ".tiny.tar.gz.part").write_bytes(b"stale bytes of another file")
    code, _, err = run("download", "tiny", "--root", str(tmp_path))
    assert code == 0, err
    assert server.requests[0][1] == "bytes=27-"
    manifest = json.loads((tmp_path / "tiny" / "MANIFEST.json").read_text())
    assert manifest["sha256"] == hashlib.sha256(tiny).hexdigest()


def test_a_complete_part_is_not_downloaded_again(tiny, server, tmp_path):
    (tmp_path / ".tiny.tar.gz.part").write_bytes(tiny)
    code, _, err = run("download", "tiny", "--root", str(tmp_path))
    assert code == 0, err
    assert server.requests == [("/pix2pix/datasets/tiny.tar.gz", f"bytes={len(tiny)}-")]


def test_server_errors_are_retried(tiny, server, tmp_path):
    server.errors = 2
    code, _, err = run("download", "tiny", "--root", str(tmp_path))
    assert code == 0, err
    assert err.count("HTTP 500 Internal Server Error; trying again") == 2


def test_a_server_that_keeps_failing_gives_one_line_and_nothing(tiny, server, tmp_path):
    server.errors = 100
    code, _, err = run("download", "tiny", "--root", str(tmp_path))
    assert_one_line_error(code, err, "HTTP 500", "try 5 of 5", "--url")
    assert len(server.requests) == resumable.TRIES
    nothing_left(tmp_path)


def test_a_missing_file_is_not_retried(tiny, server, tmp_path):
    code, _, err = run("download", "tiny", "--root", str(tmp_path), "--url",
                       server.base + "/nope.tar.gz")
    assert_one_line_error(code, err, "HTTP 404", "nope.tar.gz")
    assert len(server.requests) == 1
    nothing_left(tmp_path)


def test_a_wrong_size_fails_and_keeps_the_part_for_a_resume(tiny, server, tmp_path):
    server.short = len(tiny) - 100  # announced in full, never sent in full
    code, _, err = run("download", "tiny", "--root", str(tmp_path))
    assert_one_line_error(code, err, f"of {resumable.size_text(len(tiny))}", "resume")
    nothing_left(tmp_path, part=True)
    server.short = None  # the next run resumes and completes
    code, _, err = run("download", "tiny", "--root", str(tmp_path))
    assert code == 0, err
    assert server.requests[-1][1] == f"bytes={len(tiny) - 100}-"


def test_a_truncated_archive_leaves_nothing_half_extracted(tiny, server, tmp_path):
    broken = tiny[:len(tiny) * 2 // 3]  # served whole, but the archive itself is cut
    server.files["/pix2pix/datasets/tiny.tar.gz"] = broken
    code, _, err = run("download", "tiny", "--root", str(tmp_path))
    assert_one_line_error(code, err, "not a complete tar archive", "download it again")
    nothing_left(tmp_path)  # the bad part is dropped too: the next run starts afresh


def test_split_counts_are_checked(tiny, server, tmp_path, monkeypatch):
    monkeypatch.setitem(download.DATASETS._entries, "tiny",
                        download.Dataset("test", {**COUNTS, "train": 4}))
    code, _, err = run("download", "tiny", "--root", str(tmp_path))
    assert_one_line_error(code, err, "train/ holds 3 pairs, but tiny has 4")
    nothing_left(tmp_path)


def test_every_image_is_decoded(tiny, server, tmp_path):
    server.files["/pix2pix/datasets/tiny.tar.gz"] = tarball(
        {"train": 2, "val": 1, "test": 1}, extra=[("tiny/train/9.png", b"\x89PNG broken")])
    code, _, err = run("download", "tiny", "--root", str(tmp_path))
    line = assert_one_line_error(code, err, "1 image problem", "not a readable JPEG or PNG")
    assert os.path.join(str(tmp_path), "tiny", "train", "9.png") in line  # its final name
    nothing_left(tmp_path)


def test_a_local_archive_or_file_url(tiny, tmp_path):
    local = tmp_path / "mirror" / "tiny.tar.gz"
    local.parent.mkdir()
    local.write_bytes(tiny)
    for root, url in (("a", str(local)), ("b", local.as_uri())):
        code, _, err = run("download", "tiny", "--root", str(tmp_path / root), "--url", url)
        assert code == 0, err
        manifest = json.loads((tmp_path / root / "tiny" / "MANIFEST.json").read_text())
        assert manifest["source"] == url and manifest["archive_bytes"] == len(tiny)
    assert local.read_bytes() == tiny  # the local archive is left alone
    code, _, err = run("download", "tiny", "--root", str(tmp_path / "c"), "--url",
                       str(tmp_path / "absent.tar.gz"))
    assert_one_line_error(code, err, "absent.tar.gz: no such file")


def test_a_complete_dataset_is_kept_and_force_replaces_it(tiny, server, tmp_path):
    assert run("download", "tiny", "--root", str(tmp_path))[0] == 0
    first = json.loads((tmp_path / "tiny" / "MANIFEST.json").read_text())["sha256"]
    code, out, _ = run("download", "tiny", "--root", str(tmp_path))
    assert code == 0 and "already downloaded" in out and len(server.requests) == 1
    server.files["/pix2pix/datasets/tiny.tar.gz"] = tarball(seed=5)  # changed upstream
    code, out, err = run("download", "tiny", "--root", str(tmp_path), "--force")
    assert code == 0, err
    second = json.loads((tmp_path / "tiny" / "MANIFEST.json").read_text())["sha256"]
    warnings = [line for line in err.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and first in warnings[0] and second in warnings[0]
    assert sorted(os.listdir(tmp_path)) == ["tiny"]


def test_a_foreign_folder_is_not_replaced_without_force(tiny, tmp_path):
    (tmp_path / "tiny").mkdir()
    (tmp_path / "tiny" / "mine.txt").write_text("keep")
    code, _, err = run("download", "tiny", "--root", str(tmp_path))
    assert_one_line_error(code, err, "not empty", "--force")
    assert (tmp_path / "tiny" / "mine.txt").read_text() == "keep"


def test_names_cityscapes_and_unknown(tmp_path):
    code, _, err = run("download", "cityscapes", "--root", str(tmp_path))
    assert_one_line_error(code, err, "prepare-cityscapes", "gtFine_trainvaltest.zip")
    code, _, err = run("download", "facade", "--root", str(tmp_path))
    assert_one_line_error(code, err, "unknown dataset", "facades, maps, edges2shoes")
    nothing_left(tmp_path)


def test_the_registry_lists_the_papers_sets_with_sourced_counts():
    assert tuple(download.DATASETS) == ("facades", "maps", "edges2shoes", "edges2handbags",
                                        "night2day")
    assert download.DATASETS["facades"].counts == {"train": 400, "val": 100, "test": 106}
    assert download.DATASETS["maps"].counts == {"train": 1096}


# --- safe extraction -----------------------------------------------------------------------

def member(name, kind=tarfile.REGTYPE, link="", data=b"x"):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    return info, io.BytesIO(data) if kind == tarfile.REGTYPE else None


UNSAFE = {  # member(...) arguments, and the reason given
    "dot-dot": (("tiny/../../evil.png",), "a path with '..' in it"),
    "absolute": (("/tmp/evil.png",), "an absolute path"),
    "symlink-out": (("tiny/train/up", tarfile.SYMTYPE, "../../.."),
                    "a link to '../../..', outside the folder"),
    "symlink-absolute": (("tiny/passwd", tarfile.SYMTYPE, "/etc/passwd"),
                         "a link to the absolute path '/etc/passwd'"),
    "hardlink-out": (("tiny/h", tarfile.LNKTYPE, "../outside"),
                     "a link to '../outside', outside the folder"),
    "device": (("tiny/null", tarfile.CHRTYPE), "a device file"),
    "fifo": (("tiny/pipe", tarfile.FIFOTYPE), "a special file"),
}


def unsafe_tarball(target, bad):
    """A .tar.gz (to a path or a file object) of one good pair and the member ``bad``."""
    where = {"fileobj": target} if hasattr(target, "write") else {"name": target}
    with tarfile.open(mode="w:gz", **where) as tar:
        tar.addfile(*member("tiny/train/0.png", data=png_bytes(0)))
        tar.addfile(*bad)


@pytest.mark.parametrize("data_filter", [True, False], ids=["data_filter", "own_checks"])
@pytest.mark.parametrize("case", list(UNSAFE))
def test_unsafe_members_are_refused(case, data_filter, tmp_path, monkeypatch):
    monkeypatch.setattr(archive, "HAS_DATA_FILTER", data_filter and archive.HAS_DATA_FILTER)
    args, reason = UNSAFE[case]
    bad = member(*args)
    path = tmp_path / "bad.tar.gz"
    unsafe_tarball(path, bad)
    dest = tmp_path / "box" / "dest"
    dest.mkdir(parents=True)
    with pytest.raises(archive.BadArchive) as info:
        archive.extract(str(path), str(dest))
    message = str(info.value)
    assert "\n" not in message and repr(bad[0].name) in message and reason in message
    assert sorted(os.listdir(tmp_path / "box")) == ["dest"]  # nothing written outside


def test_links_that_stay_inside_are_extracted(tmp_path):
    path = tmp_path / "ok.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        tar.addfile(*member("tiny/train/0.png", data=png_bytes(0)))
        tar.addfile(*member("tiny/val", tarfile.SYMTYPE, "train"))
        tar.addfile(*member("tiny/copy.png", tarfile.LNKTYPE, "tiny/train/0.png"))
    (tmp_path / "dest").mkdir()
    assert archive.extract(str(path), str(tmp_path / "dest")) == 3
    assert (tmp_path / "dest" / "tiny" / "val" / "0.png").read_bytes() == png_bytes(0)


def test_an_unsafe_download_is_refused_whole(tiny, server, tmp_path):
    buf = io.BytesIO()
    unsafe_tarball(buf, member("../escape.png"))
    server.files["/pix2pix/datasets/tiny.tar.gz"] = buf.getvalue()
    root = tmp_path / "root"
    code, _, err = run("download", "tiny", "--root", str(root))
    assert_one_line_error(code, err, "'../escape.png'", "'..'", "refused")
    nothing_left(root)
    assert sorted(os.listdir(tmp_path)) == ["root"]


def test_staged_output_appears_only_when_complete(tmp_path):
    final = tmp_path / "out"
    with pytest.raises(RuntimeError):
        with staging.staged(str(final)) as stage:
            (tmp_path / "probe").write_text(stage.path)
            open(os.path.join(stage.path, "half.png"), "w").close()
            raise RuntimeError("killed")
    assert sorted(os.listdir(tmp_path)) == ["probe"]
    with staging.staged(str(final)) as stage:
        open(os.path.join(stage.path, "a.png"), "w").close()
    assert os.listdir(final) == ["a.png"]
    with staging.staged(str(final), force=True) as stage:
        open(os.path.join(stage.path, "b.png"), "w").close()
    assert os.listdir(final) == ["b.png"] and sorted(os.listdir(tmp_path)) == ["out", "probe"]
