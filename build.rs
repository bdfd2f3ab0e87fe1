//! Records the git commit the binary was built from (`VIGIL_GIT_COMMIT`), for the provenance
//! block of `summary.json`, index manifests, `check-gpu` state and `vigil --version`
//! (conventions.md: "vigil version and git commit").
//!
//! A build whose sources differ from the commit (uncommitted changes under `src/`, `shaders/`,
//! `build.rs`, `Cargo.toml` or `Cargo.lock`) records `<commit>-dirty-<12 hex digits>`, the
//! digits a digest of those changes: a report or a `check-gpu` record from such a binary must
//! not claim the commit's code, and two different local builds must not share one record.
//!
//! An explicit `VIGIL_GIT_COMMIT` in the build environment wins (packagers building from a
//! tarball); without git, or without a repository that tracks this crate (one that does not
//! track `build.rs` is some other work tree around an unpacked crate), the value is `unknown`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What the binary is built from, relative to the crate root.
const SOURCES: &[&str] = &["src", "shaders", "build.rs", "Cargo.toml", "Cargo.lock"];

/// `git` with optional locks off: a build must not rewrite the index behind a user's back.
fn git_cmd(args: &[&str]) -> Command {
    let mut c = Command::new("git");
    c.arg("--no-optional-locks").args(args);
    c
}

fn git_bytes(args: &[&str]) -> Option<Vec<u8>> {
    let out = git_cmd(args).stderr(Stdio::null()).output().ok()?;
    out.status.success().then_some(out.stdout)
}

fn git(args: &[&str]) -> Option<String> {
    let s = String::from_utf8(git_bytes(args)?).ok()?;
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

/// Git's object id of `bytes` (not written to the repository).
fn hash_object(bytes: &[u8]) -> Option<String> {
    let mut child = git_cmd(&["hash-object", "--stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    child.stdin.take()?.write_all(bytes).ok()?;
    let out = child.wait_with_output().ok()?;
    let s = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && s.len() >= 12).then(|| s[..12].to_owned())
}

/// A digest of the uncommitted changes to [`SOURCES`] (tracked changes and untracked files),
/// or `None` when there are none.
fn changes(sources: &[&str]) -> Option<String> {
    let mut args = vec!["diff", "HEAD", "--binary", "--"];
    args.extend(sources);
    let mut all = git_bytes(&args)?;
    let mut args = vec!["ls-files", "-z", "--others", "--exclude-standard", "--"];
    args.extend(sources);
    let untracked = git_bytes(&args)?;
    for name in untracked.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let name = String::from_utf8_lossy(name).into_owned();
        all.extend_from_slice(name.as_bytes());
        all.push(0);
        all.extend(std::fs::read(&name).unwrap_or_default());
    }
    if all.is_empty() {
        return None;
    }
    hash_object(&all)
}

fn main() {
    println!("cargo:rerun-if-env-changed=VIGIL_GIT_COMMIT");
    if let Ok(v) = std::env::var("VIGIL_GIT_COMMIT") {
        println!("cargo:rustc-env=VIGIL_GIT_COMMIT={v}");
        return;
    }
    // Rerun when HEAD moves (HEAD itself, the branch it names, packed refs) and when a source
    // changes (cargo scans a directory's files).
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        let dir = PathBuf::from(dir);
        println!("cargo:rerun-if-changed={}", dir.join("HEAD").display());
        if let Some(common) = git(&["rev-parse", "--git-common-dir"]) {
            let common = PathBuf::from(common);
            println!(
                "cargo:rerun-if-changed={}",
                common.join("packed-refs").display()
            );
            if let Some(head_ref) = git(&["symbolic-ref", "-q", "HEAD"]) {
                println!("cargo:rerun-if-changed={}", common.join(head_ref).display());
            }
        }
    }
    let sources: Vec<&str> = SOURCES
        .iter()
        .copied()
        .filter(|s| Path::new(s).exists())
        .collect();
    for s in &sources {
        println!("cargo:rerun-if-changed={s}");
    }
    // A repository that does not track this build script is not the crate's (a crate unpacked
    // under some other work tree, such as a home directory kept in git): its commit would be
    // a false claim.
    let ours = git_bytes(&["ls-files", "--error-unmatch", "build.rs"]).is_some();
    let commit = match git(&["rev-parse", "HEAD"]).filter(|_| ours) {
        Some(c) => match changes(&sources) {
            Some(d) => format!("{c}-dirty-{d}"),
            None => c,
        },
        None => "unknown".to_owned(),
    };
    println!("cargo:rustc-env=VIGIL_GIT_COMMIT={commit}");
}
