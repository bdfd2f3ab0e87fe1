//! vPDQ matching: percentages from upstream's sample-hashes files equal
//! `derived/vpdq-match-matrix.csv` for every ordered pair, both samplings and both semantics;
//! `vigil video match` end to end (output, thresholds, exit codes).

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use vigil::video::{self, MatchOptions, Semantics, VpdqFrame};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/vpdq")
}

fn load(name: &str) -> Vec<VpdqFrame> {
    video::parse_vpdq(&fs::read_to_string(dir().join(format!("{name}.txt"))).unwrap()).unwrap()
}

fn rows() -> Vec<HashMap<String, String>> {
    let mut r = csv::Reader::from_path(dir().join("vpdq-match-matrix.csv")).unwrap();
    let headers = r.headers().unwrap().clone();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            headers
                .iter()
                .zip(rec.iter())
                .map(|(h, v)| (h.to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

#[test]
fn matrix_percentages_equal_the_reference() {
    let rows = rows();
    assert_eq!(rows.len(), 162);
    let mut cache: HashMap<String, Vec<VpdqFrame>> = HashMap::new();
    let mut get = |name: &str, sampling: &str| -> Vec<VpdqFrame> {
        let all = cache
            .entry(name.to_owned())
            .or_insert_with(|| load(name))
            .clone();
        match sampling {
            "every_frame" => all,
            // Every 30th frame = 1 s at the sample videos' 30 fps.
            _ => all
                .into_iter()
                .filter(|f| f.frame_number % 30 == 0)
                .collect(),
        }
    };
    let mut checked = 0;
    for r in &rows {
        let q = get(&r["query"], &r["sampling"]);
        let t = get(&r["target"], &r["sampling"]);
        assert_eq!(q.len().to_string(), r["n_query"]);
        assert_eq!(t.len().to_string(), r["n_target"]);
        for (sem, qcol, tcol) in [
            (Semantics::Cpp, "cpp_query_pct", "cpp_target_pct"),
            (Semantics::Ptx, "ptx_query_pct", "ptx_compared_pct"),
        ] {
            let o = MatchOptions {
                semantics: sem,
                ..MatchOptions::default()
            };
            let m = video::match_percent(&q, &t, &o);
            let got = (format!("{:.4}", m.query), format!("{:.4}", m.target));
            assert_eq!(
                got,
                (r[qcol].clone(), r[tcol].clone()),
                "{} vs {} {} {:?}",
                r["query"],
                r["target"],
                r["sampling"],
                sem
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 324);
}

fn vigil() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vigil"))
}

#[test]
fn cli_match_lines_and_exit_codes() {
    let f = |n: &str| dir().join(format!("{n}.txt"));
    // chair-19 vs chair-22-grey: cpp 100/83.9525, a match at 80% on the query side.
    let out = vigil()
        .args(["video", "match", "--semantics", "cpp"])
        .arg(f("chair-19-sd-bar"))
        .arg(f("chair-22-sd-grey-bar"))
        .arg(f("pattern-sd-grey-bar"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "query,target,query_pct,target_pct,query_frames,target_frames,match"
    );
    assert!(
        lines[1].ends_with(",100.0000,83.9525,564,673,yes"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].ends_with(",0.0000,0.0000,564,206,no"),
        "{}",
        lines[2]
    );
    assert_eq!(lines.len(), 3);

    // The target side's threshold can turn the match off: exit 1 (no match, no failure).
    let out = vigil()
        .args(["video", "match", "--semantics", "cpp", "--target-pct", "90"])
        .arg(f("chair-19-sd-bar"))
        .arg(f("chair-22-sd-grey-bar"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));

    // A folder of targets, one of them unreadable as vPDQ or video: matches and a failure = 3.
    let tmp = tempfile::tempdir().unwrap();
    fs::copy(f("chair-22-sd-grey-bar"), tmp.path().join("a.txt")).unwrap();
    fs::write(tmp.path().join("b.txt"), "0,100,nothex,0.000\n").unwrap();
    let out = vigil()
        .args(["video", "match", "--format", "jsonl"])
        .arg(f("chair-19-sd-bar"))
        .arg(tmp.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(v["semantics"], "ptx");
    assert_eq!(v["match"], true);
    assert_eq!(v["query_pct"], 100.0);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("b.txt") && stderr.contains("line 1"),
        "{stderr}"
    );

    // Only failures: exit 2.
    let out = vigil()
        .args(["video", "match"])
        .arg(tmp.path().join("b.txt"))
        .arg(f("chair-19-sd-bar"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn cli_match_hashes_videos_given_directly() {
    let clip = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/video/tiny-h264-16fps.mp4");
    let out = vigil()
        .args([
            "video",
            "match",
            "--backend",
            "cpu",
            "--seconds-per-hash",
            "0",
        ])
        .arg(&clip)
        .arg(&clip)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.lines().nth(1).unwrap().contains(",100.0000,100.0000,"),
        "{text}"
    );
}
