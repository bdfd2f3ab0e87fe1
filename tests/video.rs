//! Video hashing: golden vPDQ output on tiny clips (expected lines from pip vpdq 0.2.5, made
//! by scripts/make-video-fixtures.sh), `vigil video hash` end to end, and hostile inputs
//! (errors, never panics).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

mod common;

use vigil::video::{self, Budget, VideoError, VpdqOptions};
use vigil::{Backend, Engine};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/video")
        .join(name)
}

fn expected(name: &str) -> String {
    fs::read_to_string(data(name)).unwrap()
}

fn cpu() -> Engine {
    Engine::new(Backend::Cpu).unwrap()
}

fn opts(sph: f64, size: Option<u32>) -> VpdqOptions {
    VpdqOptions {
        seconds_per_hash: sph,
        downsample: size.map(|n| (n, n)),
        ..VpdqOptions::default()
    }
}

fn vigil() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vigil"))
}

const CLIPS: [&str; 2] = ["tiny-h264-16fps.mp4", "audio-first.mkv"];
const RUNS: [(&str, f64, Option<u32>); 3] = [
    ("s0", 0.0, None),
    ("s1", 1.0, None),
    ("s0.d32", 0.0, Some(32)),
];

#[test]
fn golden_clips_equal_pip_vpdq() {
    let engine = cpu();
    for clip in CLIPS {
        for (tag, sph, size) in RUNS {
            let h = video::hash_file(&data(clip), &opts(sph, size), &engine).unwrap();
            assert_eq!(
                video::write_vpdq(&h.frames),
                expected(&format!("{clip}.{tag}.txt")),
                "{clip} {tag}"
            );
            assert!(h.truncated.is_none());
        }
    }
}

#[test]
fn scalar_oracle_small_batches_and_frame_threads_give_the_same_lines() {
    let engine = Engine::new(Backend::Scalar).unwrap();
    // Frame threads instead of upstream's slice threading: on an intact stream, the same
    // frames.
    let o = VpdqOptions {
        seconds_per_hash: 0.0,
        batch_frames: 3,
        frame_threads: true,
        ..VpdqOptions::default()
    };
    let h = video::hash_file(&data(CLIPS[0]), &o, &engine).unwrap();
    assert_eq!(
        video::write_vpdq(&h.frames),
        expected("tiny-h264-16fps.mp4.s0.txt")
    );
}

#[test]
fn gpu_batches_give_the_same_lines() {
    // Any adapter (lavapipe in CI): frames go through Engine::hash_batch on the GPU path.
    let Some(engine) = common::gpu_engine() else {
        return;
    };
    for (clip, tag, sph, size) in [
        (CLIPS[0], "s0", 0.0, None),
        (CLIPS[1], "s0.d32", 0.0, Some(32)),
    ] {
        let h = video::hash_file(&data(clip), &opts(sph, size), &engine).unwrap();
        assert_eq!(
            video::write_vpdq(&h.frames),
            expected(&format!("{clip}.{tag}.txt")),
            "{clip} {tag}"
        );
    }
    common::only_gpu(engine.counters(), 40 + 29);
}

#[test]
fn stream_facts_and_the_flush_rule() {
    let engine = cpu();
    let h = video::hash_file(&data("audio-first.mkv"), &opts(0.0, None), &engine).unwrap();
    assert_eq!(h.info.stream_index, 1);
    assert_eq!((h.info.width, h.info.height), (80, 60));
    assert_eq!(h.info.fps, 25.0);
    // 30 frames were encoded; without the flush (video is not stream 0) one stays inside.
    assert_eq!(h.frames_decoded, 29);
    let t = video::hash_file(&data(CLIPS[0]), &opts(1.0, None), &engine).unwrap();
    assert_eq!(t.info.frame_mod, 16);
    assert_eq!(t.frames_decoded, 40);
    let numbers: Vec<u64> = t.frames.iter().map(|f| f.frame_number).collect();
    assert_eq!(numbers, [0, 16, 32]);
}

#[test]
fn streaming_hook_sees_every_frame_once() {
    let engine = cpu();
    let o = VpdqOptions {
        seconds_per_hash: 0.0,
        batch_frames: 7,
        ..VpdqOptions::default()
    };
    let mut seen = Vec::new();
    let h = video::hash_file_with(&data(CLIPS[0]), &o, &engine, |b| {
        seen.extend(b.iter().map(|f| f.frame_number))
    })
    .unwrap();
    assert_eq!(
        seen,
        h.frames.iter().map(|f| f.frame_number).collect::<Vec<_>>()
    );
    assert_eq!(seen.len(), 40);
}

