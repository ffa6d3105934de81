from __future__ import annotations

import tomllib
import xml.etree.ElementTree as ET
from importlib import resources
from pathlib import Path

import harness.report as report
from harness.report import write_all

ROOT = Path(__file__).resolve().parents[2]


def test_public_api():
    assert {"write_json", "write_junit", "write_html", "load_json", "write_all"} <= set(report.__all__)
    for name in report.__all__:
        assert hasattr(report, name)


def test_write_all(run, tmp_path):
    out = tmp_path / "reports" / "20250102T030405Z"
    paths = write_all(run, out)
    assert paths == {"json": out / "results.json", "junit": out / "junit.xml", "html": out / "report.html"}
    assert sorted(p.name for p in out.iterdir()) == ["junit.xml", "report.html", "results.json"]
    assert report.load_json(paths["json"]) == run.to_json()
    ET.parse(paths["junit"])
    assert paths["html"].read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_template_is_package_data():
    assert (resources.files("harness.report") / "templates" / "report.html").is_file()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "report/templates/*" in pyproject["tool"]["setuptools"]["package-data"]["harness"]
