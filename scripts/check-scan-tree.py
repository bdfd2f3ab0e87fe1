#!/usr/bin/env python3
"""Check a `vigil scan` of a tree made by scripts/make-scan-tree.py against its manifest
(issue 5, "Done when" 1). Standard library only.

    scripts/make-scan-tree.py /tmp/t/tree --files 20000
    vigil scan --dihedral --list demo/known.txt --list md5=demo/known-md5.txt \\
        --out /tmp/t/out /tmp/t/tree
    scripts/check-scan-tree.py /tmp/t/tree-manifest.jsonl /tmp/t/out --root /tmp/t/tree \\
        --known demo/known.txt

Checks, and prints a summary; exits 1 when any check fails:
1. Every manifest entry (every non-directory entry of the tree) is recorded exactly once, in
   hashes.jsonl or errors.jsonl, and nothing else is recorded.
2. Each record's outcome is the manifest's category: image -> hashed; corrupt, truncated,
   empty, bomb, video-stub -> failed; non-image, unsupported:*, fifo, socket, symlink -> skipped;
   unreadable -> failed (hashed when the scan ran as root: `as_root`).
3. Matches: a demo copy is matched by PDQ exactly when the reference says it is within reach
   (demo_expected_match, pip pdqhash with dihedral variants, distance <= 31), and by MD5
   exactly when demo_md5_match; no other entry is matched.
4. Unrelated natural photos (the demo's `unrelated/` images, wherever they sit in the tree)
   are not matched; their minimum distance to the list (over the 8 dihedral variants when the
   scan recorded them) is printed, and so is the minimum over every other unmatched image.
"""
import argparse
import base64
import json
import os
import sys

CATEGORY = {
    "image": "hashed",
    "corrupt": "failed",
    "truncated": "failed",
    "empty": "failed",
    "bomb": "failed",
    "non-image": "skipped",
    "video-stub": "failed",
    "fifo": "skipped",
    "socket": "skipped",
    "symlink": "skipped",
    "unreadable": "failed",
}


def key_of(rec, prefix=b""):
    if "path_bytes" in rec:
        raw = base64.b64decode(rec["path_bytes"])
    else:
        raw = rec["path"].encode()
    if prefix and raw.startswith(prefix):
        raw = raw[len(prefix):]
    return raw


def jsonl(path):
    with open(path, "rb") as f:
        return [json.loads(l) for l in f if l.strip()]


def distance(a, b):
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("manifest")
    ap.add_argument("out", help="the scan's --out directory")
    ap.add_argument("--root", required=True, help="the PATH the scan was given (the tree)")
    ap.add_argument("--known", required=True, help="the PDQ list the scan matched against")
    ap.add_argument("--radius", type=int, default=31)
    a = ap.parse_args()

    prefix = os.fsencode(a.root.rstrip("/")) + b"/"
    manifest = {key_of(m): m for m in jsonl(a.manifest)}
    hashes = jsonl(os.path.join(a.out, "hashes.jsonl"))
    errors = jsonl(os.path.join(a.out, "errors.jsonl"))
    matches = jsonl(os.path.join(a.out, "matches.jsonl"))
    known = []
    with open(a.known) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                known.append(line.split(",")[0].split()[0])
    problems = []

    # 1. exactly once
    seen = {}
    for status, recs in (("hashed", hashes), ("errors", errors)):
        for r in recs:
            k = key_of(r, prefix)
            if k in seen:
                problems.append(f"recorded twice: {k!r}")
            seen[k] = "hashed" if status == "hashed" else r["status"]
    missing = [k for k in manifest if k not in seen]
    extra = [k for k in seen if k not in manifest]
    for k in missing[:10]:
        problems.append(f"not recorded: {k!r}")
    for k in extra[:10]:
        problems.append(f"recorded but not in the manifest: {k!r}")

    # 2. outcome per category
    as_root = os.geteuid() == 0
    wrong = {}
    for k, m in manifest.items():
        exp = m["expected"]
        want = "skipped" if exp.startswith("unsupported:") else CATEGORY.get(exp)
        if exp == "unreadable" and as_root and m.get("as_root") == "image":
            want = "hashed"
        got = seen.get(k)
        if got is not None and got != want:
            wrong.setdefault((exp, want, got), []).append(k)
    for (exp, want, got), ks in sorted(wrong.items()):
        problems.append(f"{len(ks)} {exp} entries {got}, expected {want} (e.g. {ks[0]!r})")

    # 3. matches
    pdq_matched, md5_matched, other_matched = set(), set(), set()
    for mt in matches:
        k = key_of(mt, prefix)
        if mt["algo"] == "pdq":
            pdq_matched.add(k)
        elif mt["algo"] == "md5":
            md5_matched.add(k)
        else:
            other_matched.add(k)
    demo = {k: m for k, m in manifest.items() if "demo" in m}
    reach = {k for k, m in demo.items() if m.get("demo_expected_match") == 1}
    md5_reach = {k for k, m in demo.items() if m.get("demo_md5_match") == 1}
    for k in sorted(reach - pdq_matched):
        problems.append(f"copy within reach not matched: {k!r}")
    for k in sorted(pdq_matched - reach):
        problems.append(f"matched, but beyond reach or not a copy: {k!r}")
    for k in sorted(md5_reach ^ md5_matched):
        problems.append(f"MD5 match differs from the reference: {k!r}")

    # 4. unrelated photos: minimum distance to the list
    by_key = {key_of(h, prefix): h for h in hashes}

    def min_dist(h):
        variants = list(h.get("dihedral", {}).values()) or [h["pdq"]]
        return min(distance(v, e) for v in variants for e in known)

    unrelated = []
    for k, m in sorted(demo.items()):
        if "/unrelated/" in m["demo"] and k in by_key:
            unrelated.append((m["demo"], k, min_dist(by_key[k]), k in pdq_matched))
    others = [min_dist(h) for k, h in by_key.items()
              if k not in pdq_matched and "demo" not in manifest.get(k, {}) and "pdq" in h]

    print(f"manifest entries: {len(manifest)}; records: {len(hashes)} hashed + "
          f"{len(errors)} errors = {len(hashes) + len(errors)}; matches: {len(matches)} "
          f"({len(pdq_matched)} files by PDQ, {len(md5_matched)} by MD5)")
    print(f"demo copies in the tree: {len(demo)}; within reach by the reference: {len(reach)}, "
          f"matched: {len(pdq_matched & reach)}; beyond reach: {len(demo) - len(reach)}, "
          f"matched: {len(pdq_matched - reach)}")
    print("unrelated natural photos (minimum distance to the list, all dihedral variants):")
    for name, k, d, matched in unrelated:
        print(f"  {k.decode(errors='replace')} ({name}): {d} bits{'  MATCHED' if matched else ''}")
        if matched:
            problems.append(f"unrelated photo matched: {k!r}")
    if others:
        print(f"other unmatched images: {len(others)}, minimum distance to the list {min(others)} "
              f"bits (radius {a.radius})")
    if problems:
        print(f"FAILED: {len(problems)} problems")
        for p in problems[:50]:
            print("  " + p)
        return 1
    print("OK: every entry recorded once, in its category; matches exactly as the reference says")
    return 0


if __name__ == "__main__":
    sys.exit(main())
