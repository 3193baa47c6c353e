"""Names people choose and names machines read: what is refused, and when two names count as the same.

Three rules, each with its own function:

- ``validate_display_name``: a human-facing name (registered model, dataset). Anything a reader cannot see or that
  reorders what they see is refused: control characters, bidi controls, format (``Cf``) characters such as zero-width
  spaces and joiners, variation selectors, tag characters, unassigned code points, and words that mix scripts the way
  a spoof does (UTS #39 "highly restrictive", applied word by word).
- ``name_key``: the uniqueness key. Two names with the same key look alike to a reader and cannot both exist in one
  team: NFKC, full case folding and the UTS #39 confusable skeleton, repeated until nothing changes, so that the key
  of a key is the key itself.
- ``validate_identifier``: the stricter convention for names that end up in code and SQL (feature views, features,
  entities): lower snake_case ASCII, no reserved words.

The confusables and script data come from the ``confusable-homoglyphs`` package (3.3.1), which ships Unicode's
``confusables.txt`` and ``Scripts.txt`` as JSON. It stores each confusables line in both directions, so the prototype
(the side UTS #39 maps to) is rebuilt here: see ``_load_prototypes``. docs/registry-rules.md explains the choices.
"""

from __future__ import annotations

import functools
import json
import keyword
import re
import unicodedata
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable
from importlib import resources
from typing import Any

__all__ = [
    "IDENTIFIER_KINDS",
    "KEY_LENGTH_FACTOR",
    "RESERVED_IDENTIFIERS",
    "NameRefused",
    "name_key",
    "name_keys",
    "names_collide",
    "shape_key",
    "skeleton",
    "slug_rules",
    "validate_display_name",
    "validate_identifier",
]

_DATA_PACKAGE = "confusable_homoglyphs"

# The left-to-right and right-to-left marks wrap right-to-left characters in the comments of confusables.txt, which
# confusable-homoglyphs parses; they are typography of the data file, never part of a mapping.
_COMMENT_MARKS = str.maketrans("", "", "\u200e\u200f")

# Explicit bidi formatting characters (embeddings, overrides, isolates) and the implicit marks: each can reorder or
# disguise what a reader sees ("Trojan Source", CVE-2021-42574). Most are Cf, but they get their own message.
_BIDI_CONTROLS = frozenset(
    [chr(c) for c in range(0x202A, 0x202F)] + [chr(c) for c in range(0x2066, 0x206A)] + ["\u200e", "\u200f", "\u061c"]
)

# Default_Ignorable_Code_Point characters (DerivedCoreProperties.txt) that are not in category Cf, so the category
# test misses them, plus the blank Braille pattern: each renders as nothing or as blank space.
_INVISIBLE_NON_FORMAT = frozenset("\u034f\u115f\u1160\u17b4\u17b5\u3164\uffa0\u2800")

# More combining marks on one base than any orthography needs: stacked marks ("Zalgo") hide or fake characters.
_MAX_STACKED_MARKS = 4

# Scripts ignored when deciding whether a word mixes scripts (digits, punctuation, combining marks).
_NEUTRAL_SCRIPTS = frozenset({"COMMON", "INHERITED", "Unknown"})

# UTS #39 section 5.2, "Highly Restrictive": Latin may be mixed with the scripts written alongside it in East Asia,
# and nothing else may be mixed at all. Checked per word, so a Cyrillic word followed by "-v2" passes, and "paypal"
# spelt with Cyrillic a and p inside the Latin word does not.
_ALLOWED_SCRIPT_MIXES = (
    frozenset({"LATIN", "HAN", "HIRAGANA", "KATAKANA"}),
    frozenset({"LATIN", "HAN", "BOPOMOFO"}),
    frozenset({"LATIN", "HAN", "HANGUL"}),
)

# Enough passes for every single code point (the tests check all of them); a name that still changes after this many
# passes is built to defeat the key, and is refused rather than given an unstable key.
_MAX_KEY_PASSES = 8

# A key can be much longer than its name (U+FDFA is 18 letters after NFKC): keys of an accepted name are at most this
# many times ``max_length``, so that a key column can have a fixed size (512 for the default 128).
KEY_LENGTH_FACTOR = 4

_WORD_SEPARATOR = re.compile(r"[\s\-_.:/,;+()\[\]{}'\"]+")


