"""Western European exports: Windows-1252 / Latin-1 detected as such (never read as CP932 mojibake), the encoding
names people type, and decimal commas read only when the file says so -- otherwise rejected with the reason."""
from __future__ import annotations

from datetime import date

import pytest

from kpi_core import ingest
from kpi_core.domain.model import KPI, Plan
from kpi_core.ingest.decode import codec_name, decode

APRIL, MAY = date(2025, 4, 1), date(2025, 5, 1)
GERMAN = "Monat;Umsatz;Größe;Bemerkung\n2025-04;1.234,50;12,5;Büro Zürich\n2025-05;2.000,00;13,0;Café – “ok” €\n"
PORTUGUESE = "mês;situação;vendas\n2025-04;ação;12\n"  # valid CP932 byte for byte: only the reading tells


@pytest.fixture
def plan(store):
    made = store.create_plan(Plan(name="EU", fiscal_start=date(2025, 4, 1)))
    for key, name in (("revenue", "Umsatz"), ("size", "Größe")):
        store.save_kpi(KPI(plan_id=made.id, key=key, name=name), None)
    return store.get_plan(made.id)


@pytest.mark.parametrize(("text", "codec", "expected"), [
    (GERMAN, "cp1252", "cp1252"),
    (GERMAN.split("\n2025-05")[0], "latin-1", "cp1252"),  # the same bytes in both: the wider one is said
    (PORTUGUESE, "cp1252", "cp1252"),
    ("mois,ventes,été\n2025-04,12,ça\n2025-05,13,déjà vu à côté\n", "latin-1", "cp1252"),
    ("Monat;Umsatz €;Temp °C\n2025-04;12,5;3\n", "cp1252", "cp1252"),
    ("name;x\ncaf\x81;1\n", "latin-1", "latin-1"),  # a byte Windows-1252 leaves undefined
    # a lone accented letter between ASCII, which CP932 would read as a stray half-width katakana
    ("Monat;Besuche;Ø Auftragswert (EUR)\n01.04.2026;38;1.100.000,50\n", "latin-1", "cp1252"),
    ("Monat;Temp (°C)\n04.2026;12,5\n", "latin-1", "cp1252"),
    ("月,商談数,受注率,平均単価\n2026/07,50,25%,\"1,200,000\"\n合計,90,,\n", "cp932", "cp932"),
    ("商談ID,フェーズ,金額\nD1,受注,\"1,000\"\n㈱テスト①,ｶﾌﾞｼｷｶﾞｲｼｬ,1\n", "cp932", "cp932"),
    ("ソフト,表示,能力\n1,2,3\n", "cp932", "cp932"),  # second bytes 0x5C, the classic trap
    ("氏名,会社\n髙橋 一郎,ABC株式会社\nGmbH営業部,Web広告費\n", "cp932", "cp932"),
])
def test_western_and_japanese_exports_are_each_read_in_their_own_encoding(text, codec, expected):
    decoded = decode(text.encode(codec), full=True)
    assert decoded.encoding == expected
    assert bytes(decoded.view).decode("utf-8") == text


def test_a_latin1_file_is_read_with_its_accents_and_its_decimal_commas(store, plan):
    parsed = ingest.read_export(GERMAN.encode("cp1252"), "umsatz.csv")
    assert parsed.columns[2] == "Größe" and parsed.decimal_comma
    assert ingest.describe(parsed, "en").startswith("Windows-1252 (Western European), semicolon-separated")
    assert "1.234,50 = 1234.5" in ingest.describe(parsed, "en")
    mapping = {"shape": "wide_metrics", "date_column": "Monat",
               "metrics": {"revenue": {"column": "Umsatz"}, "size": {"column": "Größe"}}}
    shown = ingest.preview_import(store, plan, parsed, mapping, "en")
    assert shown.rejections == []
    assert shown.values[["metric", "month", "value"]].values.tolist() == [
        ["revenue", APRIL, 1234.5], ["revenue", MAY, 2000.0], ["size", APRIL, 12.5], ["size", MAY, 13.0]]


@pytest.mark.parametrize("shape", ["wide_metrics", "records"])
def test_decimal_commas_in_a_decimal_point_file_are_rejected_never_rescaled(store, plan, shape):
    text = 'day,Umsatz\n2025-04-03,"1.234,50"\n2025-04-09,12.5\n2025-05-01,"12,5"\n2025-05-02,"1,250"\n'
    parsed = ingest.read_export(text.encode(), "mixed.csv")
    assert not parsed.decimal_comma
    metric = {"column": "Umsatz"} if shape == "wide_metrics" else {"source": "sum", "column": "Umsatz"}
    mapping = {"shape": shape, "date_column": "day", "metrics": {"revenue": metric}}
    if shape == "wide_metrics":
        mapping["combine"] = "sum"
    shown = ingest.preview_import(store, plan, parsed, mapping, "en")
    assert shown.values[["month", "value"]].values.tolist() == [[APRIL, 12.5], [MAY, 1250.0]]
    assert [(r.line, r.key) for r in shown.rejections] == [(2, "ingest.reject.decimal_comma"),
                                                          (4, "ingest.reject.decimal_comma")]
    assert "“12,5” in “Umsatz” is written with a decimal comma" in shown.rejections[1].message("en")
    assert "小数点にカンマ" in shown.rejections[1].message("ja")


