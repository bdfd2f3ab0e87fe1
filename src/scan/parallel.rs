//! The walk for `vigil scan`: many directories listed at once, in no particular order, with
//! nothing filtered out.
//!
//! Built on the `ignore` crate's parallel walker (ripgrep's) with every one of its filters off:
//! hidden files and directories are walked, and `.gitignore`, `.ignore`, `.git/info/exclude`
//! and the global git excludes are not read, so no file escapes a scan because a tree happens
//! to say it is uninteresting. Only `--include`/`--exclude` (applied by the caller) filter.
//!
//! Entries reach the caller through a bounded channel: when it is slower than the walk, the
//! walker threads block, so memory stays flat however large the tree. Dropping the
//! [`ParallelWalk`] early makes every walker thread stop at its next entry.
//!
//! Every non-directory entry met yields exactly one [`Entry`]; directories yield one only when
//! something about them must be recorded (unreadable, skipped).

use std::ffi::OsString;
use std::io::BufRead;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};
use ignore::{WalkBuilder, WalkState};

use super::open::type_kind;
use super::walk::{Entry, EntryKind, classify_given};

/// Entries that may wait between the walker threads and the consumer (a few hundred KiB).
const CHANNEL_CAPACITY: usize = 4096;

/// Directories named on standard input are walked in batches of this many.
const STDIN_ROOT_BATCH: usize = 256;

/// How [`walk_parallel`] treats links and mount points.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WalkOptions {
    /// Follow symbolic links met while walking (`--follow-symlinks`): a link to a file is a
    /// [`EntryKind::File`] at the link's path with [`Entry::target`] set; a link to a directory
    /// is descended; a link to one of its own ancestors is one [`EntryKind::Skipped`] entry
    /// ("symbolic link loop …") and is not descended; a dangling link is an
    /// [`EntryKind::Error`]. When off, every link met while walking is
    /// `Special("symbolic link")`. (Links named explicitly are followed either way.)
    pub follow_symlinks: bool,
    /// Do not descend into a directory on another file system than the one it was found on
    /// (`--one-file-system`); such a directory is one [`EntryKind::Skipped`] entry. Roots
    /// named explicitly are walked wherever they are.
    pub one_file_system: bool,
    /// Walker threads; 0 picks the `ignore` crate's default (the available cores, at most 12).
    pub threads: usize,
}

/// Entries of a parallel walk, in no particular order (see [`walk_parallel`]).
pub struct ParallelWalk {
    rx: Receiver<Entry>,
    driver: Option<JoinHandle<()>>,
}

/// Walk `paths` in parallel. Each argument is treated as [`super::Inputs`] treats it: a file
/// (or a link to one, followed) is one entry with `walked == false`; a directory (or a link to
/// one) is walked; `-` is a list of newline-separated paths on standard input, each treated
/// the same way. Starts the walk at once on background threads.
pub fn walk_parallel(paths: &[OsString], opts: &WalkOptions) -> ParallelWalk {
    let (tx, rx) = crossbeam_channel::bounded(CHANNEL_CAPACITY);
    let paths = paths.to_vec();
    let opts = opts.clone();
    let driver = std::thread::Builder::new()
        .name("vigil-walk".into())
        .spawn(move || drive(&paths, &opts, &tx))
        .expect("spawning the walk thread");
    ParallelWalk {
        rx,
        driver: Some(driver),
    }
}

impl Iterator for ParallelWalk {
    type Item = Entry;

    fn next(&mut self) -> Option<Entry> {
        match self.rx.recv() {
            Ok(entry) => Some(entry),
            Err(_) => {
                // Every sender is gone: the walk is over. Surface a panic on its threads
                // rather than end quietly with entries missing.
                if let Some(driver) = self.driver.take()
                    && let Err(panic) = driver.join()
                {
                    std::panic::resume_unwind(panic);
                }
                None
            }
        }
    }
}

