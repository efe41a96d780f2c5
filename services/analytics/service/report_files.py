"""Turn a report's table into a downloadable file: CSV, JSON, XLSX or PDF.

The analytics report worker calls this outside any request, so it is synchronous and knows no web
framework, database or network: a table goes in, bytes come out.

JSON is for programs: raw values (money in integer minor units, ratios as floats, ISO 8601 dates).
CSV is for programs and spreadsheets: plain decimals (money in major units, ratios as fractions).
XLSX and PDF are for people: real numbers with number formats, or text like "1,234.56" and "5.12%".
Money uses the currency's ISO 4217 decimals and its header names the currency. Excel has no time
zones, so XLSX and PDF show times in UTC and say so in the header; CSV and JSON keep the offsets.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from xml.sax.saxutils import escape

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.pdfbase.pdfmetrics import registerFont, stringWidth
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from services.analytics.domain.money import exponent

FORMATS: tuple[str, ...] = ("csv", "json", "xlsx", "pdf")
KINDS: frozenset[str] = frozenset({"text", "int", "money", "ratio", "date", "datetime"})
DEJAVU_SANS = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")

# ISO 4217 minor-unit exponents other than the usual 2.
# OWASP "CSV injection": spreadsheets run a cell starting with one of these as a formula.
_FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_NUMERIC_KINDS = frozenset({"int", "money", "ratio"})
_XLSX_FORMATS = {"int": "#,##0", "ratio": "0.00%", "date": "yyyy-mm-dd", "datetime": "yyyy-mm-dd hh:mm:ss"}
_CELL_FONT_SIZE = 8
_CELL_PADDING = 13  # reportlab's default 6 pt on each side of a cell, plus the grid line
_PDF_GRID = TableStyle(
    [
        ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8e8e8")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]
)


@dataclass(frozen=True)
class Column:
    """One column: where its values live in a row, what people call it, how to show them."""

    key: str
    label: str
    kind: str = "text"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown column kind {self.kind!r}; expected one of {sorted(KINDS)}")


@dataclass(frozen=True)
class ReportTable:
    """A finished report; a row missing a column's key reads as None (an empty cell)."""

    title: str
    subtitle: str
    columns: tuple[Column, ...]
    rows: tuple[Mapping[str, object], ...]
    generated_at: datetime
    currency: str | None = None

    def __post_init__(self) -> None:
        # Checked here so a bad table fails loudly in the worker, not as a misleading file.
        if not self.columns:
            raise ValueError("a report needs at least one column")
        if self.generated_at.utcoffset() is None:
            raise ValueError("generated_at must be timezone-aware")
        if self.currency is None and any(column.kind == "money" for column in self.columns):
            raise ValueError("a report with money columns needs a currency")


@dataclass(frozen=True)
class RenderedFile:
    """The bytes of a report file and what a download or an object store needs to label them."""

    content: bytes
    media_type: str
    extension: str


def render(table: ReportTable, fmt: str) -> RenderedFile:
    """Render `table` as `fmt`, one of FORMATS; ValueError for any other format."""
    if fmt not in _RENDERERS:
        raise ValueError(f"unknown report format {fmt!r}; expected one of {FORMATS}")
    renderer, media_type = _RENDERERS[fmt]
    return RenderedFile(content=renderer(table), media_type=media_type, extension=fmt)


def currency_exponent(currency: str | None) -> int:
    """Decimals of the currency's major unit (ISO 4217); 2, the common case, when not listed."""
    return exponent(currency or "")


def _value(row: Mapping[str, object], column: Column) -> object:
    """The row's value, NaN and infinities as None: a report shows a gap, not "nan"."""
    value = row.get(column.key)
    return None if isinstance(value, float | Decimal) and not math.isfinite(value) else value


def _major(minor: object, exponent: int) -> Decimal:
    """Minor units (cents) as an exact major-unit decimal with the currency's decimals."""
    return Decimal(str(minor)).scaleb(-exponent).quantize(Decimal(1).scaleb(-exponent))


def _neutralise(text: str) -> str:
    """Prefix a quote so a spreadsheet shows the text instead of running it as a formula."""
    return "'" + text if text.startswith(_FORMULA_TRIGGERS) else text


def _header(column: Column, currency: str | None, *, in_utc: bool = False) -> str:
    """The label people see: money names its currency, as the cells hold bare numbers; times
    name UTC where the format lost their offsets."""
    if column.kind == "money" and currency:
        return f"{column.label} ({currency})"
    return f"{column.label} (UTC)" if column.kind == "datetime" and in_utc else column.label


def _utc(moment: datetime) -> datetime:
    """Aware times in UTC; naive ones are taken to be UTC already."""
    return moment.astimezone(UTC) if moment.utcoffset() is not None else moment.replace(tzinfo=UTC)