fn skip_clip(name: &str) -> PathBuf {
    data("skip").join(name)
}

fn lines(clip: &str, tag: &str) -> String {
    fs::read_to_string(data("skip").join(format!("{clip}.{tag}.txt"))).unwrap()
}

/// The intact clips of `tests/data/video/skip`, one per frame structure.
const FRAME_STRUCTURES: [&str; 6] = [
    "pyramid.mp4",
    "bframes8.mp4",
    "opengop.mkv",
    "vfr.mp4",
    "nob.mp4",
    "mbaff.mp4",
];

/// Decoding stretches from IDR pictures at once, each with a decoder of its own, gives pip
/// vpdq's lines on every frame structure of `tests/data/video/skip`, at every frame and
/// sampled; it cuts where there are IDR pictures to cut at, and only there.
#[test]
fn stretches_from_idr_pictures_give_the_same_lines() {
    let engine = cpu();
    for clip in FRAME_STRUCTURES {
        for (tag, sph) in [("s0", 0.0), ("s0.2", 0.2), ("s1", 1.0)] {
            let want = lines(clip, tag);
            let mut frames = None;
            for threads in [1, 2, 3] {
                let o = VpdqOptions {
                    decode_threads: threads,
                    ..opts(sph, None)
                };
                let h = video::hash_file(&skip_clip(clip), &o, &engine).unwrap();
                assert_eq!(
                    video::write_vpdq(&h.frames),
                    want,
                    "{clip} {tag}, {threads} decoders"
                );
                assert_eq!(h.frames_skipped, 0, "{clip} {tag}");
                let decoded = *frames.get_or_insert(h.frames_decoded);
                assert_eq!(
                    h.frames_decoded, decoded,
                    "{clip} {tag}, {threads} decoders"
                );
                let cut = ["pyramid.mp4", "bframes8.mp4"].contains(&clip) && threads > 1;
                assert!(
                    (2..=threads).contains(&h.stretches) == cut && (cut || h.stretches == 1),
                    "{clip} {tag}, {threads} decoders: {} stretches",
                    h.stretches
                );
            }
        }
    }
}

/// Skipping unsampled non-reference frames gives pip vpdq's lines (which decodes every
/// frame) on every frame structure of `tests/data/video/skip`, and the same lines and
/// frame counts as decoding every frame; it does skip where there is something to skip.
#[test]
fn skipping_unsampled_frames_gives_the_same_lines() {
    let engine = cpu();
    for clip in FRAME_STRUCTURES {
        for (tag, sph) in [("s0.2", 0.2), ("s1", 1.0)] {
            let want = lines(clip, tag);
            let mut skip = None;
            // One decoder, or stretches from IDR pictures decoded at once.
            for threads in [1, 2, 3] {
                let o = VpdqOptions {
                    skip_unsampled: true,
                    decode_threads: threads,
                    ..opts(sph, None)
                };
                let h = video::hash_file(&skip_clip(clip), &o, &engine).unwrap();
                assert_eq!(
                    video::write_vpdq(&h.frames),
                    want,
                    "{clip} {tag} skipping, {threads} decoders"
                );
                // IDR pictures every 30 or 60 frames of 100 (opengop's key frames are not
                // IDR pictures; the others have one).
                let cut = ["pyramid.mp4", "bframes8.mp4"].contains(&clip) && threads > 1;
                assert!(
                    (2..=threads).contains(&h.stretches) == cut && (cut || h.stretches == 1),
                    "{clip} {tag}, {threads} decoders: {} stretches",
                    h.stretches
                );
                if let Some(s) = &skip {
                    let s: &video::VpdqHashes = s;
                    assert_eq!(
                        (s.frames_decoded, s.frames_skipped),
                        (h.frames_decoded, h.frames_skipped)
                    );
                }
                skip = Some(h);
            }
            let skip = skip.expect("three runs");
            let every = VpdqOptions {
                skip_unsampled: false,
                decode_threads: 1,
                ..opts(sph, None)
            };
            let full = video::hash_file(&skip_clip(clip), &every, &engine).unwrap();
            assert_eq!(
                video::write_vpdq(&full.frames),
                want,
                "{clip} {tag} every frame"
            );
            assert_eq!(skip.frames_decoded, full.frames_decoded, "{clip} {tag}");
            assert_eq!(full.frames_skipped, 0);
            if clip == "nob.mp4" {
                // Every frame is a reference: the plan holds, nothing can be skipped.
                assert_eq!(skip.frames_skipped, 0, "{clip} {tag}");
            } else {
                assert!(
                    skip.frames_skipped > skip.frames_decoded / 5,
                    "{clip} {tag}: only {} of {} frames skipped",
                    skip.frames_skipped,
                    skip.frames_decoded
                );
            }
        }
    }
}

