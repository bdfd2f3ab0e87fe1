//! Expanding command-line inputs into entries, lazily and in a deterministic order: files as
//! given, directories recursed (sorted by name, hidden entries included, links not followed),
//! and `-` as a list of paths on standard input (newline- or NUL-separated).
//!
//! This sequential walk is `vigil hash`'s (its output order is the input order). `vigil scan`
//! walks with [`super::walk_parallel`], which yields the same [`Entry`] type.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::BufRead;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use super::open::file_kind;

/// What an entry is, as far as the walk can tell without opening it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file (or a path given explicitly, checked when opened).
    File,
    /// Not a regular file: never opened; recorded as skipped.
    Special(&'static str),
    /// The walk could not look at it (missing, permission denied on a directory, a dangling
    /// link when links are followed …): recorded as failed, with this message.
    Error(String),
    /// Deliberately neither read nor descended, for the reason given: a symbolic link that
    /// points back to one of its own ancestor directories (only when links are followed), or
    /// a directory on another file system (only with `one_file_system`). Recorded as skipped
    /// with this reason. Only [`super::walk_parallel`] yields it; the path may be a directory.
    Skipped(String),
}

/// One input entry.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The path as given or as walked (never canonicalised).
    pub path: PathBuf,
    /// What it is.
    pub kind: EntryKind,
    /// Found by recursing into a directory (rather than named explicitly).
    pub walked: bool,
    /// For a [`EntryKind::File`] whose path is itself a symbolic link that was followed (named
    /// explicitly, or met while walking with `follow_symlinks`): the link's resolved target.
    /// Open [`Entry::open_path`], record [`Entry::path`]. `None` otherwise (links in the
    /// middle of `path` need no resolving: `O_NOFOLLOW` only refuses a link as the last
    /// component).
    pub target: Option<PathBuf>,
}

impl Entry {
    /// The path to open (with [`super::read_input`], which refuses links): the followed
    /// link's target when there is one, else `path`.
    pub fn open_path(&self) -> &Path {
        self.target.as_deref().unwrap_or(&self.path)
    }

    pub(super) fn new(path: PathBuf, kind: EntryKind, walked: bool) -> Self {
        Self {
            path,
            kind,
            walked,
            target: None,
        }
    }
}

enum Source {
    Path(PathBuf),
    Stdin { nul: bool },
}

/// A lazy iterator over the entries of a list of inputs.
pub struct Inputs {
    sources: VecDeque<Source>,
    walker: Option<walkdir::IntoIter>,
    stdin: Option<Box<dyn Iterator<Item = std::io::Result<Vec<u8>>>>>,
    /// The paths on stdin are NUL-separated (taken exactly: no `\r` stripped).
    stdin_nul: bool,
}

impl Inputs {
    /// Inputs from command-line arguments; `-` stands for the paths on standard input,
    /// separated by NUL when `nul` is set, else by newlines.
    pub fn new(args: &[OsString], nul: bool) -> Self {
        let sources = args
            .iter()
            .map(|a| {
                if a == "-" {
                    Source::Stdin { nul }
                } else {
                    Source::Path(PathBuf::from(a))
                }
            })
            .collect();
        Self {
            sources,
            walker: None,
            stdin: None,
            stdin_nul: false,
        }
    }
}

impl Iterator for Inputs {
    type Item = Entry;

