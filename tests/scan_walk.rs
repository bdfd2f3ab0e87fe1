//! `vigil::scan::walk_parallel`, the walk of `vigil scan`: nothing filtered, every
//! non-directory entry exactly once, links and mount points as `WalkOptions` say.

use std::collections::BTreeMap;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::time::Duration;

use vigil::scan::{Entry, EntryKind, Inputs, WalkOptions, read_input, walk_parallel};

const NOFOLLOW: WalkOptions = WalkOptions {
    follow_symlinks: false,
    one_file_system: false,
    threads: 0,
};
const FOLLOW: WalkOptions = WalkOptions {
    follow_symlinks: true,
    one_file_system: false,
    threads: 0,
};

/// Every entry of a walk, failing (rather than hanging the test run) if it does not end.
fn collect(paths: &[&Path], opts: &WalkOptions) -> Vec<Entry> {
    let paths: Vec<_> = paths.iter().map(|p| p.as_os_str().to_owned()).collect();
    let opts = opts.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(walk_parallel(&paths, &opts).collect::<Vec<_>>()));
    rx.recv_timeout(Duration::from_secs(60))
        .expect("the walk did not end within 60 s")
}

/// Entries by path relative to `root`; panics on a path met twice.
fn by_path(root: &Path, entries: Vec<Entry>) -> BTreeMap<String, Entry> {
    let mut map = BTreeMap::new();
    for e in entries {
        let rel = e
            .path
            .strip_prefix(root)
            .unwrap_or_else(|_| panic!("{} outside {}", e.path.display(), root.display()))
            .to_str()
            .unwrap()
            .to_owned();
        if let Some(old) = map.insert(rel.clone(), e) {
            panic!("{rel} met twice ({old:?})");
        }
    }
    map
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: `c` is a valid NUL-terminated path that outlives the call.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn hidden_entries_and_ignore_files_filter_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // A git work tree whose ignore files would drop everything but themselves.
    std::fs::create_dir(root.join(".git")).unwrap();
    write(&root.join(".git/config"), b"[core]\n");
    write(&root.join(".git/info/exclude"), b"excluded*\n");
    write(&root.join(".gitignore"), b"*.jpg\nignored/\n.hidden*\n");
    write(&root.join(".ignore"), b"secret*\n*.png\n");
    write(&root.join("sub/.ignore"), b"*\n");
    write(&root.join("sub/.gitignore"), b"*\n");
    for f in [
        "a.jpg",
        "b.png",
        "ignored/x.jpg",
        "secret.txt",
        "excluded.gif",
        ".hidden",
        ".hiddendir/f.jpg",
        ".hiddendir/.deeper/g",
        "sub/c.jpg",
        "sub/deeper/d.png",
    ] {
        write(&root.join(f), f.as_bytes());
    }
    let want = [
        ".git/config",
        ".git/info/exclude",
        ".gitignore",
        ".hidden",
        ".hiddendir/.deeper/g",
        ".hiddendir/f.jpg",
        ".ignore",
        "a.jpg",
        "b.png",
        "excluded.gif",
        "ignored/x.jpg",
        "secret.txt",
        "sub/.gitignore",
        "sub/.ignore",
        "sub/c.jpg",
        "sub/deeper/d.png",
    ];
    for opts in [NOFOLLOW, FOLLOW] {
        let got = by_path(root, collect(&[root], &opts));
        assert_eq!(got.keys().collect::<Vec<_>>(), want, "{opts:?}");
        for (p, e) in &got {
            assert_eq!(e.kind, EntryKind::File, "{p}");
            assert!(e.walked && e.target.is_none(), "{p}");
        }
    }
}

