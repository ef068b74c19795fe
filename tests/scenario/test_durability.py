"""Durable resume (issue 13): checked from outside with strace. For every journal record, the
outputs of its chunk were renamed into place and then synced (syncfs of OUTDIR, or fsync of
their files and folders) before the record was written."""
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
import data  # noqa: E402
from lib import MPIEXEC, PREPIX, Skip, check, main, tmpdir  # noqa: E402

LINE = re.compile(r'^(?:\[pid\s+\d+\] |\d+ +)?(\w+)\((.*)\)\s+=\s+(-?\d+)')
FD = re.compile(r'^\d+<((?:\\x[0-9a-f]{2})*)>')


def joined(lines):
    """strace -f splits a call that another process interrupts into "PID call(args
    <unfinished ...>" and, later, "PID <... call resumed>rest"; join them, placed where the call
    completed (what the order of effects is about)."""
    partial = {}
    for line in lines:
        line = line.strip()
        pid = line.split(" ", 1)[0]
        if line.endswith("<unfinished ...>"):
            partial[pid] = line[: -len("<unfinished ...>")].rstrip()
        elif "resumed>" in line and pid in partial:
            yield partial.pop(pid) + line.split("resumed>", 1)[1]
        else:
            yield line


def unhex(s):
    return bytes.fromhex(s.replace("\\x", ""))


def traced(inp, o, fmt, cs, log, mpi):
    """Runs prepix under strace (mpi: -np 2 with --transport bytes, rank 0 traced, which then
    writes rank 1's outputs too). Returns the strace log's path."""
    args = ["run", "-i", inp, "-o", o, "-p", "resize 32x32 fit=fill", "-w", "2",
            "--progress", "none", "-f", fmt]
    args += ["--shard-size", str(cs)] if fmt == "tar" else ["--chunk-size", str(cs)]
    st = ["strace", "-f", "-y", "-xx", "-s", "1000000", "-o", log, "-e",
          "trace=execve,renameat,renameat2,rename,syncfs,fsync,fdatasync,write"]
    # LeakSanitizer cannot run under ptrace (asan builds)
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
    if mpi:
        args += ["--transport", "bytes"]
        script = ('if [ "$OMPI_COMM_WORLD_RANK" = 0 ]; then exec "$@"; else shift %d; exec "$@"; fi'
                  % len(st))
        env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
        env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        p = subprocess.run([MPIEXEC, "--oversubscribe", "-np", "2", "sh", "-c", script, "sh"] +
                           st + [PREPIX] + args, capture_output=True, text=True, env=env)
    else:
        p = subprocess.run(st + [PREPIX] + args, capture_output=True, text=True, env=env)
    check(p.returncode == 0, f"-f {fmt}: exit {p.returncode}: {p.stderr}")


def events_of(log):
    """The renames, syncs and journal records of a strace log, in order, each with its pid."""
    events = []  # (kind, detail, pid)
    with open(log) as f:
        for line in joined(f):
            m = LINE.match(line)
            if not m or int(m.group(3)) < 0:
                continue
            pid = re.match(r"^(?:\[pid\s+)?(\d+)", line).group(1)
            call, argstr = m.group(1), m.group(2)
            fd = FD.match(argstr)
            fdpath = unhex(fd.group(1)).decode(errors="replace") if fd else ""
            if call.startswith("rename"):
                names = re.findall(r'"((?:\\x[0-9a-f]{2})*)"', argstr)
                final = unhex(names[-1]).decode(errors="replace")
                events.append(("rename", os.path.basename(final), pid))
            elif call in ("syncfs", "fsync", "fdatasync"):
                events.append(("sync", call + " " + fdpath, pid))
            elif call == "write" and "/.prepix/journal-" in fdpath:
                # One write may hold several records (one commit covers every chunk
                # finished since the last): magic, length, body (chunk first), checksum.
                buf = unhex(re.findall(r'"((?:\\x[0-9a-f]{2})*)"', argstr)[0])
                i = 0
                while i + 24 <= len(buf):
                    length = int.from_bytes(buf[i + 8:i + 16], "little")
                    events.append(("journal", int.from_bytes(buf[i + 16:i + 24], "little"), pid))
                    i += 16 + length + 8
    return events


def check_order(events, chunk_of, what):
    """For every journal record, its chunk's outputs were renamed, then synced, before it."""
    pending = {}  # chunk -> outputs renamed but not yet synced
    synced = set()
    for kind, d, _ in events:
        if kind == "rename":
            m = re.match(r"shard-(\d+)", d)
            c = int(m.group(1)) if m else chunk_of.get(d)
            if c is not None:
                pending.setdefault(c, set()).add(d)
                synced.discard(c)
        elif kind == "sync" and not d.startswith("syncfs") and ".prepix" in d:
            continue  # the journal's own fdatasync covers only itself
        elif kind == "sync":
            for c in list(pending):
                synced.add(c)
                del pending[c]
        elif kind == "journal":
            check(d not in pending and d in synced,
                  f"{what}: chunk {d} journaled before its outputs were synced")
            synced.discard(d)


def durability_order():
    order_under_strace(False)


def durability_order_bytes():
    order_under_strace(True)


def order_under_strace(mpi):
    if not shutil.which("strace"):
        raise Skip("strace not installed")
    t = tmpdir()
    inp = os.path.join(t, "in")
    data.make(inp, n=20)
    out = os.path.join(t, "out")
    cs = 3
    listing = sorted(os.path.relpath(os.path.join(r, f), inp)
                     for r, _, fs in os.walk(inp) for f in fs if f.startswith("img"))
    chunk_of = {os.path.basename(k): i // cs for i, k in enumerate(listing)}
    for fmt in ("same", "tar"):
        what = f"-f {fmt}" + (" -np 2 --transport bytes" if mpi else "")
        log = os.path.join(t, f"strace-{fmt}-{mpi}.txt")
        traced(inp, out + fmt + str(mpi), fmt, cs, log, mpi)
        events = events_of(log)
        journaled = [e[1] for e in events if e[0] == "journal"]
        # With --transport bytes rank 0 writes and journals every chunk, rank 1's too.
        check(sorted(journaled) == list(range((len(listing) + cs - 1) // cs)),
              f"{what}: journal records for chunks {journaled}")
        # The records are committed off the serving path: by the committer thread, not
        # by the process's main thread (the first pid in the log: its execve).
        with open(log) as f:
            main_pid = re.match(r"^(?:\[pid\s+)?(\d+)", f.readline()).group(1)
        check(all(e[2] != main_pid for e in events if e[0] == "journal"),
              f"{what}: journal records written by the main thread {main_pid}")
        check_order(events, chunk_of, what)


if __name__ == "__main__":
    sys.exit(main({"durability_order": durability_order,
                   "durability_order_bytes": durability_order_bytes}))
