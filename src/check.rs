//! Showing a GPU exact: `vigil check-gpu` hashes a fixed set of synthetic images on the
//! engine and on the scalar oracle and compares every bit (PDQ hash and quality, the 8
//! dihedral hashes, pHash). An adapter that passed is recorded in a small state file, keyed by
//! the adapter, its driver and this build; `vigil scan` on a GPU that has no such record
//! re-hashes every near match on the CPU oracle (radius ± 4) and reports the oracle's result.
//!
//! The state file (`gpu-verified.json`) holds adapter names and dates only, in
//! `$VIGIL_STATE_DIR`, else `$XDG_STATE_HOME/vigil`, else `~/.local/state/vigil` (created 0700,
//! file 0600).

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::RgbImage;
use crate::engine::Engine;
use crate::gpu::AdapterInfo;
use crate::pdq::oracle;
use crate::phash;
use crate::synth::{self, Pattern};

/// The images of the check: every pattern at sizes that take each code path of the kernels
/// (tiny, narrow, odd, the 4096-wide boundary, large), two seeds each.
pub fn check_images() -> Vec<(String, RgbImage)> {
    let sizes: [(u32, u32); 9] = [
        (5, 5),
        (17, 3),
        (64, 64),
        (127, 33),
        (250, 1000),
        (640, 480),
        (1000, 750),
        (4097, 40),
        (33, 2049),
    ];
    let mut out = Vec::new();
    for pattern in [
        Pattern::Noise,
        Pattern::Blocks,
        Pattern::Gradient,
        Pattern::Flat,
    ] {
        for (i, &(w, h)) in sizes.iter().enumerate() {
            for seed in [1u32, 2] {
                if pattern == Pattern::Flat && seed == 2 {
                    continue;
                }
                let name = format!("{pattern:?} {w}x{h} seed {seed}");
                out.push((name, synth::image(pattern, w, h, seed + i as u32 * 7)));
            }
        }
    }
    out
}

/// The outcome of a check.
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    /// Images compared.
    pub images: usize,
    /// One line per image whose result differed from the oracle.
    pub mismatches: Vec<String>,
}

impl CheckReport {
    /// Whether every result was equal.
    pub fn exact(&self) -> bool {
        self.images > 0 && self.mismatches.is_empty()
    }
}

/// Compare `engine` with the scalar oracle on [`check_images`].
pub fn check_engine(engine: &Engine) -> CheckReport {
    let images = check_images();
    let views: Vec<_> = images.iter().map(|(_, i)| i.view()).collect();
    let plain = engine.hash_batch(&views);
    let dihedral = engine.hash_batch_dihedral(&views);
    let phashes = engine.phash_batch(&views);
    let mut report = CheckReport {
        images: images.len(),
        mismatches: Vec::new(),
    };
    for (i, (name, _)) in images.iter().enumerate() {
        let want = oracle::hash_dihedral(&views[i]);
        let want_phash = phash::hash(&views[i]);
        let mut bad = Vec::new();
        match &plain[i] {
            Ok(p) if p.hash == want.hashes[0] && p.quality == want.quality => {}
            Ok(p) => bad.push(format!(
                "pdq {} q{} vs oracle {} q{}",
                p.hash, p.quality, want.hashes[0], want.quality
            )),
            Err(e) => bad.push(format!("pdq failed: {e}")),
        }
        match &dihedral[i] {
            Ok(d) if d.hashes == want.hashes && d.quality == want.quality => {}
            Ok(_) => bad.push("dihedral hashes differ".into()),
            Err(e) => bad.push(format!("dihedral failed: {e}")),
        }
        match &phashes[i] {
            Ok(p) if *p == want_phash => {}
            Ok(p) => bad.push(format!("phash {p} vs oracle {want_phash}")),
            Err(e) => bad.push(format!("phash failed: {e}")),
        }
        if !bad.is_empty() {
            report
                .mismatches
                .push(format!("{name}: {}", bad.join("; ")));
        }
    }
    report
}

/// One adapter that passed the check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verified {
    /// [`adapter_key`] of the adapter.
    pub key: String,
    /// UTC time of the check.
    pub checked: String,
    /// Images compared.
    pub images: usize,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct StateFile {
    schema: u32,
    verified: Vec<Verified>,
}

/// What identifies an adapter for the record: name, type, backend, driver, and this build
/// (a new vigil version or commit has new kernels, so it must be checked again).
pub fn adapter_key(a: &AdapterInfo) -> String {
    format!(
        "{} | {} | {} | {} | vigil {} {}",
        a.name,
        a.device_type,
        a.backend,
        a.driver,
        env!("CARGO_PKG_VERSION"),
        crate::GIT_COMMIT
    )
}

/// The state directory (see the module docs); `None` when no home is known.
pub fn state_dir() -> Option<PathBuf> {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    env("VIGIL_STATE_DIR")
        .map(PathBuf::from)
        .or_else(|| env("XDG_STATE_HOME").map(|d| PathBuf::from(d).join("vigil")))
        .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".local/state/vigil")))
}

fn state_path() -> Option<PathBuf> {
    state_dir().map(|d| d.join("gpu-verified.json"))
}

fn load() -> StateFile {
    state_path()
        .and_then(|p| std::fs::read(p).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Whether `adapter` passed `vigil check-gpu` with this build.
pub fn is_verified(adapter: &AdapterInfo) -> bool {
    let key = adapter_key(adapter);
    load().verified.iter().any(|v| v.key == key)
}

/// Record the result of a check of `adapter`: added when exact, removed when not.
pub fn record(adapter: &AdapterInfo, report: &CheckReport, checked: String) -> std::io::Result<()> {
    let Some(dir) = state_dir() else {
        return Err(std::io::Error::other(
            "no state directory (set VIGIL_STATE_DIR or HOME)",
        ));
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)?;
    let key = adapter_key(adapter);
    let mut state = load();
    state.schema = 1;
    state.verified.retain(|v| v.key != key);
    if report.exact() {
        state.verified.push(Verified {
            key,
            checked,
            images: report.images,
        });
    }
    let tmp = dir.join("gpu-verified.json.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(&serde_json::to_vec_pretty(&state).map_err(std::io::Error::other)?)?;
    f.sync_all()?;
    std::fs::rename(tmp, dir.join("gpu-verified.json"))
}
