//! Times the two walks over a tree and checks them against its manifest:
//!
//! `walk_count TREE MANIFEST [RUNS]`
//!
//! MANIFEST is the JSONL `scripts/make-scan-tree.py` writes (one line per non-directory
//! entry, `path` relative to TREE). For the sequential walk of `vigil hash` (`Inputs`) and the
//! parallel walk of `vigil scan` (`walk_parallel`, default threads, links not followed) it
//! prints the entry count, whether the set of paths equals the manifest's (and that no path
//! came twice), and the median wall time of RUNS walks (default 5, warm cache); then the same
//! for the parallel walk with links followed (on a tree whose only directory links are loops,
//! such as make-scan-tree.py's, its paths are the manifest's too: loops are skipped, once).

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::io::BufRead;
use std::os::unix::ffi::OsStringExt;

use base64::Engine;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use vigil::scan::{Entry, EntryKind, Inputs, WalkOptions, walk_parallel};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (tree, manifest) = (PathBuf::from(&args[1]), &args[2]);
    let runs: usize = args.get(3).map_or(5, |r| r.parse().expect("RUNS"));
    let want: BTreeSet<PathBuf> = std::io::BufReader::new(std::fs::File::open(manifest).unwrap())
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(&l.unwrap()).unwrap();
            // A name that is not UTF-8 is exact only in `path_bytes` (base64).
            match v["path_bytes"].as_str() {
                Some(b64) => tree.join(OsString::from_vec(
                    base64::engine::general_purpose::STANDARD
                        .decode(b64)
                        .unwrap(),
                )),
                None => tree.join(v["path"].as_str().unwrap()),
            }
        })
        .collect();
    println!("manifest: {} entries", want.len());
    let roots: Vec<OsString> = vec![tree.clone().into()];
    let seq = || Inputs::new(&roots, false).collect::<Vec<_>>();
    let par = |opts: WalkOptions| walk_parallel(&roots, &opts).collect::<Vec<_>>();
    report("sequential (Inputs)", runs, &want, seq, true);
    report(
        "parallel (walk_parallel)",
        runs,
        &want,
        || par(WalkOptions::default()),
        true,
    );
    for threads in [1, 2] {
        report(
            &format!("parallel, {threads} thread(s)"),
            runs,
            &want,
            || {
                par(WalkOptions {
                    threads,
                    ..Default::default()
                })
            },
            true,
        );
    }
    report(
        "parallel, --follow-symlinks",
        runs,
        &want,
        || {
            par(WalkOptions {
                follow_symlinks: true,
                ..Default::default()
            })
        },
        true,
    );
}

fn report(
    name: &str,
    runs: usize,
    want: &BTreeSet<PathBuf>,
    walk: impl Fn() -> Vec<Entry>,
    compare: bool,
) {
    let mut times: Vec<Duration> = Vec::new();
    let mut entries = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        entries = walk();
        times.push(t.elapsed());
    }
    times.sort();
    let paths: BTreeSet<&Path> = entries.iter().map(|e| e.path.as_path()).collect();
    let kinds = |f: fn(&EntryKind) -> bool| entries.iter().filter(|e| f(&e.kind)).count();
    print!(
        "{name}: {} entries ({} file, {} special, {} skipped, {} error), median {:.1} ms of {runs} (min {:.1})",
        entries.len(),
        kinds(|k| matches!(k, EntryKind::File)),
        kinds(|k| matches!(k, EntryKind::Special(_))),
        kinds(|k| matches!(k, EntryKind::Skipped(_))),
        kinds(|k| matches!(k, EntryKind::Error(_))),
        times[runs / 2].as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
    );
    if compare {
        let same = paths.len() == entries.len()
            && paths.iter().copied().eq(want.iter().map(PathBuf::as_path));
        print!(
            "; no duplicate: {}; equals manifest: {same}",
            paths.len() == entries.len()
        );
    }
    println!();
}
