"""The demo project shipped in ``resources/demo``: catalog and funnels."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

from graph.document import FunnelDocument
from graph.loading import load_funnel
from graph.project_catalog import ProjectCatalog

DEMO_PACKAGE = "resources.demo"


@dataclass(frozen=True)
class DemoProject:
    name: str
    description: str
    time_zone: str
    catalog: ProjectCatalog
    """Bots, tags, products, manager accounts and the demo funnels' names."""
    funnels: list[FunnelDocument]


def _read(name: str) -> str:
    return files(DEMO_PACKAGE).joinpath(name).read_text(encoding="utf-8")


def demo_project_data() -> dict[str, Any]:
    """The raw ``project.json``."""
    data: dict[str, Any] = json.loads(_read("project.json"))
    return data


def load_demo_funnels() -> list[FunnelDocument]:
    """The demo funnels, in the order project.json lists them."""
    return [load_funnel(_read(name)) for name in demo_project_data()["funnel_files"]]


def load_demo_project() -> DemoProject:
    data = demo_project_data()
    funnels = load_demo_funnels()
    catalog = ProjectCatalog.from_dict(data).with_created(funnels=[f.name for f in funnels])
    return DemoProject(
        name=data["name"],
        description=data.get("description", ""),
        time_zone=data["time_zone"],
        catalog=catalog,
        funnels=funnels,
    )
