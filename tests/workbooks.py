"""Small real workbooks written by hand (calamine only reads; openpyxl is not a
dependency): the XML parts of an xlsx and an ods, zipped as the formats say, and the
BIFF8 records of an xls in its OLE2 compound file."""

from __future__ import annotations

import datetime as dt
import io
import struct
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


# --- xls: BIFF8 records in an OLE2 compound file -------------------------------------------

_END, _FREE, _FAT_SECTOR, _NO_STREAM = 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFD, 0xFFFFFFFF
_SECTOR = 512
# Streams under this size live in the mini stream; the Workbook is padded past it so
# the file needs one FAT sector and no mini FAT.
_MINI_CUTOFF = 4096


def _record(kind: int, data: bytes) -> bytes:
    return struct.pack("<HH", kind, len(data)) + data


def _bof(substream: int) -> bytes:
    # BIFF8 (0x0600); 0x0005 the workbook globals, 0x0010 a worksheet.
    return _record(0x0809, struct.pack("<HHHHII", 0x0600, substream, 0x0DBB, 0x07CC, 0, 6))


def _biff_text(value: str, long_count: bool) -> bytes:
    count = struct.pack("<H" if long_count else "<B", len(value))
    return count + b"\x01" + value.encode("utf-16-le")  # 0x01: UTF-16 characters


def _sheet_records(rows: Sequence[Sequence[Cell]]) -> bytes:
    cells = []
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if value is None:
                continue
            if isinstance(value, bool):
                cells.append(_record(0x0205, struct.pack("<HHHBB", r, c, 0, int(value), 0)))
            elif isinstance(value, int | float):
                cells.append(_record(0x0203, struct.pack("<HHHd", r, c, 0, float(value))))
            elif isinstance(value, str):
                label = struct.pack("<HHH", r, c, 0) + _biff_text(value, True)
                cells.append(_record(0x0204, label))
            else:
                raise ValueError("xls() writes numbers, text and booleans only")
    width = max((len(row) for row in rows), default=0)
    dimensions = _record(0x0200, struct.pack("<IIHHH", 0, len(rows), 0, width, 0))
    return _bof(0x0010) + dimensions + b"".join(cells) + _record(0x000A, b"")


def _directory_entry(name: str, kind: int, child: int, start: int, size: int) -> bytes:
    raw = name.encode("utf-16-le") + b"\x00\x00" if name else b""
    return (
        raw.ljust(64, b"\x00")
        + struct.pack("<HBB", len(raw), kind, 1)
        + struct.pack("<III", _NO_STREAM, _NO_STREAM, child)
        + b"\x00" * 16
        + struct.pack("<IQQIQ", 0, 0, 0, start, size)
    )


def xls(sheet: str, rows: Sequence[Sequence[Cell]]) -> bytes:
    """A one-sheet legacy Excel workbook (numbers, text and booleans)."""

    def globals_(sheet_at: int) -> bytes:
        return (
            _bof(0x0005)
            + _record(0x0042, struct.pack("<H", 1200))  # code page: UTF-16
            + _record(0x0085, struct.pack("<IBB", sheet_at, 0, 0) + _biff_text(sheet, False))
            + _record(0x000A, b"")
        )

    head = globals_(len(globals_(0)))
    stream = head + _sheet_records(rows)
    stream += b"\x00" * max(0, _MINI_CUTOFF - len(stream))
    stream += b"\x00" * (-len(stream) % _SECTOR)
    sectors = len(stream) // _SECTOR
    # Sector 0 holds the FAT, sector 1 the directory, sectors 2.. the Workbook stream.
    fat = [_FAT_SECTOR, _END, *range(3, 2 + sectors), _END]
    fat += [_FREE] * (_SECTOR // 4 - len(fat))
    header = (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
        + b"\x00" * 16
        + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6)
        + b"\x00" * 6
        + struct.pack("<IIIIIIIII", 0, 1, 1, 0, _MINI_CUTOFF, _END, 0, _END, 0)
        + struct.pack("<I", 0)
        + struct.pack("<I", _FREE) * 108
    )
    directory = (
        _directory_entry("Root Entry", 5, 1, _END, 0)
        + _directory_entry("Workbook", 2, _NO_STREAM, 2, len(stream))
        + _directory_entry("", 0, _NO_STREAM, 0, 0) * 2
    )
    return header + struct.pack(f"<{_SECTOR // 4}I", *fat) + directory + stream
