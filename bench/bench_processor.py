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
    stamp = pc.replace_substring(
        pc.cast(pa.array(seconds, pa.timestamp("s")), pa.string()), " ", "T"
    )
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


# --- measured runs ------------------------------------------------------------------


def _measure(command: list[str]) -> dict[str, float]:
    """Run ``command`` as the only child of this (fresh) process: wall seconds, and the
    child's peak RSS, which RUSAGE_CHILDREN reports once it has been waited for."""
    import resource

    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{command[2:4]} failed ({done.returncode}): {done.stderr[-2000:]}")
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"seconds": seconds, "rss_mib": peak_kib / 1024}


def _timed(command: list[str]) -> dict[str, float]:
    """Measure in a helper process of its own, so no other child's peak can count."""
    helper = [sys.executable, "-m", "bench.bench_processor", "_measure", *command]
    done = subprocess.run(helper, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:] or done.stdout[-3000:])
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _pyarrow_plain(source: str, target: str) -> None:
    """Plain pyarrow streaming CSV -> Parquet: no cleaning; pyarrow's own type inference
    on the first block (all columns as text if a later block contradicts it)."""
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    def convert(convert_options: pcsv.ConvertOptions) -> None:
        reader = pcsv.open_csv(
            source,
            parse_options=pcsv.ParseOptions(newlines_in_values=True),
            convert_options=convert_options,
        )
        writer = pq.ParquetWriter(target, reader.schema, compression="zstd")
        buffered: list[pa.RecordBatch] = []
        rows = 0
        for batch in reader:
            buffered.append(batch)
            rows += batch.num_rows
            if rows >= 100_000:
                writer.write_table(pa.Table.from_batches(buffered), row_group_size=rows)
                buffered, rows = [], 0
        if buffered:
            writer.write_table(pa.Table.from_batches(buffered), row_group_size=rows)
        writer.close()

    try:
        convert(pcsv.ConvertOptions())
    except pa.ArrowInvalid:
        names = pcsv.open_csv(source).schema.names
        convert(pcsv.ConvertOptions(column_types={n: pa.string() for n in names}))


_PT_DECIMAL = r"^-?\d{1,3}(\.\d{3})*(,\d+)?$|^-?\d+(,\d+)?$"
_DMY = r"^\d{2}/\d{2}/\d{4}$"


def _pandas_chunked(source: str, target: str) -> None:
    """A reasonable pandas chunked clean + type: read text, trim, null tokens, then per
    column the first type every value of the chunk takes (int, float, pt-BR decimal,
    dd/mm/yyyy date, ISO timestamp, sim/não), drop duplicates within the chunk, write
    each chunk as Parquet row groups. Types and duplicates are per chunk only."""
    import pandas as pd
    import pyarrow.parquet as pq

    nulls = ["", "NA", "N/A", "null", "NULL", "None", "-", "nan"]
    bools = {"sim": True, "s": True, "yes": True, "true": True, "não": False, "nao": False}
    bools |= {"n": False, "no": False, "false": False}
    writer = None
    for chunk in pd.read_csv(
        source, dtype=str, keep_default_na=False, chunksize=200_000, encoding="utf-8"
    ):
        out = {}
        for name in chunk.columns:
            col = chunk[name].str.strip()
            col = col.mask(col.isin(nulls))
            values = col.dropna()
            typed: pd.Series = col
            if len(values) and values.str.fullmatch(r"-?\d+").all():
                typed = pd.to_numeric(col).astype("Int64")
            elif len(values) and values.str.fullmatch(r"-?\d*\.\d+").all():
                typed = pd.to_numeric(col)
            elif len(values) and values.str.fullmatch(_PT_DECIMAL).all():
                typed = pd.to_numeric(col.str.replace(".", "", regex=False).str.replace(",", "."))
            elif len(values) and values.str.fullmatch(_DMY).all():
                typed = pd.to_datetime(col, format="%d/%m/%Y")
            elif len(values) and values.str.fullmatch(r"\d{4}-\d{2}-\d{2}T[\d:]+").all():
                typed = pd.to_datetime(col, format="ISO8601")
            elif len(values) and values.str.lower().isin(bools).all():
                typed = col.str.lower().map(bools).astype("boolean")
            out[name] = typed
        frame = pd.DataFrame(out).drop_duplicates()
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if writer is None:
            schema = table.schema
            writer = pq.ParquetWriter(target, schema, compression="zstd")
        writer.write_table(table.cast(writer.schema, safe=False))
    if writer is not None:
        writer.close()


TOOLS = {
    "processor": "the processor (clean + type + whole-file dedupe)",
    "pyarrow": "pyarrow streaming CSV->Parquet, no cleaning",
    "pandas": "pandas chunked clean + type",
}


