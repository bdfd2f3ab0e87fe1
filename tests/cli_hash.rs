//! End-to-end tests of `vigil hash`: the built binary, run in temporary directories, with a
//! timeout guard so that a hang fails the test instead of blocking CI.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_vigil");
const AAA_PDQ: &str = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22";
const AAA_PHASH: &str = "aca29c1c33dc23d7";
const AAA_CLI512: &str = "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22";
const Q3_PDQ: &str = "54a9f7c321d1443c43ba566e21d4a13989a3553f1472611cbbc5fda59e03b677";
/// base64 of the bytes `caf\xe9.jpg`.
const CAFE_B64: &str = "Y2Fm6S5qcGc=";
const TIMEOUT: Duration = Duration::from_secs(60);

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel)
}

fn aaa() -> PathBuf {
    data("threatexchange/pdq/data/bridge-mods/aaa-orig.jpg")
}

fn q0003() -> PathBuf {
    data("threatexchange/pdq/data/reg-test-input/labelme-subset/q0003.jpg")
}

fn cafe_name() -> &'static OsStr {
    OsStr::from_bytes(b"caf\xe9.jpg")
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Run `cmd` with `stdin` (or /dev/null), killing it and panicking after [`TIMEOUT`].
fn run_with(mut cmd: Command, stdin: Option<&[u8]>) -> Out {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {cmd:?}: {e}"));
    if let Some(input) = stdin {
        let mut w = child.stdin.take().unwrap();
        let input = input.to_vec();
        std::thread::spawn(move || {
            let _ = w.write_all(&input);
        });
    }
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            buf
        })
    };
    let out_t = drain(Box::new(child.stdout.take().unwrap()));
    let err_t = drain(Box::new(child.stderr.take().unwrap()));
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {TIMEOUT:?} (hang)");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = String::from_utf8(out_t.join().unwrap()).expect("stdout is UTF-8");
    let stderr = String::from_utf8_lossy(&err_t.join().unwrap()).into_owned();
    let code = status.code().unwrap_or_else(|| {
        panic!(
            "{cmd:?} killed by signal {:?}; stderr:\n{stderr}",
            status.signal()
        )
    });
    Out {
        code,
        stdout,
        stderr,
    }
}

fn vigil_cmd(dir: &Path, args: &[&OsStr]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir).arg("hash").arg("-q").args(args);
    cmd
}

fn vigil(dir: &Path, args: &[&OsStr]) -> Out {
    run_with(vigil_cmd(dir, args), None)
}

fn os<S: AsRef<OsStr> + ?Sized>(s: &S) -> &OsStr {
    s.as_ref()
}

type Row = HashMap<String, String>;

fn csv_rows(text: &str) -> (Vec<String>, Vec<Row>) {
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = r.headers().unwrap().iter().map(str::to_owned).collect();
    let rows = r
        .records()
        .map(|rec| {
            let rec = rec.unwrap();
            header
                .iter()
                .cloned()
                .zip(rec.iter().map(str::to_owned))
                .collect()
        })
        .collect();
    (header, rows)
}

fn jsonl(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// The row for `path` (exactly one expected).
fn row<'a>(rows: &'a [Row], path: &str, algo: &str) -> &'a Row {
    let found: Vec<_> = rows
        .iter()
        .filter(|r| r["path"] == path && r["algo"] == algo)
        .collect();
    assert_eq!(found.len(), 1, "rows for {path} {algo}: {rows:#?}");
    found[0]
}

fn assert_error(rows: &[Row], path: &str, want: &str) {
    let r = row(rows, path, "pdq");
    assert_eq!(r["error"], want, "{path}: {r:?}");
    assert_eq!(r["hash"], "", "{path}: {r:?}");
}

