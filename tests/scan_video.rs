//! `vigil scan` on trees with videos: a known image shown on 3 frames (0.19 s) of a 3 s clip
//! is found at every frame (the default) and not at 1 s per hash; each video is one record
//! with its 1 s vPDQ in `vpdq/<sha256>.txt`; hostile videos (corrupt, truncated, empty, a huge
//! stated resolution, audio only, an unknown codec, a frame budget, a decoder crash and a
//! decoder hang half-way) each end as one error or truncated record and the scan completes
//! with the exit code of conventions.md; `--isolation none` and `--resume` account for every
//! video once. Fixtures: scripts/make-scan-video-fixtures.sh (tests/data/README.md).

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

mod common;
use common::jsonl;

const BIN: &str = env!("CARGO_BIN_EXE_vigil");

fn video(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/video")
        .join(name)
}

/// The scan exited with `code` (its stderr in the failure message).
fn exits(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn summary(out: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap()
}

/// The known list: flash.png's PDQ from `vigil hash`.
fn known_list(dir: &Path) {
    let h = Command::new(BIN)
        .arg("hash")
        .arg(video("flash.png"))
        .output()
        .unwrap();
    let line = String::from_utf8(h.stdout).unwrap();
    let pdq = line.lines().last().unwrap().split(',').nth(2).unwrap();
    std::fs::write(dir.join("known.txt"), format!("{pdq},flash\n")).unwrap();
}

fn scan(dir: &Path, out: &str, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(BIN);
    c.current_dir(dir)
        .args(["scan", "--quiet", "--list", "known.txt", "--out", out])
        .args(extra)
        .arg("tree");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn by_path(records: &[Value]) -> HashMap<String, Value> {
    records
        .iter()
        .map(|r| (r["path"].as_str().unwrap().to_owned(), r.clone()))
        .collect()
}

fn tree_with(dir: &Path, files: &[(&str, Vec<u8>)]) {
    let tree = dir.join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    for (name, bytes) in files {
        std::fs::write(tree.join(name), bytes).unwrap();
    }
    known_list(dir);
}

fn flash() -> Vec<u8> {
    std::fs::read(video("flash-16fps.mp4")).unwrap()
}

#[test]
fn a_known_image_shown_for_under_a_second_is_found_at_every_frame() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    tree_with(
        dir,
        &[
            ("clip.mp4", flash()),
            (
                "tiny.mp4",
                std::fs::read(video("tiny-h264-16fps.mp4")).unwrap(),
            ),
        ],
    );
    let o = scan(dir, "out", &[], &[]);
    exits(&o, 0);
    let out = dir.join("out");
    let hashes = by_path(&jsonl(&out.join("hashes.jsonl")));
    assert_eq!(hashes.len(), 2);
    assert!(jsonl(&out.join("errors.jsonl")).is_empty());
    let clip = &hashes["tree/clip.mp4"];
    assert_eq!(clip["kind"], "video");
    assert_eq!(clip["format"], "mp4");
    assert_eq!(clip["codec"], "h264");
    assert_eq!(clip["frames_decoded"], 48);
    assert_eq!(clip["frames_hashed"], 48);
    assert_eq!(clip["truncated"], false);
    assert_eq!(clip["fps"], 16.0);
    assert!(clip["sha256"].is_string() && clip["md5"].is_string());
    assert!(
        clip.get("pdq").is_none(),
        "no per-frame content in the record"
    );
    // The 1 s vPDQ, 0600 in a 0700 folder; for tiny.mp4 it equals pip vpdq's 1 s lines.
    let rel = hashes["tree/tiny.mp4"]["vpdq"].as_str().unwrap().to_owned();
    assert_eq!(
        rel,
        format!(
            "vpdq/{}.txt",
            hashes["tree/tiny.mp4"]["sha256"].as_str().unwrap()
        )
    );
    assert_eq!(
        std::fs::read_to_string(out.join(&rel)).unwrap(),
        std::fs::read_to_string(video("tiny-h264-16fps.mp4.s1.txt")).unwrap()
    );
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&out.join(&rel)), 0o600);
    assert_eq!(mode(&out.join("vpdq")), 0o700);
    let clip_vpdq = std::fs::read_to_string(out.join(clip["vpdq"].as_str().unwrap())).unwrap();
    let numbers: Vec<&str> = clip_vpdq
        .lines()
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(numbers, ["0", "16", "32"]);

    // The flash: frames 20, 21, 22 (1.25 s …), each a video-frame match.
    let matches = jsonl(&out.join("matches.jsonl"));
    let frames: Vec<u64> = matches
        .iter()
        .map(|m| m["frame"].as_u64().unwrap())
        .collect();
    assert_eq!(frames, [20, 21, 22], "{matches:?}");
    for m in &matches {
        assert_eq!(m["kind"], "video-frame");
        assert_eq!(m["path"], "tree/clip.mp4");
        assert_eq!(m["label"], "flash");
        assert!(m["distance"].as_u64().unwrap() <= 8);
    }
    assert_eq!(matches[0]["timestamp"], 1.25);
    let s = summary(&out);
    assert_eq!(s["videos"]["files"], 2);
    assert_eq!(s["videos"]["hashed"], 2);
    assert_eq!(s["videos"]["frames_hashed"], 88);
    assert_eq!(s["counts"]["matched_files"], 1);
    assert!(s["cpu_s"]["video_decode"].as_f64().unwrap() > 0.0);

    // 1 s per hash looks at frames 0, 16, 32 only: the flash is missed.
    let o = scan(dir, "sparse", &["--video-seconds-per-hash", "1"], &[]);
    exits(&o, 1);
    assert!(jsonl(&dir.join("sparse/matches.jsonl")).is_empty());

    // In this process (--isolation none): the same matches.
    let o = scan(dir, "inproc", &["--isolation", "none"], &[]);
    exits(&o, 0);
    assert_eq!(jsonl(&dir.join("inproc/matches.jsonl")), matches);

    // Long videos keep only the frames that can still matter (1 s vPDQ frames and frames
    // within a list's radius) until their batch is written: forced here with a limit of one
    // frame, the records, vPDQ files and matches are those of the full scan.
    let o = scan(dir, "thin", &["--video-frames-in-memory", "1"], &[]);
    exits(&o, 0);
    let thin = dir.join("thin");
    assert_eq!(jsonl(&thin.join("matches.jsonl")), matches);
    let strip = |mut v: Vec<Value>| {
        for r in &mut v {
            r.as_object_mut().unwrap().remove("path_bytes");
        }
        v.sort_by_key(|r| r["path"].to_string());
        v
    };
    assert_eq!(
        strip(jsonl(&thin.join("hashes.jsonl"))),
        strip(jsonl(&out.join("hashes.jsonl")))
    );
    assert_eq!(
        std::fs::read_to_string(thin.join(&rel)).unwrap(),
        std::fs::read_to_string(out.join(&rel)).unwrap()
    );
    assert_eq!(summary(&thin)["videos"]["frames_hashed"], 88);
}

