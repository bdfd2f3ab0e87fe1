//! Replays the fuzz corpora on stable Rust: every file of `fuzz/corpus/<target>/` and
//! `fuzz/regressions/<target>/` through the same body the cargo-fuzz target runs
//! (`vigil::fuzzing`). A target without corpus files fails, and so does a panic, named by file.

use std::collections::BTreeSet;
use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The files of a directory, sorted (none when it does not exist).
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

/// Run target `name` over its corpus and regressions; fail listing every file that panicked.
fn replay(name: &str) {
    let body = vigil::fuzzing::TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no fuzz target {name}"))
        .1;
    let corpus = files(&fuzz_dir().join("corpus").join(name));
    assert!(
        !corpus.is_empty(),
        "fuzz/corpus/{name}/ is missing or empty: every target needs seed files"
    );
    let regressions = files(&fuzz_dir().join("regressions").join(name));
    let mut failed = Vec::new();
    for f in corpus.iter().chain(&regressions) {
        let data = fs::read(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        if catch_unwind(AssertUnwindSafe(|| body(&data))).is_err() {
            failed.push(f.display().to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "{name}: {} of {} files panicked:\n{}",
        failed.len(),
        corpus.len() + regressions.len(),
        failed.join("\n")
    );
}

macro_rules! replay_tests {
    ($($name:ident),* $(,)?) => {
        $(#[test] fn $name() { replay(stringify!($name)); })*
        const NAMES: &[&str] = &[$(stringify!($name)),*];
    };
}

replay_tests!(
    probe,
    decode_jpeg,
    decode_png,
    decode_gif,
    decode_webp,
    decode_bmp,
    decode_tiff,
    exif,
    list_detect,
    list_threatexchange,
    list_csv,
    list_jsonl,
    list_build,
    list_vpdq,
    h264_packets,
    index_open,
    index_patch,
);

/// The library's target table, the cargo-fuzz binaries, the corpus directories and the tests
/// above name the same targets.
#[test]
fn every_target_is_replayed_and_built() {
    let lib: BTreeSet<&str> = vigil::fuzzing::TARGETS.iter().map(|(n, _)| *n).collect();
    let here: BTreeSet<&str> = NAMES.iter().copied().collect();
    assert_eq!(lib, here, "vigil::fuzzing::TARGETS vs the replay tests");
    let stems = |dir: PathBuf, dirs: bool| -> BTreeSet<String> {
        fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("entry").path())
            .filter(|p| p.is_dir() == dirs)
            .map(|p| p.file_stem().expect("name").to_string_lossy().into_owned())
            .collect()
    };
    let want: BTreeSet<String> = lib.iter().map(|s| s.to_string()).collect();
    assert_eq!(stems(fuzz_dir().join("fuzz_targets"), false), want);
    assert_eq!(stems(fuzz_dir().join("corpus"), true), want);
    let regressions = fuzz_dir().join("regressions");
    if regressions.exists() {
        let extra: Vec<String> = stems(regressions, true)
            .difference(&want)
            .cloned()
            .collect();
        assert!(
            extra.is_empty(),
            "regressions for unknown targets: {extra:?}"
        );
    }
}
