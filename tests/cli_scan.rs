//! `vigil scan` end to end on a small hostile tree: every non-directory entry the walk meets
//! appears exactly once in hashes.jsonl or errors.jsonl (hidden files, a FIFO, a symlink loop,
//! an empty, a truncated, a non-image, a HEIC header, a non-UTF-8 name), copies of a known
//! image are matched (a hidden copy too), a digest list matches a non-image by its bytes,
//! output files are private, exit codes follow conventions.md, and a used --out is refused.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::Write as _;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

mod common;
use common::jsonl;

const BIN: &str = env!("CARGO_BIN_EXE_vigil");

fn data(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel)
}

/// The path a record names: `path_bytes` (base64) when present, else `path`.
fn record_path(v: &serde_json::Value) -> Vec<u8> {
    use base64::Engine as _;
    match v.get("path_bytes").and_then(|b| b.as_str()) {
        Some(b) => base64::engine::general_purpose::STANDARD.decode(b).unwrap(),
        None => v["path"].as_str().unwrap().as_bytes().to_vec(),
    }
}

#[test]
fn every_entry_once_matches_digests_and_exit_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let tree = dir.join("tree");
    std::fs::create_dir_all(tree.join(".hidden/sub")).unwrap();
    let png = data("threatexchange/pdq/data/reg-test-input/pen-and-coaster.png");
    std::fs::copy(&png, tree.join("pen.png")).unwrap();
    std::fs::copy(&png, tree.join(".hidden/sub/copy.png")).unwrap();
    std::fs::write(tree.join("note.txt"), b"hello").unwrap();
    std::fs::write(tree.join("empty.jpg"), b"").unwrap();
    let bytes = std::fs::read(&png).unwrap();
    std::fs::write(tree.join("trunc.png"), &bytes[..500]).unwrap();
    std::fs::write(tree.join("x.heic"), b"\0\0\0\x18ftypheic\0\0\0\0mif1heic").unwrap();
    std::fs::write(tree.join(".gitignore"), b"*.png\n").unwrap();
    let odd = tree.join(OsStr::from_bytes(b"bad-\xff.jpg"));
    std::fs::write(&odd, &bytes).unwrap();
    std::os::unix::fs::symlink("loop1", tree.join("loop2")).unwrap();
    std::os::unix::fs::symlink("loop2", tree.join("loop1")).unwrap();
    let fifo = tree.join("fifo");
    let c = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
    // SAFETY: `c` is a valid NUL-terminated path that outlives the call.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);

    // The known list: the PNG's PDQ (from `vigil hash`), and the MD5 of note.txt.
    let h = Command::new(BIN).arg("hash").arg(&png).output().unwrap();
    let line = String::from_utf8(h.stdout).unwrap();
    let pdq = line
        .lines()
        .last()
        .unwrap()
        .split(',')
        .nth(2)
        .unwrap()
        .to_owned();
    std::fs::write(dir.join("known.txt"), format!("{pdq},demo-original\n")).unwrap();
    std::fs::write(dir.join("md5.txt"), "5d41402abc4b2a76b9719d911017c592\n").unwrap();

    let out = dir.join("out");
    let run = |out: &Path| {
        Command::new(BIN)
            .current_dir(dir)
            .args(["scan", "--quiet", "--dihedral", "--list", "known=known.txt"])
            .args(["--list", "md5s=md5.txt", "--out"])
            .arg(out)
            .arg("tree")
            .output()
            .unwrap()
    };
    let o = run(&out);
    let stderr = String::from_utf8_lossy(&o.stderr);
    // Matches and failures (empty, truncated): 3.
    assert_eq!(o.status.code(), Some(3), "{stderr}");
    assert_eq!(
        std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
        0o700
    );
    for f in [
        "hashes.jsonl",
        "errors.jsonl",
        "matches.jsonl",
        "summary.json",
    ] {
        let mode = std::fs::metadata(out.join(f)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{f}");
    }

    // Every non-directory entry exactly once.
    let hashes = jsonl(&out.join("hashes.jsonl"));
    let errors = jsonl(&out.join("errors.jsonl"));
    let mut seen: HashMap<Vec<u8>, usize> = HashMap::new();
    for r in hashes.iter().chain(&errors) {
        *seen.entry(record_path(r)).or_default() += 1;
    }
    let mut want: Vec<Vec<u8>> = walkdir::WalkDir::new(&tree)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| !e.file_type().is_dir())
        .map(|e| {
            let rel = e.path().strip_prefix(dir).unwrap();
            rel.as_os_str().as_bytes().to_vec()
        })
        .collect();
    want.sort();
    let mut got: Vec<Vec<u8>> = seen.keys().cloned().collect();
    got.sort();
    assert_eq!(got, want);
    assert!(seen.values().all(|&n| n == 1), "{seen:?}");

    let status = |name: &str| {
        errors
            .iter()
            .find(|r| r["path"].as_str() == Some(&format!("tree/{name}")))
            .map(|r| {
                (
                    r["status"].as_str().unwrap().to_owned(),
                    r["reason"].as_str().unwrap().to_owned(),
                )
            })
    };
    assert_eq!(status("fifo").unwrap().0, "skipped");
    assert_eq!(status("loop1").unwrap().0, "skipped");
    assert_eq!(status("empty.jpg").unwrap().0, "failed");
    assert_eq!(status("trunc.png").unwrap().0, "failed");
    assert_eq!(
        status("note.txt").unwrap(),
        ("skipped".into(), "not an image".into())
    );
    assert!(status("x.heic").unwrap().1.contains("unsupported"));
    // Readable files carry their digests, in errors.jsonl too.
    let note = errors
        .iter()
        .find(|r| r["path"] == "tree/note.txt")
        .unwrap();
    assert_eq!(note["md5"], "5d41402abc4b2a76b9719d911017c592");
    assert_eq!(note["size"], 5);

    // Matches: the three copies of the PNG (one hidden, one with a non-UTF-8 name, one listed
    // in .gitignore) by PDQ, note.txt by its MD5.
    let matches = jsonl(&out.join("matches.jsonl"));
    let pdq_matches: Vec<&serde_json::Value> =
        matches.iter().filter(|m| m["algo"] == "pdq").collect();
    assert_eq!(pdq_matches.len(), 3, "{matches:?}");
    for m in &pdq_matches {
        assert_eq!(m["distance"], 0);
        assert_eq!(m["variant"], "orig");
        assert_eq!(m["label"], "demo-original");
        assert_eq!(m["kind"], "image");
    }
    let md5: Vec<&serde_json::Value> = matches.iter().filter(|m| m["algo"] == "md5").collect();
    assert_eq!(md5.len(), 1);
    assert_eq!(md5[0]["path"], "tree/note.txt");
    assert_eq!(md5[0]["kind"], "file");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["counts"]["files"], 11);
    assert_eq!(summary["counts"]["matches"], 4);
    assert_eq!(summary["counts"]["hashed"], 3);

    // A used --out is refused (64), and nothing in it is touched.
    let again = run(&out);
    assert_eq!(again.status.code(), Some(64));
    assert_eq!(jsonl(&out.join("hashes.jsonl")).len(), hashes.len());
}