def _display(value: object, kind: str, exponent: int) -> str:
    """The text a person reads for a value (PDF cells, XLSX column widths)."""
    if value is None:
        return "—"
    if kind == "money":
        return f"{_major(value, exponent):,}"
    if kind == "ratio" and isinstance(value, int | float | Decimal):
        return f"{Decimal(str(value)) * 100:.2f}%"
    if kind == "int" and isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, datetime):
        return _utc(value).strftime("%Y-%m-%d %H:%M")
    return value.isoformat() if isinstance(value, date) else str(value)


def _csv_cell(value: object, kind: str, exponent: int) -> str:
    if value is None:
        return ""
    if kind == "money":
        return str(_major(value, exponent))
    if isinstance(value, date):  # datetime too
        return value.isoformat()
    return _neutralise(value) if isinstance(value, str) else str(value)


def _render_csv(table: ReportTable) -> bytes:
    """UTF-8 without BOM, `\\r\\n` line ends (the csv default), labels as the header row."""
    exponent = currency_exponent(table.currency)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(_neutralise(_header(column, table.currency)) for column in table.columns)
    for row in table.rows:
        writer.writerow(_csv_cell(_value(row, c), c.kind, exponent) for c in table.columns)
    return buffer.getvalue().encode("utf-8")


def _json_value(value: object, kind: str) -> object:
    if isinstance(value, date):  # datetime too
        return value.isoformat()
    if kind == "ratio" and isinstance(value, int | Decimal):
        return float(value)
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _render_json(table: ReportTable) -> bytes:
    """Raw values, so a program gets minor units and fractions without parsing display text."""
    document = {
        "title": table.title,
        "subtitle": table.subtitle,
        "generated_at": table.generated_at.isoformat(),
        "currency": table.currency,
        "columns": [{"key": c.key, "label": c.label, "kind": c.kind} for c in table.columns],
        "rows": [{c.key: _json_value(_value(row, c), c.kind) for c in table.columns} for row in table.rows],
    }
    return json.dumps(document, ensure_ascii=False, allow_nan=False).encode("utf-8")


def _xlsx_cell(value: object, kind: str, exponent: int) -> object:
    if value is None:
        return None
    if kind == "money":
        major = _major(value, exponent)
        return int(major) if exponent == 0 else float(major)
    if isinstance(value, datetime):
        return _utc(value).replace(tzinfo=None)  # Excel cannot store an offset
    if isinstance(value, str):
        return _neutralise(ILLEGAL_CHARACTERS_RE.sub("", value))
    return float(value) if isinstance(value, Decimal) else value


def _xlsx_format(kind: str, exponent: int) -> str | None:
    if kind == "money":
        return "#,##0" + ("." + "0" * exponent if exponent else "")
    return _XLSX_FORMATS.get(kind)