class NameRefused(ValueError):
    """A name broke a naming rule. ``field`` is the input field, ``reason`` says what and where, for the client."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


def describe_char(char: str) -> str:
    """``U+202E RIGHT-TO-LEFT OVERRIDE``: how a refused character is named in a message."""
    name = unicodedata.name(char, "")
    if not name:
        category = unicodedata.category(char)
        name = "unassigned" if category == "Cn" else f"unnamed, category {category}"
    return f"U+{ord(char):04X} {name}"


@functools.cache
def _load_json(filename: str) -> Any:
    return json.loads(resources.files(_DATA_PACKAGE).joinpath(filename).read_text(encoding="utf-8"))


@functools.cache
def _load_prototypes() -> dict[str, str]:
    """Map each confusable source character to its UTS #39 prototype (one or more characters).

    confusable-homoglyphs keeps every ``source -> prototype`` line of confusables.txt in both directions, so the
    direction has to be recovered. In confusables.txt every source is one code point and no prototype is itself a
    source, so the lines form disjoint stars: one prototype at the centre, its sources around it. The connected
    components of the symmetric table are therefore the equivalence classes of UTS #39, and:

    - a class of three or more has exactly one member linked to all the others: the prototype;
    - a class of two with a multi-character member: that member is the prototype ("m" -> "rn");
    - a class of two single characters (about 1,400, mostly combining marks and punctuation) does not say which side
      is the prototype. Either choice gives the same classes, so the same collisions. The one kept is the member
      found inside a multi-character prototype, else the one NFKC and case folding leave alone, else the lower code
      point; prototypes are then mapped until none holds a mapped character.
    """
    table: dict[str, list[dict[str, str]]] = _load_json("confusables.json")
    neighbours: dict[str, set[str]] = defaultdict(set)
    for source, entries in table.items():
        left = source.translate(_COMMENT_MARKS)
        for entry in entries:
            right = entry["c"].translate(_COMMENT_MARKS)
            if left and right and left != right:
                neighbours[left].add(right)
                neighbours[right].add(left)

    # Characters that occur inside a multi-character prototype are prototypes themselves (UTS #39 prototypes are
    # fixed points): evidence for the direction of a two-character class.
    in_sequences = {char for node in neighbours if len(node) > 1 for char in node}
    prototypes: dict[str, str] = {}
    seen: set[str] = set()
    for start in sorted(neighbours):
        if start in seen:
            continue
        component: set[str] = set()
        pending = [start]
        while pending:
            node = pending.pop()
            if node not in component:
                component.add(node)
                pending.extend(neighbours[node] - component)
        seen |= component
        centre = _choose_prototype(component, neighbours, in_sequences)
        for member in component:
            if member != centre and len(member) == 1:
                prototypes[member] = unicodedata.normalize("NFD", centre)
    # Where a guess about a two-character class was wrong, a prototype can still hold a mapped character; map until
    # every prototype is a fixed point, as UTS #39 guarantees for its own table.
    for _ in range(_MAX_KEY_PASSES):
        closed = {
            source: unicodedata.normalize("NFD", "".join(prototypes.get(char, char) for char in target))
            for source, target in prototypes.items()
        }
        if closed == prototypes:
            break
        prototypes = closed
    return prototypes


def _choose_prototype(component: set[str], neighbours: dict[str, set[str]], in_sequences: set[str]) -> str:
    if len(component) > 2:
        centres = [node for node in component if neighbours[node] == component - {node}]
        if len(centres) == 1:
            return centres[0]
    longer = [node for node in component if len(node) > 1]
    if len(longer) == 1:
        return longer[0]

    def preference(node: str) -> tuple[bool, bool, str]:
        stable = unicodedata.normalize("NFKC", node).casefold() == node
        return (node not in in_sequences, not stable, node)

    return min(component, key=preference)


def skeleton(text: str) -> str:
    """UTS #39 skeleton: NFD, each character replaced by its confusable prototype, NFD again."""
    prototypes = _load_prototypes()
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize("NFD", "".join(prototypes.get(char, char) for char in decomposed))


def _fixed_point(name: str, step: Callable[[str], str]) -> str:
    current = name
    for _ in range(_MAX_KEY_PASSES):
        following = step(current)
        if following == current:
            return current
        current = following
    raise NameRefused("name", "the name does not settle to a stable comparison key")


def _fold_then_skeleton(text: str) -> str:
    return skeleton(unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold()))