fn garbage(n: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_u32;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

#[test]
fn hostile_videos_each_end_as_one_record_and_the_scan_completes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let clip = flash();
    let mut corrupt = clip[..2048].to_vec();
    corrupt.extend(garbage(60_000));
    let mut raw = std::fs::read(video("raw-16x16.avi")).unwrap();
    let at = raw.windows(4).position(|w| w == b"strf").unwrap() + 12;
    raw[at..at + 4].copy_from_slice(&16000i32.to_le_bytes());
    raw[at + 4..at + 8].copy_from_slice(&(-16000i32).to_le_bytes());
    let mkv = std::fs::read(video("audio-first.mkv")).unwrap();
    let cat = mkv
        .windows(15)
        .position(|w| w == b"V_MPEG4/ISO/ASP")
        .unwrap();
    let mut codec = mkv.clone();
    codec[cat..cat + 15].copy_from_slice(b"V_ZZZZZ/ISO/ASP");
    let mut header_only = b"\0\0\0\x18ftypisom\0\0\0\0isomiso2".to_vec();
    header_only.extend(garbage(1000));
    tree_with(
        dir,
        &[
            ("corrupt.mp4", corrupt),
            ("garbage.mp4", header_only),
            ("cut.mp4", clip[..clip.len() * 45 / 100].to_vec()),
            ("empty.mp4", Vec::new()),
            ("huge.avi", raw),
            ("audio.mka", std::fs::read(video("audio-only.mka")).unwrap()),
            ("codec.mkv", codec),
            ("fine.mp4", clip.clone()),
        ],
    );
    let o = scan(dir, "out", &[], &[]);
    // The flash in fine.mp4 matches; the damaged ones fail: 3.
    exits(&o, 3);
    let out = dir.join("out");
    let errors = by_path(&jsonl(&out.join("errors.jsonl")));
    let hashes = by_path(&jsonl(&out.join("hashes.jsonl")));
    assert_eq!(errors.len() + hashes.len(), 8, "{errors:?} {hashes:?}");
    let status = |n: &str| {
        let r = &errors[&format!("tree/{n}")];
        (
            r["status"].as_str().unwrap().to_owned(),
            r["reason"].as_str().unwrap().to_owned(),
        )
    };
    assert_eq!(status("corrupt.mp4").0, "failed");
    assert_eq!(status("garbage.mp4").0, "failed");
    let (s, why) = status("cut.mp4");
    assert_eq!(s, "failed");
    assert!(
        why.contains("decode error") || why.contains("truncated"),
        "{why}"
    );
    assert_eq!(status("empty.mp4"), ("failed".into(), "empty file".into()));
    let (s, why) = status("huge.avi");
    assert_eq!(s, "failed");
    assert!(why.contains("16000x16000 exceeds"), "{why}");
    let (s, why) = status("audio.mka");
    assert_eq!(s, "skipped");
    assert!(why.contains("no video stream"), "{why}");
    let (s, why) = status("codec.mkv");
    assert_eq!(s, "skipped");
    assert!(why.contains("unsupported codec"), "{why}");
    assert_eq!(hashes["tree/fine.mp4"]["kind"], "video");
    // Every error record of a readable file has its digests.
    for (p, r) in &errors {
        assert!(r["sha256"].is_string(), "{p}");
    }
    let s = summary(&out);
    assert_eq!(s["counts"]["files"], 8);
    assert_eq!(s["videos"]["skipped"], 2);
    assert_eq!(s["decoders"]["crashed"], 0);
}