@pytest.mark.parametrize("shape", ["wide_metrics", "records"])
def test_a_consistent_decimal_comma_pattern_is_read_as_such(store, plan, shape):
    text = 'day,Umsatz\n2025-04-03,"1.234,50"\n2025-04-09,"12,5"\n2025-05-01,7\n2025-05-02,"1.000"\n'
    parsed = ingest.read_export(text.encode(), "komma.csv")
    assert parsed.decimal_comma
    metric = {"column": "Umsatz"} if shape == "wide_metrics" else {"source": "sum", "column": "Umsatz"}
    mapping = {"shape": shape, "date_column": "day", "metrics": {"revenue": metric}, "combine": "sum"}
    if shape == "records":
        del mapping["combine"]
    shown = ingest.preview_import(store, plan, parsed, mapping, "en")
    assert shown.rejections == []
    assert shown.values[["month", "value"]].values.tolist() == [[APRIL, 1247.0], [MAY, 1007.0]]


def test_the_decimal_mark_can_be_said_and_a_point_in_a_comma_file_is_rejected(store, plan):
    text = "Monat;Umsatz\n2025-04;12.5\n2025-05;3\n"
    said = ingest.read_export(text.encode(), "x.csv", decimal="point")
    assert not said.decimal_comma
    forced = ingest.read_export(text.encode(), "x.csv", decimal="comma")
    shown = ingest.preview_import(store, plan, forced, {"shape": "wide_metrics", "date_column": "Monat",
                                                        "metrics": {"revenue": {"column": "Umsatz"}}}, "en")
    assert [r.key for r in shown.rejections] == ["ingest.reject.decimal_point"]
    with pytest.raises(ingest.IngestError) as bad:
        ingest.read_export(text.encode(), "x.csv", decimal="dot")
    assert bad.value.key == "ingest.bad_decimal_choice"


@pytest.mark.parametrize(("typed", "codec"), [
    ("latin-1", "latin-1"), ("Latin1", "latin-1"), ("ISO-8859-1", "latin-1"), ("iso_8859_1", "latin-1"),
    ("cp1252", "cp1252"), ("Windows-1252", "cp1252"), ("shift_jis", "cp932"), ("Shift-JIS", "cp932"),
    ("SJIS", "cp932"), ("cp932", "cp932"), ("MS932", "cp932"), ("utf-8-sig", "utf-8"), ("UTF8", "utf-8"),
    ("utf-16", "utf-16-le"), ("UTF-16LE", "utf-16-le"), ("utf-16be", "utf-16-be"),
])
def test_encoding_names_people_type(typed, codec):
    assert codec_name(typed) == codec


def test_a_chosen_encoding_reads_the_file_in_it():
    data = GERMAN.encode("cp1252")
    assert ingest.read_export(data, "x.csv", encoding="latin-1").columns[2] == "Größe"
    assert ingest.read_export(data, "x.csv", encoding="latin-1").encoding == "latin-1"
    assert ingest.read_export(data, "x.csv", encoding="Windows-1252").encoding == "cp1252"
    with pytest.raises(ingest.IngestError) as bad:
        ingest.read_export(data, "x.csv", encoding="klingon")
    assert "Windows-1252" in bad.value.message("en")


def test_a_german_export_with_day_first_dates_and_a_summe_row_imports_exactly(store, plan):
    text = ("Monat;Umsatz;Größe\n01.04.2025;1.234,50;3\n15.04.2025;100,25;1\n01.05.2025;2.000;2\n"
            "Summe;3.334,75;6\n")
    parsed = ingest.read_export(text.encode("latin-1"), "umsatz.csv")
    assert parsed.encoding == "cp1252" and parsed.decimal_comma
    mapping = {"shape": "wide_metrics", "date_column": "Monat", "combine": "sum",
               "metrics": {"revenue": {"column": "Umsatz"}, "size": {"column": "Größe"}}}
    preview = ingest.preview_import(store, plan, parsed, mapping, "en")
    assert preview.rejections == [] and [(s.line, s.reason) for s in preview.skipped] == [(5, "total")]
    assert {(a.metric_key, a.month): a.value for a in preview.actuals} == {
        ("revenue", date(2025, 4, 1)): 1334.75, ("revenue", date(2025, 5, 1)): 2000.0,
        ("size", date(2025, 4, 1)): 4.0, ("size", date(2025, 5, 1)): 2.0}
