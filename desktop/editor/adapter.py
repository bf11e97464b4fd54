"""FunnelDocument ⇄ NodeGraphQt graph, lossless.

Our document is the truth; the graph only draws it. Every funnel node becomes one
:class:`~desktop.editor.nodes.FunnelBaseNode` carrying its UUID, type id, properties (JSON),
title override and ``collapsed`` flag as custom properties, at ``ui.x, ui.y``. Ports are
the type's static outputs, the dynamic ones derived from valid properties (message buttons,
randomizer branches), plus any port an edge names that the properties do not explain (so
a document with such problems survives the editor unchanged). An output that the document
connects to several nodes is made multi-connection so the fan-out is kept (validation
reports it). Unknown node types load as grey :class:`~desktop.editor.nodes.UnknownNode`.

Loading is bulk: no undo commands, no signals, no per-node unique-name scan, no viewport
updates until the end (see :func:`load_document`).
"""

from __future__ import annotations

import gc
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import shiboken6
from NodeGraphQt import NodeGraph
from NodeGraphQt.base.commands import PortConnectedCmd
from PySide6 import QtWidgets

from desktop import qt_compat
from desktop.editor import style
from desktop.editor.nodes import (
    BULK,
    PROP_COLLAPSED,
    PROP_PROPS,
    PROP_TITLE,
    PROP_TYPE,
    PROP_UUID,
    FunnelBaseNode,
    all_node_classes,
    dump_props,
    node_class_for,
)
from desktop.i18n import tr
from graph.document import FunnelDocument, FunnelEdge, FunnelNode


def configure_graph(graph: NodeGraph) -> None:
    """Register our node classes and set the canvas options funnels need."""
    qt_compat.apply()
    registered = set(graph.registered_nodes())
    for cls in all_node_classes():
        if cls.type_ not in registered:
            graph.register_node(cls)
    graph.set_acyclic(False)  # funnels may loop back (through a wait)
    graph.set_pipe_collision(False)
    graph.set_background_color(*style.CANVAS_BG)
    graph.set_grid_color(*style.CANVAS_GRID)


def funnel_nodes(graph: NodeGraph) -> list[FunnelBaseNode]:
    return [n for n in graph.all_nodes() if isinstance(n, FunnelBaseNode)]


def _outputs_for(node: FunnelNode, extra: Iterable[str]) -> list[str]:
    node_type = node.node_type
    names: list[str] = []
    if node_type is not None:
        parsed = node.parsed_props()
        names.extend(node_type.output_ports(parsed))
    for name in extra:
        if name not in names:
            names.append(name)
    return names


def _new_node(node: FunnelNode, out_extra: Sequence[str], in_extra: Sequence[str],
              multi: set[str]) -> FunnelBaseNode:
    cls = node_class_for(node.type)
    obj = cls()
    custom = obj.model._custom_prop
    custom[PROP_UUID] = str(node.id)
    custom[PROP_TYPE] = node.type
    custom[PROP_PROPS] = dump_props(node.props)
    custom[PROP_TITLE] = node.title or ""
    custom[PROP_COLLAPSED] = node.ui.collapsed
    existing_out = set(obj.outputs())
    for name in _outputs_for(node, out_extra):
        if name not in existing_out:
            obj.add_funnel_output(name, multi=name in multi)
        elif name in multi:
            obj.outputs()[name].model.multi_connection = True
            obj.outputs()[name].view.multi_connection = True
    existing_in = set(obj.inputs())
    for name in in_extra:
        if name not in existing_in:
            obj.add_funnel_input(name)
    obj.NODE_NAME = str(node.id)
    obj.refresh_content()
    return obj


def build_nodes(
    graph: NodeGraph,
    nodes: Sequence[FunnelNode],
    edges: Sequence[FunnelEdge],
    *,
    push_undo: bool,
    select: bool = False,
) -> dict[str, FunnelBaseNode]:
    """Add ``nodes`` and the ``edges`` between them (or to nodes already in the graph).

    With ``push_undo`` everything is one undoable step (paste); without it nothing is
    recorded (loading). Returns the new nodes by UUID string."""
    out_extra: dict[str, list[str]] = {}
    in_extra: dict[str, list[str]] = {}
    fan = Counter((str(e.source), e.source_port) for e in edges)
    multi: dict[str, set[str]] = {}
    for e in edges:
        out_extra.setdefault(str(e.source), []).append(e.source_port)
        in_extra.setdefault(str(e.target), []).append(e.target_port)
        if fan[(str(e.source), e.source_port)] > 1:
            multi.setdefault(str(e.source), set()).add(e.source_port)

    existing = {n.funnel_uuid: n for n in funnel_nodes(graph)} if push_undo else {}
    built: dict[str, FunnelBaseNode] = {}
    BULK.active = True
    try:
        for node in nodes:
            key = str(node.id)
            built[key] = _new_node(node, out_extra.get(key, ()), in_extra.get(key, ()),
                                   multi.get(key, set()))
    finally:
        BULK.active = False

    by_uuid = {**existing, **built}
    if not push_undo:
        for node in nodes:
            _fast_add(graph, built[str(node.id)], (node.ui.x, node.ui.y))
        for out_port, in_port in _edge_ports(by_uuid, edges):
            PortConnectedCmd(out_port, in_port, False).redo()
        return built
    graph.begin_undo(tr("undo.paste"))
    try:
        with qt_compat.unique_names_trusted(graph):
            for node in nodes:
                obj = built[str(node.id)]
                graph.add_node(obj, pos=[node.ui.x, node.ui.y], selected=select)
        for out_port, in_port in _edge_ports(by_uuid, edges):
            out_port.connect_to(in_port)
    finally:
        graph.end_undo()
    return built


