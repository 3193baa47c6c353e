"""Naming rules of the registry: display names, the uniqueness key, and identifiers (registry/naming.py)."""

# The test data is made of look-alike characters on purpose; the "why" column names each one.
# ruff: noqa: RUF001, RUF003

from __future__ import annotations

import json
import re
import unicodedata
from importlib import resources

import pytest

from registry import naming
from registry.naming import (
    NameRefused,
    name_key,
    name_keys,
    names_collide,
    shape_key,
    skeleton,
    validate_display_name,
    validate_identifier,
)

# --- validate_display_name --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Credit risk scorer", "Credit risk scorer"),
        ("  churn-model \t\n", "churn-model"),
        ("café-modèle", "café-modèle"),
        ("модель-v2", "модель-v2"),  # a Cyrillic word and a Latin word: each word stays in one script
        ("API版本", "API版本"),  # Latin with Han is allowed by UTS #39 "highly restrictive"
        ("x" * 128, "x" * 128),
        ("Tiếng Việt", "Tiếng Việt"),  # two stacked marks on one letter is ordinary Vietnamese
    ],
)
def test_ordinary_names_are_accepted_and_stripped(raw, expected):
    assert validate_display_name(raw) == expected


@pytest.mark.parametrize(
    ("raw", "code_point", "reason"),
    [
        ("a\x00b", "U+0000", "NUL"),
        ("a\x07b", "U+0007", "control character"),
        ("a\tb", "U+0009", "control character"),
        ("a\x85b", "U+0085", "control character"),
        ("invoice\u202egpj.exe", "U+202E RIGHT-TO-LEFT OVERRIDE", "bidirectional"),
        ("a\u202ab", "U+202A LEFT-TO-RIGHT EMBEDDING", "bidirectional"),
        ("a\u2066b", "U+2066 LEFT-TO-RIGHT ISOLATE", "bidirectional"),
        ("a\u2069b", "U+2069 POP DIRECTIONAL ISOLATE", "bidirectional"),
        ("a\u200eb", "U+200E LEFT-TO-RIGHT MARK", "bidirectional"),
        ("a\u200fb", "U+200F RIGHT-TO-LEFT MARK", "bidirectional"),
        ("a\u061cb", "U+061C ARABIC LETTER MARK", "bidirectional"),
        ("scor\u200ber", "U+200B ZERO WIDTH SPACE", "invisible"),
        ("scor\u200der", "U+200D ZERO WIDTH JOINER", "invisible"),
        ("scor\u2060er", "U+2060 WORD JOINER", "invisible"),
        ("\ufeffscorer", "U+FEFF ZERO WIDTH NO-BREAK SPACE", "invisible"),
        ("scor\u00ader", "U+00AD SOFT HYPHEN", "invisible"),
        ("scorer\U000e0041", "U+E0041 TAG LATIN CAPITAL LETTER A", "invisible"),
        ("scorer\ufe0f", "U+FE0F VARIATION SELECTOR-16", "invisible"),
        ("scorer\U000e0100", "U+E0100 VARIATION SELECTOR-17", "invisible"),
        ("scor\u034fer", "U+034F COMBINING GRAPHEME JOINER", "invisible"),
        ("a\u3164b", "U+3164 HANGUL FILLER", "invisible"),
        ("a\u2800b", "U+2800 BRAILLE PATTERN BLANK", "invisible"),
        ("a\u0378b", "U+0378", "unassigned"),
        ("a\ue000b", "U+E000", "private-use"),
        ("a\u00a0b", "U+00A0 NO-BREAK SPACE", "space other than"),
        ("a\u2028b", "U+2028 LINE SEPARATOR", "separator"),
        ("a\u2028", "U+2028", "separator"),  # str.strip() would have dropped it silently
    ],
)
def test_invisible_and_reordering_characters_are_refused_by_code_point_and_name(raw, code_point, reason):
    """GIVEN a name hiding a character a reader cannot see (or that reorders what they see)
    WHEN it is validated
    THEN it is refused, and the message names the character by code point and Unicode name."""
    with pytest.raises(NameRefused, match=rf"^model\.name: .*{re.escape(code_point)}") as refused:
        validate_display_name(raw, field="model.name")
    assert refused.value.field == "model.name"
    assert code_point in str(refused.value)
    assert reason in refused.value.reason
    assert isinstance(refused.value, ValueError)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        (" \t\n ", "empty"),
        ("x" * 129, "129 characters"),
        ("two  spaces", "consecutive spaces"),
        ("раураl", "mixes the scripts CYRILLIC, LATIN"),  # Cyrillic а and р inside a Latin word
        ("scоrer", "mixes the scripts CYRILLIC, LATIN"),
        ("Ωmega", "mixes the scripts GREEK, LATIN"),
        ("e" + "\u0301" * 5, "combining marks"),
        (None, "must be a string"),
        (42, "must be a string"),
        (b"bytes", "must be a string"),
    ],
)
def test_other_refusals(raw, reason):
    with pytest.raises(NameRefused, match=f"^name: .*{re.escape(reason)}") as refused:
        validate_display_name(raw)
    assert reason in refused.value.reason


