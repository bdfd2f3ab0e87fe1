//! `vigil scan` on the GPU (lavapipe in CI, `VIGIL_GPU_TESTS=require`): the same records and
//! matches as the CPU path; on an adapter `vigil check-gpu` has not shown exact, near matches
//! are re-hashed on the CPU oracle, which a GPU made 3 bits wrong (debug seam) shows.

mod common;

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_vigil");

fn demo(dir: &Path) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("demo");
    for e in walkdir::WalkDir::new(src.join("images")) {
        let e = e.unwrap();
        let to = dir
            .join("tree")
            .join(e.path().strip_prefix(src.join("images")).unwrap());
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&to).unwrap();
        } else {
            std::fs::copy(e.path(), &to).unwrap();
        }
    }
    std::fs::copy(src.join("known.txt"), dir.join("known.txt")).unwrap();
}

fn scan(dir: &Path, out: &str, backend: &str, state: &Path, flip: bool) -> serde_json::Value {
    let mut c = Command::new(BIN);
    c.current_dir(dir)
        .env("VIGIL_STATE_DIR", state)
        .args(["scan", "--quiet", "--dihedral", "--backend", backend])
        .args(["--list", "known.txt", "--out", out, "tree"]);
    if flip {
        c.env("VIGIL_TEST_GPU_FLIP", "1");
    }
    let o = c.output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_str(&std::fs::read_to_string(dir.join(out).join("summary.json")).unwrap())
        .unwrap()
}

fn sorted(dir: &Path, out: &str, f: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_to_string(dir.join(out).join(f))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    v.sort();
    v
}

#[test]
fn gpu_scan_equals_cpu_and_unverified_gpus_are_rechecked() {
    if common::gpu_engine().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    demo(dir);
    let unverified = dir.join("state-empty");
    let verified = dir.join("state");
    scan(dir, "cpu", "cpu", &unverified, false);

    // Not shown exact: near matches re-hashed on the oracle; same results as the CPU.
    let s = scan(dir, "gpu", "gpu", &unverified, false);
    assert_eq!(s["gpu"]["verified_by_check_gpu"], false);
    assert!(s["gpu"]["rechecked_files"].as_u64().unwrap() >= 32, "{s}");
    assert_eq!(s["gpu"]["recheck_changed"], 0);
    for f in ["hashes.jsonl", "errors.jsonl", "matches.jsonl"] {
        assert_eq!(sorted(dir, "gpu", f), sorted(dir, "cpu", f), "{f}");
    }

    // A GPU 3 bits off, not shown exact: every matched file is re-hashed and the matches are
    // exactly the CPU's (only hashes of files far from every entry keep the GPU's bits).
    let s = scan(dir, "flip", "gpu", &unverified, true);
    assert!(s["gpu"]["recheck_changed"].as_u64().unwrap() >= 32, "{s}");
    assert_eq!(
        sorted(dir, "flip", "matches.jsonl"),
        sorted(dir, "cpu", "matches.jsonl")
    );

    // `vigil check-gpu` shows this adapter exact and records it: no re-check any more, so
    // the same wrong GPU now changes the reported matches (the re-check is what fixed them).
    let o = Command::new(BIN)
        .env("VIGIL_STATE_DIR", &verified)
        .arg("check-gpu")
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let s = scan(dir, "trusted", "gpu", &verified, false);
    assert_eq!(s["gpu"]["verified_by_check_gpu"], true);
    assert_eq!(s["gpu"]["rechecked_files"], 0);
    for f in ["hashes.jsonl", "errors.jsonl", "matches.jsonl"] {
        assert_eq!(sorted(dir, "trusted", f), sorted(dir, "cpu", f), "{f}");
    }
    scan(dir, "trusted-flip", "gpu", &verified, true);
    assert_ne!(
        sorted(dir, "trusted-flip", "matches.jsonl"),
        sorted(dir, "cpu", "matches.jsonl")
    );
}