def _edge_ports(
    by_uuid: dict[str, FunnelBaseNode], edges: Sequence[FunnelEdge]
) -> Iterable[tuple[Any, Any]]:
    for e in edges:
        src = by_uuid.get(str(e.source))
        trg = by_uuid.get(str(e.target))
        if src is None or trg is None:
            continue
        out_port = src.outputs().get(e.source_port)
        in_port = trg.inputs().get(e.target_port)
        if out_port is not None and in_port is not None:
            yield out_port, in_port


def _fast_add(graph: NodeGraph, node: FunnelBaseNode, pos: tuple[float, float]) -> None:
    """``NodeGraph.add_node`` without undo, signals, unique-name scan and the view
    refresh from the model (our views are already set up) — NodeGraphQt 0.6.x internals."""
    model = node.model
    wid_types = model.__dict__.pop("_TEMP_property_widget_types")
    prop_attrs = model.__dict__.pop("_TEMP_property_attrs")
    model.__dict__.pop("_TEMP_accept_connection_types", None)
    model.__dict__.pop("_TEMP_reject_connection_types", None)
    graph_model = graph.model
    if graph_model.get_node_common_properties(node.type_) is None:
        attrs = {node.type_: {n: {"widget_type": wt} for n, wt in wid_types.items()}}
        for pname, pattrs in prop_attrs.items():
            attrs[node.type_][pname].update(pattrs)
        graph_model.set_node_common_properties(attrs)
    node._graph = graph
    model._graph_model = graph_model
    model.name = node.NODE_NAME
    view = node.view
    view._properties["visible"] = model.visible  # normally copied by node.update()
    view._properties["border_color"] = model.border_color
    graph_model.nodes[model.id] = node
    graph.viewer().add_node(view, list(pos))  # draws the node once (post_init)
    model.width = view.width
    model.height = view.height
    model.pos = list(pos)


def clear_graph(graph: NodeGraph) -> None:
    """Remove every node and pipe at once (no undo, no signals)."""
    scene = graph.scene()
    graph.undo_stack().clear()
    pipes: set[Any] = set()
    views = []
    for node in list(graph.model.nodes.values()):
        view = node.view
        for port in [*view.inputs, *view.outputs]:
            pipes.update(port.connected_pipes)
            port.connected_pipes.clear()
        views.append(view)
    graph.model.nodes.clear()
    # delete the C++ items now: orphaned items left to the garbage collector crash
    # PySide6 at interpreter exit
    for pipe in pipes:
        if pipe.scene() is scene:
            scene.removeItem(pipe)
        shiboken6.delete(pipe)
    for view in views:
        if view.scene() is scene:
            scene.removeItem(view)
        shiboken6.delete(view)


def load_document(graph: NodeGraph, doc: FunnelDocument) -> dict[str, FunnelBaseNode]:
    """Replace the graph's content with ``doc`` in bulk; the undo stack is cleared."""
    viewer = graph.viewer()
    scene = graph.scene()
    viewer.setUpdatesEnabled(False)
    scene.blockSignals(True)
    index_method = scene.itemIndexMethod()
    scene.setItemIndexMethod(QtWidgets.QGraphicsScene.ItemIndexMethod.NoIndex)
    undo_stack = graph.undo_stack()
    gc_was_enabled = gc.isenabled()
    gc.disable()  # thousands of new objects would trigger many useless full collections
    try:
        clear_graph(graph)
        built = build_nodes(graph, doc.nodes, doc.edges, push_undo=False)
    finally:
        scene.setItemIndexMethod(index_method)
        scene.blockSignals(False)
        viewer.setUpdatesEnabled(True)
        undo_stack.clear()
        if gc_was_enabled:
            gc.enable()
    return built


def node_to_funnel_node(node: FunnelBaseNode) -> FunnelNode:
    x, y = node.view.xy_pos
    return FunnelNode.model_validate(
        {
            "id": node.funnel_uuid,
            "type": node.type_id,
            "title": node.title_override(),
            "props": node.funnel_props(),
            "ui": {"x": float(x), "y": float(y), "collapsed": bool(node.get_property(PROP_COLLAPSED))},
        }
    )


def edges_of(nodes: Iterable[FunnelBaseNode], only_between: bool = False) -> list[FunnelEdge]:
    """Edges leaving ``nodes`` (only those between them when ``only_between``)."""
    nodes = list(nodes)
    inside = {id(n) for n in nodes}
    edges = []
    for node in nodes:
        for port in node.output_ports():
            for target in port.connected_ports():
                target_node = target.node()
                if not isinstance(target_node, FunnelBaseNode):
                    continue
                if only_between and id(target_node) not in inside:
                    continue
                edges.append(
                    FunnelEdge(
                        source=uuid.UUID(node.funnel_uuid),
                        source_port=port.name(),
                        target=uuid.UUID(target_node.funnel_uuid),
                        target_port=target.name(),
                    )
                )
    return edges


def graph_to_document(graph: NodeGraph, base: FunnelDocument) -> FunnelDocument:
    """The graph as a document with ``base``'s id, name, folder, description, settings."""
    nodes = funnel_nodes(graph)
    return FunnelDocument(
        schema_version=base.schema_version,
        id=base.id,
        name=base.name,
        folder=base.folder,
        description=base.description,
        settings=base.settings.model_copy(deep=True),
        nodes=[node_to_funnel_node(n) for n in nodes],
        edges=edges_of(nodes),
    )