def test_max_length_is_counted_after_stripping_and_configurable():
    assert validate_display_name("  " + "y" * 10 + "  ", max_length=10) == "y" * 10
    with pytest.raises(NameRefused, match="at most 10"):
        validate_display_name("y" * 11, max_length=10)


@pytest.mark.parametrize("name", ["\ufdfa" * 29, "\u3316" * 100, "\u33af" * 90])
def test_a_name_whose_keys_would_overflow_the_key_column_is_refused(name):
    """GIVEN a name within the length limit made of characters that expand under NFKC (U+FDFA is 18 letters)
    WHEN it is validated
    THEN it is refused, so every accepted name has keys of at most 4 x max_length characters."""
    with pytest.raises(NameRefused, match="expands to"):
        validate_display_name(name)


def test_keys_of_accepted_names_fit_the_key_column():
    for name in ["\ufdfa" * 28, "한" * 128, "x" * 128, "Tiếng Việt " * 11]:
        accepted = validate_display_name(name)
        assert max(len(key) for key in name_keys(accepted)) <= naming.KEY_LENGTH_FACTOR * 128


def test_a_huge_name_is_refused_on_length_before_anything_else():
    with pytest.raises(NameRefused, match="at most 128"):
        validate_display_name("\u202e" * 1_000_000)


# --- name_key ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second", "why"),
    [
        ("Credit-Risk", "credit-risk", "case"),
        ("CREDIT", "credit", "case"),
        ("Straße", "strasse", "full case folding"),
        ("ｃｒｅｄｉｔ", "credit", "fullwidth forms (NFKC)"),
        ("ﬁle", "file", "ligature (NFKC)"),
        ("café", "cafe\u0301", "composed and decomposed accents"),
        ("раураl", "paypal", "Cyrillic а and р"),
        ("scorer", "scоrer", "Cyrillic о"),
        ("αρ-model", "ap-model", "Greek small alpha and rho"),
        ("model", "mode1", "UTS #39 maps m to rn and 1 to l"),
        ("rn", "m", "UTS #39 maps m to rn"),
        ("churn", "chum", "UTS #39 maps m to rn"),
        ("model-v1", "model-vl", "UTS #39 maps 1 to l"),
        ("model-0", "model-o", "UTS #39 maps 0 to O, then case folding"),
        ("model-O", "model-0", "UTS #39 maps 0 to O"),
        ("a|b", "alb", "UTS #39 maps | to l"),
        ("𝐜𝐫𝐞𝐝𝐢𝐭", "credit", "mathematical bold (NFKC)"),
    ],
)
def test_look_alike_names_share_a_key(first, second, why):
    """GIVEN two names a reader could take for one another
    WHEN their uniqueness keys are computed
    THEN the keys are equal, so the second cannot be registered beside the first."""
    assert name_key(first) == name_key(second), why
    assert names_collide(first, second)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("model-a", "model-b"),
        ("credit", "credits"),
        ("model-v1", "model-v2"),
        ("model", "mode2"),
        ("churn", "chum2"),
        ("risk score", "risk-score"),  # separators are not folded: a reader sees the difference
        ("i", "l"),
        ("café", "cafe"),
    ],
)
def test_different_names_keep_different_keys(first, second):
    """GIVEN two names a reader tells apart
    WHEN both are keyed
    THEN they share neither key, so both can be registered."""
    assert name_key(first) != name_key(second)
    assert not names_collide(first, second)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("ΑΒ-model", "AB-model"),  # Greek capital alpha and beta
        ("ΚΡΙ-score", "KPI-score"),  # Greek capital kappa, rho, iota
        ("НОМЕР", "HOMEP"),  # Cyrillic capitals
        ("Il", "ll"),
        ("I", "l"),
        ("Iris-model", "lris-model"),
    ],
)
def test_capitals_that_look_alike_collide_through_the_shape_key(first, second):
    """GIVEN two names alike only in their capitals (case folding alone would keep them apart)
    WHEN they are compared
    THEN the shape key (skeleton before folding) makes them collide, while "Iris" and "iris" still collide
    through the case-folded key."""
    assert name_key(first) != name_key(second)
    assert shape_key(first) == shape_key(second)
    assert names_collide(first, second)
    assert names_collide("Iris", "iris")