#[test]
fn no_match_exits_1_and_the_out_dir_inside_the_tree_is_not_walked() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir(dir.join("tree")).unwrap();
    std::fs::copy(
        data("threatexchange/pdq/data/reg-test-input/pen-and-coaster.png"),
        dir.join("tree/a.png"),
    )
    .unwrap();
    // Distance 256 from anything with weight 128: no match.
    std::fs::write(
        dir.join("known.txt"),
        format!("{}\n", "f".repeat(60) + "0000"),
    )
    .unwrap();
    let o = Command::new(BIN)
        .current_dir(dir)
        .args([
            "scan",
            "--quiet",
            "--list",
            "known.txt",
            "--out",
            "tree/out",
            "tree",
        ])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let hashes = jsonl(&dir.join("tree/out/hashes.jsonl"));
    let errors = jsonl(&dir.join("tree/out/errors.jsonl"));
    assert_eq!((hashes.len(), errors.len()), (1, 0), "{errors:?}");
}

/// The bundled demo (README's main command): the scan matches exactly the files the reference
/// (pip pdqhash on the same pixels, all 8 variants, distance <= 31, quality >= 50; recorded in
/// demo/expected.csv) says are within reach, at the reference's best distance, plus the one
/// file of the MD5 list; nothing else.
#[test]
fn demo_matches_exactly_what_the_reference_expects() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let o = Command::new(BIN)
        .current_dir(root)
        .args(["scan", "--quiet", "--dihedral", "--list", "demo/known.txt"])
        .args(["--list", "md5=demo/known-md5.txt", "--out"])
        .arg(&out)
        .arg("demo/images")
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let mut best: HashMap<String, u64> = HashMap::new();
    let mut md5 = Vec::new();
    for m in jsonl(&out.join("matches.jsonl")) {
        let file = m["path"]
            .as_str()
            .unwrap()
            .trim_start_matches("demo/")
            .to_owned();
        match m["algo"].as_str().unwrap() {
            "pdq" => {
                let d = m["distance"].as_u64().unwrap();
                let e = best.entry(file).or_insert(d);
                *e = (*e).min(d);
            }
            "md5" => md5.push(file),
            other => panic!("unexpected {other} match"),
        }
    }
    let mut rows = csv::Reader::from_path(root.join("demo/expected.csv")).unwrap();
    let headers = rows.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (file_c, exp_c, dist_c, md5_c) = (
        col("file"),
        col("expected_match"),
        col("best_distance"),
        col("md5_match"),
    );
    let mut expected = 0;
    let mut files = 0;
    for row in rows.records() {
        let row = row.unwrap();
        files += 1;
        let file = &row[file_c];
        if &row[exp_c] == "1" {
            expected += 1;
            assert_eq!(
                best.get(file).map(u64::to_string).as_deref(),
                Some(&row[dist_c]),
                "{file}: expected a match at the reference's distance"
            );
        } else {
            assert!(
                !best.contains_key(file),
                "{file}: matched, the reference says no"
            );
        }
        assert_eq!(
            md5.iter().any(|f| f == file),
            &row[md5_c] == "1",
            "{file}: md5"
        );
    }
    assert_eq!((files, expected, best.len()), (52, 32, 32));
}