def _skeleton_then_fold(text: str) -> str:
    return unicodedata.normalize("NFKC", skeleton(unicodedata.normalize("NFKC", text)).casefold())


def name_key(name: str) -> str:
    """The uniqueness key of a name: NFKC, case folding and the confusable skeleton, repeated to a fixed point.

    One pass is not enough for ``name_key(name_key(x)) == name_key(x)``: some prototypes are capitals ("0" -> "O")
    or compatibility characters that the next NFKC and case folding would change again. Repeating until the text
    stops changing makes the key idempotent by construction, and makes the classes a little coarser than one pass
    would ("0" and "o" share a key). Call it on a name that ``validate_display_name`` accepted. The key is for
    comparison only ("model" keys to "rnodel"); never show it.
    """
    return _fixed_point(name, _fold_then_skeleton)


def shape_key(name: str) -> str:
    """The second uniqueness key: the skeleton taken before case folding, repeated to a fixed point.

    Folding case first (``name_key``) is what makes "Iris" and "iris" one name, but it hides capitals that look
    alike and whose small letters do not: Greek capital alpha and beta fold to alpha and beta, never to "ab"; "I" folds
    to "i" and never meets "l". No single key can hold both, since "I" would then join "i" and "l" to each other.
    The skeleton taken first catches these; a name is a duplicate when either of its keys is already taken.
    """
    return _fixed_point(name, _skeleton_then_fold)


def name_keys(name: str) -> tuple[str, str]:
    """``(name_key, shape_key)``: store both, each unique per team."""
    return name_key(name), shape_key(name)


def names_collide(first: str, second: str) -> bool:
    """True if the two names would be taken for one another (they share either key)."""
    return any(a == b for a, b in zip(name_keys(first), name_keys(second), strict=True))


@functools.cache
def _script_ranges() -> tuple[list[int], list[tuple[int, int, str]]]:
    data = _load_json("categories.json")
    aliases: list[str] = data["iso_15924_aliases"]
    ranges = sorted(
        (int(first), int(last), aliases[script]) for first, last, script, _category in data["code_points_ranges"]
    )
    return [first for first, _, _ in ranges], ranges


def script_of(char: str) -> str:
    """The Unicode script (Scripts.txt, as shipped by confusable-homoglyphs) of one character, upper-case."""
    starts, ranges = _script_ranges()
    index = bisect_right(starts, ord(char)) - 1
    if index >= 0:
        first, last, script = ranges[index]
        if first <= ord(char) <= last:
            return script
    return "Unknown"


def _mixed_script_word(text: str) -> tuple[str, frozenset[str]] | None:
    for word in _WORD_SEPARATOR.split(text):
        scripts = frozenset(script_of(char) for char in word) - _NEUTRAL_SCRIPTS
        if len(scripts) > 1 and not any(scripts <= allowed for allowed in _ALLOWED_SCRIPT_MIXES):
            return word, scripts
    return None


def _refused_char(char: str) -> str | None:
    if char == "\x00":
        return "NUL"
    if char in _BIDI_CONTROLS:
        return "bidirectional control character"
    category = unicodedata.category(char)
    if category == "Cc":
        return "control character"
    if category == "Cf":
        return "invisible formatting character"
    if category == "Cn":
        return "unassigned code point"
    if category == "Cs":
        return "lone surrogate"
    if category == "Co":
        return "private-use character"
    if category in ("Zl", "Zp"):
        return "line or paragraph separator"
    if char in _INVISIBLE_NON_FORMAT or "VARIATION SELECTOR" in unicodedata.name(char, ""):
        return "invisible character"
    if category == "Zs" and char != " ":
        return "space other than U+0020"
    return None


