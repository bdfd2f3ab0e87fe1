//! vPDQ lists in the index: import of both formats (upstream lines, python-threatexchange's
//! signal JSON and file-exchange lines) with line-numbered problems; build / open round trip;
//! the index matcher equal to brute-force `match_percent` against every video (random lists,
//! both semantics, several segments, removed videos); add / remove of videos.

use std::fs;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use vigil::PdqHash;
use vigil::index::vpdq_import::{self, VpdqFormat};
use vigil::index::{
    Algo, Index, IndexError, NewEntry, NewList, NewVideo, NewVpdqList, Params, Provenance, Queries,
    Source, VpdqMatch, VpdqMatchParams, VpdqThresholds, build_with_videos,
};
use vigil::video::{self, Semantics, VpdqFrame};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/vpdq")
        .join(name)
}

fn sample(name: &str) -> Vec<VpdqFrame> {
    video::parse_vpdq(&fs::read_to_string(data(&format!("{name}.txt"))).unwrap()).unwrap()
}

fn source(action: &str) -> Source {
    Source {
        path: "test".into(),
        sha256: String::new(),
        entries: 0,
        added: "2026-01-01T00:00:00Z".into(),
        action: action.into(),
    }
}

/// python-threatexchange's `VpdqCompactFeature.__str__` for the timestamps used here:
/// `f"{t:.3}"` (3 significant digits; `1.23e+02` from 100 s on).
fn ptx_time(t: f32) -> String {
    let t = f64::from(t);
    if t == 0.0 {
        "0.0".into()
    } else if t >= 100.0 {
        let e = t.log10().floor() as i32;
        format!("{:.2}e+{e:02}", t / 10f64.powi(e))
    } else {
        // Three significant digits, trailing zeros dropped as Python's `g`-like `.3` does.
        let digits = 2 - t.log10().floor() as i32;
        let s = format!("{:.*}", digits.max(0) as usize, t);
        let s = s.trim_end_matches('0').to_owned();
        if s.ends_with('.') { s + "0" } else { s }
    }
}

fn ptx_signal(frames: &[VpdqFrame]) -> String {
    let items: Vec<String> = frames
        .iter()
        .map(|f| format!("{},{},{}", f.hash, f.quality, ptx_time(f.timestamp)))
        .collect();
    serde_json::to_string(&items).unwrap()
}

#[test]
fn upstream_lines_import_as_one_video() {
    let p = vpdq_import::parse_file(&data("chair-19-sd-bar.txt"), "chair-19-sd-bar.txt").unwrap();
    assert_eq!(p.format, VpdqFormat::Lines);
    assert!(p.problems.is_empty());
    assert_eq!(p.videos.len(), 1);
    let v = &p.videos[0];
    assert_eq!(v.label.as_deref(), Some("chair-19-sd-bar.txt"));
    assert_eq!(v.frames, sample("chair-19-sd-bar"));
    // doorknob-hd-no-bar has frames below quality 50: kept, counted.
    let d = vpdq_import::parse_file(&data("doorknob-hd-no-bar.txt"), "d").unwrap();
    let low = d.videos[0].frames.iter().filter(|f| f.quality < 50).count() as u64;
    assert!(low > 0);
    assert_eq!(d.videos[0].low_quality, low);
    assert_eq!(d.videos[0].frames.len(), sample("doorknob-hd-no-bar").len());
}

#[test]
fn ptx_signal_json_imports_as_one_video() {
    assert_eq!(ptx_time(123.0), "1.23e+02");
    assert_eq!(ptx_time(1.0), "1.0");
    assert_eq!(ptx_time(0.0333), "0.0333");
    let frames = sample("pattern-sd-grey-bar");
    let text = ptx_signal(&frames);
    let p = vpdq_import::parse_bytes(text.as_bytes(), "sig.json");
    assert_eq!(p.format, VpdqFormat::Signal);
    assert!(p.problems.is_empty(), "{:?}", p.problems);
    let got = &p.videos[0].frames;
    assert_eq!(got.len(), frames.len());
    for (i, (g, f)) in got.iter().zip(&frames).enumerate() {
        assert_eq!(
            (g.frame_number, g.quality, g.hash),
            (i as u64, f.quality, f.hash)
        );
    }
    // Frame numbers and timestamps do not take part in matching: the percentages are those
    // of the upstream file.
    let o = VpdqThresholds::default().match_options();
    let q = sample("pattern-sd-with-large-logo-bar");
    assert_eq!(
        video::match_percent(&q, got, &o),
        video::match_percent(&q, &frames, &o)
    );
    // The quirky `.3` timestamps of the format read back.
    let p = vpdq_import::parse_bytes(
        format!("[\"{},100,1.23e+02\"]", "ab".repeat(32)).as_bytes(),
        "x",
    );
    assert_eq!(p.videos[0].frames[0].timestamp, 123.0);
}

