#!/usr/bin/env python3
"""Fails when a function in src/ is over MAX lines (STYLE: "a function is one step a reader
can hold"), counting from the line that names it to its closing brace. clang-format puts a
function's braces alone at column 0, which is all this needs to find them.

    func_len.py SRC_DIR [--list N]   check (exit 1 naming each function over the limit)
                                     or list the N longest functions

ALLOW names functions still over the limit that their owners are shrinking (issue 20); an
entry that is no longer over the limit fails too, so the list only ever shrinks."""
import os
import re
import sys

MAX = 100

# path:function -> owner. Shrink, never grow.
ALLOW = {
}

NAME = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(")


def functions(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.read().split("\n")
    out = []
    i = 0
    while i < len(lines):
        if lines[i] == "{":
            # The signature: back to the line after the previous blank line, '}' or ';'.
            j = i - 1
            while j >= 0 and lines[j].strip() and not lines[j].startswith(("}", "#")) \
                    and not lines[j].rstrip().endswith((";", "*/")):
                j -= 1
            sig = " ".join(lines[j + 1:i])
            m = NAME.search(sig)
            k = i + 1
            while k < len(lines) and lines[k] != "}" and not lines[k].startswith("};"):
                k += 1
            if m and "=" not in sig.split("(")[0]:
                out.append((m.group(1), j + 2, k - j))
            i = k
        i += 1
    return out


def scan(src):
    res = []
    for root, _, files in os.walk(src):
        for fn in sorted(files):
            if fn.endswith(".c"):
                p = os.path.join(root, fn)
                rel = os.path.relpath(p, os.path.dirname(os.path.abspath(src)))
                for name, line, n in functions(p):
                    res.append((n, rel, line, name))
    return res


def main():
    src = sys.argv[1]
    res = scan(src)
    if len(sys.argv) > 3 and sys.argv[2] == "--list":
        for n, rel, line, name in sorted(res, reverse=True)[: int(sys.argv[3])]:
            print(f"{n:5d} {rel}:{line} {name}")
        return 0
    bad = 0
    seen = set()
    for n, rel, line, name in sorted(res, reverse=True):
        key = f"{rel}:{name}"
        if n <= MAX:
            continue
        if key in ALLOW:
            seen.add(key)
            continue
        print(f"func_len: {rel}:{line}: {name} is {n} lines (the limit is {MAX})")
        bad = 1
    for key in sorted(set(ALLOW) - seen):
        print(f"func_len: {key} is allowed but no longer over {MAX} lines: remove it from ALLOW")
        bad = 1
    return bad


if __name__ == "__main__":
    sys.exit(main())
