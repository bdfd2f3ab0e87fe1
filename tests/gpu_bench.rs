//! `scripts/gpu-bench.sh` end to end with a tiny frame count: the script finds the binary
//! (`VIGIL_BIN`), writes its outputs under `OUT`, and `vigil gpu-bench` reports parity with the
//! oracle on every reference image and timings for each path.
//!
//! Without an adapter this prints "skipped: no GPU adapter" and passes, unless
//! `VIGIL_GPU_TESTS=require`, where it fails (as `tests/gpu.rs`). On lavapipe it takes about
//! 15 s; its figures are not GPU figures.

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use vigil::{Backend, Engine};

/// Whether a GPU adapter can be opened; panics when one is required and there is none.
fn have_gpu() -> bool {
    match Engine::new(Backend::Gpu) {
        Ok(_) => true,
        Err(e) => {
            if std::env::var("VIGIL_GPU_TESTS").as_deref() == Ok("require") {
                panic!("VIGIL_GPU_TESTS=require but no GPU adapter could be opened: {e}");
            }
            eprintln!("skipped: no GPU adapter ({e})");
            false
        }
    }
}

#[test]
fn script_reports_parity_and_timings() {
    if !have_gpu() {
        return;
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let run = Command::new("bash")
        .arg(repo.join("scripts/gpu-bench.sh"))
        .args([
            "--frames",
            "2",
            "--batch",
            "2",
            "--reps",
            "1",
            "--copy-mib",
            "4",
        ])
        .current_dir(repo)
        .env("OUT", &out_dir)
        .env("VIGIL_BIN", env!("CARGO_BIN_EXE_vigil"))
        .env("BENCH_TIMEOUT", "120")
        .output()
        .expect("run bash");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(
        run.status.code(),
        Some(0),
        "gpu-bench.sh failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );

    for name in [
        "report.md",
        "report.json",
        "info.txt",
        "diagnostics.txt",
        "ldd.txt",
    ] {
        assert!(out_dir.join(name).is_file(), "{name} missing:\n{stdout}");
    }
    let md = std::fs::read_to_string(out_dir.join("report.md")).unwrap();
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("report.json")).unwrap())
            .unwrap();
    let adapter = json["adapter"]["name"].as_str().expect("adapter name");
    assert!(!adapter.is_empty());
    assert!(
        md.starts_with("# vigil gpu-bench\n") && md.contains(adapter),
        "the adapter heads the report:\n{md}"
    );
    assert!(
        stdout.contains(adapter),
        "the adapter is printed:\n{stdout}"
    );

    let parity = &json["parity"];
    assert_eq!(
        parity["images"], 32,
        "every reference image decoded: {parity}"
    );
    assert_eq!(parity["equal"], 32, "{parity}");
    assert_eq!(parity["different"], 0, "{parity}");
    assert_eq!(parity["dihedral_different"], 0, "{parity}");
    assert_eq!(parity["cpu_fallback"], 0, "{parity}");
    assert_eq!(parity["not_decoded"].as_array().map(Vec::len), Some(0));
    assert_eq!(json["frames"], 2);
    assert_eq!(json["frames_vs_cpu_different"], 0);
    assert_eq!(json["split_vs_e2e_different"], 0);
    assert_eq!(json["gpu_fallback_frames"], 0);
    for path in ["gpu_kernels", "gpu_e2e", "cpu"] {
        let fps = json["fps"][path].as_f64().unwrap_or(0.0);
        assert!(fps > 0.0, "fps.{path} = {fps}");
    }
    for phase in [
        "pack",
        "upload",
        "kernels_wall",
        "readback",
        "bits",
        "total",
    ] {
        assert!(
            json["split_ms_per_frame"][phase].as_f64().is_some(),
            "split_ms_per_frame.{phase}"
        );
    }
    assert_eq!(json["upload"]["bytes"], 4 << 20);
    let gbs = json["upload"]["write_buffer"]["gb_per_s_median"]
        .as_f64()
        .unwrap_or(0.0);
    assert!(gbs > 0.0, "write_buffer GB/s = {gbs}");
    assert!(md.contains("| 32 | 32 | 0 | 0 | 0 | 0 |"), "{md}");
}
