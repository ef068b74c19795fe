"""Issue 19: one place opens, creates and renames the paths of inputs and outputs.

Every file prepix reads or writes goes through src/core/fsafe.c (no link followed that the
listing did not follow, temporary files and renames done safely) or the archive reader behind
it (src/core/archive.c, which checks each archive against the identity the listing saw). This
check fails when any other source file calls a raw open/openat/fopen/creat/rename/mkdir/link,
so the pattern that let '...tar' and swapped archives through cannot come back unseen. A line
may opt out with the marker 'ppx-lint: not a path of the run' and a reason (a test hook).

Usage: raw_paths.py SOURCE_DIR. It first checks itself on planted lines, so it cannot pass by
matching nothing."""
import os
import re
import sys

ALLOWED = {"src/core/fsafe.c", "src/core/archive.c"}
CALLS = ("open", "openat", "openat2", "fopen", "freopen", "fdopen", "creat", "rename",
         "renameat", "renameat2", "mkdir", "mkdirat", "link", "linkat", "symlink", "symlinkat",
         "mkfifo", "mknod", "mknodat")
CALL = re.compile(r"(?<![\w.>])(" + "|".join(CALLS) + r")\s*\(")
MARK = "ppx-lint: not a path of the run"


def code_lines(text):
    """(line number, code) with comments and string literals blanked out."""
    out, i, n = [], 0, len(text)
    buf = []
    state = None
    while i < n:
        c = text[i]
        if state is None:
            if text.startswith("/*", i):
                state, i = "block", i + 2
                buf.append("  ")
                continue
            if text.startswith("//", i):
                state = "line"
            elif c == '"' or c == "'":
                state = c
                buf.append(c)
                i += 1
                continue
            buf.append(c)
        elif state == "block":
            if text.startswith("*/", i):
                state, i = None, i + 2
                buf.append("  ")
                continue
            buf.append("\n" if c == "\n" else " ")
        elif state == "line":
            if c == "\n":
                state = None
                buf.append(c)
            else:
                buf.append(" ")
        else:  # inside a string or char literal
            if c == "\\":
                buf.append("  ")
                i += 2
                continue
            if c == state:
                state = None
            buf.append(c if c in (state or "", "\n") else " ")
        i += 1
    return list(enumerate("".join(buf).split("\n"), 1))


def offenders(rel, text):
    raw = text.split("\n")
    found = []
    for no, code in code_lines(text):
        m = CALL.search(code)
        if m and MARK not in raw[no - 1]:
            found.append(f"{rel}:{no}: {m.group(1)}(: {raw[no - 1].strip()}")
    return found


def self_check():
    planted = ('int fd = open(path, O_RDONLY);\n'
               '/* open(2) in a comment */ x = ppx_open_beneath(r, c, k, 0, e);\n'
               'const char *s = "rename(a, b)"; y = st.open(1);\n'
               'rc = renameat (d, a, d, b);\n')
    got = offenders("planted.c", planted)
    want = ["planted.c:1", "planted.c:4"]
    if [g.split(": ")[0] for g in got] != want:
        sys.exit(f"raw_paths.py is broken: on planted lines it found {got}, expected {want}")


def main():
    self_check()
    root = sys.argv[1]
    bad = []
    for base in ("src", "include"):
        for d, _, files in os.walk(os.path.join(root, base)):
            for f in sorted(files):
                if not f.endswith((".c", ".h")):
                    continue
                p = os.path.join(d, f)
                rel = os.path.relpath(p, root)
                if rel in ALLOWED:
                    continue
                with open(p, encoding="utf-8") as fh:
                    bad += offenders(rel, fh.read())
    if bad:
        print("raw opens, creates or renames outside src/core/fsafe.c and archive.c:")
        print("\n".join(bad))
        return 1
    print("no raw path calls outside src/core/fsafe.c and src/core/archive.c")
    return 0


if __name__ == "__main__":
    sys.exit(main())