#[test]
fn fifos_and_sockets_are_special_and_not_opened() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    mkfifo(&root.join("pipe"));
    let _listener = std::os::unix::net::UnixListener::bind(root.join("sock")).unwrap();
    // Linked to, they stay special when links are followed (a FIFO opened for reading would
    // block this test forever).
    symlink("pipe", root.join("pipe-link")).unwrap();
    symlink("sock", root.join("sock-link")).unwrap();
    write(&root.join("f"), b"x");
    for opts in [NOFOLLOW, FOLLOW] {
        let got = by_path(root, collect(&[root], &opts));
        let kinds: Vec<_> = got
            .iter()
            .map(|(p, e)| (p.as_str(), e.kind.clone()))
            .collect();
        let link = |target| {
            if opts.follow_symlinks {
                EntryKind::Special(target)
            } else {
                EntryKind::Special("symbolic link")
            }
        };
        assert_eq!(
            kinds,
            [
                ("f", EntryKind::File),
                ("pipe", EntryKind::Special("fifo")),
                ("pipe-link", link("fifo")),
                ("sock", EntryKind::Special("socket")),
                ("sock-link", link("socket")),
            ],
            "{opts:?}"
        );
    }
    // Named explicitly too.
    let got = collect(&[&root.join("pipe")], &NOFOLLOW);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].kind, EntryKind::Special("fifo"));
    assert!(!got[0].walked);
}

/// A tree with every kind of link: to a file, to a directory outside the root, dangling, to
/// the root's parent, to an ancestor inside the tree, and a chain that loops on itself.
fn link_tree() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    write(&root.join("file"), b"target bytes");
    write(&root.join("sub/inner"), b"inner");
    write(&dir.path().join("outside/o"), b"outside");
    symlink("file", root.join("to-file")).unwrap();
    symlink("../outside", root.join("to-outside-dir")).unwrap();
    symlink("nowhere", root.join("dangling")).unwrap();
    symlink("..", root.join("to-parent")).unwrap();
    symlink("..", root.join("sub/up")).unwrap();
    symlink(".", root.join("sub/self")).unwrap();
    symlink("chain2", root.join("chain1")).unwrap();
    symlink("chain1", root.join("chain2")).unwrap();
    (dir, root)
}

#[test]
fn links_are_not_followed_by_default() {
    let (_dir, root) = link_tree();
    let got = by_path(&root, collect(&[&root], &NOFOLLOW));
    let kinds: Vec<_> = got
        .iter()
        .map(|(p, e)| (p.as_str(), e.kind.clone()))
        .collect();
    let link = EntryKind::Special("symbolic link");
    assert_eq!(
        kinds,
        [
            ("chain1", link.clone()),
            ("chain2", link.clone()),
            ("dangling", link.clone()),
            ("file", EntryKind::File),
            ("sub/inner", EntryKind::File),
            ("sub/self", link.clone()),
            ("sub/up", link.clone()),
            ("to-file", link.clone()),
            ("to-outside-dir", link.clone()),
            ("to-parent", link),
        ]
    );
}