#[test]
fn a_frame_budget_truncates_and_keeps_the_frames() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    tree_with(dir, &[("clip.mp4", flash())]);
    // An enormous stream stands in as a budget smaller than the clip: frames 0-9 are kept.
    let o = scan(dir, "out", &["--video-max-frames", "10"], &[]);
    exits(&o, 1);
    let out = dir.join("out");
    let h = jsonl(&out.join("hashes.jsonl"));
    assert_eq!(h.len(), 1);
    assert_eq!(h[0]["truncated"], true);
    assert_eq!(h[0]["truncated_by"], "frames");
    assert_eq!(h[0]["frames_decoded"], 10);
    assert_eq!(h[0]["frames_hashed"], 10);
    let vpdq = std::fs::read_to_string(out.join(h[0]["vpdq"].as_str().unwrap())).unwrap();
    assert_eq!(vpdq.lines().count(), 1);
    let s = summary(&out);
    assert_eq!(s["videos"]["truncated"], 1);
    // Past the flash: found, still truncated.
    let o = scan(dir, "out2", &["--video-max-frames", "30"], &[]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(jsonl(&dir.join("out2/matches.jsonl")).len(), 3);
}

/// A decoder that crashes half-way through a video (debug-build seam: abort after the first
/// batch of 32 frames) costs that video alone: it is `failed` with the signal, the frames
/// streamed before the crash were matched (the flash is on frames 20-22), and the next video
/// gets a fresh decoder. A decoder that hangs half-way is killed after `--timeout` without
/// progress, the same way.
#[test]
fn a_video_decoder_crash_or_hang_costs_one_video() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    tree_with(
        dir,
        &[
            ("boom.mp4", flash()),
            ("ok.mp4", flash()[..].to_vec()),
            (
                "tiny.mp4",
                std::fs::read(video("tiny-h264-16fps.mp4")).unwrap(),
            ),
        ],
    );
    let o = scan(dir, "out", &[], &[("VIGIL_TEST_VIDEO_CRASH", "boom")]);
    exits(&o, 3);
    let out = dir.join("out");
    let errors = jsonl(&out.join("errors.jsonl"));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["path"], "tree/boom.mp4");
    assert_eq!(errors[0]["status"], "failed");
    assert_eq!(errors[0]["kind"], "video");
    assert!(
        errors[0]["reason"].as_str().unwrap().contains("SIGABRT"),
        "{errors:?}"
    );
    assert_eq!(errors[0]["frames_hashed"], 32);
    assert_eq!(jsonl(&out.join("hashes.jsonl")).len(), 2);
    let matches = jsonl(&out.join("matches.jsonl"));
    let boom = matches
        .iter()
        .filter(|m| m["path"] == "tree/boom.mp4")
        .count();
    assert_eq!((boom, matches.len()), (3, 6));
    assert_eq!(summary(&out)["decoders"]["crashed"], 1);

    let o = scan(
        dir,
        "hang",
        &["--timeout", "2"],
        &[("VIGIL_TEST_VIDEO_HANG", "boom")],
    );
    exits(&o, 3);
    let errors = jsonl(&dir.join("hang/errors.jsonl"));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0]["reason"]
            .as_str()
            .unwrap()
            .contains("no progress for 2 s"),
        "{errors:?}"
    );
    assert_eq!(jsonl(&dir.join("hang/hashes.jsonl")).len(), 2);
    assert_eq!(summary(&dir.join("hang"))["decoders"]["timed_out"], 1);
}