/// `--include` / `--exclude`: filtered files are still accounted for, as `excluded`.
#[test]
fn filtered_files_are_recorded_as_excluded() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("tree/cache")).unwrap();
    let png = data("threatexchange/pdq/data/reg-test-input/pen-and-coaster.png");
    std::fs::copy(&png, dir.join("tree/a.png")).unwrap();
    std::fs::copy(&png, dir.join("tree/cache/b.png")).unwrap();
    std::fs::write(dir.join("tree/c.txt"), b"text").unwrap();
    std::fs::write(
        dir.join("known.txt"),
        format!("{}\n", "f".repeat(60) + "0000"),
    )
    .unwrap();
    let o = Command::new(BIN)
        .current_dir(dir)
        .args(["scan", "--quiet", "--list", "known.txt", "--out", "out"])
        .args(["--include", "*.png", "--exclude", "tree/cache/**", "tree"])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let hashes = jsonl(&dir.join("out/hashes.jsonl"));
    assert_eq!(hashes.len(), 1);
    assert_eq!(hashes[0]["path"], "tree/a.png");
    let mut errors: Vec<(String, String, String)> = jsonl(&dir.join("out/errors.jsonl"))
        .iter()
        .map(|r| {
            (
                r["path"].as_str().unwrap().to_owned(),
                r["status"].as_str().unwrap().to_owned(),
                r["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    errors.sort();
    assert_eq!(
        errors,
        [
            (
                "tree/c.txt".into(),
                "excluded".into(),
                "not matched by --include".into()
            ),
            (
                "tree/cache/b.png".into(),
                "excluded".into(),
                "matched by --exclude".into()
            ),
        ]
    );
}

/// A copy of demo/images under `dir/tree` (52 images; 32 match demo/known.txt).
fn demo_tree(dir: &Path) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("demo/images");
    for e in walkdir::WalkDir::new(&src) {
        let e = e.unwrap();
        let to = dir.join("tree").join(e.path().strip_prefix(&src).unwrap());
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&to).unwrap();
        } else {
            std::fs::copy(e.path(), &to).unwrap();
        }
    }
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("demo/known.txt"),
        dir.join("known.txt"),
    )
    .unwrap();
}