#[test]
fn ptx_file_exchange_lines_are_one_video_each() {
    let a = ptx_signal(&sample("chair-19-sd-bar")[..5]);
    let b = ptx_signal(&sample("pattern-sd-grey-bar")[..3]);
    let text = format!(
        "vpdq {a} case 17: source x\n\nvpdq {b}\npdq {}\n",
        "ab".repeat(32)
    );
    let p = vpdq_import::parse_bytes(text.as_bytes(), "exch.txt");
    assert_eq!(p.format, VpdqFormat::SignalLines);
    assert_eq!(p.videos.len(), 2);
    assert_eq!(p.videos[0].label.as_deref(), Some("case 17: source x"));
    assert_eq!(p.videos[1].label.as_deref(), Some("exch.txt:3"));
    assert_eq!(p.videos[1].frames.len(), 3);
    assert_eq!(p.refused, 1);
    assert_eq!(p.problems.len(), 1);
    assert_eq!(p.problems[0].line, 4);
}

#[test]
fn malformed_frames_are_reported_by_line_and_refuse_their_video() {
    let good = sample("chair-19-sd-bar");
    let mut lines: Vec<String> = good[..6].iter().map(VpdqFrame::to_line).collect();
    lines[2] = format!("2,100,{},0.067", "zz".repeat(32));
    lines[4] = "4,101".into();
    let p = vpdq_import::parse_bytes(lines.join("\n").as_bytes(), "bad.txt");
    assert_eq!(p.videos.len(), 0);
    assert_eq!(p.refused, 1);
    let at: Vec<u64> = p.problems.iter().map(|x| x.line).collect();
    assert_eq!(at, vec![3, 5]);
    // No content in the reasons.
    assert!(p.problems.iter().all(|x| !x.reason.contains("zz")));

    // An indented JSON list: the bad element's line and position.
    let h = "cd".repeat(32);
    let text = format!("[\n  \"{h},100,0.0\",\n  \"{h},abc,1.0\",\n  \"{h},100,2.0\"\n]\n");
    let p = vpdq_import::parse_bytes(text.as_bytes(), "x");
    assert_eq!(p.videos.len(), 0);
    assert_eq!((p.problems[0].line, p.problems[0].frame), (3, Some(2)));

    // The older JSON-object form is refused with a reason; empty videos are refused.
    let p = vpdq_import::parse_bytes(b"{\"0\": {\"quality\": 100}}", "x");
    assert_eq!((p.format, p.refused), (VpdqFormat::LegacyJson, 1));
    let p = vpdq_import::parse_bytes(b"[]", "x");
    assert_eq!((p.videos.len(), p.refused), (0, 1));
    let p = vpdq_import::parse_bytes(b"\n# nothing\n", "x");
    assert_eq!(
        (p.format, p.videos.len(), p.refused),
        (VpdqFormat::Empty, 0, 0)
    );
}

const SAMPLES: [&str; 9] = [
    "chair-19-sd-bar",
    "chair-22-sd-grey-bar",
    "chair-orig-22-fhd-no-bar",
    "chair-orig-22-hd-no-bar",
    "chair-orig-22-sd-bar",
    "doorknob-hd-no-bar",
    "pattern-sd-grey-bar",
    "pattern-sd-with-large-logo-bar",
    "test-padded-dimensions",
];

fn sample_list(name: &str, th: VpdqThresholds) -> NewVpdqList {
    NewVpdqList {
        name: name.into(),
        version: "v1".into(),
        thresholds: th,
        videos: SAMPLES
            .iter()
            .map(|n| NewVideo {
                label: Some(format!("{n}.txt")),
                frames: sample(n),
            })
            .collect(),
        sources: vec![source("build")],
    }
}

