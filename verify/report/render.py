"""The HTML report: a renderer over the results JSON (and the benchmark JSON).

It never runs a check. One self-contained file: inline SVG charts (verify.report.chart),
inline CSS, no script from the network; written atomically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from verify.report.compare import family, numbers, reference_errors, shown_details, slug, timing_warnings
from verify.report.figures import DETAIL_PLOTS, plot_curve, plot_family
from verify.report.plots.throughput import plot_bench
from verify.results import Status, write_atomic

STATUS_TEXT = {"pass": "pass", "fail": "FAIL", "skip": "skip", "error": "ERROR"}


def render(data: dict[str, Any]) -> str:
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("verify.report", "templates"), autoescape=select_autoescape(["html", "j2"]))
    subjects = data.get("subjects", [])
    check_ids: list[str] = []
    for s in subjects:
        for c in s["checks"]:
            if c["id"] not in check_ids:
                check_ids.append(c["id"])
    bench_rows = {b["name"]: b["rows"] for b in data.get("bench", {}).get("subjects", [])}
    views = []
    anchors: set[str] = {"summary", "numbers", "families", "environment"}
    families: dict[str, dict[str, Any]] = {}
    for s in subjects:
        info = s.get("info", {})
        plots = []
        if "curve" in info:
            plots.append(plot_curve(s["name"], info["curve"]))
            families.setdefault(family(info), {})[s["name"]] = info["curve"]
        bench = bench_rows.get(s["name"])
        if bench:
            picture = plot_bench(s["name"], bench, data["bench"].get("bandwidth", []))
            if picture:
                plots.append(picture)
        for c in s["checks"]:
            plotter = DETAIL_PLOTS.get(c["id"])
            picture = plotter(s["name"], c.get("details", {})) if plotter else None
            if picture:
                plots.append(picture)
        checks = {c["id"]: c for c in s["checks"]}
        views.append({
            "name": s["name"], "sid": slug(s["name"], anchors), "target": s["target"], "info": info,
            "spec": info.get("spec"),
            "description": info.get("doc", ""), "checks": checks, "plots": plots,
            "check_list": [{**c, "shown_details": shown_details(c["details"]) if c.get("details") else "",
                            "errors": reference_errors(c.get("details") or {}) if c["id"] == "reference" else []}
                           for c in s["checks"]],
            "numbers": numbers(checks, bench),
            "findings": sum(len(c.get("findings", ())) for c in s["checks"]),
            "ok": all(c["status"] in (Status.PASS.value, Status.SKIP.value) for c in s["checks"]),
        })
    columns = list(dict.fromkeys(k for v in views for k in v["numbers"]))
    family_plots = [plot_family(name, curves) for name, curves in sorted(families.items())]
    counts = {st.value: sum(c["status"] == st.value for s in subjects for c in s["checks"]) for st in Status}
    template = env.get_template("report.html.j2")
    return template.render(env=data.get("environment", {}), subjects=views, check_ids=check_ids,
                           counts=counts, status_text=STATUS_TEXT, schema_version=data.get("schema_version"),
                           columns=columns, family_plots=family_plots,
                           timing_warnings=timing_warnings(data.get("bench", {})))


def write_report(data: dict[str, Any], out_dir: str | Path) -> Path:
    path = Path(out_dir) / "index.html"
    write_atomic(path, render(data))
    return path