def validate_display_name(name: object, *, field: str = "name", max_length: int = 128) -> str:
    """Return ``name`` without surrounding whitespace, or raise ``NameRefused`` saying which character and why.

    Length is counted in code points after stripping, and each uniqueness key of an accepted name is at most
    ``KEY_LENGTH_FACTOR * max_length`` code points long. Inner spaces must be plain U+0020 and single spaces are kept
    as typed; the uniqueness keys, not this function, decide whether two names clash.
    """
    if not isinstance(name, str):
        raise NameRefused(field, "must be a string")
    # Only ordinary whitespace is stripped: str.strip() would also drop U+001C..U+001F, U+0085 and U+2028 silently,
    # and those are refused wherever they stand.
    stripped = name.strip(" \t\r\n")
    if not stripped:
        raise NameRefused(field, "must not be empty")
    if len(stripped) > max_length:
        raise NameRefused(field, f"is {len(stripped)} characters long; at most {max_length} are allowed")
    for position, char in enumerate(stripped):
        reason = _refused_char(char)
        if reason is not None:
            raise NameRefused(field, f"{reason} {describe_char(char)} at position {position} is not allowed")
    stacked = 0
    for char in unicodedata.normalize("NFD", stripped):
        stacked = stacked + 1 if unicodedata.category(char) in ("Mn", "Me") else 0
        if stacked > _MAX_STACKED_MARKS:
            raise NameRefused(field, f"more than {_MAX_STACKED_MARKS} combining marks on one character are not allowed")
    if "  " in stripped:
        raise NameRefused(field, "must not contain consecutive spaces")
    try:
        longest_key = max(len(key) for key in name_keys(stripped))
    except NameRefused as refused:
        raise NameRefused(field, refused.reason) from None
    if longest_key > KEY_LENGTH_FACTOR * max_length:
        raise NameRefused(
            field,
            f"expands to {longest_key} characters once normalised for comparison (ligatures and compatibility "
            f"characters such as U+FDFA expand); at most {KEY_LENGTH_FACTOR * max_length} are allowed",
        )
    mixed = _mixed_script_word(unicodedata.normalize("NFKC", stripped))
    if mixed is not None:
        word, scripts = mixed
        raise NameRefused(
            field,
            f"the word {word!r} mixes the scripts {', '.join(sorted(scripts))}; letters of different scripts that look "
            "alike are how look-alike names are made, so a word must stay in one script",
        )
    return stripped


# Spark SQL's reserved keywords in ANSI mode (the SQL:2016 reserved words Spark enforces), and Python's keywords:
# a feature or view named like one needs quoting in every query or cannot be an attribute in generated code.
# A word list reads and diffs better as text than as seventy quoted strings.
_SQL_RESERVED = frozenset(
    """
    all and any as authorization both case cast check collate column constraint create cross current_date
    current_time current_timestamp current_user distinct else end escape except false fetch for foreign from full
    grant group having in inner intersect into is join lateral leading left natural not null offset on only or order
    outer overlaps primary references right select session_user some table then time to trailing true union unique
    unknown user using when where with
    """.split()  # noqa: SIM905
)
# Hard keywords only: soft keywords (match, case, type) are valid attribute names, and their list grows with Python.
RESERVED_IDENTIFIERS = _SQL_RESERVED | frozenset(word.lower() for word in keyword.kwlist)

IDENTIFIER_KINDS = frozenset({"feature_view", "feature", "entity"})

_IDENTIFIER = re.compile(r"[a-z][a-z0-9_]{1,62}")


def slug_rules() -> list[str]:
    """The identifier convention, one rule per line, as shown to a client that broke it and in the docs."""
    return [
        "2 to 63 characters",
        "lower-case ASCII letters, digits and underscores only",
        "starts with a letter",
        "does not end with an underscore",
        "no two underscores in a row",
        "not a reserved word of SQL or Python",
    ]


def validate_identifier(name: object, kind: str) -> str:
    """Return ``name`` if it follows the identifier convention for ``kind``, else raise ``NameRefused``.

    Nothing is stripped or lowered: an identifier is used exactly as written, so it must be written exactly right.
    """
    if kind not in IDENTIFIER_KINDS:
        raise ValueError(f"unknown identifier kind {kind!r}")
    if not isinstance(name, str):
        raise NameRefused(kind, "must be a string")
    if not name:
        raise NameRefused(kind, "must not be empty")
    for position, char in enumerate(name):
        if not (char.isascii() and (char.islower() or char.isdigit() or char == "_")):
            raise NameRefused(
                kind, f"{describe_char(char)} at position {position} is not allowed: use a-z, 0-9 and _ only"
            )
    if not name[0].isalpha():
        raise NameRefused(kind, "must start with a letter")
    if not _IDENTIFIER.fullmatch(name):
        raise NameRefused(kind, f"must be 2 to 63 characters long, not {len(name)}")
    if name.endswith("_"):
        raise NameRefused(kind, "must not end with an underscore")
    if "__" in name:
        raise NameRefused(kind, "must not contain two underscores in a row")
    if name in RESERVED_IDENTIFIERS:
        raise NameRefused(kind, f"{name!r} is a reserved word of SQL or Python")
    return name
