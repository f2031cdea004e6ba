"""The HTML report, tested as a person would see it: a real headless browser opens it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from verify.cli import main

html5lib = pytest.importorskip("html5lib")

PAGE_BYTES_PER_SUBJECT = 3_000_000 // 36
SCREENSHOTS = Path(os.environ.get("VERIFY_SCREENSHOT_DIR", tempfile.gettempdir()))


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small real report: a registered activation, a torch module and a planted bug."""
    out = tmp_path_factory.mktemp("report")
    bug = out / "bug.py"
    bug.write_text(
        "import torch\n"
        "def leaky_nan(x):\n"
        "    return torch.where(x > 0, x, torch.nan_to_num(x * 0.01, nan=0.0))\n"
    )
    rc = main(["report", "relu6", "torch.nn:Tanh", f"{bug}:leaky_nan", "--profile", "quick", "--no-bench",
               "--out", str(out), "--quiet"])
    assert rc == 1  # the planted NaN-swallowing activation fails; the report is still written
    return out


def test_writes_results_and_a_self_contained_page(report: Path) -> None:
    data = json.loads((report / "results.json").read_text())
    assert [s["name"] for s in data["subjects"]] == ["relu6", "Tanh", "leaky_nan"]
    page = (report / "index.html").read_text()
    assert not re.search(r'(src|href)\s*=\s*"(https?:)?//', page), "the page must load nothing from the network"
    assert "<script src" not in page and "<link" not in page
    assert not list(report.glob(".*.tmp")), "no temporary file left behind"


def test_html_parses_strictly_with_alt_text_and_table_headers(report: Path) -> None:
    page = (report / "index.html").read_text()
    doc = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False).parse(page)
    svgs = doc.findall(".//{http://www.w3.org/2000/svg}svg") or doc.findall(".//svg")
    assert len(svgs) >= 3, "one f/f' plot per subject"
    for s in svgs:
        assert s.get("role") == "img" and s.get("aria-label"), "every picture has alt text"
    tables = doc.findall(".//table")
    assert tables and all(t.findall(".//th") for t in tables), "every table has headers"
    matrix = [t for t in tables if "matrix" in (t.get("class") or "")]
    assert len(matrix) == 1
    cells = " ".join("".join(td.itertext()) for td in matrix[0].findall(".//td"))
    assert "FAIL" in cells and "pass" in cells, "status shown as text, not only colour"


def test_ids_are_unique_and_the_page_is_small(report: Path) -> None:
    """Every id once (a link or a screen reader that lands on a repeated id goes astray),
    and a page that stays small with a whole zoo in it: at most PAGE_BYTES_PER_SUBJECT
    per activation, every plot and check included (the registry's 36 fit in 3 MB)."""
    page = (report / "index.html").read_text()
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})
    assert len(page.encode()) < 3 * PAGE_BYTES_PER_SUBJECT, len(page.encode())


def test_the_page_compares_activations(report: Path) -> None:
    page = (report / "index.html").read_text()
    assert '<table class="numbers">' in page and "chi_1 at Kaiming" in page
    assert "f and f' by family" in page
    assert '<span class="finding-mark">*</span></a>' in page  # relu6 passes memory with a finding


def test_rerender_from_json_without_running(report: Path, tmp_path: Path) -> None:
    rc = main(["report", "--from", str(report / "results.json"), "--out", str(tmp_path)])
    assert rc == 0  # report --from did its job; the failure is in the page
    assert "leaky_nan" in (tmp_path / "index.html").read_text()