    fn next(&mut self) -> Option<Entry> {
        loop {
            if let Some(w) = &mut self.walker {
                match w.next() {
                    Some(Ok(e)) => {
                        let t = e.file_type();
                        if t.is_dir() {
                            continue;
                        }
                        let kind = if t.is_file() {
                            EntryKind::File
                        } else {
                            match e.metadata() {
                                Ok(m) => EntryKind::Special(file_kind(&m)),
                                Err(err) => EntryKind::Error(err.to_string()),
                            }
                        };
                        return Some(Entry::new(e.into_path(), kind, true));
                    }
                    Some(Err(err)) => {
                        let path = err.path().map(PathBuf::from).unwrap_or_default();
                        let msg = err
                            .io_error()
                            .map(|e| e.to_string())
                            .unwrap_or_else(|| err.to_string());
                        return Some(Entry::new(path, EntryKind::Error(msg), true));
                    }
                    None => self.walker = None,
                }
            }
            if let Some(lines) = &mut self.stdin {
                match lines.next() {
                    Some(Ok(mut bytes)) => {
                        if !self.stdin_nul && bytes.last() == Some(&b'\r') {
                            bytes.pop();
                        }
                        if bytes.is_empty() {
                            continue;
                        }
                        match classify_given(PathBuf::from(OsString::from_vec(bytes))) {
                            Ok(entry) => return Some(entry),
                            Err(dir) => {
                                self.walker = Some(walker(dir));
                                continue;
                            }
                        }
                    }
                    Some(Err(e)) => {
                        self.stdin = None;
                        return Some(Entry::new(
                            PathBuf::from("-"),
                            EntryKind::Error(e.to_string()),
                            false,
                        ));
                    }
                    None => self.stdin = None,
                }
                continue;
            }
            match self.sources.pop_front()? {
                Source::Path(p) => match classify_given(p) {
                    Ok(entry) => return Some(entry),
                    Err(dir) => self.walker = Some(walker(dir)),
                },
                Source::Stdin { nul } => {
                    let sep = if nul { b'\0' } else { b'\n' };
                    let lock = std::io::BufReader::new(std::io::stdin());
                    self.stdin = Some(Box::new(lock.split(sep)));
                    self.stdin_nul = nul;
                }
            }
        }
    }
}

/// An input named explicitly (an argument or a line on stdin): its entry, or `Err(path)` when
/// it is a directory (or a link to one) to walk. A link named explicitly is followed (the user
/// asked for it): a link to a file is a `File` entry carrying its resolved `target`.
pub(super) fn classify_given(path: PathBuf) -> Result<Entry, PathBuf> {
    let given = |kind| Ok(Entry::new(path.clone(), kind, false));
    match std::fs::symlink_metadata(&path) {
        Err(e) => given(EntryKind::Error(e.to_string())),
        Ok(m) if m.is_dir() => Err(path),
        Ok(m) if m.file_type().is_symlink() => match std::fs::metadata(&path) {
            Ok(t) if t.is_dir() => Err(path),
            Ok(t) if t.is_file() => match std::fs::canonicalize(&path) {
                Ok(target) => Ok(Entry {
                    target: Some(target),
                    ..Entry::new(path, EntryKind::File, false)
                }),
                Err(e) => given(EntryKind::Error(e.to_string())),
            },
            Ok(t) => given(EntryKind::Special(file_kind(&t))),
            Err(e) => given(EntryKind::Error(e.to_string())),
        },
        Ok(m) if m.is_file() => given(EntryKind::File),
        Ok(m) => given(EntryKind::Special(file_kind(&m))),
    }
}

fn walker(dir: PathBuf) -> walkdir::IntoIter {
    walkdir::WalkDir::new(dir)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_sorted_with_hidden_files_and_special_entries() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("b"), b"").unwrap();
        std::fs::write(dir.path().join(".hidden"), b"").unwrap();
        std::fs::write(dir.path().join("sub/a"), b"").unwrap();
        std::os::unix::fs::symlink("b", dir.path().join("link")).unwrap();
        let got: Vec<_> = Inputs::new(&[dir.path().into()], false)
            .map(|e| (e.path.strip_prefix(dir.path()).unwrap().to_owned(), e.kind))
            .collect();
        let names: Vec<_> = got.iter().map(|(p, _)| p.to_str().unwrap()).collect();
        assert_eq!(names, [".hidden", "b", "link", "sub/a"]);
        assert_eq!(got[2].1, EntryKind::Special("symbolic link"));
    }

    #[test]
    fn missing_path_is_an_error_entry() {
        let got: Vec<_> = Inputs::new(&["/nonexistent/x".into()], false).collect();
        assert!(matches!(got[0].kind, EntryKind::Error(_)));
    }
}