fn scan_cmd(dir: &Path, out: &str) -> Command {
    let mut c = Command::new(BIN);
    c.current_dir(dir)
        .args(["scan", "--quiet", "--dihedral", "--batch", "4"])
        .args(["--list", "known.txt", "--out", out, "tree"]);
    c
}

/// The lines of each output file, as sorted sets of JSON values.
fn outputs(out: &Path) -> [Vec<String>; 3] {
    ["hashes.jsonl", "errors.jsonl", "matches.jsonl"].map(|f| {
        let mut v: Vec<String> = jsonl(&out.join(f)).iter().map(|x| x.to_string()).collect();
        v.sort();
        v
    })
}

/// SIGKILL after some batches were flushed, then `--resume`: the same records and matches as
/// an uninterrupted scan, and only the unfinished files processed again. A torn last line is
/// repaired; `--resume` with other options is refused.
#[test]
fn killed_scan_resumes_to_the_same_results() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    demo_tree(dir);
    let whole = scan_cmd(dir, "whole").output().unwrap();
    assert_eq!(
        whole.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&whole.stderr)
    );
    let want = outputs(&dir.join("whole"));
    assert_eq!((want[0].len(), want[2].len()), (52, 32));

    // Slow every file down (debug-build seam) and kill once a batch is on disk.
    let mut child = scan_cmd(dir, "cut")
        .env("VIGIL_TEST_DELAY", "tree/:40")
        .spawn()
        .unwrap();
    let hashes = dir.join("cut/hashes.jsonl");
    let t0 = std::time::Instant::now();
    loop {
        let n = std::fs::read_to_string(&hashes).map_or(0, |s| s.lines().count());
        if n >= 4 {
            break;
        }
        assert!(t0.elapsed().as_secs() < 60, "no batch flushed");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let before = jsonl(&hashes).len();
    assert!(before < 52, "killed too late ({before} recorded)");
    // A torn line, as a write cut short would leave.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&hashes)
        .unwrap()
        .write_all(b"{\"schema\":1,\"path\":\"tree/ori")
        .unwrap();

    // Other options: refused.
    let mut other = scan_cmd(dir, "cut");
    other.arg("--resume").args(["--min-quality", "60"]);
    assert_eq!(other.output().unwrap().status.code(), Some(64));

    let resumed = scan_cmd(dir, "cut").arg("--resume").output().unwrap();
    assert_eq!(
        resumed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    assert_eq!(outputs(&dir.join("cut")), want);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("cut/summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["resumed"]["already_recorded"], before as u64);
    assert_eq!(
        summary["resumed"]["processed_this_run"],
        (52 - before) as u64
    );
    assert_eq!(summary["counts"]["hashed"], 52);
    assert_eq!(summary["counts"]["matches"], 32);
}

/// A file whose decoding crashes the decoder process (an abort, as a decoder's memory error
/// would end): decoders run in child processes, so the scan completes in one run with that
/// file `failed` and the reason saying how the decoder died; everything else is as without it.
#[test]
fn a_crashing_decoder_costs_one_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    demo_tree(dir);
    std::fs::copy(
        dir.join("tree/originals/1-bridge.jpg"),
        dir.join("tree/copies/boom.jpg"),
    )
    .unwrap();
    let out = scan_cmd(dir, "out")
        .env("VIGIL_TEST_CRASH", "boom.jpg")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let errors = jsonl(&dir.join("out/errors.jsonl"));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["path"], "tree/copies/boom.jpg");
    assert_eq!(errors[0]["status"], "failed");
    let reason = errors[0]["reason"].as_str().unwrap();
    assert!(reason.contains("SIGABRT"), "{reason}");
    // The bytes were read and digested before decoding.
    assert!(errors[0]["sha256"].is_string());
    assert_eq!(jsonl(&dir.join("out/hashes.jsonl")).len(), 52);
    assert_eq!(jsonl(&dir.join("out/matches.jsonl")).len(), 32);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("out/summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["decoders"]["crashed"], 1);
}

/// A decoder that hangs is killed at `--timeout` and its file recorded as failed; the scan
/// goes on with a fresh decoder.
#[test]
fn a_hanging_decoder_is_killed_at_the_timeout() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    demo_tree(dir);
    let out = scan_cmd(dir, "out")
        .env("VIGIL_TEST_DELAY", "bokeh:30000")
        .args(["--timeout", "1"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let errors = jsonl(&dir.join("out/errors.jsonl"));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0]["path"].as_str().unwrap().contains("bokeh"));
    assert!(
        errors[0]["reason"]
            .as_str()
            .unwrap()
            .contains("longer than 1 s"),
        "{errors:?}"
    );
    assert_eq!(jsonl(&dir.join("out/hashes.jsonl")).len(), 51);
}

