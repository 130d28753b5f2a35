"""The glossary's masking, unmasking and checking, as plain functions (no model)."""

from __future__ import annotations

from briefs.tasks.generation.glossary import (
    Masked,
    Unmasked,
    mask,
    missing_terms,
    terms_for,
    unmask,
)

KEEP = ["KCNA", "Kim Jong-un"]
FIXED = {
    "de": {"European Union": "Europäische Union"},
    "fr": {"European Union": "Union européenne"},
}
TERMS = {"KCNA": "KCNA", "Kim Jong-un": "Kim Jong-un"}


def test_terms_for_keeps_terms_and_takes_the_fixed_translations_of_the_target():
    assert terms_for(KEEP, FIXED, "de") == {
        "KCNA": "KCNA",
        "Kim Jong-un": "Kim Jong-un",
        "European Union": "Europäische Union",
    }
    assert terms_for(KEEP, FIXED, "fr")["European Union"] == "Union européenne"
    assert terms_for(KEEP, FIXED, "es") == TERMS
    # A fixed translation wins over keeping the term; blank terms are left out.
    assert terms_for(["EU", " "], {"de": {"EU": "EU (Europäische Union)", "": "x"}}, "de") == {
        "EU": "EU (Europäische Union)"
    }


def test_mask_numbers_one_placeholder_per_occurrence():
    masked = mask("KCNA said Kim Jong-un met KCNA staff.", TERMS)
    assert masked.text == "ZQ1Z said ZQ2Z met ZQ3Z staff."
    assert masked.slots == {"ZQ1Z": "KCNA", "ZQ2Z": "Kim Jong-un", "ZQ3Z": "KCNA"}
    assert list(masked.slots) == ["ZQ1Z", "ZQ2Z", "ZQ3Z"]


def test_round_trip_of_the_masked_text_itself():
    text = "KCNA said Kim Jong-un met KCNA staff."
    masked = mask(text, TERMS)
    assert unmask(masked.text, masked) == Unmasked(text, [])


def test_round_trip_of_a_reordered_respaced_recased_output():
    masked = mask("KCNA said Kim Jong-un met KCNA staff.", TERMS)
    output = "Laut  zq3Z , traf ZQ2Z( Zq1z)."
    assert unmask(output, masked) == Unmasked("Laut  KCNA , traf Kim Jong-un( KCNA).", [])


def test_terms_at_the_very_start_and_end():
    masked = mask("KCNA", TERMS)
    assert masked.text == "ZQ1Z"
    assert unmask("ZQ1Z", masked) == Unmasked("KCNA", [])
    masked = mask("KCNA reported on Kim Jong-un", TERMS)
    assert masked.text == "ZQ1Z reported on ZQ2Z"
    assert unmask("ZQ2Z berichtete ZQ1Z", masked).text == "Kim Jong-un berichtete KCNA"


def test_slot_numbers_are_no_prefixes_of_each_other():
    names = [f"Name{chr(ord('A') + i)}" for i in range(11)]  # NameA ... NameK
    masked = mask(" ".join(names), {n: n for n in names})
    assert masked.text == " ".join(f"ZQ{i}Z" for i in range(1, 12))
    output = " ".join(f"ZQ{i}Z" for i in range(11, 1, -1))  # reversed, ZQ1Z dropped
    result = unmask(output, masked)
    assert result.text == " ".join(reversed(names[1:]))
    assert result.lost == ["NameA"]


def test_overlapping_terms_leftmost_longest_wins():
    terms = {t: t for t in ["Kim", "Kim Jong-un", "New York", "York Times"]}
    masked = mask("Kim Jong-un read the New York Times; Kim smiled. The York Times too.", terms)
    assert masked.text == "ZQ1Z read the ZQ2Z Times; ZQ3Z smiled. The ZQ4Z too."
    assert masked.slots == {
        "ZQ1Z": "Kim Jong-un",
        "ZQ2Z": "New York",
        "ZQ3Z": "Kim",
        "ZQ4Z": "York Times",
    }
    assert unmask(masked.text, masked).text == (
        "Kim Jong-un read the New York Times; Kim smiled. The York Times too."
    )


