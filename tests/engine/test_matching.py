"""Text matching (R2): normalisation, modes, negation, stop-phrases, explanations."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.matching import (
    CompiledMatcher,
    InvalidPatternError,
    MatchExplanation,
    Reason,
    SynonymDictionary,
    Via,
    compile_matcher,
    explain,
    find_negation,
    matches,
    normalise,
    tokenize,
)
from graph.matchspec import MatchMode, MatchSpec

EXACT = MatchMode.EXACT
CONTAINS = MatchMode.CONTAINS
STARTS = MatchMode.STARTS_WITH
FUZZY = MatchMode.FUZZY
SYN = MatchMode.SYNONYMS
REGEX = MatchMode.REGEX


def spec(mode: MatchMode = EXACT, **options: object) -> MatchSpec:
    return MatchSpec(mode=mode, **options)  # type: ignore[arg-type]


# (text, phrases, spec, expected)
CASES: list[tuple[str, list[str], MatchSpec, bool]] = [
    # --- exact: normalisation -------------------------------------------------------------
    ("Спасибо!!! 😊", ["спасибо"], spec(EXACT), True),
    ("спасибо", ["Спасибо!!! 😊"], spec(EXACT), True),
    ("Оплату за таро получила!", ["оплату за Таро получила"], spec(EXACT), True),
    ("оплату за матрицу получила", ["оплату за таро получила"], spec(EXACT), False),
    ("оплату  за   таро\n получила", ["оплату за таро получила"], spec(EXACT), True),
    ("   спасибо   ", ["спасибо"], spec(EXACT), True),
    ("Всё получила", ["все получила"], spec(EXACT), True),
    ("ЕЩЕ", ["ещё"], spec(EXACT), True),
    ("спасибоооо", ["спасибо"], spec(EXACT), True),
    ("дааааа!!!", ["да"], spec(EXACT), True),
    ("😊🙏", ["спасибо"], spec(EXACT), False),
    ("", ["спасибо"], spec(EXACT), False),
    ("!!! ...", ["спасибо"], spec(EXACT), False),
    ("спасибo", ["спасибо"], spec(EXACT), True),  # Latin "o"
    ("Taро", ["таро"], spec(EXACT), True),  # Latin "T", "a"
    ("CПACИБO", ["спасибо"], spec(EXACT), True),  # Latin C, A, O
    ("ok", ["ок"], spec(EXACT), False),  # an all-Latin word is left alone
    ("расскажите", ["расскажи"], spec(EXACT), True),  # word forms
    ("расскажите", ["расскажи"], spec(EXACT, word_forms=False), False),
    ("Оплату за таро получил", ["оплату за таро получила"], spec(EXACT), True),
    ("большое спасибо", ["спасибо"], spec(EXACT), False),
    ("не хочу", ["хочу"], spec(EXACT), False),
    # --- contains: whole words, negation --------------------------------------------------
    ("Большое спасибо!", ["спасибо"], spec(CONTAINS), True),
    ("работа", ["бот"], spec(CONTAINS), False),
    ("наш бот работает", ["бот"], spec(CONTAINS), True),
    ("спасибо, но нет", ["спасибо"], spec(CONTAINS), False),
    ("спасибо, но нет", ["спасибо"], spec(CONTAINS, negation_aware=False), True),
    ("не хочу", ["хочу"], spec(CONTAINS), False),
    ("Нет, спасибо", ["спасибо"], spec(CONTAINS), False),
    ("мне не очень интересно", ["интересно"], spec(CONTAINS), False),
    ("очень интересно!", ["интересно"], spec(CONTAINS), True),
    ("хочу, но не сейчас", ["хочу"], spec(CONTAINS), False),
    ("спасибо, пожалуй, нет", ["спасибо"], spec(CONTAINS), False),
    ("ни спасибо, ни до свидания", ["спасибо"], spec(CONTAINS), False),
    ("не надо", ["не надо"], spec(CONTAINS), True),
    ("нет, не надо мне", ["не надо"], spec(CONTAINS), True),
    ("надо", ["не надо"], spec(CONTAINS), False),
    ("мне не интересно", ["не интересно"], spec(CONTAINS), True),
    ("я хочу на курс", ["хочу"], spec(CONTAINS), True),
    ("хотим на курс", ["хочу"], spec(CONTAINS), True),  # word forms in contains
    ("хотим на курс", ["хочу"], spec(CONTAINS, word_forms=False), False),
    # --- starts_with ----------------------------------------------------------------------
    ("Хочу курс по таро", ["хочу курс"], spec(STARTS), True),
    ("я хочу курс", ["хочу курс"], spec(STARTS), False),
    ("хочушки курс", ["хочу"], spec(STARTS), False),  # whole words only
    ("хочу, но не сейчас", ["хочу"], spec(STARTS), False),
    # --- fuzzy ----------------------------------------------------------------------------
    ("спосибо", ["спасибо"], spec(FUZZY), True),  # 85.7 ≥ 85
    ("спосибо", ["спасибо"], spec(FUZZY, threshold=86), False),  # threshold edge
    ("спосибо", ["спасибо"], spec(FUZZY, threshold=100), False),
    ("Спасибо!", ["спасибо"], spec(FUZZY, threshold=100), True),
    ("спасибо большое", ["спасибо"], spec(FUZZY), True),
    ("спосибо, но нет", ["спасибо"], spec(FUZZY), False),
    ("оплатуза таро получила", ["оплату за таро получила"], spec(FUZZY), True),
    ("оплату за матрицу получила", ["оплату за таро получила"], spec(FUZZY), False),
    ("хочю курс", ["хочу курс"], spec(FUZZY), True),
    ("не хочю курс", ["хочу курс"], spec(FUZZY), False),
    ("спс", ["спасибо"], spec(FUZZY, threshold=60), True),  # score exactly 60: ≥ passes
    ("спс", ["спасибо"], spec(FUZZY, threshold=61), False),
    # --- synonyms -------------------------------------------------------------------------
    ("благодарю", ["спасибо"], spec(SYN), True),
    ("Благодарим вас!", ["спасибо"], spec(SYN), True),  # by lemma
    ("спс большое", ["спасибо"], spec(SYN), True),
    ("благодарствую", ["спасибо"], spec(SYN), True),
    ("спасибо, но нет", ["спасибо"], spec(SYN), False),
    ("благодарю, но нет", ["спасибо"], spec(SYN), False),
    ("нет, спасибо", ["спасибо"], spec(SYN), False),
    ("не хочу", ["хочу"], spec(SYN), False),
    ("желаю курс", ["хочу курс"], spec(SYN), True),
    ("не нужно", ["не надо"], spec(SYN), True),  # a negative phrase matches its synonyms
    ("привет", ["спасибо"], spec(SYN), False),
    # --- regex ----------------------------------------------------------------------------
    ("Моя дата 12.03.1990", [r"\d{2}\.\d{2}\.\d{4}"], spec(REGEX), True),  # raw text
    ("ОПЛАТИЛА!!!", [r"^оплатил[аи]?$"], spec(REGEX), True),  # normalised text
    ("оплатила вчера", [r"^оплатил[аи]?$"], spec(REGEX), False),
    ("не оплатила", [r"оплатила"], spec(REGEX), False),  # negation on the normalised text
    ("нет, не надо", [r"\bне\s+надо"], spec(REGEX), True),  # a negative pattern
    ("😊", ["😊"], spec(REGEX), True),  # only the raw text has the emoji
    # --- stop-phrases ---------------------------------------------------------------------
    ("спасибо, отписаться", ["спасибо"], spec(CONTAINS, stop_phrases=["отписаться"]), False),
    ("спасибо", ["спасибо"], spec(EXACT, stop_phrases=["отписаться"]), True),
    ("Хочу курс, ОТПИШИТЕ меня", ["хочу курс"], spec(STARTS, stop_phrases=["отпишите"]), False),
    ("благодарю, отпишусь", ["спасибо"], spec(SYN, stop_phrases=["отписаться"]), False),
]


@pytest.mark.parametrize(("text", "phrases", "match_spec", "expected"), CASES)
def test_match_table(text: str, phrases: list[str], match_spec: MatchSpec, expected: bool) -> None:
    explanation = explain(text, phrases, match_spec)
    assert matches(text, phrases, match_spec) is expected, explanation.reason_en
    assert explanation.matched is expected
    assert explanation.reason_ru and explanation.reason_en


def test_table_is_large_enough() -> None:
    assert len(CASES) >= 40


# --------------------------------------------------------------------------- normalisation


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Спасибо!!! 😊", "спасибо"),
        ("  Оплату   за\tТаро\nполучила!  ", "оплату за таро получила"),
        ("Ёжик", "ежик"),
        ("спасибоооо", "спасибо"),
        ("касса", "касса"),
        ("1000 руб", "1000 руб"),
        ("спасибo", "спасибо"),
        ("hello", "hello"),
        ("что-то", "что то"),
        ("😊🙏", ""),
        ("ＳＰＡＳＩＢＯ", "spasibo"),
    ],
)
def test_normalise(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


def test_normalise_can_keep_repeats() -> None:
    assert normalise("спасибоооо", squeeze_repeats=False) == "спасибоооо"


def test_tokenize() -> None:
    assert tokenize("Большое, спасибо!") == ("большое", "спасибо")
    assert tokenize("😊") == ()


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())
def test_normalise_is_idempotent(text: str) -> None:
    once = normalise(text)
    assert normalise(once) == once


_PROPERTY_MATCHERS = [
    CompiledMatcher(["спасибо", "не надо", "оплату за таро получила"], spec(mode))
    for mode in (EXACT, CONTAINS, STARTS, FUZZY, SYN)
] + [CompiledMatcher([r"\d+", r"^да$"], spec(REGEX, stop_phrases=["стоп"]))]


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.text(alphabet=st.characters(codec="utf-8"), max_size=60)
    | st.text("неа спасибо, 😊!ё", max_size=30)
)
def test_matches_never_raises(text: str) -> None:
    for matcher in _PROPERTY_MATCHERS:
        result = matcher.matches(text)
        explanation = matcher.explain(text)
        assert isinstance(result, bool) and isinstance(explanation, MatchExplanation)
        assert explanation.matched is result


# --------------------------------------------------------------------------- explanations


def test_explain_exact_match() -> None:
    e = explain("Спасибо!!! 😊", ["спасибо"], spec(EXACT))
    assert e and e.reason is Reason.MATCHED and e.via is Via.SURFACE
    assert e.phrase == "спасибо" and e.normalised_text == "спасибо"
    assert "равны" in e.reason_ru and "equals" in e.reason_en


def test_explain_word_forms_names_the_lemmas() -> None:
    e = explain("расскажите", ["расскажи"], spec(EXACT))
    assert e.via is Via.LEMMA
    assert e.text_lemmas == ("рассказать",) and e.phrase_lemmas == ("рассказать",)
    assert "рассказать" in e.reason_ru and "рассказать" in e.reason_en


def test_explain_synonym() -> None:
    e = explain("Благодарю!", ["спасибо"], spec(SYN))
    assert e.matched and e.via is Via.SYNONYM
    assert e.synonym == "благодарю" and "спасибо" in e.synonym_group
    assert "синоним" in e.reason_ru and "synonym" in e.reason_en


def test_explain_negation_after() -> None:
    e = explain("спасибо, но нет", ["спасибо"], spec(CONTAINS))
    assert not e and e.reason is Reason.NEGATED
    assert (e.negation_word, e.negation_position, e.negation_rule) == ("нет", 2, "after")
    assert "«нет»" in e.reason_ru and "отрицается" in e.reason_ru
    assert '"нет"' in e.reason_en and "negated" in e.reason_en


def test_explain_negation_before() -> None:
    e = explain("Я не хочу", ["хочу"], spec(CONTAINS))
    assert e.reason is Reason.NEGATED
    assert (e.negation_word, e.negation_position, e.negation_rule) == ("не", 1, "before")
    assert "перед фразой" in e.reason_ru and "before the phrase" in e.reason_en


def test_explain_stop_phrase() -> None:
    e = explain("спасибо, отпишите", ["спасибо"], spec(CONTAINS, stop_phrases=["Отпишите!"]))
    assert e.reason is Reason.STOP_PHRASE and e.stop_phrase == "Отпишите!"
    assert "стоп-фразу" in e.reason_ru and "stop-phrase" in e.reason_en


def test_explain_fuzzy_score_and_threshold() -> None:
    ok = explain("спосибо", ["спасибо"], spec(FUZZY))
    assert ok.matched and ok.via is Via.FUZZY and ok.score == 85.7 and ok.threshold == 85
    assert "85.7" in ok.reason_ru and "85.7" in ok.reason_en
    low = explain("спосибо", ["спасибо"], spec(FUZZY, threshold=90))
    assert low.reason is Reason.BELOW_THRESHOLD and low.score == 85.7
    assert "ниже порога 90" in low.reason_ru and "below the threshold 90" in low.reason_en


def test_explain_empty_text_and_not_found() -> None:
    empty = explain("😊😊", ["спасибо"], spec(CONTAINS))
    assert empty.reason is Reason.EMPTY_TEXT and "пуст" in empty.reason_ru
    missing = explain("привет", ["спасибо", "благодарю"], spec(CONTAINS))
    assert missing.reason is Reason.NOT_FOUND
    assert "«спасибо»" in missing.reason_ru and '"благодарю"' in missing.reason_en


def test_explain_no_phrases() -> None:
    e = explain("спасибо", ["😊"], spec(EXACT))
    assert e.reason is Reason.NO_PHRASES
    assert CompiledMatcher(["😊", "да"]).ignored_phrases == ("😊",)


def test_explain_regex_target() -> None:
    norm = explain("ОПЛАТИЛА!", [r"^оплатила$"], spec(REGEX))
    assert norm.via is Via.REGEX_NORMALISED
    raw = explain("12.03.1990", [r"^\d\d\.\d\d\.\d{4}$"], spec(REGEX))
    assert raw.via is Via.REGEX_RAW and "исходном" in raw.reason_ru and "raw" in raw.reason_en


# --------------------------------------------------------------------------- errors, API


def test_invalid_regex_raises_at_compile_time() -> None:
    with pytest.raises(InvalidPatternError) as info:
        CompiledMatcher(["оплат(а", "ok"], spec(REGEX))
    assert info.value.pattern == "оплат(а"
    assert "оплат(а" in info.value.reason_ru and isinstance(info.value, ValueError)
    with pytest.raises(InvalidPatternError):
        matches("оплата", ["[a-"], spec(REGEX))


def test_regex_chars_are_literal_outside_regex_mode() -> None:
    assert matches("оплат(а", ["оплат(а"], spec(EXACT))


def test_project_synonyms_replace_the_defaults() -> None:
    groups = [["матрица", "матрица судьбы", "разбор матрицы"]]
    s = spec(SYN)
    assert matches("хочу разбор матрицы", ["матрица"], s, groups)
    assert not matches("благодарю", ["спасибо"], s, groups)
    dictionary = SynonymDictionary(groups)
    assert matches("Матрицу судьбы хочу", ["матрица"], s, dictionary)


def test_compiled_matcher_reuse_and_cache() -> None:
    matcher = CompiledMatcher(["спасибо"], spec(CONTAINS))
    assert matcher("большое спасибо") and not matcher("спасибо, но нет")
    assert compile_matcher(["да"], spec(EXACT)) is compile_matcher(["да"], spec(EXACT))
    assert matches("Да!", "да")  # a single phrase and the default (exact) spec


def test_find_negation_rules() -> None:
    words = ["не", "очень", "хочу"]
    hit = find_negation(words, 2, 3)
    assert hit is not None and hit.rule == "before" and hit.word == "не"
    assert find_negation(["хочу", "курс"], 0, 1) is None
    assert find_negation(["спасибо", "а", "нет"], 0, 1) is not None
    assert find_negation(["нет", "проблем", "спасибо"], 2, 3) is None