/// A damaged stream under the frame-thread option: FFmpeg conceals this damage differently
/// under frame threads, and reports it, so vigil must decode the upstream way, with and
/// without a skip plan, handing each frame to the streaming hook once.
#[test]
fn damaged_stream_decodes_the_upstream_way() {
    let engine = cpu();
    for (tag, sph) in [("s0", 0.0), ("s0.2", 0.2), ("s1", 1.0)] {
        let o = VpdqOptions {
            batch_frames: 3,
            frame_threads: true,
            // Two stretches from its IDR pictures, one damaged: decoded again in one go.
            decode_threads: 2,
            ..opts(sph, None)
        };
        let mut seen = Vec::new();
        let h = video::hash_file_with(&skip_clip("damaged.mp4"), &o, &engine, |b| {
            seen.extend(b.iter().map(|f| f.frame_number))
        })
        .unwrap();
        assert_eq!(
            video::write_vpdq(&h.frames),
            lines("damaged.mp4", tag),
            "damaged {tag}"
        );
        assert_eq!(
            seen,
            h.frames.iter().map(|f| f.frame_number).collect::<Vec<_>>(),
            "damaged {tag}: streamed frames"
        );
        assert_eq!(h.frames_decoded, 100);
        assert_eq!(h.stretches, 1, "damaged {tag}: decoded again in one go");
    }
}

/// Two damaged files whose damage FFmpeg leaves partly undecoded without a word (upstream's
/// slice threads switch error concealment off), so the pixels there are left over from an
/// earlier picture in the same buffer, which only a decoder that read every picture before
/// has: the fast paths (stretches, skipping) must notice and decode the upstream way.
#[test]
fn pictures_left_partly_undecoded_are_decoded_the_upstream_way() {
    let engine = cpu();
    for clip in ["damaged-skipped.mp4", "damaged-after-idr.mp4"] {
        for (tag, sph) in [("s0", 0.0), ("s0.2", 0.2), ("s1", 1.0)] {
            for skip_unsampled in [false, true] {
                let o = VpdqOptions {
                    decode_threads: 2,
                    skip_unsampled,
                    ..opts(sph, None)
                };
                let h = video::hash_file(&skip_clip(clip), &o, &engine).unwrap();
                assert_eq!(
                    video::write_vpdq(&h.frames),
                    lines(clip, tag),
                    "{clip} {tag}"
                );
                assert_eq!((h.frames_skipped, h.stretches), (0, 1), "{clip} {tag}");
            }
        }
    }
}

#[test]
fn frame_budget_keeps_what_was_hashed() {
    let engine = cpu();
    let o = VpdqOptions {
        seconds_per_hash: 0.0,
        max_frames: Some(5),
        ..VpdqOptions::default()
    };
    let h = video::hash_file(&data(CLIPS[0]), &o, &engine).unwrap();
    assert_eq!(h.truncated, Some(Budget::Frames));
    assert_eq!(h.frames_decoded, 5);
    let full = expected("tiny-h264-16fps.mp4.s0.txt");
    let first5: String = full.lines().take(5).map(|l| format!("{l}\n")).collect();
    assert_eq!(video::write_vpdq(&h.frames), first5);
}

#[test]
fn time_budget_stops_early() {
    let engine = cpu();
    let o = VpdqOptions {
        seconds_per_hash: 0.0,
        max_duration: Some(Duration::from_nanos(1)),
        ..VpdqOptions::default()
    };
    match video::hash_file(&data(CLIPS[0]), &o, &engine) {
        Ok(h) => assert_eq!(h.truncated, Some(Budget::Time)),
        Err(e) => assert!(matches!(e, VideoError::Timeout), "{e}"),
    }
}