def test_whole_words_only_and_case_sensitive():
    text = "XKCNA KCNAs KCNA's pro-KCNA (KCNA) KCNA_x KCNA2 kcna KCNA."
    masked = mask(text, TERMS)
    assert masked.text == "XKCNA KCNAs ZQ1Z's pro-ZQ2Z (ZQ3Z) KCNA_x KCNA2 kcna ZQ4Z."
    assert unmask(masked.text, masked) == Unmasked(text, [])


def test_regex_metacharacters_and_non_ascii_terms():
    terms = {t: t for t in ["U.S.", "C++", "AT&T", "(PAS)", "Zürich", "São Paulo", "a.b"]}
    text = "The U.S. and USA; C++ and C+; AT&T; (PAS) PAS; Zürich, Zürichs; São  Paulo; aXb"
    masked = mask(text, terms)
    assert masked.text == (
        "The ZQ1Z and USA; ZQ2Z and C+; ZQ3Z; ZQ4Z PAS; ZQ5Z, Zürichs; ZQ6Z; aXb"
    )
    assert list(masked.slots.values()) == ["U.S.", "C++", "AT&T", "(PAS)", "Zürich", "São Paulo"]
    # The double space inside "São  Paulo" comes back as the term itself.
    assert unmask(masked.text, masked).text == text.replace("São  Paulo", "São Paulo")


def test_fixed_translations_per_target_language():
    text = "The European Union warned KCNA."
    de = mask(text, terms_for(KEEP, FIXED, "de"))
    fr = mask(text, terms_for(KEEP, FIXED, "fr"))
    assert de.text == fr.text == "The ZQ1Z warned ZQ2Z."
    german = unmask("Die ZQ1Z warnte ZQ2Z.", de)
    french = unmask("L'ZQ1Z a averti ZQ2Z.", fr)
    assert german == Unmasked("Die Europäische Union warnte KCNA.", [])
    assert french == Unmasked("L'Union européenne a averti KCNA.", [])
    assert "European Union" not in german.text + french.text


def test_lost_placeholders_are_reported_once_per_term():
    masked = mask("KCNA said Kim Jong-un met KCNA staff.", TERMS)
    assert unmask("ZQ1Z sagte, ZQ3Z.", masked) == Unmasked("KCNA sagte, KCNA.", ["Kim Jong-un"])
    assert unmask("ZQ3Z traf ZQ2Z und ZQ1Z.", masked) == Unmasked(
        "KCNA traf Kim Jong-un und KCNA.", []
    )
    # One of two KCNA placeholders lost, or both: KCNA is named once.
    assert unmask("ZQ2Z traf ZQ3Z.", masked) == Unmasked("Kim Jong-un traf KCNA.", ["KCNA"])
    assert unmask("ZQ2Z traf sie.", masked).lost == ["KCNA"]
    assert unmask("Sie trafen sich.", masked).lost == ["KCNA", "Kim Jong-un"]
    # A placeholder the model broke apart counts as lost, and is not half-replaced.
    assert unmask("ZQ 1Z traf ZQ2Z ZQ3Z", masked) == Unmasked(
        "ZQ 1Z traf Kim Jong-un KCNA", ["KCNA"]
    )


def test_duplicated_placeholders():
    masked = mask("KCNA said so.", TERMS)
    # Repeated right after itself: one term, not two.
    assert unmask("ZQ1Z ZQ1Z sagte das.", masked) == Unmasked("KCNA sagte das.", [])
    assert unmask("ZQ1Z zq1z  ZQ1Z sagte das.", masked).text == "KCNA sagte das."
    # Repeated elsewhere: the term each time.
    assert unmask("ZQ1Z sagte, ZQ1Z.", masked) == Unmasked("KCNA sagte, KCNA.", [])


def test_invented_placeholders_are_left_alone():
    masked = mask("KCNA met Kim Jong-un.", TERMS)
    assert masked.slots == {"ZQ1Z": "KCNA", "ZQ2Z": "Kim Jong-un"}
    output = "ZQ1Z traf ZQ7Z und ZQ0Z, ZQ12Z, ZQ1234567890123Z."
    assert unmask(output, masked) == Unmasked(
        "KCNA traf ZQ7Z und ZQ0Z, ZQ12Z, ZQ1234567890123Z.", ["Kim Jong-un"]
    )
    # A placeholder of another letter pair is no placeholder of this text.
    assert unmask("QZ1Q traf ZQ2Z.", masked) == Unmasked("QZ1Q traf Kim Jong-un.", ["KCNA"])


