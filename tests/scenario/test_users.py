"""What users see (issue 25): the report's command line can be pasted back into a shell."""
import html
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
import data  # noqa: E402
from lib import check, main, report, run, tmpdir  # noqa: E402

# A shell function named prepix that prints each of its arguments followed by a NUL: what `sh -c`
# makes of the report's command line, argument by argument.
PRINT_ARGS = 'prepix() { for a in "$@"; do printf "%s\\0" "$a"; done; }\n'


def shell_argv(command_line):
    """The arguments `sh` gives to prepix when it reads command_line (the report's string,
    back to bytes as docs/formats.md says)."""
    b = command_line.encode("utf-8", "surrogateescape")
    p = subprocess.run([b"sh", b"-c", PRINT_ARGS.encode() + b], capture_output=True)
    check(p.returncode == 0, "sh: %r" % p.stderr)
    return p.stdout.split(b"\0")[:-1]


def command_line_quoted():
    """command_line in the JSON report, given to `sh -c`, gives back the exact argv: words
    with spaces, quotes, $, a newline, a byte that is not UTF-8, an empty one; plain words
    stay bare. The HTML shows the same text."""
    t = tmpdir()
    inp = os.path.join(t.encode(), b"in 'q' \"d\" $HOME `x` \\ *\n\xff")
    data.make(inp.decode("utf-8", "surrogateescape"), n=3)
    out = os.path.join(t.encode(), b"out")
    args = [b"run", b"-i", inp, b"-o", out, b"-p", b"resize 16 | center-crop 8", b"-w", b"1",
            b"--seed", b"7", b"--progress", b"none", b"--max-failures", b"-1", b"-p", b""]
    p = subprocess.run([os.environ.get("PPX_PREPIX", "prepix").encode()] + args,
                       capture_output=True)
    check(p.returncode == 0, p.stderr.decode(errors="replace"))
    cl = report(out.decode("utf-8", "surrogateescape"))["command_line"]
    print(repr(cl))
    got = shell_argv(cl)
    check(got == args, "sh reads %r, prepix got %r" % (got, args))
    check(cl.startswith("prepix run -i ") and " -w 1 --seed 7 --progress none " in cl and
          cl.endswith(" -p ''"), "plain words are quoted: " + cl)
    # A command line without control bytes reads the same in the HTML.
    inp2 = os.path.join(t, "in2 'q' \"d\" $HOME & <b>")
    data.make(inp2, n=1)
    o2 = os.path.join(t, "o2")
    args2 = ["run", "-i", inp2, "-o", o2, "-p", "resize 16 | center-crop 8", "--progress",
             "none"]
    run(args2, check=0)
    cl2 = report(o2)["command_line"]
    check(shell_argv(cl2) == [a.encode() for a in args2], cl2)
    with open(os.path.join(o2, "prepix-report.html"), encoding="utf-8") as f:
        page = f.read()
    m = re.search(r"<dt>command line</dt><dd><code>(.*?)</code></dd>", page, re.S)
    check(m and html.unescape(m.group(1)) == cl2, "HTML: %s" % (m and m.group(1)))


if __name__ == "__main__":
    sys.exit(main({f.__name__: f for f in (command_line_quoted,)}))