#[test]
fn followed_links_are_resolved_loops_skipped_once_and_dangling_links_failed() {
    let (_dir, root) = link_tree();
    for threads in [1, 4] {
        let opts = WalkOptions { threads, ..FOLLOW };
        let got = by_path(&root, collect(&[&root], &opts));
        let keys: Vec<_> = got.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "chain1",
                "chain2",
                "dangling",
                "file",
                "sub/inner",
                "sub/self",
                "sub/up",
                "to-file",
                "to-outside-dir/o",
                "to-parent",
            ],
            "threads {threads}"
        );
        // The link to a file is a File at the link's path, opened through its target.
        let to_file = &got["to-file"];
        assert_eq!(to_file.kind, EntryKind::File);
        assert_eq!(
            to_file.target.as_deref(),
            Some(root.join("file").canonicalize().unwrap().as_path())
        );
        assert!(read_input(&to_file.path, |_| true).unwrap_err().is_skip());
        assert_eq!(
            read_input(to_file.open_path(), |_| true).unwrap().bytes,
            b"target bytes"
        );
        // Inside a followed directory link, no target is needed: only the last component
        // matters to O_NOFOLLOW.
        let o = &got["to-outside-dir/o"];
        assert_eq!((o.kind.clone(), o.target.clone()), (EntryKind::File, None));
        assert_eq!(
            read_input(o.open_path(), |_| true).unwrap().bytes,
            b"outside"
        );
        // Links to an ancestor (inside the tree, the directory itself, or above the root):
        // one skipped entry each, not descended.
        for (link, ancestor) in [
            ("sub/up", root.clone()),
            ("sub/self", root.join("sub")),
            ("to-parent", root.parent().unwrap().to_owned()),
        ] {
            let EntryKind::Skipped(why) = &got[link].kind else {
                panic!("{link}: {:?}", got[link]);
            };
            assert!(why.starts_with("symbolic link loop"), "{link}: {why}");
            let named = PathBuf::from(why.split("ancestor ").nth(1).unwrap().trim_end_matches(')'));
            assert_eq!(
                named.canonicalize().unwrap(),
                ancestor.canonicalize().unwrap(),
                "{link}: {why}"
            );
        }
        // Links that resolve to nothing fail, with the link's path.
        for link in ["dangling", "chain1", "chain2"] {
            assert!(
                matches!(&got[link].kind, EntryKind::Error(_)),
                "{link}: {:?}",
                got[link]
            );
        }
    }
}

#[test]
fn explicit_link_to_a_file_carries_its_target() {
    let (_dir, root) = link_tree();
    let link = root.join("to-file");
    for opts in [NOFOLLOW, FOLLOW] {
        let got = collect(&[&link], &opts);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].path, link);
        assert!(!got[0].walked);
        assert_eq!(got[0].kind, EntryKind::File);
        assert_eq!(
            read_input(got[0].open_path(), |_| true).unwrap().bytes,
            b"target bytes"
        );
    }
    // The sequential walk of `vigil hash` does the same.
    let seq: Vec<_> = Inputs::new(&[link.clone().into()], false).collect();
    assert_eq!(
        seq[0].open_path(),
        root.join("file").canonicalize().unwrap()
    );
}

#[test]
fn unreadable_directory_is_one_error_entry() {
    // Root reads a mode-000 directory, so as root the walk runs in a child process (this same
    // test, re-run) as user `nobody` (conventions.md: tests of unreadable files drop
    // privileges).
    const CHILD: &str = "VIGIL_SCAN_WALK_UNREADABLE";
    if let Some(root) = std::env::var_os(CHILD) {
        check_unreadable(Path::new(&root));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    write(&root.join("ok/f"), b"x");
    write(&root.join("locked/hidden-by-mode"), b"x");
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        std::fs::set_permissions(root.join("locked"), PermissionsExt::from_mode(0o000)).unwrap();
        check_unreadable(&root);
        std::fs::set_permissions(root.join("locked"), PermissionsExt::from_mode(0o755)).unwrap();
        return;
    }
    for d in [dir.path(), &root, &root.join("ok")] {
        std::fs::set_permissions(d, PermissionsExt::from_mode(0o755)).unwrap();
    }
    std::fs::set_permissions(root.join("locked"), PermissionsExt::from_mode(0o000)).unwrap();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "unreadable_directory_is_one_error_entry",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, &root)
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child as nobody: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

use std::os::unix::process::CommandExt;

fn check_unreadable(root: &Path) {
    // Make sure the privileges really are dropped (else this checks nothing).
    assert!(
        std::fs::read_dir(root.join("locked")).is_err(),
        "the locked directory is readable"
    );
    for opts in [NOFOLLOW, FOLLOW] {
        let got = by_path(root, collect(&[root], &opts));
        assert_eq!(got.keys().collect::<Vec<_>>(), ["locked", "ok/f"]);
        let EntryKind::Error(msg) = &got["locked"].kind else {
            panic!("{:?}", got["locked"]);
        };
        assert!(msg.contains("Permission denied"), "{msg}");
    }
}