/// With decoders in this process (`--isolation none`), a file whose decoding kills the
/// process: the first run dies, the resume retries the files in flight one at a time and dies
/// on it again, the next resume records it as `failed: decoder crash suspected` and
/// completes; everything else is as without it.
#[test]
fn a_crashing_decoder_cannot_stop_a_scan_for_ever() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    demo_tree(dir);
    std::fs::copy(
        dir.join("tree/originals/1-bridge.jpg"),
        dir.join("tree/copies/boom.jpg"),
    )
    .unwrap();
    let run = |resume: bool| {
        let mut c = scan_cmd(dir, "out");
        c.env("VIGIL_TEST_CRASH", "boom.jpg")
            .args(["--isolation", "none"]);
        if resume {
            c.arg("--resume");
        }
        c.output().unwrap()
    };
    let first = run(false);
    assert_eq!(first.status.code(), None, "the first run must die (signal)");
    let second = run(true);
    assert_eq!(
        second.status.code(),
        None,
        "the retry must die on the same file"
    );
    let third = run(true);
    // Matches and one failure.
    assert_eq!(
        third.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&third.stderr)
    );
    let errors = jsonl(&dir.join("out/errors.jsonl"));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["path"], "tree/copies/boom.jpg");
    assert_eq!(errors[0]["status"], "failed");
    assert!(
        errors[0]["reason"]
            .as_str()
            .unwrap()
            .contains("decoder crash suspected")
    );
    // Read and digested all the same (digest lists are checked against it), never decoded.
    assert!(errors[0]["sha256"].is_string() && errors[0]["size"].is_u64());
    assert_eq!(jsonl(&dir.join("out/hashes.jsonl")).len(), 52);
    assert_eq!(jsonl(&dir.join("out/matches.jsonl")).len(), 32);
}