fn hostile(bytes: &[u8], name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(name);
    fs::write(&p, bytes).unwrap();
    (dir, p)
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
fn hostile_inputs_are_errors() {
    let engine = cpu();
    let o = opts(0.0, None);
    let run = |p: &Path| video::hash_file(p, &o, &engine);

    let (_d, p) = hostile(b"", "empty.mp4");
    assert!(matches!(run(&p), Err(VideoError::Empty)));

    let (_d, p) = hostile(&garbage(200_000), "garbage.mp4");
    let e = run(&p).unwrap_err();
    assert!(
        matches!(e, VideoError::Open(_) | VideoError::NoVideoStream),
        "{e}"
    );

    // moov first, cut inside the media data: the last packet is cut and the decoder refuses it.
    let clip = fs::read(data(CLIPS[0])).unwrap();
    let (_d, p) = hostile(&clip[..clip.len() * 6 / 10], "cut.mp4");
    let e = run(&p).unwrap_err();
    assert!(
        matches!(e, VideoError::Decode { .. } | VideoError::Truncated { .. }),
        "{e}"
    );
    // Cut inside the header: not openable.
    let (_d, p) = hostile(&clip[..clip.len() / 20], "head.mp4");
    assert!(matches!(run(&p), Err(VideoError::Open(_))));

    assert!(matches!(
        run(&data("audio-only.wav")),
        Err(VideoError::NoVideoStream)
    ));

    // A video track whose codec FFmpeg does not know.
    let mkv = fs::read(data("audio-first.mkv")).unwrap();
    let at = mkv
        .windows(15)
        .position(|w| w == b"V_MPEG4/ISO/ASP")
        .unwrap();
    let mut bad = mkv.clone();
    bad[at..at + 15].copy_from_slice(b"V_ZZZZZ/ISO/ASP");
    let (_d, p) = hostile(&bad, "codec.mkv");
    assert!(matches!(run(&p), Err(VideoError::NoDecoder { .. })));

    // Frames over the pixel limit (the limit stands in for a huge resolution).
    let small = VpdqOptions {
        max_pixels: 1000,
        ..opts(0.0, None)
    };
    assert!(matches!(
        video::hash_file(&data(CLIPS[0]), &small, &engine),
        Err(VideoError::TooLarge { .. })
    ));
    // Below PDQ's 5x5 minimum.
    assert!(matches!(
        video::hash_file(&data(CLIPS[0]), &opts(0.0, Some(4)), &engine),
        Err(VideoError::TooSmall { .. })
    ));

    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        run(dir.path()),
        Err(VideoError::NotRegular { .. })
    ));
    let link = dir.path().join("link.mp4");
    std::os::unix::fs::symlink(data(CLIPS[0]), &link).unwrap();
    assert!(matches!(run(&link), Err(VideoError::NotRegular { .. })));
    assert!(matches!(
        run(&dir.path().join("missing.mp4")),
        Err(VideoError::Io(_))
    ));
}

#[test]
fn garbage_after_a_valid_header_never_panics() {
    // Keep the first 2 KiB of real containers and fill the rest with noise: every outcome is
    // fine except a panic or a hang.
    let engine = cpu();
    for clip in CLIPS {
        let real = fs::read(data(clip)).unwrap();
        for keep in [64usize, 700, 2048] {
            let mut bytes = real[..keep.min(real.len())].to_vec();
            bytes.extend(garbage(30_000));
            let (_d, p) = hostile(&bytes, clip);
            let _ = video::hash_file(&p, &opts(0.0, None), &engine);
        }
    }
}

#[test]
fn cli_one_video_to_stdout() {
    let out = vigil()
        .args([
            "video",
            "hash",
            "--backend",
            "cpu",
            "--seconds-per-hash",
            "0",
        ])
        .arg(data(CLIPS[0]))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        expected("tiny-h264-16fps.mp4.s0.txt")
    );
    // Default: 1 s per hash.
    let out = vigil()
        .args([
            "video",
            "hash",
            "--backend",
            "cpu",
            "--downsample",
            "32",
            "--seconds-per-hash",
            "0",
        ])
        .arg(data(CLIPS[1]))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        expected("audio-first.mkv.s0.d32.txt")
    );
    let out = vigil()
        .args(["video", "hash", "--backend", "cpu"])
        .arg(data(CLIPS[1]))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        expected("audio-first.mkv.s1.txt")
    );
}

