#!/usr/bin/env python3
"""Print a wrapper go.mod that builds binaries of a module whose own go.mod
uses relative (directory) replace directives, which `go install mod@ver`
refuses and which a dependent module ignores.

    wrapper-gomod.py UPSTREAM_GO_MOD MODULE@VERSION [--staging-version vX] TOOL...

* requires MODULE at VERSION and lists each TOOL (a main package path) in a
  `tool` block so that `go mod tidy` resolves exactly what they import;
* copies the upstream `go` and `godebug` lines, so that the binaries get the
  same GODEBUG defaults as an upstream build (they only apply from the main
  module);
* for every upstream `replace X => ./dir` (a module that lives inside the
  upstream repository, like Kubernetes' staging modules), adds
  `replace X => X <staging version>` when --staging-version is given.
  Without it these modules resolve through the upstream `require` lines,
  which for etcd already name the released versions.

The list of replaced modules is read from the upstream go.mod, never
hard-coded: it changes between Kubernetes minor versions.
"""

import argparse
import re
import sys


def parse(text):
    """Return (go_line, godebug_lines, relative_replaces) of a go.mod text."""
    go_line = None
    godebug = []
    relative = []
    block = None
    for raw in text.splitlines():
        line = raw.split("//", 1)[0].strip()
        if not line:
            continue
        if block:
            if line == ")":
                block = None
                continue
            stmt = block + " " + line
        else:
            m = re.match(r"^(\w+)\s*\($", line)
            if m:
                block = m.group(1)
                continue
            stmt = line
        verb, _, rest = stmt.partition(" ")
        rest = rest.strip()
        if verb == "go":
            go_line = rest
        elif verb == "godebug":
            godebug.append(rest)
        elif verb == "replace":
            old, _, new = rest.partition("=>")
            old_path = old.split()[0]
            new = new.strip()
            if new.startswith("./") or new.startswith("../"):
                relative.append(old_path)
    return go_line, godebug, relative


def version_tuple(v):
    return tuple(int(x) for x in re.findall(r"\d+", v)[:3])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("upstream_go_mod")
    ap.add_argument("module_at_version")
    ap.add_argument("--staging-version")
    ap.add_argument("--module-name", default="mini-pipeline.local/build-wrapper")
    ap.add_argument("tools", nargs="+")
    args = ap.parse_args()

    with open(args.upstream_go_mod, encoding="utf-8") as f:
        go_line, godebug, relative = parse(f.read())
    module, _, version = args.module_at_version.partition("@")
    if not version:
        sys.exit("need MODULE@VERSION")
    # `tool` directives need go >= 1.24 in the main module.
    if go_line is None or version_tuple(go_line) < (1, 24):
        go_line = "1.24"

    out = [f"module {args.module_name}", "", f"go {go_line}", ""]
    for g in godebug:
        out.append(f"godebug {g}")
    if godebug:
        out.append("")
    out.append(f"require {module} {version}")
    out.append("")
    out.append("tool (")
    out += [f"\t{t}" for t in args.tools]
    out.append(")")
    if args.staging_version and relative:
        out.append("")
        out.append("replace (")
        out += [f"\t{m} => {m} {args.staging_version}" for m in relative]
        out.append(")")
    print("\n".join(out))
    print(
        f"wrapper go.mod: go {go_line}, {len(relative)} relative replaces upstream"
        + (f" -> pinned to {args.staging_version}" if args.staging_version else ""),
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
