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

/// The same 162 pairs through the index: every sample video in one vPDQ list per sampling,
/// each query matched with `Index::match_vpdq_list` (thresholds 0% / 0%, so every video with
/// kept frames is returned): the same percentages as the reference, under both semantics.
#[test]
fn matrix_percentages_through_the_index() {
    use vigil::index::{Index, NewVideo, NewVpdqList, Provenance, VpdqThresholds};
    let rows = rows();
    let mut names: Vec<String> = rows.iter().map(|r| r["target"].clone()).collect();
    names.sort();
    names.dedup();
    let sampled = |frames: Vec<VpdqFrame>, sampling: &str| -> Vec<VpdqFrame> {
        match sampling {
            "every_frame" => frames,
            _ => frames
                .into_iter()
                .filter(|f| f.frame_number % 30 == 0)
                .collect(),
        }
    };
    let samplings = ["every_frame", "every_30"];
    let lists = samplings
        .iter()
        .map(|s| NewVpdqList {
            name: (*s).to_owned(),
            version: "1".into(),
            thresholds: VpdqThresholds::default(),
            videos: names
                .iter()
                .map(|n| NewVideo {
                    label: Some(n.clone()),
                    frames: sampled(load(n), s),
                })
                .collect(),
            sources: vec![],
        })
        .collect();
    let idx = Index::from_lists_with_videos(vec![], lists, Provenance::default()).unwrap();
    let mut checked = 0;
    for r in &rows {
        let li = usize::from(r["sampling"] != "every_frame");
        let q = sampled(load(&r["query"]), &r["sampling"]);
        for (sem, qcol, tcol) in [
            (Semantics::Cpp, "cpp_query_pct", "cpp_target_pct"),
            (Semantics::Ptx, "ptx_query_pct", "ptx_compared_pct"),
        ] {
            let th = VpdqThresholds {
                semantics: sem,
                query_pct: 0.0,
                target_pct: 0.0,
                ..VpdqThresholds::default()
            };
            let ms = idx.match_vpdq_list(li, &q, &th, true).unwrap();
            let got = ms
                .iter()
                .find(|m| m.label.as_deref() == Some(&*r["target"]))
                .map_or(("0.0000".to_owned(), "0.0000".to_owned()), |m| {
                    (
                        format!("{:.4}", m.percent.query),
                        format!("{:.4}", m.percent.target),
                    )
                });
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

/// `vigil index build --vpdq` then `vigil video match QUERY --index`: one line per (query,
/// listed video) sharing a matching frame, the list's thresholds unless overridden, exit
/// codes as for TARGETs; `index info`, `add` and `remove` of videos.
#[test]
fn cli_match_against_an_index() {
    let tmp = tempfile::tempdir().unwrap();
    let lib = tmp.path().join("lib");
    fs::create_dir(&lib).unwrap();
    for n in ["chair-22-sd-grey-bar", "pattern-sd-grey-bar"] {
        fs::copy(dir().join(format!("{n}.txt")), lib.join(format!("{n}.txt"))).unwrap();
    }
    let idx = tmp.path().join("x.vidx");
    let out = vigil()
        .args(["index", "build", "--out"])
        .arg(&idx)
        .arg("--vpdq")
        .arg(format!("videos={}", lib.display()))
        .args(["--vpdq-semantics", "cpp"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let q = dir().join("chair-19-sd-bar.txt");
    let out = vigil()
        .args(["video", "match"])
        .arg(&q)
        .arg("--index")
        .arg(&idx)
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
        "query,list,id,label,query_pct,target_pct,query_frames,target_frames,match"
    );
    // The list's own semantics (cpp): the numbers of the TARGET-mode test above.
    assert!(
        lines[1].ends_with(",videos,0,chair-22-sd-grey-bar.txt,100.0000,83.9525,564,673,yes"),
        "{}",
        lines[1]
    );
    assert_eq!(lines.len(), 2, "{text}");

    // Overridden on the command line: no match at target 90% → exit 1; JSONL.
    let out = vigil()
        .args(["video", "match", "--format", "jsonl", "--target-pct", "90"])
        .arg(&q)
        .arg("--index")
        .arg(&idx)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value =
        serde_json::from_str(String::from_utf8(out.stdout).unwrap().trim()).unwrap();
    assert_eq!(v["semantics"], "cpp");
    assert_eq!(v["match"], false);
    assert_eq!(v["id"], 0);

    // TARGETs and --index together are refused.
    let out = vigil()
        .args(["video", "match"])
        .arg(&q)
        .arg(&q)
        .arg("--index")
        .arg(&idx)
        .output()
        .unwrap();
    assert!(out.status.code().unwrap() >= 2);

    // Add a video (a python-threatexchange signal line), see it in info, match it, remove it.
    let frames = load("chair-19-sd-bar");
    let items: Vec<String> = frames
        .iter()
        .map(|f| format!("{},{},{}", f.hash, f.quality, f.timestamp))
        .collect();
    let add = tmp.path().join("more.txt");
    fs::write(
        &add,
        format!(
            "vpdq {} case-9\nvpdq [\"{},100,0.0\", \"nothex,1,0.0\"]\n",
            serde_json::to_string(&items).unwrap(),
            "ab".repeat(32)
        ),
    )
    .unwrap();
    let out = vigil()
        .args(["index", "add"])
        .arg(&idx)
        .args(["--list", "videos"])
        .arg(&add)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("line 2, frame 2"), "{stderr}");
    assert!(stderr.contains("added video ids 2..3"), "{stderr}");
    let out = vigil()
        .args(["index", "info", "--json"])
        .arg(&idx)
        .output()
        .unwrap();
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(info["lists"][0]["algo"], "vpdq");
    assert_eq!(info["lists"][0]["videos"], 3);
    assert_eq!(info["lists"][0]["thresholds"]["semantics"], "cpp");
    let out = vigil()
        .args(["video", "match", "--format", "jsonl"])
        .arg(&q)
        .arg("--index")
        .arg(&idx)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let hit: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        hit.iter()
            .any(|v| v["id"] == 2 && v["label"] == "case-9" && v["query_pct"] == 100.0),
        "{text}"
    );
    let out = vigil()
        .args(["index", "remove"])
        .arg(&idx)
        .args(["--list", "videos", "--id", "2", "--id", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let out = vigil()
        .args(["video", "match"])
        .arg(&q)
        .arg("--index")
        .arg(&idx)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 1);
    let out = vigil()
        .args(["index", "verify"])
        .arg(&idx)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));

    // --strict: the first malformed line is fatal, by line number.
    let out = vigil()
        .args(["index", "add", "--strict"])
        .arg(&idx)
        .args(["--list", "videos"])
        .arg(&add)
        .output()
        .unwrap();
    assert!(out.status.code().unwrap() >= 64);
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 2"));
}