#[test]
fn build_open_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.vidx");
    let pdq = NewList {
        name: "images".into(),
        algo: Algo::Pdq,
        radius: 31,
        version: "1".into(),
        entries: vec![NewEntry {
            code: Algo::Pdq
                .parse_hex(&sample("chair-19-sd-bar")[0].hash.to_string())
                .unwrap(),
            label: Some("img".into()),
        }],
        sources: vec![],
    };
    let th = VpdqThresholds {
        semantics: Semantics::Cpp,
        query_pct: 70.0,
        ..VpdqThresholds::default()
    };
    build_with_videos(
        &path,
        vec![pdq],
        vec![sample_list("videos", th)],
        Provenance::default(),
    )
    .unwrap();
    let idx = Index::open(&path).unwrap();
    idx.verify_deep().unwrap();
    let li = idx.list("videos").unwrap();
    let l = &idx.manifest().lists[li];
    assert_eq!(l.algo, Algo::Vpdq);
    let frames: u64 = SAMPLES.iter().map(|n| sample(n).len() as u64).sum();
    assert_eq!((l.live, l.next_id), (frames, frames));
    let meta = l.vpdq.as_ref().unwrap();
    assert_eq!((meta.groups, meta.next_group, meta.thresholds), (9, 9, th));
    assert_eq!(idx.vpdq_lists(), vec![li]);
    assert_eq!(idx.content_sha256(li), l.sha256);
    let back = idx.videos(li).unwrap();
    assert_eq!(back.len(), 9);
    for (i, (v, n)) in back.iter().zip(SAMPLES).enumerate() {
        assert_eq!(v.id, i as u64);
        assert_eq!(v.label.as_deref(), Some(&*format!("{n}.txt")));
        assert_eq!(v.frames, sample(n), "{n}");
    }
    // Single-hash queries never reach a vPDQ list; the PDQ list still answers.
    let q = [sample("chair-19-sd-bar")[0].hash.0];
    assert!(
        idx.search(li, Queries::Pdq(&q), &Params::range(31))
            .unwrap()[0]
            .is_empty()
    );
    assert_eq!(
        idx.search(0, Queries::Pdq(&q), &Params::range(0)).unwrap()[0].len(),
        1
    );
    // A query video finds itself at 100% with the list's thresholds.
    let m = idx
        .match_vpdq(&sample("pattern-sd-grey-bar"), &VpdqMatchParams::default())
        .unwrap();
    let me = m.iter().find(|m| m.group == 6).unwrap();
    assert!(me.is_match);
    assert_eq!((me.percent.query, me.percent.target), (100.0, 100.0));
    assert_eq!(me.label.as_deref(), Some("pattern-sd-grey-bar.txt"));
    // The in-memory build is the same index.
    let mem = Index::from_lists_with_videos(
        vec![],
        vec![sample_list("videos", th)],
        Provenance::default(),
    )
    .unwrap();
    assert_eq!(mem.videos(0).unwrap(), back);
}

// ---------------------------------------------------------------------------------------------
// The index matcher against brute force.

/// Brute force: `match_percent` against every live video, kept by the same rule.
fn brute(
    videos: &[(u64, NewVideo)],
    query: &[VpdqFrame],
    th: &VpdqThresholds,
    include_near: bool,
) -> Vec<(u64, f64, f64, usize, usize, bool)> {
    let o = th.match_options();
    videos
        .iter()
        .filter_map(|(id, v)| {
            let m = video::match_percent(query, &v.frames, &o);
            let is = th.is_match(&m);
            (is || (include_near && m.query > 0.0)).then_some((
                *id,
                m.query,
                m.target,
                m.query_frames,
                m.target_frames,
                is,
            ))
        })
        .collect()
}

fn flat(ms: &[VpdqMatch]) -> Vec<(u64, f64, f64, usize, usize, bool)> {
    ms.iter()
        .map(|m| {
            (
                m.group,
                m.percent.query,
                m.percent.target,
                m.percent.query_frames,
                m.percent.target_frames,
                m.is_match,
            )
        })
        .collect()
}

/// A hash `bits` random bit flips away from `base`.
fn near(base: PdqHash, flips: &[u8]) -> PdqHash {
    let mut h = base;
    for &b in flips {
        h.0[usize::from(b) / 64] ^= 1 << (b % 64);
    }
    h
}

/// Random videos drawn around a few base hashes, so that frame distances straddle every
/// threshold; with repeated hashes inside videos and qualities on both sides of the gate.
fn arb_videos() -> impl Strategy<Value = (Vec<PdqHash>, Vec<NewVideo>)> {
    let bases = prop::collection::vec(any::<[u64; 4]>().prop_map(PdqHash), 1..4);
    bases.prop_flat_map(|bases| {
        let nb = bases.len();
        let frame = (
            0..nb,
            prop::collection::vec(any::<u8>(), 0..40),
            prop_oneof![Just(100u8), Just(50u8), Just(49u8), 0..=100u8],
            any::<bool>(),
        );
        let video = prop::collection::vec(frame, 1..12);
        let b2 = bases.clone();
        (
            Just(bases),
            prop::collection::vec(video, 1..10).prop_map(move |vs| {
                vs.into_iter()
                    .enumerate()
                    .map(|(vi, fs)| {
                        let mut frames: Vec<VpdqFrame> = Vec::new();
                        for (i, (b, flips, q, repeat)) in fs.into_iter().enumerate() {
                            let hash = match (repeat, frames.last()) {
                                (true, Some(prev)) => prev.hash,
                                _ => near(b2[b], &flips),
                            };
                            frames.push(VpdqFrame {
                                frame_number: i as u64,
                                quality: q,
                                hash,
                                timestamp: i as f32 / 30.0,
                            });
                        }
                        NewVideo {
                            label: (vi % 2 == 0).then(|| format!("v{vi}")),
                            frames,
                        }
                    })
                    .collect()
            }),
        )
    })
}

