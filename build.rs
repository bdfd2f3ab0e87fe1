//! Records the git commit the binary was built from (`VIGIL_GIT_COMMIT`), for the provenance
//! block of `summary.json`, index manifests and `check-gpu` state (conventions.md: "vigil
//! version and git commit"). An explicit `VIGIL_GIT_COMMIT` in the build environment wins
//! (packagers building from a tarball); without git or a repository the value is left unset
//! and the binary reports "unknown".

use std::path::PathBuf;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?;
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

fn main() {
    println!("cargo:rerun-if-env-changed=VIGIL_GIT_COMMIT");
    if std::env::var_os("VIGIL_GIT_COMMIT").is_some() {
        return;
    }
    // Rebuild when HEAD moves: HEAD itself, the branch it names, and packed refs.
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
    if let Some(commit) = git(&["rev-parse", "HEAD"]) {
        println!("cargo:rustc-env=VIGIL_GIT_COMMIT={commit}");
    }
}