def _command(tool: str, source: Path, out: Path) -> list[str]:
    if tool == "processor":
        # --dedupe: the same work as before issue 12, where whole-file dedupe was the
        # default (duplicates are now counted either way and removed only when asked).
        return [sys.executable, "-m", "processor", "process", str(source), str(out), "--dedupe"]
    return [sys.executable, "-m", "bench.bench_processor", f"_{tool}", str(source), str(out)]


def _run_tool(tool: str, source: Path, repeat: int) -> dict[str, float]:
    best: dict[str, float] | None = None
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="bench-proc-", dir=DATA_DIR) as tmp:
            out = Path(tmp) / ("out" if tool == "processor" else "out.parquet")
            result = _timed(_command(tool, source, out))
            if tool == "processor":
                report = json.loads((out / "report.json").read_text())
                result["rows_out"] = report["rows_out"]
                result["duplicates"] = report["duplicates_removed"]
                result |= {f"phase_{k}": v for k, v in report["durations_s"].items()}
        if best is None or result["seconds"] < best["seconds"]:
            best = result
    assert best is not None
    best["mb_s"] = source.stat().st_size / 1e6 / best["seconds"]
    return best


def _options(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench bench_processor")
    parser.add_argument("--sizes", default="1", help="input sizes in GB, e.g. 1,4")
    parser.add_argument("--baselines", type=int, default=1, help="0 skips pyarrow and pandas")
    parser.add_argument("--repeat", type=int, default=1)
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = _options(argv)
    sizes = [float(s) for s in args.sizes.split(",") if s]
    results: dict[tuple[str, float], dict[str, float]] = {}
    for size in sizes:
        source = ensure_input(size)
        tools = ["processor"] + (
            ["pyarrow", "pandas"] if args.baselines and size == sizes[0] else []
        )
        for tool in tools:
            print(f"running {tool} on {source.name} ...", flush=True)
            results[(tool, size)] = _run_tool(tool, source, args.repeat)
    print(f"\n{'tool':50s} {'input':>6s} {'seconds':>8s} {'MB/s':>7s} {'peak RSS':>9s}")
    for (tool, size), r in results.items():
        print(
            f"{TOOLS[tool]:50s} {size:5g}G {r['seconds']:8.1f} {r['mb_s']:7.1f} "
            f"{r['rss_mib']:7.0f}MiB"
        )
    first = sizes[0]
    proc = results[("processor", first)]
    phases = {k[6:]: v for k, v in proc.items() if k.startswith("phase_")}
    print(f"\nprocessor phases at {first:g} GB (s): {json.dumps(phases)}")
    print(f"rows out {proc['rows_out']:.0f}, duplicates removed {proc['duplicates']:.0f}")
    peak = max(r["rss_mib"] for (t, _), r in results.items() if t == "processor")
    checks = [
        (f"processor MB/s >= {TARGET_MBS:g}", proc["mb_s"], TARGET_MBS, proc["mb_s"] >= TARGET_MBS),
        (
            f"peak RSS <= {TARGET_RSS_MIB:g} MiB (largest input)",
            peak,
            TARGET_RSS_MIB,
            peak <= TARGET_RSS_MIB,
        ),
    ]
    if ("pyarrow", first) in results:
        ratio = proc["mb_s"] / results[("pyarrow", first)]["mb_s"]
        checks.append(
            (f"processor / pyarrow >= {TARGET_RATIO}", ratio, TARGET_RATIO, ratio >= TARGET_RATIO)
        )
        pandas = results[("pandas", first)]
        print(f"processor / pandas chunked: {proc['mb_s'] / pandas['mb_s']:.2f}x")
    if len(sizes) > 1:
        small, large = results[("processor", sizes[0])], results[("processor", sizes[-1])]
        growth = large["rss_mib"] / small["rss_mib"]
        checks.append(
            (f"RSS {sizes[-1]:g} GB / {sizes[0]:g} GB (flat <= 1.15)", growth, 1.15, growth <= 1.15)
        )
    print()
    for label, value, target, ok in checks:
        print(f"{'PASS' if ok else 'MISS'}  {label}: {value:.2f} (target {target:g})")
    # A benchmark reports its figures; a missed target is not a failed run.
    return 0


def _child(argv: list[str]) -> int:
    mode, *rest = argv
    if mode == "_measure":
        print(json.dumps(_measure(rest)))
    elif mode == "_pyarrow":
        _pyarrow_plain(*rest)
    elif mode == "_pandas":
        _pandas_chunked(*rest)
    else:
        return main(argv)
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