fn assert_aaa(r: &Row) {
    assert_eq!(
        (
            r["hash"].as_str(),
            r["quality"].as_str(),
            r["width"].as_str(),
            r["height"].as_str(),
            r["error"].as_str()
        ),
        (AAA_PDQ, "100", "1600", "1004", ""),
        "{r:?}"
    );
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn copy(src: &Path, dir: &Path, name: impl AsRef<OsStr>) -> PathBuf {
    let to = dir.join(name.as_ref());
    std::fs::copy(src, &to).unwrap();
    to
}

#[test]
fn known_image_gives_the_reference_hashes() {
    let out = vigil(
        Path::new("."),
        &[os("--algo"), os("all"), aaa().as_os_str()],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let (header, rows) = csv_rows(&out.stdout);
    assert_eq!(
        header,
        [
            "path",
            "algo",
            "hash",
            "quality",
            "width",
            "height",
            "error",
            "path_bytes"
        ]
    );
    assert_eq!(rows.len(), 2);
    let p = aaa().to_str().unwrap().to_owned();
    assert_aaa(row(&rows, &p, "pdq"));
    let ph = row(&rows, &p, "phash");
    assert_eq!(
        (ph["hash"].as_str(), ph["quality"].as_str()),
        (AAA_PHASH, "")
    );
    assert_eq!(
        (rows[0]["algo"].as_str(), rows[1]["algo"].as_str()),
        ("pdq", "phash")
    );
}

#[test]
fn rows_follow_input_order_and_unordered_gives_the_same_set() {
    let dir = tempdir();
    let d = dir.path();
    // Names deliberately out of sort order, mixing slow (1600×1004) and fast inputs.
    let names = [
        "m.jpg",
        "b.jpg",
        "z.jpg",
        "a.jpg",
        "empty.jpg",
        "c.jpg",
        "k.jpg",
        "e.jpg",
    ];
    for (i, n) in names.iter().enumerate() {
        if *n == "empty.jpg" {
            std::fs::write(d.join(n), b"").unwrap();
        } else {
            copy(&if i % 2 == 0 { aaa() } else { q0003() }, d, n);
        }
    }
    let mut base: Vec<&OsStr> = vec![os("--algo"), os("all")];
    base.extend(names.iter().map(os));
    let expect: Vec<(String, String)> = names
        .iter()
        .flat_map(|n| {
            [
                (n.to_string(), "pdq".into()),
                (n.to_string(), "phash".into()),
            ]
        })
        .collect();
    let mut ordered = None;
    for jobs in [None, Some("1"), Some("2")] {
        let mut args = base.clone();
        if let Some(j) = jobs {
            args.extend([os("--jobs"), os(j)]);
        }
        let out = vigil(d, &args);
        assert_eq!(out.code, 2, "empty.jpg fails: {}", out.stderr);
        let (_, rows) = csv_rows(&out.stdout);
        let got: Vec<_> = rows
            .iter()
            .map(|r| (r["path"].clone(), r["algo"].clone()))
            .collect();
        assert_eq!(got, expect, "--jobs {jobs:?}");
        assert_aaa(row(&rows, "m.jpg", "pdq"));
        assert_eq!(row(&rows, "b.jpg", "pdq")["hash"], Q3_PDQ);
        assert_error(&rows, "empty.jpg", "failed: empty file");
        if let Some(prev) = &ordered {
            assert_eq!(&rows, prev, "--jobs {jobs:?} changes the records");
        }
        ordered = Some(rows);
    }
    let mut args = base.clone();
    args.extend([os("--unordered"), os("--jobs"), os("2")]);
    let out = vigil(d, &args);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let (_, mut rows) = csv_rows(&out.stdout);
    let key = |r: &Row| (r["path"].clone(), r["algo"].clone());
    rows.sort_by_key(key);
    let mut want = ordered.unwrap();
    want.sort_by_key(key);
    assert_eq!(rows, want);
}

/// Deterministic junk (xorshift), so the corrupt-file reason is reproducible.
fn junk(n: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}

#[test]
fn hostile_files_give_records_with_reasons() {
    let dir = tempdir();
    let d = dir.path();
    let orig = std::fs::read(aaa()).unwrap();
    std::fs::write(d.join("zero.jpg"), b"").unwrap();
    std::fs::write(d.join("trunc.jpg"), &orig[..5000]).unwrap();
    let mut corrupt = orig[..20].to_vec();
    corrupt.extend(junk(4000));
    std::fs::write(d.join("corrupt.jpg"), corrupt).unwrap();
    std::fs::write(d.join("notes.txt"), b"hello, not an image\n").unwrap();
    let out = vigil(
        d,
        &[
            os("zero.jpg"),
            os("trunc.jpg"),
            os("corrupt.jpg"),
            os("notes.txt"),
        ],
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    let (_, rows) = csv_rows(&out.stdout);
    assert_eq!(rows.len(), 4, "{rows:#?}");
    assert_error(&rows, "zero.jpg", "failed: empty file");
    assert_error(&rows, "trunc.jpg", "failed: image file is truncated");
    let c = &row(&rows, "corrupt.jpg", "pdq")["error"];
    assert!(c.starts_with("failed: corrupt image: "), "{c}");
    assert_error(&rows, "notes.txt", "failed: not a recognised image format");
    assert!(!out.stderr.contains("panick"), "{}", out.stderr);

    // The same text file met while recursing a directory is skipped, and the run succeeds.
    let sub = d.join("walk");
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(sub.join("notes.txt"), b"hello, not an image\n").unwrap();
    copy(&aaa(), &sub, "img.jpg");
    let out = vigil(d, &[os("walk")]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let (_, rows) = csv_rows(&out.stdout);
    assert_eq!(rows.len(), 2, "{rows:#?}");
    assert_error(&rows, "walk/notes.txt", "skipped: not an image");
    assert_aaa(row(&rows, "walk/img.jpg", "pdq"));
}

#[test]
fn non_utf8_name_is_carried_in_path_bytes() {
    let dir = tempdir();
    copy(&aaa(), dir.path(), cafe_name());
    let lossy = "caf\u{fffd}.jpg";
    let out = vigil(dir.path(), &[cafe_name()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let (_, rows) = csv_rows(&out.stdout);
    let r = row(&rows, lossy, "pdq");
    assert_aaa(r);
    assert_eq!(r["path_bytes"], CAFE_B64);

    let out = vigil(dir.path(), &[os("--format"), os("jsonl"), cafe_name()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v = jsonl(&out.stdout);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0]["schema"], 1);
    assert_eq!(v[0]["path"], lossy);
    assert_eq!(v[0]["path_bytes"], CAFE_B64);
    assert_eq!(v[0]["status"], "hashed");
    assert_eq!(v[0]["hash"], AAA_PDQ);
    assert_eq!(v[0]["error"], serde_json::Value::Null);

    // A UTF-8 name has no path_bytes at all in JSONL and an empty column in CSV.
    copy(&aaa(), dir.path(), "plain.jpg");
    let out = vigil(dir.path(), &[os("--format"), os("jsonl"), os("plain.jpg")]);
    assert!(jsonl(&out.stdout)[0].get("path_bytes").is_none());
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], body: &[u8]) {
    out.extend((body.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend(kind);
    out.extend(body);
    let crc = crc32(&out[start..]);
    out.extend(crc.to_be_bytes());
}

/// A PNG whose IHDR (valid CRC) claims 20000×10000 RGB8, with a tiny IDAT.
fn huge_png() -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend(20000u32.to_be_bytes());
    ihdr.extend(10000u32.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]);
    png_chunk(&mut v, b"IHDR", &ihdr);
    // zlib stream of a few zero bytes (stored block).
    png_chunk(
        &mut v,
        b"IDAT",
        &[
            0x78, 0x01, 0x01, 0x04, 0x00, 0xfb, 0xff, 0, 0, 0, 0, 0, 0x04, 0, 0x01,
        ],
    );
    png_chunk(&mut v, b"IEND", b"");
    v
}

/// A small real baseline JPEG with its SOF0 patched to claim 20000×10000.
fn huge_jpeg() -> Vec<u8> {
    let mut v = std::fs::read(data("decode/jpeg-420.jpg")).unwrap();
    let i = v
        .windows(2)
        .position(|w| w == [0xff, 0xc0])
        .expect("SOF0 marker");
    // FFC0, length (2), precision (1), height (2), width (2).
    v[i + 5..i + 7].copy_from_slice(&10000u16.to_be_bytes());
    v[i + 7..i + 9].copy_from_slice(&20000u16.to_be_bytes());
    v
}

/// Hash huge.jpg, huge.png (20000×10000 headers over a few hundred bytes) and a real image
/// with 400 MB of address space: the RGB buffer alone of 20000×10000 would take 600 MB, so any
/// full-size allocation aborts the process (a signal, which run_with turns into a panic), while
/// the binary and a normal 1600×1004 image fit easily.
fn huge_run(extra: &[&str]) -> Vec<std::collections::HashMap<String, String>> {
    let dir = tempdir();
    let d = dir.path();
    std::fs::write(d.join("huge.png"), huge_png()).unwrap();
    std::fs::write(d.join("huge.jpg"), huge_jpeg()).unwrap();
    copy(&aaa(), d, "real.jpg");
    let mut args = vec![os("--jobs"), os("1")];
    args.extend(extra.iter().copied().map(os));
    args.extend([os("huge.jpg"), os("huge.png"), os("real.jpg")]);
    let mut cmd = vigil_cmd(d, &args);
    // SAFETY: the closure runs in the forked child before exec and only calls setrlimit,
    // which is async-signal-safe; it touches no memory shared with the parent.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 400_000_000,
                rlim_max: 400_000_000,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = run_with(cmd, None);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let (_, rows) = csv_rows(&out.stdout);
    assert_eq!(rows.len(), 3, "{rows:#?}");
    assert_aaa(row(&rows, "real.jpg", "pdq"));
    rows
}

#[test]
fn huge_headers_over_max_pixels_are_refused_from_the_header() {
    let rows = huge_run(&["--max-pixels", "100000000"]);
    let too_large = "failed: image of 20000x10000 exceeds the limit of 100000000 pixels";
    assert_error(&rows, "huge.jpg", too_large);
    assert_error(&rows, "huge.png", too_large);
}

#[test]
fn a_200_megapixel_header_with_tiny_data_is_refused_without_a_large_allocation() {
    // 20000×10000 is exactly the default --max-pixels (200 MP), so the header check lets it
    // through; the data check must refuse it before the 600 MB buffer is allocated.
    let rows = huge_run(&[]);
    assert_error(&rows, "huge.jpg", "failed: image file is truncated");
    assert_error(&rows, "huge.png", "failed: image file is truncated");
}

fn mkfifo(p: &Path) {
    let c = std::ffi::CString::new(p.as_os_str().as_bytes()).unwrap();
    // SAFETY: `c` is a valid NUL-terminated path that outlives the call.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0, "mkfifo");
}

#[test]
fn special_files_in_a_directory_are_skipped_without_hanging() {
    let dir = tempdir();
    let d = dir.path();
    let tree = d.join("tree");
    std::fs::create_dir(&tree).unwrap();
    copy(&aaa(), &tree, "img.jpg");
    mkfifo(&tree.join("fifo"));
    let _sock = std::os::unix::net::UnixListener::bind(tree.join("sock")).unwrap();
    std::os::unix::fs::symlink("img.jpg", tree.join("link.jpg")).unwrap();
    let out = vigil(d, &[os("tree")]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let (_, rows) = csv_rows(&out.stdout);
    let paths: Vec<_> = rows.iter().map(|r| r["path"].as_str()).collect();
    assert_eq!(
        paths,
        ["tree/fifo", "tree/img.jpg", "tree/link.jpg", "tree/sock"]
    );
    assert_error(&rows, "tree/fifo", "skipped: not a regular file (fifo)");
    assert_error(&rows, "tree/sock", "skipped: not a regular file (socket)");
    assert_error(
        &rows,
        "tree/link.jpg",
        "skipped: not a regular file (symbolic link)",
    );
    assert_aaa(row(&rows, "tree/img.jpg", "pdq"));

    // Named explicitly: a FIFO is skipped (never opened for reading, so no hang), a link is
    // followed to its target.
    let out = vigil(d, &[os("tree/fifo"), os("tree/link.jpg")]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let (_, rows) = csv_rows(&out.stdout);
    assert_eq!(rows.len(), 2, "{rows:#?}");
    assert_error(&rows, "tree/fifo", "skipped: not a regular file (fifo)");
    assert_aaa(row(&rows, "tree/link.jpg", "pdq"));
}

#[test]
fn dev_null_is_skipped_as_a_character_device() {
    let out = vigil(Path::new("/"), &[os("/dev/null")]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let (_, rows) = csv_rows(&out.stdout);
    assert_eq!(rows.len(), 1);
    assert_error(
        &rows,
        "/dev/null",
        "skipped: not a regular file (character device)",
    );
}

fn on_path(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(tool))
            .find(|c| c.is_file())
    })
}

#[test]
fn unreadable_file_fails_with_permission_denied() {
    let dir = tempdir();
    let d = dir.path();
    std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    let f = copy(&aaa(), d, "secret.jpg");
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o000)).unwrap();
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let vigil_args = ["hash", "-q", "secret.jpg"];
    let mut cmd = if !root {
        eprintln!("unreadable-file test: not root, running vigil directly");
        Command::new(BIN)
    } else if let Some(setpriv) = on_path("setpriv") {
        eprintln!("unreadable-file test: dropping privileges with {setpriv:?}");
        let mut c = Command::new(setpriv);
        c.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
            BIN,
        ]);
        c
    } else if let Some(runuser) = on_path("runuser") {
        eprintln!("unreadable-file test: dropping privileges with {runuser:?}");
        let mut c = Command::new(runuser);
        c.args(["-u", "nobody", "--", BIN]);
        c
    } else {
        panic!(
            "running as root with neither setpriv nor runuser on PATH: cannot test an \
             unreadable file (install util-linux)"
        );
    };
    cmd.current_dir(d).args(vigil_args);
    let out = run_with(cmd, None);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let (_, rows) = csv_rows(&out.stdout);
    assert_eq!(rows.len(), 1);
    let r = row(&rows, "secret.jpg", "pdq");
    assert!(r["error"].starts_with("failed: Permission denied"), "{r:?}");
}

#[test]
fn te_format_keeps_quality_50_and_up_and_refuses_phash() {
    let out = vigil(
        Path::new("."),
        &[
            os("--format"),
            os("te"),
            q0003().as_os_str(),
            aaa().as_os_str(),
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, format!("pdq {AAA_PDQ}\n"));
    assert!(
        out.stderr
            .contains("left out 1 PDQ hash(es) with quality < 50"),
        "{}",
        out.stderr
    );

    let out = vigil(
        Path::new("."),
        &[
            os("--format"),
            os("te"),
            os("--algo"),
            os("phash"),
            aaa().as_os_str(),
        ],
    );
    assert_eq!(out.code, 64, "{}", out.stderr);
    assert_eq!(out.stdout, "");
    assert!(out.stderr.contains("--format te"), "{}", out.stderr);
}

#[test]
fn paths_from_stdin_newline_and_nul_separated() {
    let dir = tempdir();
    let d = dir.path();
    copy(&aaa(), d, "a.jpg");
    copy(&q0003(), d, "b.jpg");
    copy(&aaa(), d, cafe_name());
    // A name ending in CR: kept exactly with -0 (only newline-separated input drops a CR).
    copy(&aaa(), d, "cr.jpg\r");

    let out = run_with(
        vigil_cmd(d, &[os("-")]),
        Some(b"b.jpg\na.jpg\r\n\nmissing.jpg\n"),
    );
    assert_eq!(out.code, 2, "missing.jpg fails: {}", out.stderr);
    let (_, rows) = csv_rows(&out.stdout);
    let paths: Vec<_> = rows.iter().map(|r| r["path"].as_str()).collect();
    assert_eq!(paths, ["b.jpg", "a.jpg", "missing.jpg"]);
    assert_eq!(row(&rows, "b.jpg", "pdq")["hash"], Q3_PDQ);
    assert_aaa(row(&rows, "a.jpg", "pdq"));
    assert_error(
        &rows,
        "missing.jpg",
        "failed: No such file or directory (os error 2)",
    );

    let mut input = b"a.jpg\0caf\xe9.jpg\0cr.jpg\r\0".to_vec();
    input.extend(b"b.jpg");
    let out = run_with(vigil_cmd(d, &[os("-0"), os("-")]), Some(&input));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let (_, rows) = csv_rows(&out.stdout);
    let paths: Vec<_> = rows.iter().map(|r| r["path"].as_str()).collect();
    assert_eq!(paths, ["a.jpg", "caf\u{fffd}.jpg", "cr.jpg\r", "b.jpg"]);
    assert_eq!(rows[1]["path_bytes"], CAFE_B64);
    assert_aaa(&rows[1]);
    assert_aaa(&rows[2]);
    assert_eq!(rows[3]["hash"], Q3_PDQ);
}

#[test]
fn dihedral_columns_and_object() {
    let out = vigil(Path::new("."), &[os("--dihedral"), aaa().as_os_str()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let (header, rows) = csv_rows(&out.stdout);
    let names = [
        "orig",
        "rot90",
        "rot180",
        "rot270",
        "flipx",
        "flipy",
        "flipplus1",
        "flipminus1",
    ];
    let dih: Vec<String> = names.iter().map(|n| format!("dih_{n}")).collect();
    assert_eq!(header[8..], dih[..]);
    assert_eq!(header.len(), 16);
    assert_eq!(rows.len(), 1);
    assert_aaa(&rows[0]);
    assert_eq!(rows[0]["dih_orig"], AAA_PDQ);
    let distinct: std::collections::HashSet<_> = dih.iter().map(|c| &rows[0][c]).collect();
    assert_eq!(distinct.len(), 8, "{:?}", rows[0]);
    assert!(distinct.iter().all(|h| h.len() == 64));

    let out = vigil(
        Path::new("."),
        &[
            os("--dihedral"),
            os("--format"),
            os("jsonl"),
            aaa().as_os_str(),
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v = jsonl(&out.stdout);
    let obj = v[0]["dihedral"].as_object().expect("dihedral object");
    let keys: Vec<_> = obj.keys().map(String::as_str).collect();
    assert_eq!(keys, names);
    assert_eq!(obj["orig"], AAA_PDQ);
    for (n, c) in names.iter().zip(&dih) {
        assert_eq!(obj[*n], rows[0][c].as_str(), "{n}");
    }
}

#[test]
fn bad_arguments_exit_64() {
    for args in [
        &["--bogus", "x.jpg"][..],
        &["--algo", "nope", "x.jpg"],
        &["--format", "xml", "x.jpg"],
        &["--max-memory", "12Q", "x.jpg"],
        &["--dihedral", "--algo", "phash", "x.jpg"],
    ] {
        let args: Vec<&OsStr> = args.iter().map(os).collect();
        let out = vigil(Path::new("."), &args);
        assert_eq!(out.code, 64, "{args:?}: {}", out.stderr);
        assert_eq!(out.stdout, "", "{args:?}");
        assert!(!out.stderr.trim().is_empty(), "{args:?}");
    }
}

#[test]
fn cli512_compat() {
    let c_png = data("threatexchange/pdq/data/misc-images/c.png");
    let out = vigil(
        Path::new("."),
        &[os("--compat"), os("cli512"), c_png.as_os_str()],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let (_, rows) = csv_rows(&out.stdout);
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert!(r["error"].starts_with("skipped: n/a: "), "{r:?}");
    assert_eq!(r["hash"], "");

    // libpng's tRNS-to-alpha gives the upstream tool 2 or 4 channels, which it refuses; the
    // same palette and grey images without tRNS are hashed.
    let files = [
        "decode/png-pal8-trns.png",
        "decode/png-grey8-trns.png",
        "decode/png-pal8.png",
        "decode/png-grey8.png",
    ]
    .map(data);
    let mut args = vec![os("--compat"), os("cli512")];
    args.extend(files.iter().map(|f| f.as_os_str()));
    let out = vigil(Path::new("."), &args);
    let (_, rows) = csv_rows(&out.stdout);
    let errors: Vec<_> = rows
        .iter()
        .map(|r| r["error"].starts_with("skipped: n/a"))
        .collect();
    assert_eq!(errors, [true, true, false, false], "{rows:#?}");

    let out = vigil(
        Path::new("."),
        &[
            os("--compat"),
            os("cli512"),
            os("--format"),
            os("jsonl"),
            aaa().as_os_str(),
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v = jsonl(&out.stdout);
    assert_eq!(v[0]["hash"], AAA_CLI512);
    assert_eq!(v[0]["status"], "hashed");
    assert_eq!(v[0]["policy"], "cli512/1");
}

#[test]
fn an_image_past_the_time_limit_fails_without_holding_up_the_run() {
    let dir = tempdir();
    let d = dir.path();
    copy(&aaa(), d, "a.jpg");
    copy(&aaa(), d, "slow.jpg");
    copy(&aaa(), d, "z.jpg");
    // The debug-build seam makes slow.jpg take 20 s; the limit is 1 s.
    let mut cmd = vigil_cmd(
        d,
        &[os("--timeout"), os("1"), os("--jobs"), os("2"), os(".")],
    );
    cmd.env("VIGIL_TEST_DELAY", "slow.jpg:20000");
    let start = std::time::Instant::now();
    let out = run_with(cmd, None);
    let took = start.elapsed();
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        took.as_secs() < 15,
        "the run waited for the stuck image: {took:?}"
    );
    let (_, rows) = csv_rows(&out.stdout);
    let paths: Vec<_> = rows.iter().map(|r| r["path"].as_str()).collect();
    assert_eq!(paths, ["./a.jpg", "./slow.jpg", "./z.jpg"]);
    assert_error(
        &rows,
        "./slow.jpg",
        "failed: timed out after 1 s (decoder abandoned)",
    );
    assert_aaa(row(&rows, "./a.jpg", "pdq"));
    assert_aaa(row(&rows, "./z.jpg", "pdq"));
}
