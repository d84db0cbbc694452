"""Does a prompt contradict the characters in its shot? Age and gender words against their attributes.

A character's declared attributes win over the ones estimated from its photos. With several
characters in a shot, a word contradicts the shot only when it fits none of them ("a man and a woman"
with one man and one woman is fine).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FEMALE, MALE, NON_BINARY = "female", "male", "non-binary"

_GENDER_WORDS = {
    FEMALE: (
        "woman", "women", "girl", "girls", "lady", "ladies", "female", "she", "her", "mother", "mom",
        "grandmother", "grandma", "daughter", "sister", "wife", "actress", "businesswoman", "queen",
    ),
    MALE: (
        "man", "men", "boy", "boys", "gentleman", "gentlemen", "male", "he", "his", "him", "father", "dad",
        "grandfather", "grandpa", "son", "brother", "husband", "actor", "businessman", "king",
    ),
}  # fmt: skip

# Age words and the ages (years, inclusive) they describe.
_AGE_WORDS: dict[str, tuple[float, float]] = {
    "baby": (0, 2),
    "toddler": (1, 4),
    "child": (3, 12),
    "kid": (3, 12),
    "boy": (3, 17),
    "girl": (3, 17),
    "teen": (13, 19),
    "teenager": (13, 19),
    "teenage": (13, 19),
    "young": (16, 32),
    "middle-aged": (40, 65),
    "old": (60, 120),
    "elderly": (65, 120),
    "senior": (60, 120),
    "aged": (60, 120),
    "grandmother": (45, 120),
    "grandfather": (45, 120),
    "grandma": (45, 120),
    "grandpa": (45, 120),
}
_DECADES = {
    "twenties": 20, "thirties": 30, "forties": 40, "fifties": 50, "sixties": 60, "seventies": 70,
    "eighties": 80, "nineties": 90,
}  # fmt: skip
_YEARS_OLD = re.compile(r"\b(\d{1,3})[- ]years?[- ]old\b")
_IN_DECADE = re.compile(r"\bin (?:her|his|their) (" + "|".join(_DECADES) + r")\b")
_WORD = re.compile(r"[a-z]+(?:-[a-z]+)?")
# "a man's shadow" still says man; "old town" is not about a person — accept that imprecision for "old"
# only next to a person word.
_PERSON_WORDS = {word for words in _GENDER_WORDS.values() for word in words} | {"person", "people"}


@dataclass(frozen=True)
class CharacterAttributes:
    character_id: str
    #: FEMALE, MALE, NON_BINARY or None when neither declared nor estimated.
    gender: str | None
    #: Inclusive age range in years, or None when unknown.
    age_range: tuple[float, float] | None
    #: Where the attributes come from, for messages ("declared" or "estimated").
    source: str

    def describe(self) -> str:
        parts = []
        if self.age_range is not None:
            low, high = self.age_range
            parts.append(
                f"{low:.0f} to {high:.0f} years" if round(low) != round(high) else f"{low:.0f} years"
            )
        if self.gender is not None:
            parts.append(self.gender)
        return f"character is {self.source} {', '.join(parts) or 'without attributes'}"


@dataclass(frozen=True)
class Contradiction:
    character_id: str
    message: str


def _mentions(prompt: str) -> tuple[list[tuple[str, str]], list[tuple[str, tuple[float, float]]]]:
    text = prompt.lower()
    words = _WORD.findall(text)
    genders = [(word, gender) for word in words for gender, listed in _GENDER_WORDS.items() if word in listed]
    ages: list[tuple[str, tuple[float, float]]] = []
    for index, word in enumerate(words):
        if word in _AGE_WORDS:
            if word in ("old", "young", "aged") and not _near_person(words, index):
                continue
            ages.append((word, _AGE_WORDS[word]))
    for match in _YEARS_OLD.finditer(text):
        years = float(match[1])
        ages.append((match[0], (years, years)))
    for match in _IN_DECADE.finditer(text):
        decade = _DECADES[match[1]]
        ages.append((match[0], (decade, decade + 9)))
    return genders, ages


def _near_person(words: list[str], index: int) -> bool:
    return any(word in _PERSON_WORDS for word in words[index + 1 : index + 4])


def _overlaps(first: tuple[float, float], second: tuple[float, float]) -> bool:
    return first[0] <= second[1] and second[0] <= first[1]


def contradictions(prompt: str, characters: list[CharacterAttributes]) -> list[Contradiction]:
    """Age or gender words in ``prompt`` that fit none of ``characters``."""
    if not characters:
        return []
    genders, ages = _mentions(prompt)
    found: list[Contradiction] = []
    for word, gender in genders:
        known = [character for character in characters if character.gender is not None]
        if (
            known
            and len(known) == len(characters)
            and all(c.gender not in (gender, NON_BINARY) for c in known)
        ):
            found.append(Contradiction(known[0].character_id, f"prompt says {word!r}; {known[0].describe()}"))
    for word, ages_said in ages:
        known = [character for character in characters if character.age_range is not None]
        if (
            known
            and len(known) == len(characters)
            and not any(_overlaps(ages_said, c.age_range) for c in known if c.age_range)
        ):
            found.append(Contradiction(known[0].character_id, f"prompt says {word!r}; {known[0].describe()}"))
    unique: dict[str, Contradiction] = {}
    for contradiction in found:
        unique.setdefault(contradiction.message, contradiction)
    return list(unique.values())
