"""Report files: every format is parsed back and its content checked (bytes are not compared)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import openpyxl
import pypdf
import pytest

from services.analytics.service import report_files
from services.analytics.service.report_files import FORMATS, Column, ReportTable, render

GENERATED = datetime(2026, 2, 1, 8, 30, tzinfo=UTC)
CET = timezone(timedelta(hours=1))
COLUMNS = (
    Column("campaign", "Campaign"),
    Column("clicks", "Clicks", "int"),
    Column("spend", "Spend", "money"),
    Column("ctr", "CTR", "ratio"),
    Column("day", "Day", "date"),
    Column("updated", "Updated", "datetime"),
)
HYPERLINK = '=HYPERLINK("http://evil.example","click")'
ROWS: tuple[dict[str, object], ...] = (
    {
        "campaign": "Spring sale",
        "clicks": 1234,
        "spend": 123456,
        "ctr": 0.0512,
        "day": date(2026, 1, 5),
        "updated": datetime(2026, 1, 5, 10, 0, tzinfo=CET),
    },
    {"campaign": HYPERLINK, "clicks": -5, "spend": -250, "ctr": None, "day": None, "updated": None},
    {
        "campaign": "-5 apples",
        "clicks": None,
        "spend": None,
        "ctr": Decimal("0.25"),
        "day": date(2026, 1, 6),
        "updated": datetime(2026, 1, 6, 0, 0, tzinfo=UTC),
    },
)


def make_table(
    currency: str = "EUR",
    rows: tuple[dict[str, object], ...] = ROWS,
    columns: tuple[Column, ...] = COLUMNS,
) -> ReportTable:
    return ReportTable(
        title="KPI summary",
        subtitle=f"Tenant Acme · 2026-01-01 to 2026-01-31 · {currency}",
        columns=columns,
        rows=rows,
        generated_at=GENERATED,
        currency=currency,
    )


def csv_rows(table: ReportTable) -> list[list[str]]:
    return list(csv.reader(io.StringIO(render(table, "csv").content.decode("utf-8"), newline="")))


def sheet_of(table: ReportTable) -> tuple[openpyxl.Workbook, object]:
    workbook = openpyxl.load_workbook(io.BytesIO(render(table, "xlsx").content))
    return workbook, workbook.active


def pdf_pages(table: ReportTable) -> list[str]:
    reader = pypdf.PdfReader(io.BytesIO(render(table, "pdf").content))
    return [page.extract_text() for page in reader.pages]


# --- the interface ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "media_type", "magic"),
    [
        ("csv", "text/csv; charset=utf-8", b"Campaign,"),
        ("json", "application/json", b"{"),
        ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", b"PK"),
        ("pdf", "application/pdf", b"%PDF-"),
    ],
)
def test_each_format_is_labelled_for_download(fmt: str, media_type: str, magic: bytes) -> None:
    rendered = render(make_table(), fmt)
    assert (rendered.media_type, rendered.extension) == (media_type, fmt)
    assert rendered.content.startswith(magic)


def test_formats_lists_the_four_formats() -> None:
    assert FORMATS == ("csv", "json", "xlsx", "pdf")


@pytest.mark.parametrize("fmt", ["html", "CSV", "", "xls"])
def test_an_unknown_format_is_refused(fmt: str) -> None:
    with pytest.raises(ValueError, match="unknown report format"):
        render(make_table(), fmt)


def test_tables_that_cannot_be_rendered_honestly_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ReportTable("t", "s", COLUMNS, ROWS, datetime(2026, 2, 1, 8, 30))
    with pytest.raises(ValueError, match="currency"):
        ReportTable("t", "s", COLUMNS, ROWS, GENERATED)
    with pytest.raises(ValueError, match="kind"):
        Column("x", "X", "percent")
    with pytest.raises(ValueError, match="column"):
        ReportTable("t", "s", (), (), GENERATED)


# --- CSV --------------------------------------------------------------------------------------


def test_csv_has_a_label_header_and_plain_decimals() -> None:
    content = render(make_table(), "csv").content
    assert not content.startswith(b"\xef\xbb\xbf")
    assert b"\r\n" in content
    header, first, second, third = csv_rows(make_table())
    assert header == ["Campaign", "Clicks", "Spend (EUR)", "CTR", "Day", "Updated"]
    assert first == ["Spring sale", "1234", "1234.56", "0.0512", "2026-01-05", "2026-01-05T10:00:00+01:00"]
    assert second[1:] == ["-5", "-2.50", "", "", ""]
    assert third[1:] == ["", "", "0.25", "2026-01-06", "2026-01-06T00:00:00+00:00"]


@pytest.mark.parametrize(
    ("currency", "minor", "shown"),
    [("EUR", 123456, "1234.56"), ("JPY", 123456, "123456"), ("KWD", 123456, "123.456"), ("EUR", 5, "0.05")],
)
def test_csv_money_uses_the_currency_exponent(currency: str, minor: int, shown: str) -> None:
    table = make_table(currency, rows=({"spend": minor},), columns=(Column("spend", "Spend", "money"),))
    assert csv_rows(table) == [[f"Spend ({currency})"], [shown]]


def test_csv_neutralises_formulas_but_not_numbers() -> None:
    _, _, second, third = csv_rows(make_table())
    assert second[0] == "'" + HYPERLINK
    assert third[0] == "'-5 apples"
    assert second[1:3] == ["-5", "-2.50"]


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_spreadsheet_formats_neutralise_every_formula_trigger(text: str) -> None:
    table = make_table(rows=({"campaign": text},), columns=(Column("campaign", "Campaign"),))
    assert csv_rows(table)[1] == ["'" + text]
    _, sheet = sheet_of(table)
    # XML parsing turns a stored "\r" into "\n"; what matters is the quote in front.
    assert (sheet["A2"].value, sheet["A2"].data_type) == ("'" + text.replace("\r", "\n"), "s")


@pytest.mark.parametrize("text", ["Spring", "a=b", "1-2", " =x"])
def test_csv_leaves_harmless_text_alone(text: str) -> None:
    table = make_table(rows=({"campaign": text},), columns=(Column("campaign", "Campaign"),))
    assert csv_rows(table)[1] == [text]


def test_missing_keys_and_nan_are_empty() -> None:
    columns = (Column("campaign", "Campaign"), Column("ctr", "CTR", "ratio"))
    table = make_table(rows=({"ctr": float("nan")},), columns=columns)
    assert csv_rows(table)[1] == ["", ""]
    assert json.loads(render(table, "json").content)["rows"] == [{"campaign": None, "ctr": None}]


# --- JSON -------------------------------------------------------------------------------------


def test_json_keeps_raw_values_for_programs() -> None:
    document = json.loads(render(make_table("JPY"), "json").content)
    assert document["title"] == "KPI summary"
    assert document["subtitle"].startswith("Tenant Acme")
    assert document["generated_at"] == "2026-02-01T08:30:00+00:00"
    assert document["currency"] == "JPY"
    assert document["columns"][2] == {"key": "spend", "label": "Spend", "kind": "money"}
    first, second, third = document["rows"]
    assert first == {
        "campaign": "Spring sale",
        "clicks": 1234,
        "spend": 123456,
        "ctr": 0.0512,
        "day": "2026-01-05",
        "updated": "2026-01-05T10:00:00+01:00",
    }
    assert second == {
        "campaign": HYPERLINK,
        "clicks": -5,
        "spend": -250,
        "ctr": None,
        "day": None,
        "updated": None,
    }
    assert isinstance(third["ctr"], float)
    assert third["ctr"] == 0.25


def test_json_keeps_unicode_readable() -> None:
    table = make_table(rows=({"campaign": "Кампания 東京"},), columns=(Column("campaign", "Campaign"),))
    content = render(table, "json").content
    assert "Кампания 東京".encode() in content
    assert json.loads(content)["rows"] == [{"campaign": "Кампания 東京"}]


# --- XLSX -------------------------------------------------------------------------------------


def test_xlsx_is_a_plain_table_with_a_bold_frozen_header() -> None:
    workbook, sheet = sheet_of(make_table())
    assert [cell.value for cell in sheet[1]] == [
        "Campaign",
        "Clicks",
        "Spend (EUR)",
        "CTR",
        "Day",
        "Updated (UTC)",
    ]
    assert all(cell.font.bold for cell in sheet[1])
    assert sheet.freeze_panes == "A2"
    assert sheet.max_row == 4
    assert sheet.column_dimensions["A"].width > sheet.column_dimensions["B"].width > 0
    assert workbook.properties.title == "KPI summary"
    assert workbook.properties.subject.startswith("Tenant Acme")
    assert "2026-02-01T08:30:00+00:00" in workbook.properties.description


def test_xlsx_cells_are_numbers_and_dates_with_formats() -> None:
    _, sheet = sheet_of(make_table())
    clicks, spend, ctr, day, updated = sheet["B2"], sheet["C2"], sheet["D2"], sheet["E2"], sheet["F2"]
    assert (clicks.value, clicks.number_format) == (1234, "#,##0")
    assert (spend.value, spend.number_format) == (pytest.approx(1234.56), "#,##0.00")
    assert (ctr.value, ctr.number_format) == (pytest.approx(0.0512), "0.00%")
    assert isinstance(day.value, datetime)
    assert day.value.date() == date(2026, 1, 5)
    assert day.is_date and day.number_format == "yyyy-mm-dd"
    assert updated.value == datetime(2026, 1, 5, 9, 0)  # 10:00 CET, in UTC
    assert updated.is_date
    assert sheet["D4"].value == pytest.approx(0.25)


def test_xlsx_none_is_an_empty_cell() -> None:
    _, sheet = sheet_of(make_table())
    assert [sheet[f"{col}3"].value for col in "DEF"] == [None, None, None]
    assert [sheet[f"{col}4"].value for col in "BC"] == [None, None]


def test_xlsx_neutralises_formulas_but_not_numbers() -> None:
    _, sheet = sheet_of(make_table())
    assert sheet["A3"].value == "'" + HYPERLINK
    assert sheet["A3"].data_type == "s"
    assert sheet["A4"].value == "'-5 apples"
    assert sheet["B3"].value == -5
    assert sheet["C3"].value == pytest.approx(-2.5)


@pytest.mark.parametrize(
    ("currency", "value", "number_format"),
    [("EUR", 1234.56, "#,##0.00"), ("JPY", 123456, "#,##0"), ("KWD", 123.456, "#,##0.000")],
)
def test_xlsx_money_uses_the_currency_exponent(currency: str, value: float, number_format: str) -> None:
    _, sheet = sheet_of(make_table(currency))
    assert sheet["C1"].value == f"Spend ({currency})"
    assert sheet["C2"].value == pytest.approx(value)
    assert sheet["C2"].number_format == number_format


# --- PDF --------------------------------------------------------------------------------------


def test_pdf_shows_title_table_and_formatted_values() -> None:
    (text,) = pdf_pages(make_table())
    for expected in (
        "KPI summary",
        "Tenant Acme",
        "Generated 2026-02-01 08:30 UTC",
        "Spend (EUR)",
        "Updated (UTC)",
        "1,234.56",
        "-2.50",
        "5.12%",
        "25.00%",
        "2026-01-05 09:00",
        "1,234",
        "—",
    ):
        assert expected in text, expected


@pytest.mark.parametrize(("currency", "shown"), [("JPY", "123,456"), ("KWD", "123.456")])
def test_pdf_money_uses_the_currency_exponent(currency: str, shown: str) -> None:
    (text,) = pdf_pages(make_table(currency))
    assert f"Spend ({currency})" in text
    assert shown in text


def test_pdf_bytes_are_reproducible() -> None:
    assert render(make_table(), "pdf").content == render(make_table(), "pdf").content


def test_pdf_is_portrait_up_to_six_columns_and_landscape_beyond() -> None:
    def orientation(columns: tuple[Column, ...]) -> str:
        page = pypdf.PdfReader(io.BytesIO(render(make_table(columns=columns), "pdf").content)).pages[0]
        return "landscape" if page.mediabox.width > page.mediabox.height else "portrait"

    assert orientation(COLUMNS) == "portrait"
    assert orientation((*COLUMNS, Column("note", "Note"))) == "landscape"


def test_a_long_pdf_repeats_the_header_on_every_page() -> None:
    rows = tuple(
        {"campaign": f"Campaign {i:03d}", "clicks": i, "spend": i * 100, "ctr": 0.1} for i in range(500)
    )
    pages = pdf_pages(make_table(rows=rows))
    assert len(pages) > 3
    for page in pages:
        assert "Campaign" in page and "Spend (EUR)" in page and "CTR" in page
    assert "Campaign 499" in pages[-1]
    assert "Campaign 000" not in pages[-1]


def test_pdf_draws_non_latin_text_or_a_question_mark() -> None:
    if not report_files.DEJAVU_SANS.is_file():
        pytest.skip("DejaVu Sans is not installed")
    table = make_table(rows=({"campaign": "Кампания 東京"},))
    (text,) = pdf_pages(table)
    assert "Кампания ??" in text  # Cyrillic drawn by DejaVu, which has no CJK glyphs


def test_pdf_without_dejavu_falls_back_to_helvetica(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(report_files, "DEJAVU_SANS", tmp_path / "missing.ttf")
    table = make_table(rows=({"campaign": "Кампания 東京", "ctr": None},))
    (text,) = pdf_pages(table)
    assert "???????? ??" in text
    assert "—" in text
    assert "KPI summary" in text