#[test]
fn one_file_system_records_a_mount_crossing_once() {
    // /dev/shm is a tmpfs on Linux: a followed link into it crosses onto another device.
    let Ok(shm) = tempfile::tempdir_in("/dev/shm") else {
        eprintln!("no /dev/shm: skipped");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    use std::os::unix::fs::MetadataExt;
    let dev = |p: &Path| std::fs::metadata(p).unwrap().dev();
    if dev(shm.path()) == dev(root) {
        eprintln!("/dev/shm is on the temporary directory's file system: skipped");
        return;
    }
    write(&shm.path().join("deep/on-shm"), b"x");
    write(&root.join("here"), b"x");
    symlink(shm.path(), root.join("shm")).unwrap();

    let one_fs = WalkOptions {
        one_file_system: true,
        ..FOLLOW
    };
    let got = by_path(root, collect(&[root], &one_fs));
    assert_eq!(got.keys().collect::<Vec<_>>(), ["here", "shm"]);
    let EntryKind::Skipped(why) = &got["shm"].kind else {
        panic!("{:?}", got["shm"]);
    };
    assert!(why.contains("another file system"), "{why}");

    let got = by_path(root, collect(&[root], &FOLLOW));
    assert_eq!(got.keys().collect::<Vec<_>>(), ["here", "shm/deep/on-shm"]);

    // A root named explicitly is walked wherever it is.
    let got = by_path(shm.path(), collect(&[shm.path()], &one_fs));
    assert_eq!(got.keys().collect::<Vec<_>>(), ["deep/on-shm"]);
}

/// Every non-directory entry under `dir`, as `find ! -type d` lists it (links not followed).
fn find(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            find(&e.path(), out);
        } else {
            out.push(e.path());
        }
    }
}

#[test]
fn every_entry_of_a_deep_tree_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // 2,000 files in nested directories 10 deep (and wide), plus a few special entries.
    let mut n = 0;
    for top in 0..8 {
        let mut d = root.join(format!("t{top}"));
        for depth in 0..10 {
            d = d.join(format!("d{depth}"));
            for i in 0..25 {
                write(&d.join(format!("f{i}")), b"");
                n += 1;
            }
        }
    }
    assert_eq!(n, 2000);
    mkfifo(&root.join("t3/d0/pipe"));
    symlink("d0", root.join("t5/link")).unwrap();
    std::fs::create_dir(root.join("t6/empty")).unwrap();

    let mut want = Vec::new();
    find(root, &mut want);
    want.sort();
    assert_eq!(want.len(), 2002);
    for threads in [1, 2, 8] {
        let opts = WalkOptions {
            threads,
            ..NOFOLLOW
        };
        let mut got: Vec<_> = collect(&[root], &opts)
            .into_iter()
            .map(|e| e.path)
            .collect();
        got.sort();
        assert_eq!(got, want, "threads {threads}");
    }
    // The same set as the sequential walk, which lists it in order.
    let seq: Vec<_> = Inputs::new(&[root.into()], false).map(|e| e.path).collect();
    assert_eq!(seq, want);
    // Several roots, one inside another: each walked as given.
    let t0 = root.join("t0");
    let got = collect(&[&t0, &root.join("t1"), &root.join("t1/d0/f0")], &NOFOLLOW);
    assert_eq!(got.len(), 250 + 250 + 1);
    assert_eq!(got.iter().filter(|e| !e.walked).count(), 1);
}

#[test]
fn missing_root_is_one_error_entry() {
    let got = collect(&[Path::new("/nonexistent/vigil-walk")], &FOLLOW);
    assert_eq!(got.len(), 1);
    assert!(matches!(got[0].kind, EntryKind::Error(_)), "{:?}", got[0]);
    assert_eq!(got[0].path, Path::new("/nonexistent/vigil-walk"));
}