/// Classify the explicit inputs, send their entries, and walk the directories among them.
/// Returns early once the consumer has gone.
fn drive(paths: &[OsString], opts: &WalkOptions, tx: &Sender<Entry>) {
    let mut roots = Vec::new();
    for arg in paths {
        if arg == "-" {
            let mut lines = std::io::stdin().lock().split(b'\n');
            loop {
                let mut bytes = match lines.next() {
                    None => break,
                    Some(Ok(bytes)) => bytes,
                    Some(Err(e)) => {
                        let entry = Entry::new("-".into(), EntryKind::Error(e.to_string()), false);
                        if tx.send(entry).is_err() {
                            return;
                        }
                        break;
                    }
                };
                if bytes.last() == Some(&b'\r') {
                    bytes.pop();
                }
                if bytes.is_empty() {
                    continue;
                }
                if !given(PathBuf::from(OsString::from_vec(bytes)), &mut roots, tx) {
                    return;
                }
                if roots.len() >= STDIN_ROOT_BATCH
                    && !walk_dirs(&std::mem::take(&mut roots), opts, tx)
                {
                    return;
                }
            }
        } else if !given(PathBuf::from(arg), &mut roots, tx) {
            return;
        }
    }
    walk_dirs(&roots, opts, tx);
}

/// Send the entry of an explicit input, or queue it as a root to walk. False when the consumer
/// has gone.
fn given(path: PathBuf, roots: &mut Vec<PathBuf>, tx: &Sender<Entry>) -> bool {
    match classify_given(path) {
        Ok(entry) => tx.send(entry).is_ok(),
        Err(dir) => {
            // The `ignore` crate reads a root spelled `-` as standard input.
            roots.push(if dir == Path::new("-") {
                PathBuf::from("./-")
            } else {
                dir
            });
            true
        }
    }
}

/// Walk directories in parallel, sending their entries. False when the consumer has gone.
fn walk_dirs(roots: &[PathBuf], opts: &WalkOptions, tx: &Sender<Entry>) -> bool {
    let Some((first, rest)) = roots.split_first() else {
        return true;
    };
    let mut builder = WalkBuilder::new(first);
    for root in rest {
        builder.add(root);
    }
    builder
        // Every filter off: hidden entries walked, no ignore file of any kind consulted.
        .standard_filters(false)
        .hidden(false)
        .parents(false)
        .ignore(false)
        .git_ignore(false)
        .git_global(false)
        .git_exclude(false)
        .require_git(false)
        .follow_links(opts.follow_symlinks)
        // The crate then neither lists nor descends a directory on another device; `visit`
        // records it.
        .same_file_system(opts.one_file_system)
        .threads(opts.threads);
    let gone = AtomicBool::new(false);
    builder.build_parallel().run(|| {
        let tx = tx.clone();
        let gone = &gone;
        Box::new(move |result| {
            let (entry, state) = visit(result, opts);
            if let Some(entry) = entry
                && tx.send(entry).is_err()
            {
                gone.store(true, Ordering::Relaxed);
                return WalkState::Quit;
            }
            state
        })
    });
    !gone.load(Ordering::Relaxed)
}