def _render_xlsx(table: ReportTable) -> bytes:
    """Row 1 is the header, so the sheet reads back as a plain table; title, subtitle and time go
    in the workbook properties. Not byte-stable: openpyxl stamps the save time into the file."""
    exponent = currency_exponent(table.currency)
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "".join(" " if ch in "[]:*?/\\" else ch for ch in table.title)[:31].strip() or "Report"
    headers = [_header(column, table.currency, in_utc=True) for column in table.columns]
    sheet.append([_neutralise(header) for header in headers])
    for row in table.rows:
        sheet.append([_xlsx_cell(_value(row, c), c.kind, exponent) for c in table.columns])
    for index, (column, header) in enumerate(zip(table.columns, headers, strict=True), start=1):
        sheet.cell(row=1, column=index).font = Font(bold=True)
        if number_format := _xlsx_format(column.kind, exponent):
            for (cell,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
                cell.number_format = number_format
        longest = max(len(text) for text in [header, *_displayed(table, column, exponent)])
        sheet.column_dimensions[get_column_letter(index)].width = min(max(longest + 2, 8), 60)
    sheet.freeze_panes = "A2"
    properties = workbook.properties
    properties.title, properties.subject, properties.creator = table.title, table.subtitle, "BizOSaaS"
    properties.description = f"{table.subtitle} · generated {table.generated_at.isoformat()}"
    properties.created = _utc(table.generated_at).replace(tzinfo=None)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _displayed(table: ReportTable, column: Column, exponent: int) -> list[str]:
    return [_display(_value(row, column), column.kind, exponent) for row in table.rows]


@dataclass(frozen=True)
class _PdfFonts:
    """The PDF's fonts and the characters they can draw.

    Built-in Helvetica draws only WinAnsi (about Latin-1) and prints other text as black boxes, so
    DejaVu Sans is embedded when installed (Cyrillic, Greek, …). Any character the chosen font
    still lacks (CJK in DejaVu, Cyrillic in Helvetica) becomes "?" instead of a box or a crash.
    """

    regular: str
    bold: str
    glyphs: frozenset[int]

    def safe(self, text: str) -> str:
        return "".join(ch if ch.isspace() or ord(ch) in self.glyphs else "?" for ch in text)


@cache
def _pdf_fonts(dejavu: Path) -> _PdfFonts:
    """Register DejaVu Sans once per process (reportlab's font registry is global)."""
    if not dejavu.is_file():
        winansi = bytes(range(32, 256)).decode("cp1252", errors="ignore")
        return _PdfFonts("Helvetica", "Helvetica-Bold", frozenset(map(ord, winansi)))
    regular = TTFont("DejaVuSans", str(dejavu))
    registerFont(regular)
    bold_path = dejavu.with_name("DejaVuSans-Bold.ttf")
    if bold_path.is_file():
        registerFont(TTFont("DejaVuSans-Bold", str(bold_path)))
    bold = "DejaVuSans-Bold" if bold_path.is_file() else "DejaVuSans"
    return _PdfFonts("DejaVuSans", bold, frozenset(regular.face.charToGlyph))


def _render_pdf(table: ReportTable) -> bytes:
    """A4, landscape beyond 6 columns; the header row repeats on every page of a long table."""
    fonts = _pdf_fonts(DEJAVU_SANS)
    exponent = currency_exponent(table.currency)
    header = [fonts.safe(_header(column, table.currency, in_utc=True)) for column in table.columns]
    body = [
        [fonts.safe(_display(_value(row, c), c.kind, exponent)) for c in table.columns] for row in table.rows
    ]
    buffer = io.BytesIO()
    pagesize = landscape(A4) if len(table.columns) > 6 else A4
    # invariant: fixed dates and ids, so equal tables give equal bytes.
    document = SimpleDocTemplate(buffer, pagesize=pagesize, title=table.title, invariant=True)
    styles = _pdf_styles(fonts)
    kinds = ["number" if column.kind in _NUMERIC_KINDS else "cell" for column in table.columns]
    data = [[Paragraph(escape(text), styles["head"]) for text in header]]
    data += [
        [Paragraph(escape(text), styles[kind]) for text, kind in zip(line, kinds, strict=True)]
        for line in body
    ]
    size = _CELL_FONT_SIZE
    natural = [
        _CELL_PADDING
        + max(stringWidth(head, fonts.bold, size), *(stringWidth(t, fonts.regular, size) for t in texts))
        for head, *texts in zip(header, *body, strict=True)
    ]
    widths = _pdf_widths(natural, table.columns, document.width)
    generated = _utc(table.generated_at).strftime("%Y-%m-%d %H:%M UTC")
    lines = [(table.title, "title"), (table.subtitle, "text"), (f"Generated {generated}", "text")]
    story = [Paragraph(escape(fonts.safe(line)), styles[style]) for line, style in lines]
    document.build([*story, Spacer(1, 8), Table(data, colWidths=widths, repeatRows=1, style=_PDF_GRID)])
    return buffer.getvalue()


def _pdf_styles(fonts: _PdfFonts) -> dict[str, ParagraphStyle]:
    sample = getSampleStyleSheet()
    text = ParagraphStyle("ReportText", parent=sample["Normal"], fontName=fonts.regular)
    cell = ParagraphStyle("ReportCell", parent=text, fontSize=_CELL_FONT_SIZE, leading=_CELL_FONT_SIZE + 2)
    return {
        "title": ParagraphStyle("ReportTitle", parent=sample["Heading1"], fontName=fonts.bold),
        "text": text,
        "cell": cell,
        "number": ParagraphStyle("ReportNumber", parent=cell, alignment=TA_RIGHT),
        "head": ParagraphStyle("ReportHead", parent=cell, fontName=fonts.bold),
    }


def _pdf_widths(natural: list[float], columns: tuple[Column, ...], width: float) -> list[float]:
    """Numbers and dates keep their natural width so they never wrap; text columns share what is
    left by their natural width and wrap. When all fits, every column widens to fill the page."""
    fixed = sum(w for w, column in zip(natural, columns, strict=True) if column.kind != "text")
    if sum(natural) <= width or fixed >= width:
        return [w * width / sum(natural) for w in natural]
    share = (width - fixed) / (sum(natural) - fixed)
    return [w * share if column.kind == "text" else w for w, column in zip(natural, columns, strict=True)]


_RENDERERS: dict[str, tuple[Callable[[ReportTable], bytes], str]] = {
    "csv": (_render_csv, "text/csv; charset=utf-8"),
    "json": (_render_json, "application/json"),
    "xlsx": (_render_xlsx, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    "pdf": (_render_pdf, "application/pdf"),
}
