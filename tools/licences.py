#!/usr/bin/env python3
"""Licence and duplicate-version check of every crate the workspace builds (CI runs it).

    python3 tools/licences.py            # the report; exit 1 if a licence is not allowed

Reads `cargo metadata --locked` (offline: the registry cache only), evaluates each package's
SPDX licence expression (OR, AND, WITH, parentheses, and the legacy `A/B` form) against the
allow-list below, and fails on any package whose licence does not allow use with this
crate's (MIT OR Apache-2.0) or that has no licence field. Crates present in more than one
version are listed (reported, not failed: they cost binary size, not correctness).
Advisories: no advisory database is reachable offline here, so none are checked.
"""

import json
import re
import subprocess
import sys
from collections import defaultdict

ALLOWED = {
    "MIT", "Apache-2.0", "Apache-2.0 WITH LLVM-exception", "BSD-2-Clause", "BSD-3-Clause",
    "ISC", "Zlib", "0BSD", "Unlicense", "CC0-1.0", "BSL-1.0", "Unicode-3.0",
    "Unicode-DFS-2016", "BlueOak-1.0.0", "MPL-2.0",
}


def tokens(expr):
    return re.findall(r"\(|\)|[A-Za-z0-9.+-]+", expr.replace("/", " OR "))


def allowed(expr):
    """Whether the SPDX expression can be satisfied with allowed licences."""
    toks = tokens(expr)
    pos = 0

    def atom():
        nonlocal pos
        if toks[pos] == "(":
            pos += 1
            v = disj()
            pos += 1  # ")"
            return v
        lic = toks[pos]
        pos += 1
        if pos < len(toks) and toks[pos] == "WITH":
            lic = f"{lic} WITH {toks[pos + 1]}"
            pos += 2
        return lic in ALLOWED or lic.split(" WITH ")[0] in ALLOWED

    def conj():
        nonlocal pos
        v = atom()
        while pos < len(toks) and toks[pos] == "AND":
            pos += 1
            v = atom() and v
        return v

    def disj():
        nonlocal pos
        v = conj()
        while pos < len(toks) and toks[pos] == "OR":
            pos += 1
            v = conj() or v
        return v

    return disj()


def main():
    meta = json.loads(subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--locked"],
        check=True, capture_output=True, text=True).stdout)
    workspace = set(meta["workspace_members"])
    bad, by_licence, versions = [], defaultdict(int), defaultdict(set)
    for p in meta["packages"]:
        if p["id"] in workspace:
            continue
        versions[p["name"]].add(p["version"])
        lic = p.get("license")
        if not lic:
            bad.append(f"{p['name']} {p['version']}: no licence field "
                       f"(licence file {p.get('license_file')})")
            continue
        by_licence[lic] += 1
        if not allowed(lic):
            bad.append(f"{p['name']} {p['version']}: {lic}")
    total = sum(by_licence.values())
    print(f"{total} third-party packages; licences:")
    for lic, n in sorted(by_licence.items(), key=lambda kv: -kv[1]):
        print(f"  {n:4}  {lic}")
    dups = {k: sorted(v) for k, v in versions.items() if len(v) > 1}
    print(f"{len(dups)} crates in more than one version (reported, not failed):")
    for k, v in sorted(dups.items()):
        print(f"  {k}: {', '.join(v)}")
    print("advisories: not checked (no advisory database offline)")
    if bad:
        print("licences not allowed:")
        for b in bad:
            print(f"  {b}")
        return 1
    print("licences: all allowed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