def test_text_already_holding_placeholder_like_strings_round_trips():
    text = "Code ZQ1Z and zq2z from KCNA."
    masked = mask(text, TERMS)
    assert masked.text == "Code ZQ1Z and zq2z from QZ1Q."
    assert masked.slots == {"QZ1Q": "KCNA"}
    assert unmask(masked.text, masked) == Unmasked(text, [])
    # The model copies the source's ZQ1Z: it stays ZQ1Z.
    assert unmask("Code ZQ1Z und zq2z von QZ1Q.", masked).text == "Code ZQ1Z und zq2z von KCNA."

    text = "ZQ1Z, QZ3Q and KCNA"
    masked = mask(text, TERMS)
    assert masked.text == "ZQ1Z, QZ3Q and XQ1X"
    assert unmask(masked.text, masked) == Unmasked(text, [])


def test_empty_glossary_is_a_no_op():
    text = "KCNA said ZQ1Z."
    for terms in ({}, {" ": "x"}, {"Pyongyang": "Pjöngjang"}):
        masked = mask(text, terms)
        assert masked.text == text
        assert masked.slots == {}
        assert unmask("KCNA sagte ZQ1Z.", masked) == Unmasked("KCNA sagte ZQ1Z.", [])
    assert mask(text, {}) == Masked(text, {})
    assert terms_for([], {}, "de") == {}


def test_missing_terms_of_a_translation_made_without_masking():
    terms = terms_for(KEEP, FIXED, "de")
    source = "The European Union warned KCNA. KCNA replied."
    assert missing_terms("Die Europäische Union warnte KCNA. KCNA antwortete.", terms, source) == []
    # The source term instead of its translation, an inflected form, a term once too few.
    assert missing_terms("Die European Union warnte KCNA. KCNA antwortete.", terms, source) == [
        "Europäische Union"
    ]
    assert missing_terms("Der Europäischen Union KCNA.", terms, source) == [
        "Europäische Union",
        "KCNA",
    ]
    # Not a whole word, or another case, does not count.
    assert missing_terms("Europäische Union: KCNAs, kcna.", terms, source) == ["KCNA"]
    # A term the source does not hold is not expected.
    assert missing_terms("Er sagte nichts.", terms, "Kim said nothing.") == []
    assert missing_terms("Er sagte nichts.", terms, "Kim Jong-un said nothing.") == ["Kim Jong-un"]
    assert missing_terms("anything", {}, source) == []


def test_missing_terms_counts_overlapping_terms_leftmost_longest():
    terms = {t: t for t in ["Kim", "Kim Jong-un"]}
    source = "Kim Jong-un spoke."
    assert missing_terms("Kim Jong-un sprach.", terms, source) == []
    assert missing_terms("Kim sprach.", terms, source) == ["Kim Jong-un"]
    # "Kim" inside "Kim Jong-un" is not a second "Kim".
    assert missing_terms("Kim Jong-un sprach.", terms, "Kim Jong-un met Kim.") == ["Kim"]
    assert missing_terms("Kim Jong-un traf Kim.", terms, "Kim Jong-un met Kim.") == []


def test_terms_in_chinese_text_are_matched_without_spaces_around_them():
    terms = {"金正恩": "Kim Jong-un", "KCNA": "KCNA"}
    masked = mask("朝鲜领导人金正恩说，KCNA报道。", terms)
    assert masked.text == "朝鲜领导人ZQ1Z说，ZQ2Z报道。"
    assert unmask("Leader ZQ1Z said ZQ2Z reported.", masked).text == (
        "Leader Kim Jong-un said KCNA reported.")
    assert missing_terms("朝中社KCNA称欧盟", {"KCNA": "KCNA", "European Union": "欧盟"},
                         "KCNA said the European Union") == []