@pytest.mark.parametrize(("first", "second", "why"), [("Credit-Risk", "credit-risk", ""), ("ﬁle", "file", "")])
def test_name_keys_gives_both_keys(first, second, why):
    assert name_keys(first) == (name_key(first), shape_key(first))
    assert name_keys(first) == name_keys(second)


def test_the_key_of_every_code_point_is_stable():
    """GIVEN every assigned code point
    WHEN its key is keyed again
    THEN nothing changes (name_key is idempotent on the whole repertoire, not only on the examples)."""
    unstable = []
    for code_point in range(0x110000):
        char = chr(code_point)
        if unicodedata.category(char) in ("Cn", "Cs"):
            continue
        for key_function in (name_key, shape_key):
            key = key_function(char)
            if key_function(key) != key:
                unstable.append(f"{key_function.__name__} U+{code_point:04X}")
    assert unstable == []


@pytest.mark.parametrize("name", ["Credit-Risk", "ﬁle", "раураl", "ΑΒΓ", "ǅemal", "İstanbul", "model-0O", "ﷺ"])
def test_the_key_of_names_is_stable(name):
    assert name_key(name_key(name)) == name_key(name)
    assert shape_key(shape_key(name)) == shape_key(name)


def test_the_rebuilt_prototype_table_agrees_with_the_package_data():
    """GIVEN the confusables data shipped by confusable-homoglyphs (both directions of each line)
    WHEN the prototype table is rebuilt from it
    THEN every pair the package lists is one class for the skeleton, and no prototype is itself mapped again."""
    data = json.loads(resources.files("confusable_homoglyphs").joinpath("confusables.json").read_text("utf-8"))
    marks = str.maketrans("", "", "\u200e\u200f")
    prototypes = naming._load_prototypes()
    assert len(prototypes) > 6000
    checked = 0
    for source, entries in data.items():
        for entry in entries:
            left, right = source.translate(marks), entry["c"].translate(marks)
            if unicodedata.normalize("NFD", left) != left or unicodedata.normalize("NFD", right) != right:
                # The skeleton decomposes first, so a line whose source decomposes never applies (as in UTS #39).
                continue
            checked += 1
            assert skeleton(left) == skeleton(right), (left, right)
    assert checked > 6000
    for prototype in set(prototypes.values()):
        assert skeleton(prototype) == prototype


@pytest.mark.parametrize(
    ("source", "prototype"),
    [("1", "l"), ("I", "l"), ("|", "l"), ("0", "O"), ("m", "rn"), ("а", "a"), ("р", "p"), ("ǃ", "!")],
)
def test_prototypes_follow_uts39(source, prototype):
    assert skeleton(source) == prototype


# --- validate_identifier ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["customer_age", "txn_count_7d", "ab", "a" * 63, "x1", "order_total", "user_id", "selected", "match", "type"],
)
@pytest.mark.parametrize("kind", sorted(naming.IDENTIFIER_KINDS))
def test_identifiers_following_the_convention_pass(name, kind):
    assert validate_identifier(name, kind) == name


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "empty"),
        ("a", "2 to 63"),
        ("a" * 64, "2 to 63"),
        ("Customer_age", "U+0043 LATIN CAPITAL LETTER C"),
        ("customer-age", "U+002D HYPHEN-MINUS"),
        ("customer age", "U+0020 SPACE"),
        ("1st_purchase", "start with a letter"),
        ("_private", "start with a letter"),
        ("age_", "end with an underscore"),
        ("customer__age", "two underscores"),
        ("сustomer_age", "U+0441 CYRILLIC SMALL LETTER ES"),
        ("customer\u200bage", "U+200B ZERO WIDTH SPACE"),
        ("select", "reserved"),
        ("from", "reserved"),
        ("class", "reserved"),
        ("lambda", "reserved"),
        ("none", "reserved"),
        ("ａｇｅ", "U+FF41"),  # fullwidth is not silently normalised: identifiers are used exactly as written
        (None, "must be a string"),
    ],
)
def test_identifiers_breaking_the_convention_are_refused(name, reason):
    """GIVEN a feature name breaking the convention
    WHEN it is validated
    THEN it is refused with the rule it broke, nothing normalised."""
    with pytest.raises(NameRefused, match=f"^feature: .*{re.escape(reason)}") as refused:
        validate_identifier(name, "feature")
    assert refused.value.field == "feature"
    assert reason in refused.value.reason


def test_unknown_identifier_kind_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown identifier kind"):
        validate_identifier("customer_age", "column_family")


def test_slug_rules_are_listed_for_clients():
    rules = naming.slug_rules()
    assert "2 to 63 characters" in rules
    assert any("reserved" in rule for rule in rules)