fn arb_query(bases: Vec<PdqHash>) -> impl Strategy<Value = Vec<VpdqFrame>> {
    let nb = bases.len();
    prop::collection::vec(
        (
            0..nb,
            prop::collection::vec(any::<u8>(), 0..40),
            prop_oneof![Just(100u8), Just(49u8), 0..=100u8],
            any::<bool>(),
        ),
        0..12,
    )
    .prop_map(move |fs| {
        let mut out: Vec<VpdqFrame> = Vec::new();
        for (i, (b, flips, q, repeat)) in fs.into_iter().enumerate() {
            let hash = match (repeat, out.last()) {
                (true, Some(p)) => p.hash,
                _ => near(bases[b], &flips),
            };
            out.push(VpdqFrame {
                frame_number: i as u64,
                quality: q,
                hash,
                timestamp: 0.0,
            });
        }
        out
    })
}

fn arb_thresholds() -> impl Strategy<Value = VpdqThresholds> {
    (
        prop_oneof![Just(Semantics::Cpp), Just(Semantics::Ptx)],
        prop_oneof![
            Just(31u32),
            Just(30),
            Just(32),
            Just(0),
            Just(1),
            Just(10),
            Just(64),
            Just(256)
        ],
        prop_oneof![Just(50u8), Just(0), Just(80)],
        prop_oneof![Just(80.0f64), Just(0.0), Just(50.0), Just(100.0)],
        prop_oneof![Just(0.0f64), Just(50.0), Just(100.0)],
    )
        .prop_map(
            |(semantics, distance, quality, query_pct, target_pct)| VpdqThresholds {
                semantics,
                distance,
                quality,
                query_pct,
                target_pct,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// One segment, in memory: the index matcher returns exactly brute force's videos and
    /// numbers, under both semantics, with and without near misses.
    #[test]
    fn index_matcher_equals_brute_force(
        (vq, th) in arb_videos()
            .prop_flat_map(|(bases, vs)| (Just(vs), arb_query(bases)))
            .prop_flat_map(|x| (Just(x), arb_thresholds())),
        include_near in any::<bool>(),
    ) {
        let (videos, query) = vq;
        let idx = Index::from_lists_with_videos(
            vec![],
            vec![NewVpdqList {
                name: "v".into(),
                version: "1".into(),
                thresholds: th,
                videos: videos.clone(),
                sources: vec![],
            }],
            Provenance::default(),
        )
        .unwrap();
        let got = idx.match_vpdq(&query, &VpdqMatchParams { thresholds: None, include_near })
            .unwrap();
        let numbered: Vec<(u64, NewVideo)> =
            videos.into_iter().enumerate().map(|(i, v)| (i as u64, v)).collect();
        prop_assert_eq!(flat(&got), brute(&numbered, &query, &th, include_near));
        for m in &got {
            prop_assert_eq!(m.label.clone(), numbered[m.group as usize].1.label.clone());
        }
    }
}

/// Several segments (build + two adds) and removed videos, through files: still brute force,
/// for random queries and thresholds (a seeded loop over the same generators).
#[test]
fn index_matcher_equals_brute_force_across_segments_and_removals() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.vidx");
    for round in 0..12 {
        let (bases, a) = arb_videos().new_tree(&mut runner).unwrap().current();
        let b = arb_videos().new_tree(&mut runner).unwrap().current().1;
        let c = arb_videos().new_tree(&mut runner).unwrap().current().1;
        build_with_videos(
            &path,
            vec![],
            vec![NewVpdqList {
                name: "v".into(),
                version: "1".into(),
                thresholds: VpdqThresholds::default(),
                videos: a.clone(),
                sources: vec![],
            }],
            Provenance::default(),
        )
        .unwrap();
        let idx = Index::open(&path).unwrap();
        let r = idx
            .add_videos(&path, "v", b.clone(), source("add"), Provenance::default())
            .unwrap();
        assert_eq!(r, a.len() as u64..(a.len() + b.len()) as u64);
        let idx = Index::open(&path).unwrap();
        idx.add_videos(&path, "v", c.clone(), source("add"), Provenance::default())
            .unwrap();
        let idx = Index::open(&path).unwrap();
        let all: Vec<(u64, NewVideo)> = a
            .into_iter()
            .chain(b)
            .chain(c)
            .enumerate()
            .map(|(i, v)| (i as u64, v))
            .collect();
        // Remove every third video (and an unknown id).
        let gone: Vec<u64> = all
            .iter()
            .map(|x| x.0)
            .filter(|i| i % 3 == round % 3)
            .collect();
        let mut ids = gone.clone();
        ids.push(10_000);
        let n = idx
            .remove(&path, "v", &ids, source("remove"), Provenance::default())
            .unwrap();
        assert_eq!(n, gone.len() as u64);
        let idx = Index::open(&path).unwrap();
        idx.verify_deep().unwrap();
        let meta = idx.manifest().lists[0].vpdq.clone().unwrap();
        assert_eq!(meta.groups + meta.removed_groups, all.len() as u64);
        assert_eq!(meta.removed_groups, gone.len() as u64);
        assert_eq!(idx.content_sha256(0), idx.manifest().lists[0].sha256);
        let live: Vec<(u64, NewVideo)> =
            all.into_iter().filter(|(i, _)| !gone.contains(i)).collect();
        let back = idx.videos(0).unwrap();
        assert_eq!(back.len(), live.len());
        for (x, (id, v)) in back.iter().zip(&live) {
            assert_eq!((x.id, &x.frames, &x.label), (*id, &v.frames, &v.label));
        }
        for _ in 0..20 {
            let q = arb_query(bases.clone())
                .new_tree(&mut runner)
                .unwrap()
                .current();
            let th = arb_thresholds().new_tree(&mut runner).unwrap().current();
            for include_near in [false, true] {
                let got = idx
                    .match_vpdq(
                        &q,
                        &VpdqMatchParams {
                            thresholds: Some(th),
                            include_near,
                        },
                    )
                    .unwrap();
                assert_eq!(flat(&got), brute(&live, &q, &th, include_near), "{th:?}");
            }
            // A live video as its own query: found.
            if let Some((_, v)) = live.first() {
                let got = idx
                    .match_vpdq_list(0, &v.frames, &VpdqThresholds::default(), true)
                    .unwrap();
                assert_eq!(
                    flat(&got),
                    brute(&live, &v.frames, &VpdqThresholds::default(), true)
                );
            }
        }
    }
}

#[test]
fn lists_refuse_the_wrong_kind_of_entries() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.vidx");
    let pdq = NewList {
        name: "images".into(),
        algo: Algo::Pdq,
        radius: 31,
        version: "1".into(),
        entries: vec![],
        sources: vec![],
    };
    build_with_videos(
        &path,
        vec![pdq],
        vec![sample_list("videos", VpdqThresholds::default())],
        Provenance::default(),
    )
    .unwrap();
    let idx = Index::open(&path).unwrap();
    let v = NewVideo {
        label: None,
        frames: sample("chair-19-sd-bar"),
    };
    assert!(matches!(
        idx.add_videos(
            &path,
            "images",
            vec![v.clone()],
            source("add"),
            Provenance::default()
        ),
        Err(IndexError::WrongKind { .. })
    ));
    assert!(matches!(
        idx.add(
            &path,
            "videos",
            vec![NewEntry {
                code: vec![0; 32],
                label: None
            }],
            source("add"),
            Provenance::default()
        ),
        Err(IndexError::WrongKind { .. })
    ));
    let empty = NewVideo {
        label: None,
        frames: vec![],
    };
    assert!(matches!(
        idx.add_videos(
            &path,
            "videos",
            vec![empty],
            source("add"),
            Provenance::default()
        ),
        Err(IndexError::Vpdq(_))
    ));
    // Replace swaps the videos and the thresholds.
    let th = VpdqThresholds {
        semantics: Semantics::Cpp,
        ..VpdqThresholds::default()
    };
    idx.replace_videos(
        &path,
        NewVpdqList {
            name: "videos".into(),
            version: "2".into(),
            thresholds: th,
            videos: vec![v],
            sources: vec![source("replace")],
        },
        Provenance::default(),
    )
    .unwrap();
    let idx = Index::open(&path).unwrap();
    let l = &idx.manifest().lists[1];
    assert_eq!(l.vpdq.as_ref().unwrap().groups, 1);
    assert_eq!(idx.vpdq_thresholds(1), Some(th));
    assert_eq!(l.sources.len(), 2);
    idx.verify_deep().unwrap();
}