/// The entry (if any) for one thing the walker met, and whether to descend.
fn visit(
    result: Result<ignore::DirEntry, ignore::Error>,
    opts: &WalkOptions,
) -> (Option<Entry>, WalkState) {
    let dent = match result {
        Ok(dent) => dent,
        Err(err) => return (Some(error_entry(&err)), WalkState::Continue),
    };
    let walked = dent.depth() > 0;
    let Some(file_type) = dent.file_type() else {
        // Only the crate's standard-input entry has no file type, and no root is `-`.
        let kind = EntryKind::Error("no file type".into());
        return (
            Some(Entry::new(dent.into_path(), kind, walked)),
            WalkState::Continue,
        );
    };
    if file_type.is_dir() {
        if opts.one_file_system
            && walked
            && let Some(why) = other_file_system(dent.path())
        {
            let entry = Entry::new(dent.into_path(), EntryKind::Skipped(why), true);
            return (Some(entry), WalkState::Skip);
        }
        return (None, WalkState::Continue);
    }
    if !file_type.is_file() {
        let kind = EntryKind::Special(type_kind(file_type));
        return (
            Some(Entry::new(dent.into_path(), kind, walked)),
            WalkState::Continue,
        );
    }
    // A followed link to a file: open its target, record the link.
    if dent.path_is_symlink() {
        let entry = match std::fs::canonicalize(dent.path()) {
            Ok(target) => Entry {
                target: Some(target),
                ..Entry::new(dent.into_path(), EntryKind::File, walked)
            },
            Err(e) => Entry::new(dent.into_path(), EntryKind::Error(e.to_string()), walked),
        };
        return (Some(entry), WalkState::Continue);
    }
    (
        Some(Entry::new(dent.into_path(), EntryKind::File, walked)),
        WalkState::Continue,
    )
}

/// Why a directory met while walking is not descended with `one_file_system`: it is on another
/// device than the directory it was found in (which, being descended, is on the root's). The
/// `ignore` crate has already decided not to descend it by comparing with the root's device;
/// this says so in the record. `None` when on the same device, or when it cannot be told (the
/// crate then reported the `stat` error itself).
fn other_file_system(dir: &Path) -> Option<String> {
    let parent = dir.parent()?;
    let parent = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    let dev = std::fs::metadata(dir).ok()?.dev();
    let parent_dev = std::fs::metadata(parent).ok()?.dev();
    (dev != parent_dev).then(|| "directory on another file system (not descended)".to_owned())
}

/// The entry for an error the walker reported: the innermost path it names, and its message;
/// a symbolic link loop becomes a skip.
fn error_entry(err: &ignore::Error) -> Entry {
    let walked = err.depth().is_none_or(|d| d > 0);
    let (path, kind) = describe(err);
    Entry::new(path.unwrap_or_default(), kind, walked)
}

fn describe(err: &ignore::Error) -> (Option<PathBuf>, EntryKind) {
    use ignore::Error as E;
    match err {
        E::WithPath { path, err } => {
            let (inner, kind) = describe(err);
            (inner.or_else(|| Some(path.clone())), kind)
        }
        E::WithDepth { err, .. } | E::WithLineNumber { err, .. } => describe(err),
        E::Loop { ancestor, child } => (
            Some(child.clone()),
            EntryKind::Skipped(format!(
                "symbolic link loop (points to ancestor {})",
                ancestor.display()
            )),
        ),
        E::Io(e) => (None, EntryKind::Error(e.to_string())),
        E::Partial(errs) if errs.len() == 1 => describe(&errs[0]),
        other => (None, EntryKind::Error(other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn dropping_the_walk_early_stops_its_threads() {
        let dir = tempfile::tempdir().unwrap();
        // More entries than the channel holds, so the walker threads are blocked in `send`
        // when the consumer goes.
        for d in 0..3 {
            let sub = dir.path().join(format!("d{d}"));
            std::fs::create_dir(&sub).unwrap();
            for f in 0..CHANNEL_CAPACITY / 2 {
                std::fs::File::create(sub.join(f.to_string())).unwrap();
            }
        }
        let mut walk = walk_parallel(&[dir.path().into()], &WalkOptions::default());
        assert_eq!(walk.by_ref().take(10).count(), 10);
        // Let the walkers fill the channel and block.
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(walk.rx.len(), CHANNEL_CAPACITY, "the channel is bounded");
        let driver = walk.driver.take().unwrap();
        let t = Instant::now();
        drop(walk);
        assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
        // The driver thread returns once every walker thread has quit.
        while !driver.is_finished() {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "walker threads still running"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        driver.join().unwrap();
    }
}
