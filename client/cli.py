"""`mini-pipeline`: the API from the terminal (README: From the terminal).

Every command takes --url and --api-key (defaults: $MINI_URL, $MINI_API_KEY) and --json
(machine-readable output on stdout; progress and messages go to stderr). Exit codes:
0 ok, 1 a dataset failed or the API refused the request, 2 wrong usage.
Shell completion: `mini-pipeline completion bash|zsh|fish` prints the script to source.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

from .api import DEFAULT_URL, KEY_ENV, URL_ENV, ApiError, Client, NotReady

try:
    import click
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )
    from rich.table import Table
except ModuleNotFoundError as missing:
    # `make run` installs the API and the processor, not the command's extra: the
    # console script is there all the same, so it says what to install, not a traceback.
    package = str(missing.name).split(".")[0]
    sys.exit(
        f"mini-pipeline: the command needs the cli extra ({package} is not installed):\n"
        "  pip install -e '.[cli]'   (in a checkout; elsewhere: pip install 'mini-pipeline[cli]')"
    )

err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)


class Ctx:
    def __init__(self, url: str, api_key: str | None, as_json: bool) -> None:
        self.url = url
        self.api_key = api_key
        self.json = as_json
        self._client: Client | None = None

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = Client(self.url, self.api_key or "")
        return self._client


pass_ctx = click.make_pass_decorator(Ctx)


def emit(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    sys.exit(code)


@contextmanager
def api_errors() -> Iterator[None]:
    try:
        yield
    except NotReady as exc:
        fail(f"{exc.message}; try again in {exc.retry_after:.0f} s (or use --wait)")
    except ApiError as exc:
        fail(f"{exc.message} ({exc.status} {exc.code})")
    except OSError as exc:
        fail(str(exc))
    except Exception as exc:  # httpx transport errors
        if type(exc).__module__.startswith("httpx"):
            fail(f"cannot reach the API: {exc}")
        raise


def _bar(description: str) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    )


def _options(
    encoding: str | None,
    delimiter: str | None,
    header_row: int | None,
    no_header: bool,
    on_schema_change: str | None,
    transform: str | None = None,
) -> dict[str, Any]:
    return {
        "encoding": encoding,
        "delimiter": delimiter,
        "header_row": header_row,
        "no_header": True if no_header else None,
        "on_schema_change": on_schema_change,
        "transform": transform,
    }


def detection_options(f: Any) -> Any:
    for option in reversed(
        [
            click.option("--encoding", help="e.g. latin-1 (default: detected)"),
            click.option("--delimiter", help=", ; | or tab (default: detected)"),
            click.option("--header-row", type=int, help="line of the header, from 1"),
            click.option("--no-header", is_flag=True, help="the first line is data"),
            click.option(
                "--on-schema-change",
                type=click.Choice(["pin", "reject", "allow"]),
                help="what a schema change does to the dataset (default: pin)",
            ),
            click.option(
                "--transform",
                help="a pandas transform the operator registered; kept by later uploads "
                "of the dataset; 'none' removes it",
            ),
        ]
    ):
        f = option(f)
    return f


def _advance(bar: Progress, path: Path) -> Callable[[int, int | None], None]:
    task = bar.add_task(path.name, total=path.stat().st_size)

    def advance(done: int, _total: int | None) -> None:
        bar.update(task, completed=done)

    return advance


def _summary(status: dict[str, Any]) -> str:
    who = f"{status.get('name')} v{status.get('version')}"
    if status.get("status") == "failed":
        return f"{who}: failed: {status.get('error')}"
    return (
        f"{who}: ready, {status.get('rows_out')} rows kept of {status.get('rows_in')}, "
        f"{status.get('rows_rejected')} rejected ({status.get('id')})"
    )


def _wait(ctx: Ctx, version_id: str) -> dict[str, Any]:
    with err.status("queued", spinner="dots") as spinner:

        def show(status: dict[str, Any]) -> None:
            spinner.update(f"{status.get('name')} v{status.get('version')}: {status['status']}")

        return ctx.client.wait(version_id, on_status=show)


def _filters(where: tuple[str, ...]) -> dict[str, str]:
    filters: dict[str, str] = {}
    for item in where:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r}: write column=value or column__op=value")
        filters[key] = value
    return filters


def query_options(f: Any) -> Any:
    for option in reversed(
        [
            click.option(
                "-w",
                "--where",
                multiple=True,
                metavar="COL[__OP]=VALUE",
                help="a filter, as the API takes it (city=Oslo, total__gt=100); repeatable",
            ),
            click.option("--sort", help="col,-col2 (- descending)"),
            click.option("--columns", help="a,b: these columns, in this order"),
            click.option("--version", type=int, help="version N of the dataset"),
        ]
    ):
        f = option(f)
    return f


# -- the commands -----------------------------------------------------------------------


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--url",
    envvar=URL_ENV,
    default=DEFAULT_URL,
    show_default=True,
    help=f"the API's address (${URL_ENV})",
)
@click.option(
    "--api-key", envvar=KEY_ENV, help=f"a bearer key when the API requires one (${KEY_ENV})"
)
@click.option("--json", "as_json", is_flag=True, help="print JSON (for scripts)")
@click.version_option(package_name="mini-pipeline")
@click.pass_context
def main(ctx: click.Context, url: str, api_key: str | None, as_json: bool) -> None:
    """Upload CSV files to mini-pipeline and read them back clean."""
    ctx.obj = Ctx(url, api_key, as_json)


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--name", help="dataset name: uploads sharing one are its versions")
@click.option("--wait/--no-wait", default=False, help="wait until processed (exit 1 if failed)")
@detection_options
@pass_ctx
def upload(
    ctx: Ctx,
    files: tuple[str, ...],
    name: str | None,
    wait: bool,
    encoding: str | None,
    delimiter: str | None,
    header_row: int | None,
    no_header: bool,
    on_schema_change: str | None,
    transform: str | None,
) -> None:
    """Upload FILE(s); each becomes a version (of --name, or a dataset of its own)."""
    options = _options(encoding, delimiter, header_row, no_header, on_schema_change, transform)
    results: list[dict[str, Any]] = []
    failed = 0
    with api_errors():
        for file in files:
            path = Path(file)
            with _bar(path.name) as bar:
                created = ctx.client.upload(
                    path, name=name, options=options, progress=_advance(bar, path)
                )
            err.print(
                f"uploaded {path.name}: {created['name']} version {created['version']} "
                f"({created['id']}), {created['status']}",
                highlight=False,
            )
            if wait:
                final = _wait(ctx, created["id"])
                failed += final["status"] == "failed"
                err.print(_summary(final), highlight=False)
                results.append(final)
            else:
                results.append(created)
    if ctx.json:
        emit(results if len(results) > 1 else results[0])
    if failed:
        sys.exit(1)


@main.command("ls")
@click.option("--prefix", help="names starting with this")
@click.option(
    "--status", type=click.Choice(["queued", "processing", "ready", "failed"]), help="newest's"
)
@pass_ctx
def ls(ctx: Ctx, prefix: str | None, status: str | None) -> None:
    """The datasets, one line per name, newest upload first."""
    with api_errors():
        items = list(ctx.client.datasets(prefix=prefix, status=status))
    if ctx.json:
        emit(items)
        return
    table = Table("name", "status", "served", "versions", "rows", "rejected", "updated")
    for d in items:
        served = d.get("latest_ready_version")
        table.add_row(
            str(d["name"]),
            str(d["status"]),
            f"v{served}" if served else "-",
            str(d["versions"]),
            _num(d.get("rows")),
            _num(d.get("rows_rejected")),
            str(d.get("updated_at") or "")[:19],
        )
    out.print(table)


def _num(value: Any) -> str:
    return "-" if value is None else str(value)


@main.command()
@click.argument("ref")
@click.option("--version", type=int, help="version N of the dataset")
@pass_ctx
def show(ctx: Ctx, ref: str, version: int | None) -> None:
    """A dataset's status, version, schema and report summary (REF: name or version id)."""
    with api_errors():
        status = ctx.client.status(ref, version=version)
        report: dict[str, Any] | None = None
        if status["status"] in ("ready", "failed"):
            try:
                report = ctx.client.report(ref, version=version)
            except ApiError:
                report = None
    if ctx.json:
        emit({"status": status, "report": report})
        return
    latest = status.get("latest_version") or {}
    out.print(
        f"[bold]{status['name']}[/bold] version {status['version']} ({status['id']}): "
        f"{status['status']}",
        highlight=False,
    )
    if latest and latest.get("version") != status.get("version"):
        out.print(f"  newest version: {latest.get('version')} ({latest.get('status')})")
    if status.get("error"):
        out.print(f"  error: {status['error']}", highlight=False)
    out.print(
        f"  file {status.get('filename')}, {status.get('size_bytes')} bytes; rows "
        f"{_num(status.get('rows_in'))} in, {_num(status.get('rows_out'))} out, "
        f"{_num(status.get('rows_rejected'))} rejected",
        highlight=False,
    )
    if report:
        src = report.get("source") or {}
        out.print(
            f"  detected: encoding {src.get('encoding')}, delimiter {src.get('delimiter')!r}",
            highlight=False,
        )
        table = Table("column", "type", "nulls", "min", "max")
        for col in report.get("columns") or []:
            table.add_row(
                str(col.get("name")),
                str(col.get("type")),
                _num(col.get("null_count")),
                _num(col.get("min")),
                _num(col.get("max")),
            )
        out.print(table)
        for warning in (report.get("warnings") or [])[:10]:
            out.print(f"  warning: {warning}", highlight=False)


