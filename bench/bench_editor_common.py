"""A generated robot of any size for the editor benchmarks (deterministic)."""

from __future__ import annotations

import random
import uuid

from graph.document import FunnelDocument

_NS = uuid.UUID("5b0c1f9e-4f0e-4d55-9b0c-7d5b9e0f0a11")


def generated_robot(n_nodes: int, seed: int = 7) -> FunnelDocument:
    """A funnel of ``n_nodes``: one /start trigger, then chains of messages (with
    buttons), delays, wait-for-reply, conditions, tags, in a grid; every node connected."""
    rnd = random.Random(seed)
    nodes: list[dict[str, object]] = []
    edges: list[dict[str, str]] = []

    def nid(i: int) -> str:
        return str(uuid.uuid5(_NS, f"{seed}-{i}"))

    nodes.append({"id": nid(0), "type": "trigger.start", "props": {"bot_role": "open"},
                  "ui": {"x": 0.0, "y": 0.0}})
    outs: list[tuple[int, str]] = [(0, "next")]
    for i in range(1, n_nodes):
        kind = rnd.choice(["message", "message", "delay", "wait_reply", "tag_add", "condition"])
        x, y = float((i // 10) * 320), float((i % 10) * 200)
        if kind == "message":
            props: dict[str, object] = {
                "text": f"Сообщение №{i}: расскажу про разбор по дате рождения",
                "buttons": [{"id": "yes", "text": "Хочу"}, {"id": "no", "text": "Не сейчас"}],
            }
            ports = ["next", "button:yes", "button:no"]
        elif kind == "delay":
            props, ports = {"duration": {"hours": rnd.randint(1, 48)}}, ["next"]
        elif kind == "wait_reply":
            props = {"phrases": ["да", "хочу"], "timeout": {"days": 1}}
            ports = ["matched", "other", "timeout"]
        elif kind == "tag_add":
            props, ports = {"tags": [f"тег {i % 17}"]}, ["next"]
        else:
            props = {"rules": [{"kind": "has_tag", "tag": "купил"}]}
            ports = ["yes", "no"]
        nodes.append({"id": nid(i), "type": kind, "props": props, "ui": {"x": x, "y": y}})
        src, port = outs.pop(rnd.randrange(len(outs))) if outs else (i - 1, "next")
        edges.append({"source": nid(src), "source_port": port, "target": nid(i)})
        outs.extend((i, p) for p in ports)
    return FunnelDocument.model_validate(
        {"id": str(uuid.uuid5(_NS, f"doc-{n_nodes}")), "name": f"Робот на {n_nodes} узлов",
         "nodes": nodes, "edges": edges}
    )
