//! Helpers shared by the integration tests: where the test data lives, a small CSV reader.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The JSON objects of a JSONL file (`vigil scan`'s records), one per line.
pub fn jsonl(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `tests/data`.
pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// Rows of a CSV file with a header, as maps from column name to value.
pub fn csv_rows(path: &Path) -> Vec<HashMap<String, String>> {
    let mut rdr = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let headers = rdr.headers().unwrap().clone();
    rdr.records()
        .map(|r| {
            let r = r.unwrap();
            headers
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

/// A float32 bit pattern written as 8 hex digits in a JSON string.
pub fn hex_f32(v: &serde_json::Value) -> u32 {
    u32::from_str_radix(v.as_str().expect("hex string"), 16).expect("hex")
}

/// A GPU engine on any adapter, or `None` (skip) when there is none and the environment does
/// not require one (`VIGIL_GPU_TESTS=require` makes a missing adapter a failure).
pub fn gpu_engine() -> Option<vigil::Engine> {
    match vigil::Engine::new(vigil::Backend::Gpu) {
        Ok(e) => {
            assert_eq!(e.backend_name(), "gpu");
            Some(e)
        }
        Err(e) => {
            if std::env::var("VIGIL_GPU_TESTS").as_deref() == Ok("require") {
                panic!("VIGIL_GPU_TESTS=require but no GPU adapter could be opened: {e}");
            }
            eprintln!("skipped: no GPU adapter ({e})");
            None
        }
    }
}

/// Assert that the counters show `gpu` images, all hashed on the GPU.
pub fn only_gpu(c: vigil::Counters, gpu: u64) {
    assert_eq!(
        c,
        vigil::Counters {
            gpu,
            ..vigil::Counters::default()
        },
        "every image on the GPU"
    );
}
