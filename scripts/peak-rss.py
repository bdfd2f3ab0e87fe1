#!/usr/bin/env python3
"""Peak resident memory of a command and all its descendants together, sampled.

    python3 scripts/peak-rss.py [--interval 0.02] [--exclude-root] [--json OUT] -- CMD [ARG...]

Why: `/usr/bin/time -v` reports the "Maximum resident set size" of the largest single process
(the kernel's ru_maxrss of a waited-for child covers its descendants one by one, never their
sum). Once `vigil scan` decodes in child processes, its footprint is the parent's RSS plus the
decoders' at the same moment; this script samples that sum.

Every --interval seconds it finds the command's descendants (a process that appeared after the
command started and whose parent chain leads to it; each new pid is classified once, from
/proc/PID/stat) and
adds up their resident pages (/proc/PID/statm). With --exclude-root the command itself is not
counted (use it when the command is a wrapper such as /usr/bin/time). A sum of RSS counts a
page shared by two processes twice: an upper bound of what they hold together. Peaks shorter
than the interval can be missed. Standard library only.

Prints one JSON object (and writes it to --json): peak_tree_kib (the largest sum seen),
peak_processes (how many processes at that moment), max_processes, samples, interval_s,
ru_maxrss_kib (the kernel's figure for the command, as /usr/bin/time -v gives it), wall_s,
user_s, sys_s, exit (the command's status; negative for a signal). Exits with the command's
status.
"""
import argparse
import json
import os
import subprocess
import sys
import time

PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


def ppid_of(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            s = f.read()
        return int(s[s.rindex(b")") + 2:].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * PAGE_KIB
    except (OSError, ValueError, IndexError):
        return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--interval", type=float, default=0.02)
    ap.add_argument("--exclude-root", action="store_true")
    ap.add_argument("--json")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    if not cmd:
        ap.error("no command")
    # A pid is classified once, when it first appears in /proc: a process in the listing
    # taken before the command started is not ours. Pids are handed out in order through the
    # whole range before one is reused, so a pid seen in one listing and in the next is the
    # same process.
    before = {int(d) for d in os.listdir("/proc") if d.isdigit()}
    t0 = time.monotonic()
    p = subprocess.Popen(cmd)
    ours = {p.pid}  # the command and its descendants, as found
    peak, peak_n, max_n, samples = 0, 0, 0, 0
    status = None
    while status is None:
        now = {int(d) for d in os.listdir("/proc") if d.isdigit()}
        parents = {q: ppid_of(q) for q in now - before}
        before = now
        # A child and its parent can both be new: repeat until nothing more joins.
        grew = True
        while grew:
            grew = False
            for q, pp in parents.items():
                if q not in ours and pp in ours:
                    ours.add(q)
                    grew = True
        live = [q for q in ours if not (a.exclude_root and q == p.pid)]
        sizes = [rss_kib(q) for q in live]
        n = sum(1 for s in sizes if s)
        total = sum(sizes)
        samples += 1
        max_n = max(max_n, n)
        if total > peak:
            peak, peak_n = total, n
        pid, st, ru = os.wait4(p.pid, os.WNOHANG)
        if pid:
            status = os.waitstatus_to_exitcode(st)
            p.returncode = status
            break
        time.sleep(a.interval)
    res = {
        "command": cmd,
        "peak_tree_kib": peak,
        "peak_processes": peak_n,
        "max_processes": max_n,
        "samples": samples,
        "interval_s": a.interval,
        "ru_maxrss_kib": ru.ru_maxrss,
        "wall_s": round(time.monotonic() - t0, 3),
        "user_s": ru.ru_utime,
        "sys_s": ru.ru_stime,
        "exit": status,
    }
    out = json.dumps(res)
    print(out)
    if a.json:
        with open(a.json, "w") as f:
            f.write(out + "\n")
    return status if status >= 0 else 128 - status


if __name__ == "__main__":
    sys.exit(main())
