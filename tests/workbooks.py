"""Small real workbooks written by hand (calamine only reads; openpyxl is not a
dependency): the XML parts of an xlsx and an ods, zipped as the formats say."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from collections.abc import Sequence
from xml.sax.saxutils import escape

Cell = str | int | float | bool | dt.date | None
_EPOCH = dt.datetime(1899, 12, 30)


def _col(i: int) -> str:
    name = ""
    i += 1
    while i:
        i, rem = divmod(i - 1, 26)
        name = chr(65 + rem) + name
    return name


def _xlsx_cell(ref: str, value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return f'<c r="{ref}" t="b"><v>{int(value)}</v></c>'
    if isinstance(value, int | float):
        return f'<c r="{ref}"><v>{value!r}</v></c>'
    if isinstance(value, dt.datetime):
        serial = (value - _EPOCH).total_seconds() / 86400
        return f'<c r="{ref}" s="2"><v>{serial!r}</v></c>'
    if isinstance(value, dt.date):
        serial = (dt.datetime.combine(value, dt.time()) - _EPOCH).days
        return f'<c r="{ref}" s="1"><v>{serial}</v></c>'
    text = escape(value)
    return f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{text}</t></is></c>'


def xlsx(sheets: dict[str, Sequence[Sequence[Cell]]], first_row: int = 1) -> bytes:
    """An xlsx of ``sheets`` (name → rows); each sheet's rows start at ``first_row``."""
    out = io.BytesIO()
    names = list(sheets)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        overrides = "".join(
            f'<Override PartName="/xl/worksheets/sheet{i + 1}.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            for i in range(len(names))
        )
        z.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats'
            '.org/package/2006/content-types"><Default Extension="rels" ContentType="applicat'
            'ion/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" Cont'
            'entType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="ap'
            'plication/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Over'
            'ride PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-offic'
            f'edocument.spreadsheetml.styles+xml"/>{overrides}</Types>',
        )
        z.writestr(
            "_rels/.rels",
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openx'
            'mlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://s'
            'chemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Tar'
            'get="xl/workbook.xml"/></Relationships>',
        )
        sheet_list = "".join(
            f'<sheet name="{escape(n)}" sheetId="{i + 1}" r:id="rId{i + 1}"/>'
            for i, n in enumerate(names)
        )
        z.writestr(
            "xl/workbook.xml",
            '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlfor'
            'mats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/off'
            f'iceDocument/2006/relationships"><sheets>{sheet_list}</sheets></workbook>',
        )
        rels = "".join(
            f'<Relationship Id="rId{i + 1}" Type="http://schemas.openxmlformats.org/officeDoc'
            f'ument/2006/relationships/worksheet" Target="worksheets/sheet{i + 1}.xml"/>'
            for i in range(len(names))
        )
        styles_id = len(names) + 1
        z.writestr(
            "xl/_rels/workbook.xml.rels",
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openx'
            f'mlformats.org/package/2006/relationships">{rels}<Relationship Id="rId{styles_id}'
            '" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styl'
            'es" Target="styles.xml"/></Relationships>',
        )
        # Style 1: a date (built-in format 14), style 2: a date and time (22).
        z.writestr(
            "xl/styles.xml",
            '<?xml version="1.0" encoding="UTF-8"?><styleSheet xmlns="http://schemas.openxmlf'
            'ormats.org/spreadsheetml/2006/main"><cellXfs count="3"><xf numFmtId="0"/><xf num'
            'FmtId="14" applyNumberFormat="1"/><xf numFmtId="22" applyNumberFormat="1"/></cel'
            "lXfs></styleSheet>",
        )
        for i, name in enumerate(names):
            rows = []
            for r, row in enumerate(sheets[name], start=first_row):
                cells = "".join(_xlsx_cell(f"{_col(c)}{r}", v) for c, v in enumerate(row))
                rows.append(f'<row r="{r}">{cells}</row>')
            z.writestr(
                f"xl/worksheets/sheet{i + 1}.xml",
                '<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openx'
                'mlformats.org/spreadsheetml/2006/main"><sheetData>'
                + "".join(rows)
                + "</sheetData></worksheet>",
            )
    return out.getvalue()


def _ods_cell(value: Cell) -> str:
    if value is None:
        return "<table:table-cell/>"
    if isinstance(value, bool):
        flag = "true" if value else "false"
        return (
            f'<table:table-cell office:value-type="boolean" office:boolean-value="{flag}">'
            f"<text:p>{flag.upper()}</text:p></table:table-cell>"
        )
    if isinstance(value, int | float):
        return (
            f'<table:table-cell office:value-type="float" office:value="{value!r}">'
            f"<text:p>{value}</text:p></table:table-cell>"
        )
    if isinstance(value, dt.date):
        return (
            f'<table:table-cell office:value-type="date" office:date-value="'
            f'{value.isoformat()}"><text:p>{value.isoformat()}</text:p></table:table-cell>'
        )
    return (
        f'<table:table-cell office:value-type="string"><text:p>{escape(value)}</text:p>'
        "</table:table-cell>"
    )


def ods(sheets: dict[str, Sequence[Sequence[Cell]]]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        # The mimetype comes first and stored, as the OpenDocument format asks.
        z.writestr(
            zipfile.ZipInfo("mimetype"),
            "application/vnd.oasis.opendocument.spreadsheet",
            compress_type=zipfile.ZIP_STORED,
        )
        z.writestr(
            "META-INF/manifest.xml",
            '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oas'
            'is:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2"><manifest:fi'
            'le-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opend'
            'ocument.spreadsheet"/><manifest:file-entry manifest:full-path="content.xml" mani'
            'fest:media-type="text/xml"/></manifest:manifest>',
        )
        tables = "".join(
            f'<table:table table:name="{escape(name)}">'
            + "".join(
                "<table:table-row>" + "".join(_ods_cell(v) for v in row) + "</table:table-row>"
                for row in rows
            )
            + "</table:table>"
            for name, rows in sheets.items()
        )
        z.writestr(
            "content.xml",
            '<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:o'
            'asis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:open'
            'document:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:'
            '1.0" office:version="1.2"><office:body><office:spreadsheet>'
            + tables
            + "</office:spreadsheet></office:body></office:document-content>",
        )
    return out.getvalue()
