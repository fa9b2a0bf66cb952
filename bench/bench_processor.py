"""Processor benchmark: speed and peak memory on a ≈ 1 GB messy CSV it generates itself.

`make bench ARGS=bench_processor` (or `python -m bench bench_processor`). Options, which
must be written with `=` because bench/__main__.py passes on only the `-` arguments:

  --sizes=1,4     input sizes in GB (default 1; 4 shows whether memory stays flat)
  --baselines=0   skip the pyarrow and pandas baselines
  --repeat=N      runs per measurement; the best is kept (default 1)

The file is a pure function of its row index (no state carried from row to row), so it
is the same bytes on every machine and run, and 1% of its rows repeat an earlier row
chosen anywhere in the file, not only nearby. Columns: an id; padded names; cities with
accents; pt-BR decimals in quotes ("1.234,56"); dd/mm/yyyy dates; ISO timestamps;
sim/não; integers with null tokens; CEPs with leading zeros; plain floats; pt-BR
percentages; and free text with quoted commas and, on 0.2% of rows, a quoted newline.
Files live in the git-ignored bench/data/ and are reused when present.

Each tool runs in its own subprocess, so its peak RSS is measured alone
(``resource.getrusage(RUSAGE_CHILDREN)`` after the child ends, from a fresh parent for
each run so one child's peak cannot hide another's).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

DATA_DIR = Path(__file__).resolve().parent / "data"
GB = 1_000_000_000
MIB = 1024 * 1024
ROWS_PER_CHUNK = 250_000
DUPLICATE_EVERY = 100  # 1% of rows repeat an earlier one

TARGET_MBS = 120.0
TARGET_RATIO = 0.68
TARGET_RSS_MIB = 512.0

_FIRST = ["Ana", "João", "Maria", "José", "Luíza", "Pedro", "Beatriz", "Carlos", "Fernanda"]
_FIRST += ["Rafael", "Juliana", "Márcio", "Patrícia", "Tiago", "Camila", "André"]
_LAST = ["Silva", "Souza", "Oliveira", "Santos", "Pereira", "Lima", "Gonçalves", "Araújo"]
_LAST += ["Ribeiro", "Carvalho", "Almeida", "Nascimento", "Conceição", "Barbosa"]
_CITIES = ["São Paulo", "Rio de Janeiro", "Belo Horizonte", "Brasília", "Curitiba"]
_CITIES += ["Porto Alegre", "Salvador", "Recife", "Fortaleza", "Manaus", "Belém", "Goiânia"]
_CITIES += ["Florianópolis", "Vitória", "Maceió", "João Pessoa"]
_PAD = ["", "", "", " ", "  ", "   "]
_QTY_NULLS = ["", "NA", "-", "null"]
_NOTES = ["entregue", "aguardando pagamento", "cancelado pelo cliente", "ok", ""]
_NOTES += ['"entregue, sem avarias"', '"devolvido, produto com defeito"', "em trânsito"]
_NOTES += ["", "", "NA", '"cliente pediu ""urgente"""']
_NOTE_NEWLINE = '"primeira linha\nsegunda linha, com vírgula"'

_HEADER = (
    "id,Nome Cliente,Cidade,Valor (R$),Data Pedido,Criado Em,Ativo,Quantidade,CEP,"
    "Nota,Desconto,Observação\n"
)


def _mix(x: np.ndarray, salt: int) -> np.ndarray:
    """splitmix64: a well-spread 64-bit value per (row, salt)."""
    z = x.astype(np.uint64) + np.uint64((0x9E3779B97F4A7C15 * (salt + 1)) % (1 << 64))
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _pick(options: list[str], r: np.ndarray) -> pa.Array:
    return pa.array(options).take(pa.array((r % np.uint64(len(options))).astype(np.int64)))


def _num(values: np.ndarray, width: int = 0) -> pa.Array:
    text = pc.cast(pa.array(values.astype(np.int64)), pa.string())
    return pc.utf8_lpad(text, width, "0") if width else text


