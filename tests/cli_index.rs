//! End to end: `vigil index build|add|remove|replace|info|verify` and `vigil match` (exit
//! codes 0/1/2/3 and 64, dihedral variants, removal, strict import, radius rules).

use std::path::Path;
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_vigil");
const AAA: &str = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22";
/// aaa-orig.jpg's rot90 dihedral hash (`vigil hash --dihedral`, column dih_rot90).
const AAA_ROT90: &str = "30a10efd71c83f429013d48d0ffffc52e34e0e17ada952a9d29685211ea9e5af";
const OTHER: &str = "54a9f7c321d1443c43ba566e21d4a13989a3553f1472611cbbc5fda59e03b677";

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn vigil(dir: &Path, args: &[&str], stdin: Option<&str>) -> Out {
    use std::io::Write;
    let mut c = Command::new(BIN);
    c.current_dir(dir)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = c.spawn().unwrap();
    if let Some(s) = stdin {
        // vigil may exit (a fatal error) before reading stdin: a broken pipe is not a failure.
        let _ = child.stdin.take().unwrap().write_all(s.as_bytes());
    }
    let o = child.wait_with_output().unwrap();
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn aaa_jpg() -> String {
    format!(
        "{}/tests/data/threatexchange/pdq/data/bridge-mods/aaa-orig.jpg",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn build_match_remove_replace_verify() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    std::fs::write(
        dir.join("known.txt"),
        format!("{AAA_ROT90},src-1:cat-a\n{OTHER}\n"),
    )
    .unwrap();
    let o = vigil(
        dir,
        &[
            "index",
            "build",
            "--out",
            "k.vidx",
            "--list",
            "known=known.txt",
        ],
        None,
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    let info = vigil(dir, &["index", "info", "k.vidx"], None);
    assert_eq!(info.code, 0);
    assert!(info.stdout.contains("known\tpdq\t31\t"), "{}", info.stdout);
    assert!(info.stdout.contains("\t2\t0\t1\t50\t"), "{}", info.stdout);
    assert_eq!(vigil(dir, &["index", "verify", "k.vidx"], None).code, 0);

    // The image's hash with its dihedral variants: the rot90 variant matches entry 0 exactly.
    let h = vigil(
        dir,
        &["hash", "--dihedral", "--backend", "cpu", &aaa_jpg()],
        None,
    );
    assert_eq!(h.code, 0, "{}", h.stderr);
    assert!(h.stdout.contains(AAA_ROT90));
    std::fs::write(dir.join("q.csv"), &h.stdout).unwrap();
    let m = vigil(
        dir,
        &["match", "--index", "k.vidx", "--dihedral", "q.csv"],
        None,
    );
    assert_eq!(m.code, 0, "{}", m.stderr);
    let lines: Vec<&str> = m.stdout.lines().collect();
    assert_eq!(
        lines[0],
        "query,query_path,algo,list,id,label,hash,distance,variant"
    );
    assert!(lines[1].starts_with(&format!("{AAA},")), "{}", lines[1]);
    assert!(
        lines[1].ends_with(&format!(",pdq,known,0,src-1:cat-a,{AAA_ROT90},0,rot90")),
        "{}",
        lines[1]
    );
    assert_eq!(lines.len(), 2);
    // Without --dihedral the plain hash is far from both entries: exit 1, header only.
    let m = vigil(dir, &["match", "--index", "k.vidx", "q.csv"], None);
    assert_eq!((m.code, m.stdout.lines().count()), (1, 1), "{}", m.stderr);
    // JSONL, same keys.
    let m = vigil(
        dir,
        &["match", "--index", "k.vidx", "--format", "jsonl"],
        Some(&format!("{AAA_ROT90}\n")),
    );
    assert_eq!(m.code, 0);
    let v: serde_json::Value = serde_json::from_str(m.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(v["id"], 0);
    assert_eq!(v["distance"], 0);
    assert_eq!(v["list"], "known");
    // A malformed query line: failures; with a match too: 3.
    let m = vigil(dir, &["match", "--index", "k.vidx"], Some("xyz\n"));
    assert_eq!(m.code, 2);
    assert!(m.stderr.contains("line 1"), "{}", m.stderr);
    let m = vigil(
        dir,
        &["match", "--index", "k.vidx"],
        Some(&format!("{AAA_ROT90}\nxyz\n")),
    );
    assert_eq!(m.code, 3);
    // Quality gate: a query below 50 is not matched.
    let m = vigil(
        dir,
        &["match", "--index", "k.vidx"],
        Some(&format!("{AAA_ROT90},20,x.jpg\n")),
    );
    assert_eq!(m.code, 1, "{}", m.stderr);
    assert!(m.stderr.contains("1 below quality 50"), "{}", m.stderr);

    // Remove by hash: it never matches again, at any radius the list allows.
    std::fs::write(dir.join("gone.txt"), format!("{AAA_ROT90}\n")).unwrap();
    assert_eq!(
        vigil(
            dir,
            &["index", "remove", "k.vidx", "--list", "known", "gone.txt"],
            None
        )
        .code,
        0
    );
    let m = vigil(
        dir,
        &["match", "--index", "k.vidx", "--dihedral", "q.csv"],
        None,
    );
    assert_eq!(m.code, 1, "{}", m.stdout);
    let m = vigil(
        dir,
        &["match", "--index", "k.vidx", "--backend", "scan"],
        Some(&format!("{AAA_ROT90}\n")),
    );
    assert_eq!(m.code, 1);
    // Add, then replace with a new version.
    std::fs::write(dir.join("more.txt"), format!("{AAA}\n")).unwrap();
    assert_eq!(
        vigil(
            dir,
            &["index", "add", "k.vidx", "--list", "known", "more.txt"],
            None
        )
        .code,
        0
    );
    let m = vigil(
        dir,
        &["match", "--index", "k.vidx"],
        Some(&format!("{AAA}\n")),
    );
    assert!(
        m.stdout.contains(&format!(",known,2,,{AAA},0,")),
        "{}",
        m.stdout
    );
    let o = vigil(
        dir,
        &[
            "index",
            "replace",
            "k.vidx",
            "--list",
            "known",
            "--list-version",
            "v9",
            "known.txt",
        ],
        None,
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    let info = vigil(dir, &["index", "info", "--json", "k.vidx"], None);
    let v: serde_json::Value = serde_json::from_str(&info.stdout).unwrap();
    assert_eq!(v["lists"][0]["version"], "v9");
    assert_eq!(v["lists"][0]["entries"], 2);
    assert_eq!(vigil(dir, &["index", "verify", "k.vidx"], None).code, 0);

    // Damage: verify and match fail with one line and a code >= 64.
    let mut bytes = std::fs::read(dir.join("k.vidx")).unwrap();
    bytes[100] ^= 1;
    std::fs::write(dir.join("bad.vidx"), &bytes).unwrap();
    let o = vigil(dir, &["index", "verify", "bad.vidx"], None);
    assert!(o.code >= 64, "{}", o.code);
    assert_eq!(o.stderr.lines().count(), 1, "{}", o.stderr);
    assert!(vigil(dir, &["match", "--index", "bad.vidx"], Some("")).code >= 64);
}

#[test]
fn lists_on_the_fly_radius_rules_and_strict_import() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    std::fs::write(dir.join("p.txt"), "aca29c1c33dc23d7\nzz\n").unwrap();
    // Lenient: the bad line is reported by number, not by content.
    let m = vigil(
        dir,
        &["match", "--list", "p.txt"],
        Some("aca29c1c33dc23d6\n"),
    );
    assert_eq!(m.code, 0, "{}", m.stderr);
    assert!(
        m.stderr.contains("p.txt: line 2: hash is not hexadecimal"),
        "{}",
        m.stderr
    );
    assert!(
        !m.stderr.contains("aca29c1c33dc23d7"),
        "list contents in a log: {}",
        m.stderr
    );
    // Strict: fatal, with the line number.
    let m = vigil(
        dir,
        &["match", "--strict", "--list", "p.txt"],
        Some("aca29c1c33dc23d6\n"),
    );
    assert!(m.code >= 64);
    assert!(m.stderr.contains("line 2"), "{}", m.stderr);
    // pHash radius above 16 is refused unless allowed; a list's own radius beats --radius.
    let m = vigil(dir, &["match", "--list", "p.txt:20"], Some(""));
    assert!(m.code >= 64, "{}", m.stderr);
    let m = vigil(
        dir,
        &["match", "--allow-wide-radius", "--list", "p.txt:20"],
        Some(""),
    );
    assert_eq!(m.code, 1, "{}", m.stderr);
    let far = "aca29c1c33dc23d8"; // 4 bits from the list entry
    let m = vigil(
        dir,
        &["match", "--radius", "phash=3", "--list", "p.txt"],
        Some(&format!("{far}\n")),
    );
    assert_eq!(m.code, 1);
    let m = vigil(
        dir,
        &["match", "--radius", "phash=3", "--list", "p.txt:4"],
        Some(&format!("{far}\n")),
    );
    assert_eq!(m.code, 0, "{}", m.stderr);
    assert!(m.stdout.contains(",4,"), "{}", m.stdout);
}

/// `vigil match` prints the same records through every search path, the GPU scan included
/// (on lavapipe in CI; without an adapter `--backend gpu` must fail with 64, and the GPU
/// comparison is required when `VIGIL_GPU_TESTS=require`), removed entries included.
#[test]
fn match_backends_print_the_same_records() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut hex = |flip_from: Option<&str>, flips: usize| -> String {
        let mut bytes = [0u8; 32];
        match flip_from {
            Some(h) => {
                for (i, b) in bytes.iter_mut().enumerate() {
                    *b = u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap();
                }
                for _ in 0..flips {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let bit = (x % 256) as usize;
                    bytes[bit / 8] ^= 1 << (bit % 8);
                }
            }
            None => {
                for b in &mut bytes {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    *b = x as u8;
                }
            }
        }
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    };
    let list: Vec<String> = (0..400).map(|_| hex(None, 0)).collect();
    let queries: Vec<String> = (0..60)
        .map(|i| {
            if i % 2 == 0 {
                hex(Some(&list[i * 5].clone()), i % 40)
            } else {
                hex(None, 0)
            }
        })
        .collect();
    std::fs::write(dir.join("list.txt"), list.join("\n") + "\n").unwrap();
    std::fs::write(dir.join("q.txt"), queries.join("\n") + "\n").unwrap();
    std::fs::write(dir.join("gone.txt"), format!("{}\n", list[10])).unwrap();
    let build = vigil(
        dir,
        &[
            "index",
            "build",
            "--out",
            "k.vidx",
            "--list",
            "known=list.txt",
        ],
        None,
    );
    assert_eq!(build.code, 0, "{}", build.stderr);
    let rm = vigil(
        dir,
        &["index", "remove", "k.vidx", "--list", "known", "gone.txt"],
        None,
    );
    assert_eq!(rm.code, 0, "{}", rm.stderr);
    let run = |backend: &str| {
        vigil(
            dir,
            &["match", "--index", "k.vidx", "--backend", backend, "q.txt"],
            None,
        )
    };
    let scan = run("scan");
    assert_eq!(scan.code, 0, "{}", scan.stderr);
    assert!(scan.stdout.lines().count() > 10, "{}", scan.stdout);
    assert!(!scan.stdout.contains(&list[10]), "a removed entry matched");
    for backend in ["mih", "auto"] {
        let o = run(backend);
        assert_eq!((o.code, &o.stdout), (0, &scan.stdout), "{backend}");
    }
    let gpu = run("gpu");
    if gpu.code == 64 && std::env::var("VIGIL_GPU_TESTS").as_deref() != Ok("require") {
        eprintln!("skipped: no GPU adapter ({})", gpu.stderr.trim());
        return;
    }
    assert_eq!((gpu.code, &gpu.stdout), (0, &scan.stdout), "{}", gpu.stderr);
}

/// `k.vidx` in `dir`: list `k` with one entry.
fn one_entry_index(dir: &Path) {
    std::fs::write(dir.join("known.txt"), format!("{OTHER}\n")).unwrap();
    let o = vigil(
        dir,
        &["index", "build", "--out", "k.vidx", "--list", "k=known.txt"],
        None,
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
}

/// `vigil info` and `vigil index info` into a pipe whose reader is gone (`| head -0`): a quiet
/// exit 0, not a panic.
#[test]
fn closed_stdout_ends_quietly() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    one_entry_index(dir);
    for args in [
        &["info"][..],
        &["index", "info", "k.vidx"],
        &["index", "verify", "k.vidx"],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let o = Command::new(BIN)
            .current_dir(dir)
            .args(args)
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

/// `vigil --version` names the commit that provenance records (`index info`'s "git").
#[test]
fn version_names_the_recorded_commit() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let v = vigil(dir, &["--version"], None);
    assert_eq!(v.code, 0);
    let git = v
        .stdout
        .trim()
        .strip_prefix(concat!("vigil ", env!("CARGO_PKG_VERSION"), " (git "))
        .and_then(|s| s.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{}", v.stdout))
        .to_owned();
    assert!(git == "unknown" || git.len() >= 40, "{git}");
    one_entry_index(dir);
    let info = vigil(dir, &["index", "info", "--json", "k.vidx"], None);
    let j: serde_json::Value = serde_json::from_str(&info.stdout).unwrap();
    assert_eq!(j["provenance"]["git"], git.as_str());
}
