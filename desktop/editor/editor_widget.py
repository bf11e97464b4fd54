"""FunnelEditor: the robot editor widget — canvas, palette, properties, problems."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import Any

from NodeGraphQt import NodeGraph
from PySide6 import QtCore, QtGui, QtWidgets

from desktop import i18n
from desktop.editor import adapter
from desktop.editor.layout import layered_positions
from desktop.editor.nodes import PROP_PROPS, PROP_TITLE, FunnelBaseNode, dump_props, node_class_for
from desktop.editor.palette import MIME_TYPE, TEXT_PREFIX, NodePalette
from desktop.editor.properties.panel import ExplainFn, PropertiesPanel
from desktop.i18n import tr
from graph.document import FunnelDocument, FunnelEdge, FunnelNode
from graph.node_types import find_type
from graph.problems import Problem

CLIPBOARD_MIME = "application/x-voronka-nodes+json"
CLIPBOARD_KIND = "voronka.nodes"
PASTE_OFFSET = 40.0

Counts = tuple[int, int, int]


def _new_document() -> FunnelDocument:
    return FunnelDocument(id=uuid.uuid4(), name="Новый робот")


class FunnelEditor(QtWidgets.QWidget):
    """Edits one funnel document.

    Signals: ``changed()`` after every edit (and undo/redo), ``dirtyChanged(bool)``,
    ``badgeClicked(node_uuid: str)``, ``selectionChanged(list[str])``.
    """

    changed = QtCore.Signal()
    dirtyChanged = QtCore.Signal(bool)
    badgeClicked = QtCore.Signal(str)
    selectionChanged = QtCore.Signal(list)

    def __init__(
        self,
        parent: QtWidgets.QWidget | None = None,
        *,
        explain: ExplainFn | None = None,
        known_tags: Iterable[str] = (),
    ) -> None:
        super().__init__(parent)
        self._doc = _new_document()
        self._index: dict[str, FunnelBaseNode] = {}
        self._index_dirty = True
        self._problems: list[Problem] = []
        self._badged: set[str] = set()
        self._read_only = False
        self._fit_timer = QtCore.QTimer(self)
        self._fit_timer.setSingleShot(True)
        self._fit_timer.setInterval(0)
        self._fit_timer.timeout.connect(self.fit_to_view)

        self.graph = NodeGraph()
        adapter.configure_graph(self.graph)
        self.viewer = self.graph.viewer()
        self.undo_stack: QtGui.QUndoStack = self.graph.undo_stack()

        self.palette = NodePalette()
        self.properties = PropertiesPanel(explain=explain, known_tags=known_tags)
        self.problems_list = QtWidgets.QListWidget()
        self.problems_list.setWordWrap(True)
        self.problems_label = QtWidgets.QLabel()
        self._build_ui()
        self._build_actions()
        self._wire()
        self.retranslate()
        i18n.on_language_changed(lambda _lang: self.retranslate())

    # -- construction --------------------------------------------------------------------

    def _build_ui(self) -> None:
        self.toolbar = QtWidgets.QToolBar()
        self.toolbar.setIconSize(QtCore.QSize(16, 16))
        self.toolbar.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextOnly)

        problems_box = QtWidgets.QWidget()
        pl = QtWidgets.QVBoxLayout(problems_box)
        pl.setContentsMargins(4, 2, 4, 2)
        pl.addWidget(self.problems_label)
        pl.addWidget(self.problems_list)

        center = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        center.addWidget(self.graph.widget)
        center.addWidget(problems_box)
        center.setStretchFactor(0, 5)
        center.setStretchFactor(1, 1)
        center.setSizes([780, 90])

        scroll = QtWidgets.QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.properties)
        scroll.setMinimumWidth(320)
        self.properties_scroll = scroll

        self.splitter = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.palette)
        self.splitter.addWidget(center)
        self.splitter.addWidget(scroll)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setStretchFactor(2, 0)
        self.splitter.setSizes([200, 1000, 320])

        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.toolbar)
        layout.addWidget(self.splitter, 1)

    def _action(self, key: str, shortcuts: list[QtGui.QKeySequence], slot: Callable[[], Any]) -> QtGui.QAction:
        action = QtGui.QAction(self)
        action.setShortcuts(shortcuts)
        action.setShortcutContext(QtCore.Qt.ShortcutContext.WidgetWithChildrenShortcut)
        action.triggered.connect(lambda _checked=False: slot())
        action.setData(key)
        self.addAction(action)
        return action

    def _build_actions(self) -> None:
        seq = QtGui.QKeySequence
        std = QtGui.QKeySequence.StandardKey
        self.action_undo = self._action("action.undo", [seq(std.Undo)], self.undo)
        self.action_redo = self._action(
            "action.redo", [seq("Ctrl+Shift+Z"), seq(std.Redo)], self.redo
        )
        self.action_copy = self._action("action.copy", [seq(std.Copy)], self.copy_selected)
        self.action_cut = self._action("action.cut", [seq(std.Cut)], self.cut_selected)
        self.action_paste = self._action("action.paste", [seq(std.Paste)], self.paste)
        self.action_delete = self._action(
            "action.delete", [seq(std.Delete), seq("Backspace")], self.delete_selected
        )
        self.action_select_all = self._action(
            "action.select_all", [seq(std.SelectAll)], self.graph.select_all
        )
        self.action_layout = self._action("action.layout", [seq("Ctrl+L")], self.auto_layout)
        self.action_fit = self._action("action.fit", [seq("F")], self.fit_to_view)
        for action in (self.action_undo, self.action_redo, self.action_layout, self.action_fit):
            self.toolbar.addAction(action)

    def _wire(self) -> None:
        self.palette.addRequested.connect(self._on_palette_add)
        self.undo_stack.indexChanged.connect(self._on_stack_changed)
        self.undo_stack.cleanChanged.connect(self._on_clean_changed)
        self.graph.node_selection_changed.connect(self._on_selection_changed)
        self.graph.property_changed.connect(self._on_property_changed)
        self.graph.data_dropped.connect(self._on_drop)
        self.problems_list.itemClicked.connect(self._on_problem_clicked)
        self.properties.propsEdited.connect(self.set_node_props)
        self.properties.titleEdited.connect(self.set_node_title)

    def _on_palette_add(self, type_id: str) -> None:
        self.add_node(type_id)

    def retranslate(self) -> None:
        for action in self.actions():
            key = action.data()
            if key:
                action.setText(tr(str(key)))
        self.palette.retranslate()
        for node in self._nodes().values():
            node.redraw()
        self._show_problems()
        self._on_selection()

    # -- document ------------------------------------------------------------------------

    def load(self, doc: FunnelDocument) -> None:
        """Show ``doc`` (replaces everything; undo history and badges are cleared)."""
        self._doc = doc
        self._badged.clear()
        self._problems = []
        adapter.load_document(self.graph, doc)
        self._index_dirty = True
        self.undo_stack.setClean()
        self._show_problems()
        self.properties.show_node(None)
        self._fit_timer.start()  # once the view has its size

    def set_read_only(self, read_only: bool = True) -> None:
        """Show the document without letting it change (a published version): no palette,
        no editing actions, nodes and connections locked, properties shown but disabled.
        Call after :meth:`load`."""
        self._read_only = read_only
        self.palette.setVisible(not read_only)
        self.properties.setEnabled(not read_only)
        for action in (
            self.action_undo, self.action_redo, self.action_cut, self.action_paste,
            self.action_delete, self.action_layout,
        ):  # fmt: skip
            action.setEnabled(not read_only)
        self.viewer.setAcceptDrops(not read_only)
        movable = QtWidgets.QGraphicsItem.GraphicsItemFlag.ItemIsMovable
        for node in self._nodes().values():
            node.view.setFlag(movable, not read_only)
            for port in [*node.input_ports(), *node.output_ports()]:
                port.set_locked(read_only, connected_ports=False, push_undo=False)
        self.undo_stack.clear()

    def is_read_only(self) -> bool:
        return self._read_only

    def document(self) -> FunnelDocument:
        """The edited funnel as a document (node positions from the canvas)."""
        return adapter.graph_to_document(self.graph, self._doc)

    def set_funnel_name(self, name: str) -> None:
        """Rename the edited funnel without touching the canvas or its undo history."""
        self._doc = self._doc.model_copy(update={"name": name})

    def set_known_tags(self, tags: Iterable[str]) -> None:
        """Tags offered by the tag pickers (new ones can still be typed)."""
        self.properties.set_known(tags=tags)

    def set_known(self, **values: Iterable[str]) -> None:
        """Completion lists for the properties panel: ``tags``, ``products``,
        ``funnels``, ``bot_roles``, ``accounts``."""
        self.properties.set_known(**values)

    def is_dirty(self) -> bool:
        return not self.undo_stack.isClean()

    def mark_saved(self) -> None:
        self.undo_stack.setClean()

    # -- nodes ---------------------------------------------------------------------------

    def _nodes(self) -> dict[str, FunnelBaseNode]:
        if self._index_dirty:
            self._index = {n.funnel_uuid: n for n in adapter.funnel_nodes(self.graph)}
            self._index_dirty = False
        return self._index

    def node(self, node_uuid: str) -> FunnelBaseNode | None:
        return self._nodes().get(str(node_uuid))

    def node_uuids(self) -> list[str]:
        return list(self._nodes())

    def _view_center(self) -> tuple[float, float]:
        center = self.viewer.mapToScene(self.viewer.viewport().rect().center())
        return center.x(), center.y()

    def add_node(self, type_id: str, pos: tuple[float, float] | None = None) -> str:
        """Add a node of ``type_id`` (undoable) at ``pos`` or the view centre; its UUID."""
        node = node_class_for(type_id)()
        node_uuid = node.funnel_uuid
        node.NODE_NAME = node_uuid
        if pos is None:
            cx, cy = self._view_center()
            pos = (cx - node.view.width / 2, cy - 40.0)
        node_type = find_type(type_id)
        title = node_type.title.get(i18n.language()) if node_type else type_id
        self.undo_stack.beginMacro(tr("undo.add_node", title=title))
        try:
            self.graph.clear_selection()
            self.graph.add_node(node, pos=[float(pos[0]), float(pos[1])], selected=True)
        finally:
            self.undo_stack.endMacro()
        self._index_dirty = True
        return node_uuid

    def connect_nodes(
        self, source: str, source_port: str, target: str, target_port: str = "in"
    ) -> bool:
        """Connect an output to an input (undoable); False when a port is missing."""
        src, trg = self.node(source), self.node(target)
        if src is None or trg is None:
            return False
        out_port = src.outputs().get(source_port)
        in_port = trg.inputs().get(target_port)
        if out_port is None or in_port is None:
            return False
        out_port.connect_to(in_port)
        return True

    def select_node(self, node_uuid: str, center: bool = True) -> bool:
        node = self.node(node_uuid)
        if node is None:
            return False
        self.graph.clear_selection()
        node.set_selected(True)
        if center:
            self.graph.center_on([node])
        self._on_selection()
        return True

    def selected_uuids(self) -> list[str]:
        return [n.funnel_uuid for n in self.graph.selected_nodes() if isinstance(n, FunnelBaseNode)]

    def set_node_props(self, node_uuid: str, props: dict[str, Any]) -> None:
        """Replace a node's properties (one undoable step). Dynamic outputs follow:
        removed buttons/branches lose their connections and their ports are hidden."""
        node = self.node(node_uuid)
        if node is None:
            return
        new_json = dump_props(props)
        if new_json == node.get_property(PROP_PROPS):
            return
        wanted = self._wanted_outputs(node, props)
        self.undo_stack.beginMacro(tr("undo.edit", title=node.display_title()))
        try:
            outputs = node.outputs()
            for name, port in outputs.items():
                if port.visible() and name not in wanted and self._is_dynamic(node, name):
                    port.clear_connections()
                    port.set_visible(False)
            for name in wanted:
                port = outputs.get(name)
                if port is None:
                    port = node.add_funnel_output(name)
                    port.set_visible(False, push_undo=False)
                    port.set_visible(True)
                elif not port.visible():
                    port.set_visible(True)
            node.set_property(PROP_PROPS, new_json)
        finally:
            self.undo_stack.endMacro()

    def set_node_title(self, node_uuid: str, title: str) -> None:
        node = self.node(node_uuid)
        if node is not None and (title or "") != (node.get_property(PROP_TITLE) or ""):
            node.set_property(PROP_TITLE, title or "")

    @staticmethod
    def _is_dynamic(node: FunnelBaseNode, port: str) -> bool:
        node_type = node.node_type
        return bool(node_type and port not in node_type.outputs and node_type.dynamic_prefixes
                    and port.startswith(node_type.dynamic_prefixes))

    @staticmethod
    def _wanted_outputs(node: FunnelBaseNode, props: dict[str, Any]) -> list[str]:
        node_type = node.node_type
        if node_type is None:
            return [p.name() for p in node.output_ports() if p.visible()]
        try:
            parsed = node_type.parse_props(props)
        except Exception:  # invalid props: keep the dynamic ports that are there
            return [p.name() for p in node.output_ports() if p.visible()]
        return list(node_type.output_ports(parsed))

    def _on_property_changed(self, node: Any, name: str, _value: Any) -> None:
        if not isinstance(node, FunnelBaseNode) or name not in (PROP_PROPS, PROP_TITLE):
            return
        self._order_outputs(node)
        node.redraw()
        if self.properties.current_uuid == node.funnel_uuid and not self.properties.is_committing:
            self.properties.show_node(self._panel_data(node))

    @staticmethod
    def _order_outputs(node: FunnelBaseNode) -> None:
        """Static outputs first, then dynamic ones in property order (buttons as listed)."""
        node_type = node.node_type
        if node_type is None:
            return
        try:
            wanted = list(node_type.output_ports(node_type.parse_props(node.funnel_props())))
        except Exception:
            return
        view = node.view
        items = list(view._output_items.items())
        rank = {name: i for i, name in enumerate(wanted)}
        items.sort(key=lambda kv: rank.get(kv[0].name, len(rank)))
        view._output_items.clear()
        view._output_items.update(items)

    # -- undo / clipboard ----------------------------------------------------------------

    def undo(self) -> None:
        self.undo_stack.undo()

    def redo(self) -> None:
        self.undo_stack.redo()

    def _on_clean_changed(self, clean: bool) -> None:
        self.dirtyChanged.emit(not clean)

    def _on_stack_changed(self, _index: int) -> None:
        self._index_dirty = True
        self.changed.emit()

    def copy_selected(self) -> bool:
        """Put the selected nodes (and the edges between them) on the clipboard as our
        JSON; works between robots and projects."""
        nodes = [n for n in self.graph.selected_nodes() if isinstance(n, FunnelBaseNode)]
        if not nodes:
            return False
        payload = {
            "kind": CLIPBOARD_KIND,
            "version": 1,
            "nodes": [adapter.node_to_funnel_node(n).model_dump(mode="json") for n in nodes],
            "edges": [e.model_dump(mode="json") for e in adapter.edges_of(nodes, only_between=True)],
        }
        text = json.dumps(payload, ensure_ascii=False)
        mime = QtCore.QMimeData()
        mime.setData(CLIPBOARD_MIME, QtCore.QByteArray(text.encode()))
        mime.setText(text)
        QtWidgets.QApplication.clipboard().setMimeData(mime)
        return True

    def cut_selected(self) -> None:
        if self.copy_selected():
            self.delete_selected()

    def delete_selected(self) -> None:
        nodes = [] if self._read_only else self.graph.selected_nodes()
        if nodes:
            self.graph.delete_nodes(nodes)
            self._index_dirty = True

    def paste(self) -> list[str]:
        """Paste nodes from the clipboard with new UUIDs (one undoable step); their UUIDs."""
        mime = QtWidgets.QApplication.clipboard().mimeData()
        if mime is None or self._read_only:
            return []
        if mime.hasFormat(CLIPBOARD_MIME):
            text = bytes(mime.data(CLIPBOARD_MIME).data()).decode()
        else:
            text = mime.text()
        try:
            payload = json.loads(text)
            if payload.get("kind") != CLIPBOARD_KIND:
                return []
            nodes = [FunnelNode.model_validate(n) for n in payload["nodes"]]
            edges = [FunnelEdge.model_validate(e) for e in payload["edges"]]
        except (ValueError, TypeError, KeyError, AttributeError):
            return []
        if not nodes:
            return []
        new_ids = {n.id: uuid.uuid4() for n in nodes}
        present = set(self._nodes())
        offset = PASTE_OFFSET if any(str(n.id) in present for n in nodes) else 0.0
        moved = [
            n.model_copy(update={"id": new_ids[n.id], "ui": n.ui.model_copy(
                update={"x": n.ui.x + offset, "y": n.ui.y + offset})})
            for n in nodes
        ]
        remapped = [
            e.model_copy(update={"source": new_ids[e.source], "target": new_ids[e.target]})
            for e in edges
            if e.source in new_ids and e.target in new_ids
        ]
        self.graph.clear_selection()
        built = adapter.build_nodes(self.graph, moved, remapped, push_undo=True, select=True)
        self._index_dirty = True
        return list(built)

    # -- layout / view -------------------------------------------------------------------

    def auto_layout(self) -> None:
        """Arrange nodes in layers left → right by BFS from the triggers (undoable)."""
        nodes = self._nodes()
        if not nodes:
            return
        edges = [(str(e.source), str(e.target)) for e in adapter.edges_of(nodes.values())]
        roots = [u for u, n in nodes.items() if n.node_type and n.node_type.is_trigger]
        heights = {u: float(n.view.height) for u, n in nodes.items()}
        positions = layered_positions(list(nodes), edges, roots, heights)
        self.undo_stack.beginMacro(tr("undo.layout"))
        try:
            for node_uuid, (x, y) in positions.items():
                node = nodes[node_uuid]
                if tuple(node.pos()) != (x, y):
                    node.set_pos(x, y)
        finally:
            self.undo_stack.endMacro()
        self.fit_to_view()

    def fit_to_view(self) -> None:
        """Zoom to show every node."""
        self._fit_timer.stop()
        nodes = self.graph.all_nodes()
        if not nodes:
            return
        self.viewer.zoom_to_nodes([n.view for n in nodes])

    def show_region(self, node_uuids: Iterable[str], max_scale: float = 1.0) -> None:
        """Zoom to show these nodes; when that would magnify beyond ``max_scale``, show
        them at 1:1 instead."""
        self._fit_timer.stop()
        nodes = [n for n in (self.node(u) for u in node_uuids) if n is not None]
        if not nodes:
            return
        rect = nodes[0].view.sceneBoundingRect()
        for node in nodes[1:]:
            rect = rect.united(node.view.sceneBoundingRect())
        rect.adjust(-60, -60, 60, 60)
        # NodeGraphQt's viewer keeps its own scene range (see NodeViewer.zoom_to_nodes)
        self.viewer._scene_range = rect
        self.viewer._update_scene()
        if self.viewer.transform().m11() > max_scale:
            self.viewer.reset_zoom(rect.center())  # 1:1 around the region

    def _on_drop(self, mime: QtCore.QMimeData, pos: QtCore.QPoint) -> None:
        if self._read_only:
            return
        type_id = ""
        if mime.hasFormat(MIME_TYPE):
            type_id = bytes(mime.data(MIME_TYPE).data()).decode()
        elif mime.text().startswith(TEXT_PREFIX):
            type_id = mime.text()[len(TEXT_PREFIX):]
        if type_id and find_type(type_id) is not None:
            self.add_node(type_id, (float(pos.x()), float(pos.y())))

    # -- problems ------------------------------------------------------------------------

    def set_problems(self, problems: list[Problem]) -> None:
        """List ``problems`` and mark their nodes (red border for errors, amber for
        warnings; the messages in the node's tooltip)."""
        self._problems = list(problems)
        self._show_problems()

    def _problem_text(self, problem: Problem) -> str:
        message = problem.message if i18n.language() == "en" else problem.message_ru
        where = problem.node_title
        if where is None and problem.node_id is not None:
            node = self.node(str(problem.node_id))
            where = node.display_title() if node else None
        mark = "⛔" if problem.is_error else "⚠"
        return f"{mark} {where}: {message}" if where else f"{mark} {message}"

    def _show_problems(self) -> None:
        by_node: dict[str, list[Problem]] = {}
        for problem in self._problems:
            if problem.node_id is not None:
                by_node.setdefault(str(problem.node_id), []).append(problem)
        for node_uuid, node in self._nodes().items():
            found = by_node.get(node_uuid)
            view = node.view
            if not found:
                if view.problem_level is not None:
                    view.set_problem(None)
                continue
            level = "error" if any(p.is_error for p in found) else "warning"
            lang = i18n.language()
            tooltip = "\n".join((p.message if lang == "en" else p.message_ru) for p in found)
            view.set_problem(level, tooltip)
        self.problems_list.clear()
        for problem in self._problems:
            item = QtWidgets.QListWidgetItem(self._problem_text(problem))
            item.setData(QtCore.Qt.ItemDataRole.UserRole, str(problem.node_id or ""))
            item.setForeground(QtGui.QColor(200, 50, 50) if problem.is_error else QtGui.QColor(180, 120, 0))
            self.problems_list.addItem(item)
        count = len(self._problems)
        self.problems_label.setText(tr("problems.count", n=count) if count else tr("problems.none"))

    def _on_problem_clicked(self, item: QtWidgets.QListWidgetItem) -> None:
        node_uuid = item.data(QtCore.Qt.ItemDataRole.UserRole)
        if node_uuid:
            self.select_node(str(node_uuid))

    def problem_nodes(self) -> dict[str, str]:
        """UUID → "error" / "warning" for every highlighted node."""
        return {u: n.view.problem_level for u, n in self._nodes().items() if n.view.problem_level}

    # -- live counts ---------------------------------------------------------------------

    def set_counts(self, counts: Mapping[str, Counts]) -> None:
        """Live badges: ``{node_uuid: (now, entered, passed)}``. Badges are made once per
        node and only updated afterwards; nodes missing from ``counts`` hide theirs."""
        nodes = self._nodes()
        seen: set[str] = set()
        for node_uuid, (now, entered, passed) in counts.items():
            key = str(node_uuid)
            node = nodes.get(key)
            if node is None:
                continue
            view = node.view
            badge = view.badge
            if badge is None:
                badge = view.ensure_badge()
                badge.clicked = partial(self.badgeClicked.emit, key)
            if not badge.isVisible():
                badge.setVisible(True)
            badge.set_counts(int(now), int(entered), int(passed))
            seen.add(key)
        for key in self._badged - seen:
            node = nodes.get(key)
            if node is not None and node.view.badge is not None:
                node.view.badge.setVisible(False)
        self._badged = seen

    def badge_text(self, node_uuid: str) -> str | None:
        node = self.node(node_uuid)
        badge = node.view.badge if node else None
        return badge.text if badge is not None and badge.isVisible() else None

    # -- selection → properties ----------------------------------------------------------

    def _panel_data(self, node: FunnelBaseNode) -> dict[str, Any]:
        return {
            "uuid": node.funnel_uuid,
            "type": node.type_id,
            "props": node.funnel_props(),
            "title": node.title_override() or "",
        }

    def _on_selection_changed(self, *_args: Any) -> None:
        self._on_selection()

    def _on_selection(self) -> None:
        selected = [n for n in self.graph.selected_nodes() if isinstance(n, FunnelBaseNode)]
        if len(selected) == 1:
            self.properties.show_node(self._panel_data(selected[0]))
        else:
            self.properties.show_node(None, count=len(selected))
        self.selectionChanged.emit([n.funnel_uuid for n in selected])

    # -- pick a node (staff actions: "move the contact to a node") -------------------------

    def begin_pick_node(
        self,
        on_pick: Callable[[str], Any],
        on_cancel: Callable[[], Any] | None = None,
        message: str | None = None,
    ) -> None:
        """Pick mode: a banner over the canvas; a click on a node calls ``on_pick(uuid)``,
        Esc or the banner's button calls ``on_cancel()`` (see desktop/editor/pick.py)."""
        from desktop.editor.pick import NodePicker

        picker = self.__dict__.get("_picker")
        if picker is None:
            picker = self.__dict__["_picker"] = NodePicker(self)
        picker.begin(on_pick, on_cancel, message)

    def cancel_pick(self) -> None:
        picker = self.__dict__.get("_picker")
        if picker is not None:
            picker.cancel()

    def is_picking(self) -> bool:
        picker = self.__dict__.get("_picker")
        return picker is not None and picker.is_active()