def _join(*parts: pa.Array | str) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def _rows(start: int, count: int) -> pa.Array:
    """The CSV lines (with their line break) of rows start .. start+count-1."""
    index = np.arange(start, start + count, dtype=np.uint64)
    dup = (_mix(index, 99) % np.uint64(DUPLICATE_EVERY) == 0) & (index > 0)
    # A duplicate is the whole row of an earlier index, anywhere before it.
    earlier = _mix(index, 98) % np.maximum(index, np.uint64(1))
    key = np.where(dup, earlier, index)
    r = [_mix(key, salt) for salt in range(16)]

    cents = (r[2] % np.uint64(50_000_000)).astype(np.int64)
    reais, frac = cents // 100, cents % 100
    grouped = _join(_num(reais // 1000), ".", _num(reais % 1000, 3), ",", _num(frac, 2))
    plain = _join(_num(reais), ",", _num(frac, 2))
    valor = pc.if_else(pa.array(reais >= 1000), grouped, plain)
    valor = _join('"', valor, '"')
    valor = pc.if_else(pa.array(r[2] % np.uint64(97) == 0), pa.scalar("NA"), valor)

    day, month = r[3] % np.uint64(28) + 1, r[3] // np.uint64(28) % np.uint64(12) + 1
    year = r[3] // np.uint64(336) % np.uint64(25) + 2000
    data = _join(_num(day, 2), "/", _num(month, 2), "/", _num(year))
    seconds = (r[4] % np.uint64(86_400 * 365 * 5)).astype(np.int64) + 1_577_836_800
    # strftime is 25x slower than a cast; the cast writes "yyyy-mm-dd HH:MM:SS".
    stamp = pc.replace_substring(pc.cast(pa.array(seconds, pa.timestamp("s")), pa.string()), " ", "T")
    qty_null = r[6] % np.uint64(20) == 0
    qty = pc.if_else(pa.array(qty_null), _pick(_QTY_NULLS, r[7]), _num(r[6] % np.uint64(500)))
    cep = _join(_num(r[8] % np.uint64(100_000), 5), "-", _num(r[8] // np.uint64(7) % 1000, 3))
    nota = _join(_num(r[9] % np.uint64(10)), ".", _num(r[9] // np.uint64(10) % 100, 2))
    pct = _join('"', _num(r[10] % np.uint64(50)), ",", _num(r[10] // np.uint64(50) % 10), '%"')
    notes = _pick(_NOTES, r[11])
    notes = pc.if_else(pa.array(r[11] % np.uint64(500) == 0), pa.scalar(_NOTE_NEWLINE), notes)
    name = _join(
        _pick(_PAD, r[0]),
        _pick(_FIRST, r[1]),
        " ",
        _pick(_LAST, r[1] // np.uint64(97)),
        _pick(_PAD, r[0] // np.uint64(7)),
    )
    return pc.binary_join_element_wise(
        _num(key),
        name,
        _pick(_CITIES, r[5]),
        valor,
        data,
        stamp,
        _pick(["sim", "não", "Sim", "NÃO"], r[12]),
        qty,
        cep,
        nota,
        pct,
        _join(notes, "\n"),
        ",",
    )


def _chunks(target_bytes: int) -> Iterator[bytes]:
    written, start = 0, 0
    while written < target_bytes:
        lines = _rows(start, ROWS_PER_CHUNK)
        offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32, count=len(lines) + 1)
        data = lines.buffers()[2].to_pybytes()[: offsets[-1]]
        if written + len(data) > target_bytes:
            cut = int(np.searchsorted(offsets, target_bytes - written, side="right")) - 1
            data = data[: offsets[max(cut, 1)]]
        yield data
        written += len(data)
        start += ROWS_PER_CHUNK


def ensure_input(gigabytes: float) -> Path:
    path = DATA_DIR / f"messy-{gigabytes:g}gb.csv"
    if path.exists():
        return path
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    started = time.perf_counter()
    with tmp.open("wb") as fh:
        fh.write(_HEADER.encode())
        for chunk in _chunks(int(gigabytes * GB) - len(_HEADER.encode())):
            fh.write(chunk)
    os.replace(tmp, path)
    print(f"generated {path.name} in {time.perf_counter() - started:.1f} s", flush=True)
    return path
