"""An index.html for a folder of results: one row per image, name | input | output | target.

Images are linked by paths relative to the page, so the folder can be moved or
copied as a whole. The page is self-contained: no scripts, no external resources.
"""

import html
import os
from urllib.parse import quote

from ..files import write_atomic

__all__ = ["write_index"]

_STYLE = ("body{font-family:sans-serif;margin:1em}table{border-collapse:collapse}"
          "th,td{border:1px solid #ccc;padding:4px;vertical-align:top}"
          "img{width:256px;height:auto;image-rendering:pixelated}")


def _url(path, out_dir):
    """The relative, URL-quoted address of ``path`` (a file inside ``out_dir``)."""
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(out_dir))
    if rel == os.pardir or rel.startswith(os.pardir + os.sep) or os.path.isabs(rel):
        raise ValueError(f"{path} is not inside {out_dir}; index images must live in its folder")
    return quote(rel.replace(os.sep, "/"), safe="/")


def _cell(path, out_dir, alt):
    if path is None:
        return "<td></td>"
    url = html.escape(_url(path, out_dir), quote=True)
    alt = html.escape(alt, quote=True)
    return f'<td><a href="{url}"><img src="{url}" alt="{alt}" loading="lazy"></a></td>'


def write_index(out_dir, rows, title):
    """Write ``out_dir/index.html`` atomically and return its path.

    ``rows``: dicts with "name", "input", "output" and "target" (a path or None),
    the paths naming files inside ``out_dir``. A row without target has an empty cell.
    """
    out_dir = os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    lines = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "<table><thead><tr><th>name</th><th>input</th><th>output</th><th>target</th></tr></thead>",
        "<tbody>",
    ]
    for row in rows:
        name = str(row["name"])
        cells = [f"<td>{html.escape(name)}</td>"]
        for column in ("input", "output", "target"):
            cells.append(_cell(row.get(column), out_dir, f"{name} {column}"))
        lines.append("<tr>" + "".join(cells) + "</tr>")
    lines += ["</tbody></table>", "</body></html>", ""]
    return write_atomic(os.path.join(out_dir, "index.html"), "\n".join(lines))