/// A scan with videos killed part-way and resumed: every file recorded exactly once, the same
/// records and matches as an uninterrupted scan, the video counts whole.
#[test]
fn a_killed_scan_with_videos_resumes_to_the_same_results() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let files: Vec<(String, Vec<u8>)> = (0..6).map(|i| (format!("v{i}.mp4"), flash())).collect();
    let files: Vec<(&str, Vec<u8>)> = files.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    tree_with(dir, &files);
    let args = ["--batch", "1"];
    let whole = scan(dir, "whole", &args, &[]);
    assert_eq!(whole.status.code(), Some(0));
    let sorted = |out: &Path, f: &str| {
        let mut v: Vec<String> = jsonl(&out.join(f)).iter().map(|x| x.to_string()).collect();
        v.sort();
        v
    };
    let mut child = Command::new(BIN)
        .current_dir(dir)
        .args(["scan", "--quiet", "--list", "known.txt", "--out", "cut"])
        .args(args)
        .arg("tree")
        .env("VIGIL_TEST_DELAY", "tree/:300")
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    while std::fs::read_to_string(dir.join("cut/hashes.jsonl")).map_or(0, |s| s.lines().count()) < 2
    {
        assert!(t0.elapsed().as_secs() < 60, "nothing recorded");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let before = jsonl(&dir.join("cut/hashes.jsonl")).len();
    assert!(before < 6, "killed too late");
    let o = scan(dir, "cut", &["--batch", "1", "--resume"], &[]);
    exits(&o, 0);
    for f in ["hashes.jsonl", "errors.jsonl", "matches.jsonl"] {
        assert_eq!(
            sorted(&dir.join("cut"), f),
            sorted(&dir.join("whole"), f),
            "{f}"
        );
    }
    let s = summary(&dir.join("cut"));
    assert_eq!(s["videos"]["files"], 6);
    assert_eq!(s["videos"]["hashed"], 6);
    assert_eq!(s["counts"]["matches"], 18);
}

/// A pattern of at most 216 colours (so a GIF stores it exactly), different per `seed`.
fn pattern(seed: u32) -> image::RgbaImage {
    image::RgbaImage::from_fn(96, 80, |x, y| {
        let v = |k: u32| {
            (((x * (3 + seed) + y * (5 + 2 * k) + (x * y) / (7 + seed + k)) / 9) % 6) as u8 * 51
        };
        image::Rgba([v(0), v(1), v(2), 255])
    })
}

/// An animated GIF whose frame 1 (of 3) is a known image: `vigil hash` keeps frame 0 (the
/// reference's rule), `vigil scan` matches frame 1 as an `image-frame` match with its index,
/// and the record keeps frame 0's hash and counts the frames.
#[test]
fn an_animated_gif_whose_later_frame_is_known_is_found() {
    use image::codecs::gif::GifEncoder;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let tree = dir.join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    let frames: Vec<image::RgbaImage> = (0..3).map(pattern).collect();
    {
        let f = std::fs::File::create(tree.join("anim.gif")).unwrap();
        let mut enc = GifEncoder::new(f);
        for fr in &frames {
            enc.encode_frame(image::Frame::new(fr.clone())).unwrap();
        }
    }
    image::DynamicImage::ImageRgba8(frames[1].clone())
        .to_rgb8()
        .save(dir.join("known.png"))
        .unwrap();
    let hash_of = |p: &Path| {
        let h = Command::new(BIN).arg("hash").arg(p).output().unwrap();
        let line = String::from_utf8(h.stdout).unwrap();
        line.lines()
            .last()
            .unwrap()
            .split(',')
            .nth(2)
            .unwrap()
            .to_owned()
    };
    let known = hash_of(&dir.join("known.png"));
    let gif_hash = hash_of(&tree.join("anim.gif"));
    assert_ne!(known, gif_hash, "vigil hash keeps frame 0");
    std::fs::write(dir.join("known.txt"), format!("{known},frame-one\n")).unwrap();
    for iso in ["process", "none"] {
        let out = format!("out-{iso}");
        let o = scan(dir, &out, &["--isolation", iso], &[]);
        exits(&o, 0);
        let out = dir.join(out);
        let h = jsonl(&out.join("hashes.jsonl"));
        assert_eq!(h.len(), 1);
        assert_eq!(h[0]["pdq"].as_str().unwrap(), gif_hash);
        assert_eq!(h[0]["animation_frames"], 3);
        let m = jsonl(&out.join("matches.jsonl"));
        assert_eq!(m.len(), 1, "{m:?}");
        assert_eq!(m[0]["kind"], "image-frame");
        assert_eq!(m[0]["frame"], 1);
        assert_eq!(m[0]["distance"], 0);
        assert_eq!(m[0]["label"], "frame-one");
        let s = summary(&out);
        assert_eq!(s["animations"]["files"], 1);
        assert_eq!(s["animations"]["frames"], 3);
    }
}