#[test]
fn cli_several_videos_need_out_and_mirror_paths() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("in/sub");
    fs::create_dir_all(&src).unwrap();
    for c in CLIPS {
        fs::copy(data(c), src.join(c)).unwrap();
    }
    fs::write(src.join("notes.txt"), "not a video").unwrap();
    let out = vigil()
        .current_dir(dir.path())
        .args(["video", "hash", "--backend", "cpu", "in"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(out.stdout.is_empty());

    let out = vigil()
        .current_dir(dir.path())
        .args(["video", "hash", "--backend", "cpu", "--out", "o", "in"])
        .output()
        .unwrap();
    // notes.txt fails (not a video): exit 2, the two videos written.
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("notes.txt"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    for c in CLIPS {
        let written = dir.path().join("o/in/sub").join(format!("{c}.txt"));
        assert_eq!(
            fs::read_to_string(&written).unwrap(),
            expected(&format!("{c}.s1.txt"))
        );
        let mode = fs::metadata(&written).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let mode = fs::metadata(dir.path().join("o/in"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o700);
    assert!(!dir.path().join("o/in/sub/notes.txt.txt").exists());

    // Several videos at once (one per worker), and one at a time: the same files, the same
    // failure. The skip fixtures make enough videos for both workers to be busy.
    fs::create_dir_all(dir.path().join("in/skip")).unwrap();
    for e in fs::read_dir(data("skip")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "mp4" || x == "mkv") {
            fs::copy(&p, dir.path().join("in/skip").join(p.file_name().unwrap())).unwrap();
        }
    }
    let mut trees = Vec::new();
    for jobs in ["1", "3"] {
        let o = format!("o-jobs{jobs}");
        let out = vigil()
            .current_dir(dir.path())
            .args([
                "video",
                "hash",
                "--backend",
                "cpu",
                "--jobs",
                jobs,
                "--out",
                &o,
                "in",
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "--jobs {jobs}");
        let mut files: Vec<(PathBuf, String)> = walk(&dir.path().join(&o))
            .into_iter()
            .map(|p| {
                let text = fs::read_to_string(&p).unwrap();
                (
                    p.strip_prefix(dir.path().join(&o)).unwrap().to_owned(),
                    text,
                )
            })
            .collect();
        files.sort();
        assert_eq!(files.len(), CLIPS.len() + 9, "--jobs {jobs}: {files:?}");
        trees.push(files);
    }
    assert_eq!(trees[0], trees[1]);
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn cli_jsonl_records() {
    let (_d, empty) = hostile(b"", "empty.mp4");
    let out = vigil()
        .args([
            "video",
            "hash",
            "--backend",
            "cpu",
            "--format",
            "jsonl",
            "--max-frames",
            "3",
            "--seconds-per-hash",
            "0",
            "--out",
        ])
        .arg(_d.path().join("o"))
        .arg(data(CLIPS[0]))
        .arg(&empty)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let rec_path = |p: &Path| {
        let mut s = _d.path().join("o").into_os_string();
        s.push(format!("{}.jsonl", p.display()));
        PathBuf::from(s)
    };
    let ok: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(rec_path(&data(CLIPS[0]))).unwrap()).unwrap();
    assert_eq!(ok["schema"], 1);
    assert_eq!(ok["status"], "hashed");
    assert_eq!(ok["truncated"], true);
    assert_eq!(ok["truncated_by"], "frames");
    assert_eq!(ok["frames"].as_array().unwrap().len(), 3);
    assert_eq!(ok["frames"][1]["timestamp"], 0.062);
    let bad: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(rec_path(&empty)).unwrap()).unwrap();
    assert_eq!(bad["status"], "failed");
    assert_eq!(bad["reason"], "empty file");
}

#[test]
fn cli_hostile_files_exit_2_without_panic() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty.mp4", vec![]),
        ("garbage.avi", garbage(50_000)),
        ("audio.wav", fs::read(data("audio-only.wav")).unwrap()),
    ];
    for (name, bytes) in cases {
        let p = dir.path().join(name);
        fs::write(&p, bytes).unwrap();
        let out = vigil()
            .args(["video", "hash", "--backend", "cpu"])
            .arg(&p)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        assert!(out.stdout.is_empty(), "{name}");
    }
    let out = vigil()
        .args(["video", "hash", "--downsample", "4"])
        .arg(data(CLIPS[0]))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
}