/// `--csv` writes RFC 4180 twins of the JSONL files, row for row; a decode-memory budget
/// smaller than any image (each then decodes alone) changes nothing in the results; a
/// resumed finished scan keeps its records and replaces its summary.
#[test]
fn csv_twins_a_tiny_memory_budget_and_resuming_a_finished_scan() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    demo_tree(dir);
    let plain = scan_cmd(dir, "plain").output().unwrap();
    assert_eq!(plain.status.code(), Some(0));
    let out = scan_cmd(dir, "csv")
        .args(["--csv", "--max-memory", "1K"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(outputs(&dir.join("csv")), outputs(&dir.join("plain")));
    for (name, key) in [
        ("hashes", "pdq"),
        ("errors", "reason"),
        ("matches", "distance"),
    ] {
        let lines = jsonl(&dir.join(format!("csv/{name}.jsonl")));
        let mut r = csv::Reader::from_path(dir.join(format!("csv/{name}.csv"))).unwrap();
        let headers = r.headers().unwrap().clone();
        let col = headers.iter().position(|h| h == key).unwrap();
        let path_col = headers.iter().position(|h| h == "path").unwrap();
        let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), lines.len(), "{name}");
        for (row, line) in rows.iter().zip(&lines) {
            assert_eq!(row[path_col], line["path"].as_str().unwrap().to_owned());
            let want = match &line[key] {
                serde_json::Value::String(s) => s.clone(),
                v => v.to_string(),
            };
            assert_eq!(row[col], want, "{name}");
        }
        if name == "hashes" {
            let d = headers.iter().position(|h| h == "dih_rot90").unwrap();
            assert_eq!(
                rows[0][d],
                lines[0]["dihedral"]["rot90"].as_str().unwrap().to_owned()
            );
        }
    }
    let again = scan_cmd(dir, "csv")
        .args(["--csv", "--max-memory", "1K", "--resume"])
        .output()
        .unwrap();
    assert_eq!(
        again.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(outputs(&dir.join("csv")), outputs(&dir.join("plain")));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("csv/summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["resumed"]["processed_this_run"], 0);
    assert_eq!(summary["counts"]["hashed"], 52);
    assert_eq!(summary["lists"][0]["entries"], 4);
}

/// Links: not followed by default (recorded as skipped, never read); with `--follow-symlinks`
/// a link to a file is hashed at the link's path and matched, a link to a directory is
/// descended, and a loop is recorded once as skipped, so the walk ends.
#[test]
fn symlinks_are_followed_only_when_asked_and_loops_end() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    demo_tree(dir);
    let other = dir.join("elsewhere");
    std::fs::create_dir(&other).unwrap();
    std::fs::copy(dir.join("tree/originals/1-bridge.jpg"), other.join("b.jpg")).unwrap();
    std::os::unix::fs::symlink(other.join("b.jpg"), dir.join("tree/link.jpg")).unwrap();
    std::os::unix::fs::symlink(&other, dir.join("tree/linkdir")).unwrap();
    std::os::unix::fs::symlink("..", dir.join("tree/originals/up")).unwrap();
    let plain = scan_cmd(dir, "plain").output().unwrap();
    assert_eq!(plain.status.code(), Some(0));
    let errors = jsonl(&dir.join("plain/errors.jsonl"));
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(errors.iter().all(|e| e["status"] == "skipped"
        && e["reason"].as_str().unwrap().contains("symbolic link")
        && e.get("sha256").is_none()));
    assert_eq!(jsonl(&dir.join("plain/hashes.jsonl")).len(), 52);

    let out = scan_cmd(dir, "follow")
        .arg("--follow-symlinks")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hashes = jsonl(&dir.join("follow/hashes.jsonl"));
    let paths: Vec<&str> = hashes.iter().map(|h| h["path"].as_str().unwrap()).collect();
    assert!(paths.contains(&"tree/link.jpg") && paths.contains(&"tree/linkdir/b.jpg"));
    assert_eq!(hashes.len(), 54);
    let errors = jsonl(&dir.join("follow/errors.jsonl"));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["path"], "tree/originals/up");
    assert!(errors[0]["reason"].as_str().unwrap().contains("loop"));
    let matches = jsonl(&dir.join("follow/matches.jsonl"));
    assert!(
        matches
            .iter()
            .any(|m| m["path"] == "tree/link.jpg" && m["distance"] == 0)
    );
    // One file system: /dev/shm is normally a tmpfs, another device than the temp dir.
    let shm = tempfile::tempdir_in("/dev/shm");
    if let Ok(shm) = shm {
        std::fs::copy(
            dir.join("tree/originals/1-bridge.jpg"),
            shm.path().join("c.jpg"),
        )
        .unwrap();
        std::os::unix::fs::symlink(shm.path(), dir.join("tree/shm")).unwrap();
        let out = scan_cmd(dir, "onefs")
            .args(["--follow-symlinks", "--one-file-system"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        let errors = jsonl(&dir.join("onefs/errors.jsonl"));
        let same_dev = std::fs::metadata(shm.path())
            .map(|m| std::os::unix::fs::MetadataExt::dev(&m))
            .unwrap()
            == std::os::unix::fs::MetadataExt::dev(&std::fs::metadata(dir).unwrap());
        if !same_dev {
            assert!(
                errors.iter().any(|e| e["path"] == "tree/shm"
                    && e["reason"]
                        .as_str()
                        .unwrap()
                        .contains("another file system")),
                "{errors:?}"
            );
            assert_eq!(jsonl(&dir.join("onefs/hashes.jsonl")).len(), 54);
        }
    }
}