/// With decoders in this process (`--isolation none`) a video whose decoding kills the
/// process stops the run; the journal names it, the resume retries it alone and dies again,
/// and the next resume records it as `failed: decoder crash suspected`: every file once.
#[test]
fn an_in_process_video_crash_cannot_stop_a_scan_for_ever() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    tree_with(
        dir,
        &[
            ("boom.mp4", flash()),
            (
                "tiny.mp4",
                std::fs::read(video("tiny-h264-16fps.mp4")).unwrap(),
            ),
        ],
    );
    let run = |resume: bool| {
        let mut extra = vec!["--isolation", "none"];
        if resume {
            extra.push("--resume");
        }
        scan(dir, "out", &extra, &[("VIGIL_TEST_VIDEO_CRASH", "boom")])
    };
    assert_eq!(run(false).status.code(), None, "the first run must die");
    assert_eq!(run(true).status.code(), None, "the retry must die");
    let third = run(true);
    exits(&third, 2);
    let out = dir.join("out");
    let errors = jsonl(&out.join("errors.jsonl"));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["path"], "tree/boom.mp4");
    assert!(
        errors[0]["reason"]
            .as_str()
            .unwrap()
            .contains("decoder crash suspected")
    );
    // Still read and digested (digest lists match it), and counted as a failed video.
    assert_eq!(errors[0]["kind"], "video");
    assert!(errors[0]["sha256"].is_string() && errors[0]["md5"].is_string());
    assert_eq!(summary(&out)["videos"]["failed"], 1);
    let hashes = jsonl(&out.join("hashes.jsonl"));
    assert_eq!(hashes.len(), 1);
    assert_eq!(hashes[0]["path"], "tree/tiny.mp4");
    assert_eq!(summary(&out)["counts"]["files"], 2);
}

/// A whole video against a vPDQ list in an index (built from its own 1 s vPDQ, as a hotline
/// would share it): one `kind: video` match with both percentages, besides the frame matches.
#[test]
fn a_listed_video_is_matched_against_the_index_vpdq_lists() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    tree_with(
        dir,
        &[(
            "tiny.mp4",
            std::fs::read(video("tiny-h264-16fps.mp4")).unwrap(),
        )],
    );
    std::fs::create_dir_all(dir.join("lib")).unwrap();
    std::fs::copy(
        video("tiny-h264-16fps.mp4.s1.txt"),
        dir.join("lib/tiny.txt"),
    )
    .unwrap();
    let b = Command::new(BIN)
        .current_dir(dir)
        .args([
            "index",
            "build",
            "--out",
            "known.vidx",
            "--vpdq",
            "videos=lib",
        ])
        .output()
        .unwrap();
    exits(&b, 0);
    let o = Command::new(BIN)
        .current_dir(dir)
        .args([
            "scan",
            "--quiet",
            "--index",
            "known.vidx",
            "--out",
            "out",
            "tree",
        ])
        .output()
        .unwrap();
    exits(&o, 0);
    let m = jsonl(&dir.join("out/matches.jsonl"));
    assert_eq!(m.len(), 1, "{m:?}");
    assert_eq!(m[0]["kind"], "video");
    assert_eq!(m[0]["algo"], "vpdq");
    assert_eq!(m[0]["list"], "videos");
    assert_eq!(m[0]["query_pct"], 100.0);
    assert_eq!(m[0]["target_pct"], 100.0);
}