def test_unreadable_results_json_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "r.json"
    bad.write_text("{not json")
    assert main(["report", "--from", str(bad), "--out", str(tmp_path)]) == 2
    assert "cannot read results" in capsys.readouterr().err


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(_chromium() is None, reason="no headless Chromium on this machine (.ci/run installs Debian's)")
def test_opens_in_a_real_browser_without_console_errors(report: Path) -> None:
    browser = _chromium()
    assert browser is not None
    shot = SCREENSHOTS / "verify-report.png"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tempfile.mkdtemp()}", "--enable-logging=stderr", "--v=0", "--window-size=1280,1600"]
    url = (report / "index.html").resolve().as_uri()
    shot_run = subprocess.run([browser, *flags, f"--screenshot={shot}", url], capture_output=True, text=True,
                              timeout=120)
    console = [line for line in shot_run.stderr.splitlines() if ":CONSOLE" in line]
    assert not console, console
    assert shot.is_file() and shot.stat().st_size > 10_000, "a screenshot of a rendered page"
    dom = subprocess.run([browser, *flags, "--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
    assert 'class="matrix"' in dom and dom.count("<svg") >= 3
    print(f"screenshot: {shot}", file=sys.stderr)


def test_anchors_are_the_activations_names(report: Path) -> None:
    """A link to an activation survives a change of the set around it."""
    page = (report / "index.html").read_text()
    for anchor in ("relu6", "tanh", "leaky-nan"):
        assert f'<section id="{anchor}">' in page and f'href="#{anchor}"' in page
    assert not re.search(r'id="s\d+"', page)


def test_slugs_are_unique() -> None:
    from verify.report.compare import slug

    taken: set[str] = set()
    assert [slug(n, taken) for n in ("GELU", "gelu", "Leaky ReLU!", "")] == ["gelu", "gelu-2", "leaky-relu",
                                                                            "activation"]


def test_the_tolerance_each_reference_comparison_met_is_shown(report: Path) -> None:
    page = (report / "index.html").read_text()
    section = page[page.index('<section id="relu6">'):page.index('<section id="tanh">')]
    shown = re.findall(r"<li>(float32: output error [^<]*)</li>", section)
    assert shown and "(allowed " in shown[0] and "gradient error" in shown[0], shown


def test_tables_scroll_inside_a_container(report: Path) -> None:
    page = (report / "index.html").read_text()
    assert '<div class="scroll"><table class="matrix">' in page
    assert '<div class="scroll"><table class="numbers">' in page


def _bench(fraction: float, iqr_s: float = 0.0) -> dict:
    row = {"subject": "relu6", "size": 1 << 22, "dtype": "float32", "mode": "forward", "variant": "builtin",
           "median_s": 0.01, "iqr_s": iqr_s, "effective_gbps": 3.0 * fraction, "fraction_of_bandwidth": fraction}
    return {"environment": {"noise_bound": 0.1}, "bandwidth": [{"dtype": "float32", "size": 1 << 22,
                                                                "alloc_gbps": 3.0}],
            "subjects": [{"name": "relu6", "target": "relu6", "rows": [row]}]}


@pytest.mark.parametrize(("bench", "warned"), [(_bench(1.6), "beat the bandwidth line"),
                                              (_bench(0.5, iqr_s=0.004), "spread (IQR) beyond 10%"),
                                              (_bench(0.5, iqr_s=0.0005), None)])
def test_untrustworthy_timings_are_said(report: Path, bench: dict, warned: str | None) -> None:
    """A built-in faster than the bandwidth line allows, or timings beyond the noise
    bound, put a warning on the page; a quiet run's figures do not."""
    from verify.report.render import render

    data = json.loads((report / "results.json").read_text())
    page = render({**data, "bench": bench})
    warnings = re.findall(r'<p class="warning" role="alert">([^<]*)</p>', page)
    if warned is None:
        assert not warnings
    else:
        assert len(warnings) == 1 and warned in warnings[0], warnings


def test_kinks_are_listed_in_full() -> None:
    from verify.report.compare import numbers

    kinks = [{"x": x, "smoothness": "C0"} for x in (-3.0, -2.0, -1.0, 0.0, 1.0)]
    row = numbers({"kinks": {"details": {"kinks": kinks}}}, None)
    assert row["kinks"].split(", ") == ["-3 (C0)", "-2 (C0)", "-1 (C0)", "0 (C0)", "1 (C0)"]


def test_a_family_plot_gives_each_activation_its_own_colour() -> None:
    from verify.report.figures import plot_family

    curves = {f"act{i}": {"x": [-1.0, 0.0, 1.0], "f": [[0.0, 0.0, float(i)]], "df": [[0.0, 1.0, 1.0]]}
              for i in range(13)}
    from verify.report.chart import colors

    svg = plot_family("many", curves)
    assert len(set(colors(13))) == 13
    assert all(f'stroke="{c}"' in svg for c in colors(13))
