"""Matching throughput (R2): matches/s of a precompiled matcher, per mode.

Run: ``.venv/bin/python bench/bench_matching.py [seconds-per-case]``. Prints one line per case;
no assertions. Each "match" is one ``CompiledMatcher.matches(text)`` call against a list of
20 phrases. Texts rotate through a varied pool, so the per-text analysis cache is realistic
(hit only when the same message is checked against several triggers).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.matching import CompiledMatcher, get_analyzer
from graph.matchspec import MatchMode, MatchSpec

PHRASES = [
    "оплату за таро получила", "оплату за матрицу получила", "спасибо", "хочу курс",
    "расскажи подробнее", "не надо", "сколько стоит", "хочу записаться", "да", "привет",
    "оплатила", "где ссылка", "когда начало", "хочу разбор", "отправьте реквизиты",
    "можно в рассрочку", "а есть скидка", "пришлите программу", "хочу консультацию", "готово",
]  # fmt: skip

TEXTS = [
    "Спасибо большое!!! 😊", "спасибо, но нет", "Оплату за Таро получила", "а сколько стоит?",
    "Расскажите подробнее пожалуйста про курс", "не хочу", "Добрый день, хочу записаться",
    "спосибо", "где ссылка на эфир?", "оплатила 12.03 в 14:00", "Нет, не надо",
    "можно ли в рассрочку оплатить курс по матрице судьбы и сколько будет стоить каждый месяц",
]  # fmt: skip


def bench(name: str, matcher: CompiledMatcher, seconds: float) -> None:
    # distinct raw texts (same normalised form) so the analysis cache does not make calls free
    pool = [f"{t}{'!' * (i % 50)}{' ' * (i // 50)}" for i in range(2000) for t in TEXTS]
    n = 0
    hits = 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        offset = n % len(pool)
        chunk = pool[offset : offset + 200]
        for text in chunk:
            hits += matcher.matches(text)
        n += len(chunk)
    elapsed = time.perf_counter() - start
    print(f"{name:<34} {n / elapsed:>10,.0f} matches/s  ({hits} hits of {n})")


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    t0 = time.perf_counter()
    get_analyzer()
    print(f"pymorphy3 analyser load: {time.perf_counter() - t0:.2f} s")
    cases = [
        ("exact, no word forms", MatchSpec(mode=MatchMode.EXACT, word_forms=False)),
        ("exact + word forms", MatchSpec(mode=MatchMode.EXACT)),
        ("contains + word forms", MatchSpec(mode=MatchMode.CONTAINS)),
        ("starts_with + word forms", MatchSpec(mode=MatchMode.STARTS_WITH)),
        ("fuzzy (85) + word forms", MatchSpec(mode=MatchMode.FUZZY)),
        ("synonyms (default groups)", MatchSpec(mode=MatchMode.SYNONYMS)),
        ("contains + 3 stop-phrases", MatchSpec(mode=MatchMode.CONTAINS, stop_phrases=["отписаться", "стоп", "хватит"])),
    ]  # fmt: skip
    for name, spec in cases:
        bench(name, CompiledMatcher(PHRASES, spec), seconds)
    regex = CompiledMatcher(
        [r"\d{2}\.\d{2}", r"^да$", r"оплат\w+"], MatchSpec(mode=MatchMode.REGEX)
    )
    bench("regex (3 patterns)", regex, seconds)


if __name__ == "__main__":
    main()