@main.command()
@click.argument("ref")
@query_options
@click.option("--limit", type=int, default=100, show_default=True, help="rows per page")
@click.option("--offset", type=int, help="skip this many rows")
@click.option("--all", "every", is_flag=True, help="every row, following the pages")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv"]),
    default=None,
    help="default: table (json with --json)",
)
@pass_ctx
def rows(
    ctx: Ctx,
    ref: str,
    where: tuple[str, ...],
    sort: str | None,
    columns: str | None,
    version: int | None,
    limit: int,
    offset: int | None,
    every: bool,
    fmt: str | None,
) -> None:
    """Rows of a dataset, filtered, sorted and projected by the API."""
    fmt = fmt or ("json" if ctx.json else "table")
    query: dict[str, Any] = {
        "filters": _filters(where),
        "sort": sort,
        "columns": columns,
        "version": version,
    }
    with api_errors():
        page = ctx.client.rows(ref, limit=limit, offset=offset, **query)
        names = [c["name"] for c in page["columns"]]
        data = page["rows"]
        if every and page.get("next"):
            data = list(
                ctx.client.iter_rows(ref, page_size=max(limit, 1000), offset=offset, **query)
            )
    if fmt == "json":
        emit({k: v for k, v in page.items() if k not in ("rows", "next")} | {"rows": data})
    elif fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(names)
        for row in data:
            writer.writerow(["" if row.get(n) is None else row.get(n) for n in names])
    else:
        table = Table(*names)
        for row in data:
            table.add_row(*("" if row.get(n) is None else str(row.get(n)) for n in names))
        out.print(table)
        shown = len(data)
        err.print(
            f"{shown} of {page['total_rows']} rows ({page['name']} v{page['version']})",
            highlight=False,
        )


