"""The match-mode editor (R2) with a phrase tester."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError
from PySide6 import QtWidgets

from desktop.editor.properties.fields import (
    BoolField,
    ChoiceField,
    FieldEditor,
    IntField,
    StringListField,
)
from desktop.i18n import language, tr
from graph.matchspec import MatchMode, MatchSpec

ExplainFn = Callable[[str, list[str], MatchSpec], Any]
"""``explain(text, phrases, spec)`` → an object with ``matched``, ``reason_ru``, ``reason_en``."""


def default_explain() -> ExplainFn:
    from engine.matching import explain

    return explain


class MatchField(FieldEditor):
    """Mode, threshold, word forms, negation, stop phrases — and a tester that shows
    whether a typed text matches the node's phrases, with the reason."""

    def __init__(self, phrases: Callable[[], list[str]], explain: ExplainFn | None = None) -> None:
        super().__init__()
        self._phrases = phrases
        self._explain = explain
        self._extra: dict[str, Any] = {}
        form = QtWidgets.QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        self.mode = ChoiceField([m.value for m in MatchMode])
        self.threshold = IntField(50, 100, suffix=" %")
        self.word_forms = BoolField(tr("field.word_forms"))
        self.negation = BoolField(tr("field.negation_aware"))
        self.stop_phrases = StringListField()
        form.addRow(tr("field.mode"), self.mode)
        form.addRow(tr("field.threshold"), self.threshold)
        form.addRow(self.word_forms)
        form.addRow(self.negation)
        form.addRow(tr("field.stop_phrases"), self.stop_phrases)
        for part in (self.mode, self.threshold, self.word_forms, self.negation, self.stop_phrases):
            part.edited.connect(self._on_part)

        box = QtWidgets.QGroupBox(tr("editor.tester"))
        tester = QtWidgets.QVBoxLayout(box)
        self.test_input = QtWidgets.QLineEdit()
        self.test_input.setPlaceholderText(tr("editor.tester_placeholder"))
        self.test_result = QtWidgets.QLabel()
        self.test_result.setWordWrap(True)
        tester.addWidget(self.test_input)
        tester.addWidget(self.test_result)
        form.addRow(box)
        self.test_input.textChanged.connect(lambda _t: self.run_test())
        self._update_threshold()

    def _on_part(self) -> None:
        self._update_threshold()
        self.run_test()
        self._emit()

    def _update_threshold(self) -> None:
        self.threshold.setEnabled(self.mode.value() == MatchMode.FUZZY.value)

    def value(self) -> Any:
        return {
            **self._extra,
            "mode": self.mode.value(),
            "threshold": self.threshold.value(),
            "word_forms": self.word_forms.value(),
            "negation_aware": self.negation.value(),
            "stop_phrases": self.stop_phrases.value(),
        }

    def _show(self, value: Any) -> None:
        data = value if isinstance(value, dict) else {}
        known = {"mode", "threshold", "word_forms", "negation_aware", "stop_phrases"}
        self._extra = {k: v for k, v in data.items() if k not in known}
        defaults = MatchSpec().model_dump(mode="json")
        self.mode.set_value(data.get("mode", defaults["mode"]))
        self.threshold.set_value(data.get("threshold", defaults["threshold"]))
        self.word_forms.set_value(data.get("word_forms", defaults["word_forms"]))
        self.negation.set_value(data.get("negation_aware", defaults["negation_aware"]))
        self.stop_phrases.set_value(data.get("stop_phrases", []))
        self._update_threshold()
        self.run_test()

    def run_test(self) -> str:
        """Check the tester text now; returns the shown result."""
        text = self.test_input.text()
        if not text.strip():
            self.test_result.setText("")
            return ""
        try:
            spec = MatchSpec.model_validate(self.value())
        except ValidationError as exc:
            self.test_result.setText(f"<span style='color:#d03030'>{exc.errors()[0]['msg']}</span>")
            return self.test_result.text()
        explain = self._explain or default_explain()
        try:
            result = explain(text, [p for p in self._phrases() if p.strip()], spec)
        except Exception as exc:  # a bad regex and the like: show it, do not crash
            self.test_result.setText(f"<span style='color:#d03030'>{exc}</span>")
            return self.test_result.text()
        reason = result.reason_en if language() == "en" else result.reason_ru
        if result.matched:
            head = f"<b style='color:#1f9d55'>✔ {tr('editor.matched')}</b>"
        else:
            head = f"<b style='color:#d03030'>✘ {tr('editor.not_matched')}</b>"
        self.test_result.setText(f"{head}<br>{reason}")
        return self.test_result.text()