@main.command()
@click.argument("ref")
@query_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "jsonl", "parquet"]),
    default="csv",
    show_default=True,
)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="default: NAME-vN.FORMAT")
@pass_ctx
def download(
    ctx: Ctx,
    ref: str,
    where: tuple[str, ...],
    sort: str | None,
    columns: str | None,
    version: int | None,
    fmt: str,
    output: str | None,
) -> None:
    """Download a dataset (or a filtered, sorted view of it) as CSV, JSONL or Parquet."""
    with api_errors():
        if output is None:
            status = ctx.client.status(ref, version=version)
            output = f"{status['name']}-v{status['version']}.{fmt}"
        target = Path(output)
        partial = target.with_name(target.name + ".part")
        with _bar(target.name) as bar, partial.open("wb") as fh:
            task = bar.add_task(target.name, total=None)
            written = ctx.client.download(
                ref,
                fh,
                format=fmt,
                filters=_filters(where),
                sort=sort,
                columns=columns,
                version=version,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
            bar.update(task, total=written)
        partial.replace(target)
    if ctx.json:
        emit({"path": str(target), "bytes": written, "format": fmt})
    else:
        err.print(f"saved {target} ({written} bytes)", highlight=False)


@main.command()
@click.argument("ref")
@pass_ctx
def versions(ctx: Ctx, ref: str) -> None:
    """Every version of a dataset and which one its name serves."""
    with api_errors():
        body = ctx.client.versions(ref)
    if ctx.json:
        emit(body)
        return
    served = body.get("latest_ready_version")
    table = Table("version", "status", "rows", "rejected", "created", "schema")
    # Ids are for copying: never cut short (folded when the terminal is narrow).
    table.add_column("id", overflow="fold", min_width=32)
    for v in reversed(body["versions"]):
        diff = v.get("schema_diff") or {}
        mark = " (served)" if v["version"] == served else ""
        table.add_row(
            f"{v['version']}{mark}",
            v["status"],
            _num(v.get("rows_out")),
            _num(v.get("rows_rejected")),
            str(v.get("created_at") or "")[:19],
            "changed" if diff.get("changed") else "",
            v["id"],
        )
    out.print(table)


@main.command()
@click.argument("ref")
@click.option("--version", type=int, help="the version whose file to process again")
@click.option("--wait/--no-wait", default=False, help="wait until processed (exit 1 if failed)")
@detection_options
@pass_ctx
def reprocess(
    ctx: Ctx,
    ref: str,
    version: int | None,
    wait: bool,
    encoding: str | None,
    delimiter: str | None,
    header_row: int | None,
    no_header: bool,
    on_schema_change: str | None,
    transform: str | None,
) -> None:
    """Process a version's uploaded file again, as a new version (with new options)."""
    options = _options(encoding, delimiter, header_row, no_header, on_schema_change, transform)
    with api_errors():
        created = ctx.client.reprocess(ref, version=version, options=options)
        err.print(
            f"{created['name']} version {created['version']} ({created['id']}) queued",
            highlight=False,
        )
        result = created
        if wait:
            result = _wait(ctx, created["id"])
            err.print(_summary(result), highlight=False)
    if ctx.json:
        emit(result)
    if result["status"] == "failed":
        sys.exit(1)


@main.command()
@click.argument("ref")
@click.option("--version", type=int, help="only version N")
@click.option("-y", "--yes", is_flag=True, help="do not ask")
@pass_ctx
def rm(ctx: Ctx, ref: str, version: int | None, yes: bool) -> None:
    """Delete a dataset: by name every version; by a version id or --version that one."""
    what = f"version {version} of {ref}" if version else ref
    if not yes and not click.confirm(f"delete {what}?", err=True):
        sys.exit(1)
    with api_errors():
        ctx.client.delete(ref, version=version)
    if ctx.json:
        emit({"deleted": ref, "version": version})
    else:
        err.print(f"deleted {what}", highlight=False)


@main.command()
@click.argument("ref")
@click.option("--version", type=int, help="version N of the dataset")
@pass_ctx
def logs(ctx: Ctx, ref: str, version: int | None) -> None:
    """What the processor printed for a version (the last 200 lines)."""
    with api_errors():
        text = ctx.client.logs(ref, version=version)
    if ctx.json:
        emit({"ref": ref, "lines": text.splitlines()})
    else:
        click.echo(text, nl=not text.endswith("\n"))


@main.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script: eval "$(mini-pipeline completion bash)"."""
    from click.shell_completion import get_completion_class

    cls = get_completion_class(shell)
    if cls is None:  # pragma: no cover - the choices are the shells click knows
        fail(f"no completion for {shell}", 2)
    click.echo(cls(main, {}, "mini-pipeline", "_MINI_PIPELINE_COMPLETE").source())


if __name__ == "__main__":
    main()
