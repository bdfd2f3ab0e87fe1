//! Bodies of the cargo-fuzz targets in `fuzz/` (not a public API).
//!
//! Each `pub fn NAME(data: &[u8])` is the whole of `fuzz/fuzz_targets/NAME.rs`, and
//! `tests/fuzz_corpus.rs` replays `fuzz/corpus/NAME/` and `fuzz/regressions/NAME/` through the
//! same function on stable Rust. A body returns for every input the library handles (errors
//! included) and panics when an invariant breaks: a decoded buffer of the wrong size, a list
//! record on a line that does not exist, an index that opens but cannot be searched.
//!
//! Under libFuzzer every panic aborts, even one the library catches (`libfuzzer-sys` installs
//! an aborting panic hook), so fuzzing also reports the third-party decoder panics that
//! `decode::decode` turns into [`DecodeError::Panicked`]; the replay test accepts those, since
//! containing them is the library's documented behaviour.

use std::collections::{BTreeMap, HashSet};
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

use crate::decode::{self, DecodeError, DecodeOptions, Decoded, ImageFormat};
use crate::index::import::{self, ParseOptions, Parsed};
use crate::index::store::hex;
use crate::index::{Algo, Backend, Index, Kernel, NewEntry, NewList, Params, Provenance, Queries};
use crate::{HashOptions, RgbImage, hash_decoded};

/// Pixel limit for the decode targets: far below the CLI default (200 M), so that a header
/// claiming a large image is refused before allocation and a fuzzing process stays small.
pub const MAX_PIXELS: u64 = 1 << 22;

/// Decoded images up to this many pixels are also hashed and EXIF-rotated.
const SMALL_PIXELS: u64 = 1 << 16;

/// A target body.
pub type Body = fn(&[u8]);

/// Every target: its name (the directory under `fuzz/corpus/`) and body.
pub const TARGETS: &[(&str, Body)] = &[
    ("probe", probe),
    ("decode_jpeg", decode_jpeg),
    ("decode_png", decode_png),
    ("decode_gif", decode_gif),
    ("decode_webp", decode_webp),
    ("decode_bmp", decode_bmp),
    ("decode_tiff", decode_tiff),
    ("exif", exif),
    ("list_detect", list_detect),
    ("list_threatexchange", list_threatexchange),
    ("list_csv", list_csv),
    ("list_jsonl", list_jsonl),
    ("list_build", list_build),
    ("list_vpdq", list_vpdq),
    ("h264_packets", h264_packets),
    ("index_open", index_open),
    ("index_patch", index_patch),
];

// ---------------------------------------------------------------------------------------------
// Decoders

/// `decode::probe` on any bytes: a header it accepts has the format `sniff` names, and is
/// accepted again (probe is deterministic).
pub fn probe(data: &[u8]) {
    let sniffed = decode::sniff(data);
    match decode::probe(data) {
        Ok(info) => {
            assert_eq!(Some(info.format), sniffed, "probe and sniff disagree");
            assert!(
                !matches!(
                    info.format,
                    ImageFormat::Heic | ImageFormat::Avif | ImageFormat::Jxl
                ),
                "probe accepted an unsupported format"
            );
            let again = decode::probe(data).expect("probe is deterministic");
            assert_eq!(again, info);
        }
        Err(DecodeError::Empty) => assert!(data.is_empty()),
        Err(DecodeError::NotAnImage) => assert_eq!(sniffed, None),
        Err(DecodeError::Internal(m)) => panic!("internal error from probe: {m}"),
        Err(_) => assert!(
            sniffed.is_some(),
            "a probe error past sniffing without a format"
        ),
    }
}

/// JPEG through libjpeg-turbo ([`decode_format`]).
pub fn decode_jpeg(data: &[u8]) {
    decode_format(data, ImageFormat::Jpeg);
}

/// PNG through the `png` crate ([`decode_format`]).
pub fn decode_png(data: &[u8]) {
    decode_format(data, ImageFormat::Png);
}

/// GIF through the `gif` crate ([`decode_format`]).
pub fn decode_gif(data: &[u8]) {
    decode_format(data, ImageFormat::Gif);
}

/// WebP through `image` ([`decode_format`]).
pub fn decode_webp(data: &[u8]) {
    decode_format(data, ImageFormat::WebP);
}

/// BMP through `image` ([`decode_format`]).
pub fn decode_bmp(data: &[u8]) {
    decode_format(data, ImageFormat::Bmp);
}

/// TIFF through `image` ([`decode_format`]).
pub fn decode_tiff(data: &[u8]) {
    decode_format(data, ImageFormat::Tiff);
}

/// Decode bytes of format `want` (others are skipped, so the fuzzer keeps to one decoder) as
/// `vigil scan` does, and check what comes out: header size = image size, `w*h*3` bytes, the
/// pixel limit respected, errors consistent with the header; small images are also hashed
/// and decoded with `--exif-rotate`.
pub fn decode_format(data: &[u8], want: ImageFormat) {
    if decode::sniff(data) != Some(want) {
        return;
    }
    let opts = DecodeOptions {
        max_pixels: MAX_PIXELS,
        exif_rotate: false,
    };
    let probed = decode::probe(data);
    let d = match decode::decode(data, &opts) {
        Ok(d) => d,
        Err(DecodeError::TooLarge { width, height, .. }) => {
            assert!(u64::from(width) * u64::from(height) > MAX_PIXELS);
            return;
        }
        Err(DecodeError::ZeroSize { width, height }) => {
            assert!(width == 0 || height == 0);
            return;
        }
        // Contained by design (fuzzing still reports it: see the module docs).
        Err(DecodeError::Panicked(f)) => {
            assert_eq!(f, want);
            return;
        }
        Err(DecodeError::Internal(m)) => panic!("internal decoder error: {m}"),
        Err(DecodeError::Empty | DecodeError::NotAnImage | DecodeError::Unsupported(_)) => {
            panic!("sniffed as {want:?}, refused as another format")
        }
        Err(_) => return,
    };
    let info = probed.expect("decode succeeded where probe failed");
    check_decoded(&d, want, info.width, info.height);
    let (w, h) = (info.width, info.height);
    if u64::from(w) * u64::from(h) > SMALL_PIXELS {
        return;
    }
    let hashes = hash_decoded(&d, &HashOptions::default());
    assert_eq!((hashes.width, hashes.height), (w, h));
    if let Some(p) = hashes.pdq {
        assert!(p.quality <= 100, "PDQ quality {}", p.quality);
    }
    let rotated = decode::decode(
        data,
        &DecodeOptions {
            exif_rotate: true,
            ..opts
        },
    )
    .expect("decodes a second time, with --exif-rotate");
    let (rw, rh) = match rotated.exif_orientation {
        Some(o) => {
            assert!((1..=8).contains(&o), "orientation {o}");
            if o >= 5 { (h, w) } else { (w, h) }
        }
        None => (w, h),
    };
    check_decoded(&rotated, want, rw, rh);
    if rotated.exif_orientation.is_none_or(|o| o == 1) {
        assert_eq!(
            rotated.rgb.data, d.rgb.data,
            "orientation 1 changed the pixels"
        );
    }
}

fn check_decoded(d: &Decoded, want: ImageFormat, w: u32, h: u32) {
    assert_eq!(d.format, want);
    assert_eq!(
        (d.rgb.width, d.rgb.height),
        (w, h),
        "decoded size vs header"
    );
    assert!(w > 0 && h > 0, "decoded a {w}x{h} image");
    assert!(
        u64::from(w) * u64::from(h) <= MAX_PIXELS,
        "pixel limit ignored"
    );
    assert_eq!(
        d.rgb.data.len(),
        w as usize * h as usize * 3,
        "RGB buffer length"
    );
    let s = d.source;
    assert!((1..=4).contains(&s.channels), "{s:?}");
    assert!(matches!(s.bit_depth, 1 | 2 | 4 | 8 | 16), "{s:?}");
    assert!(
        !s.cmyk || (want == ImageFormat::Jpeg && s.channels == 4),
        "{s:?}"
    );
    assert!(!s.palette || s.channels >= 3, "{s:?}");
}

/// EXIF orientation on any container bytes, and [`decode::apply_orientation`] on a small
/// image made from the input: every orientation is a permutation of the pixels that its
/// inverse undoes.
pub fn exif(data: &[u8]) {
    if let Some(o) = decode::orientation(data) {
        assert!((1..=8).contains(&o), "orientation {o}");
    }
    let [a, b, c, rest @ ..] = data else {
        return;
    };
    let (w, h, o) = (
        u32::from(a % 9) + 1,
        u32::from(b % 9) + 1,
        u16::from(*c % 10),
    );
    let n = (w * h) as usize;
    let data: Vec<u8> = (0..n * 3)
        .map(|i| rest.get(i).copied().unwrap_or(i as u8))
        .collect();
    let img = RgbImage {
        width: w,
        height: h,
        data,
    };
    let out = decode::apply_orientation(&img, o);
    let swap = (5..=8).contains(&o);
    assert_eq!(
        (out.width, out.height),
        if swap { (h, w) } else { (w, h) },
        "orientation {o}"
    );
    let mut before: Vec<&[u8]> = img.data.chunks(3).collect();
    let mut after: Vec<&[u8]> = out.data.chunks(3).collect();
    before.sort();
    after.sort();
    assert_eq!(before, after, "orientation {o} is not a permutation");
    let inverse = match o {
        6 => 8,
        8 => 6,
        o => o,
    };
    let back = decode::apply_orientation(&out, inverse);
    assert_eq!(back, img, "orientation {o} then {inverse}");
}

// ---------------------------------------------------------------------------------------------
// Lists

/// The parse options a first byte selects: no algorithm (detect by length) or one of them.
fn options(b: u8) -> ParseOptions {
    ParseOptions {
        algo: match b % 6 {
            0 => None,
            i => Some(Algo::ALL[usize::from(i) - 1]),
        },
    }
}

/// Lines as `str::lines` counts them in the lossy text, at least 1. CSV also ends a record
/// at a lone CR, so for CSV every CR counts as well.
fn line_count(bytes: &[u8], csv: bool) -> u64 {
    let text = String::from_utf8_lossy(bytes);
    let crs = if csv {
        bytes.iter().filter(|&&b| b == b'\r').count()
    } else {
        0
    };
    (text.lines().count() as u64 + crs as u64).max(1)
}

/// Parse, check the result against the input, then apply the list rules both ways.
fn parse_and_check(bytes: &[u8], opts: &ParseOptions) -> Parsed {
    let p = import::parse_bytes(bytes, opts);
    let format = p.format.expect("a format is always named");
    let lines = line_count(bytes, format == import::Format::VigilCsv);
    assert_eq!(p.sha256, hex(&Sha256::digest(bytes)));
    assert!(p.lines <= lines, "{} lines read of {lines}", p.lines);
    let per_line = if format == import::Format::VigilJsonl {
        4
    } else {
        1
    };
    assert!(
        (p.records.len() + p.problems.len()) as u64 <= per_line * lines,
        "{} records and {} problems from {lines} lines",
        p.records.len(),
        p.problems.len()
    );
    assert!(p.error_rows <= lines);
    if format == import::Format::Empty {
        assert!(p.records.is_empty() && p.problems.is_empty());
    }
    let mut last = 0;
    for r in &p.records {
        assert!(r.line >= 1 && r.line <= lines, "record on line {}", r.line);
        assert!(r.line >= last, "records out of line order");
        last = r.line;
        assert_eq!(r.code.len(), r.algo.code_bytes(), "{r:?}");
        assert_eq!(
            r.algo.parse_hex(&r.algo.to_hex(&r.code)).as_ref(),
            Some(&r.code)
        );
        if let Some(d) = &r.dihedral {
            assert_eq!(d.len(), 8);
            assert!(d.iter().all(|c| c.len() == r.algo.code_bytes()));
        }
        if let (Some(a), import::Format::Plain) = (opts.algo, format) {
            assert_eq!(r.algo, a, "plain lines take the named algorithm");
        }
    }
    for q in &p.problems {
        assert!(q.line >= 1 && q.line <= lines, "problem on line {}", q.line);
    }
    let checked = import::check_entries("fuzz", &p, false, false, &|_, _| false)
        .expect("non-strict checking never fails");
    let accepted: usize = checked.entries.values().map(Vec::len).sum();
    assert_eq!(
        accepted + checked.problems.len() - p.problems.len(),
        p.records.len(),
        "every record is accepted or a problem"
    );
    assert!(checked.problems.windows(2).all(|w| w[0].line <= w[1].line));
    for (algo, entries) in &checked.entries {
        let distinct: HashSet<&[u8]> = entries.iter().map(|e| e.code.as_slice()).collect();
        assert_eq!(distinct.len(), entries.len(), "duplicate {algo:?} accepted");
        assert!(entries.iter().all(|e| e.code.iter().any(|&b| b != 0)));
    }
    let strict = import::check_entries("fuzz", &p, true, false, &|_, _| false);
    assert_eq!(strict.is_err(), !checked.problems.is_empty());
    p
}

/// Any list file, its format detected as `vigil index build` / `vigil scan --list` do; the
/// first byte picks `--algo`.
pub fn list_detect(data: &[u8]) {
    let Some((&o, rest)) = data.split_first() else {
        return;
    };
    parse_and_check(rest, &options(o));
}

/// ThreatExchange `<algo> <hash>` lines (a first line is put in front so that detection picks
/// the format whatever the input's own first line).
pub fn list_threatexchange(data: &[u8]) {
    let mut bytes =
        b"pdq f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22\n".to_vec();
    bytes.extend_from_slice(data);
    let p = parse_and_check(&bytes, &ParseOptions::default());
    assert_eq!(p.format, Some(import::Format::ThreatExchange));
}

/// `vigil hash` CSV rows under a fixed header with the dihedral columns.
pub fn list_csv(data: &[u8]) {
    let mut bytes = b"path,algo,hash,quality,width,height,error,path_bytes,dih_orig,dih_rot90,\
dih_rot180,dih_rot270,dih_flipx,dih_flipy,dih_flipplus1,dih_flipminus1\n"
        .to_vec();
    bytes.extend_from_slice(data);
    let p = parse_and_check(&bytes, &ParseOptions::default());
    assert_eq!(p.format, Some(import::Format::VigilCsv));
}

/// vigil JSONL lines (after a fixed first line, a skipped-file row, so that detection picks
/// the format).
pub fn list_jsonl(data: &[u8]) {
    let mut bytes = b"{\"status\":\"skipped\"}\n".to_vec();
    bytes.extend_from_slice(data);
    let p = parse_and_check(&bytes, &ParseOptions::default());
    assert_eq!(p.format, Some(import::Format::VigilJsonl));
}

/// The skip plan's reading of H.264 packets (`video::h264`): an `avcC` record (its length in
/// the first byte), then packets, each behind a 2-byte big-endian length. Any input reads to
/// facts or to "no plan" without a panic, the same way twice; a packet's picture is only
/// given for a packet with a slice.
pub fn h264_packets(data: &[u8]) {
    use crate::video::h264::{Scanner, avc_config, sequence_holds};
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let (extradata, mut rest) = rest.split_at(usize::from(n).min(rest.len()));
    let Some(config) = avc_config(extradata) else {
        return;
    };
    let mut packets = Vec::new();
    while rest.len() >= 2 {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]])).min(rest.len() - 2);
        packets.push(&rest[2..2 + len]);
        rest = &rest[2 + len..];
    }
    let read = |packets: &[&[u8]]| {
        let mut scanner = Scanner::new(&config);
        let facts: Vec<_> = packets
            .iter()
            .map(|p| {
                let start = scanner.can_start_here();
                (start, scanner.x264_build(), scanner.packet(p))
            })
            .collect();
        facts
    };
    let facts = read(&packets);
    assert_eq!(facts, read(&packets), "the same packets read differently");
    let pictures: Option<Vec<_>> = facts.iter().map(|f| f.2.and_then(|p| p.picture)).collect();
    if let Some(pictures) = pictures {
        let idr: Vec<bool> = facts.iter().map(|f| f.2.is_some_and(|p| p.idr)).collect();
        let reference: Vec<bool> = facts
            .iter()
            .map(|f| f.2.is_some_and(|p| p.reference))
            .collect();
        let decoded: Vec<bool> = reference
            .iter()
            .enumerate()
            .map(|(i, &r)| r || i % 3 == 0)
            .collect();
        // Timestamps: decoding order with every pair after the first swapped.
        let pts: Vec<i64> = (0..pictures.len() as i64)
            .map(|i| i ^ i64::from(i > 0))
            .collect();
        sequence_holds(&pictures, &idr, &reference, &decoded, &pts);
    }
}

/// A vPDQ list file (`vigil index build --vpdq`): upstream lines, a python-threatexchange
/// signal, file-exchange lines, or anything else. The parse is deterministic; problems name
/// lines that exist (and list positions from 1), in line order; every video has frames, a
/// quality ≤ 100 for each, and its count of frames below 50; a video of the one-video line
/// format has the frame numbers of its lines, and its frames written back as upstream lines
/// parse to the same frame numbers, qualities and hashes.
pub fn list_vpdq(data: &[u8]) {
    use crate::index::vpdq_import::{VpdqFormat, parse_bytes};
    let p = parse_bytes(data, "fuzz.txt");
    let again = parse_bytes(data, "fuzz.txt");
    assert_eq!(p.videos, again.videos);
    assert_eq!(p.problems, again.problems);
    let lines = String::from_utf8_lossy(data).lines().count().max(1) as u64;
    let mut last = 0;
    for pr in &p.problems {
        assert!(
            pr.line >= 1 && pr.line <= lines,
            "problem on line {} of {lines}",
            pr.line
        );
        assert!(pr.line >= last, "problems out of line order");
        assert_ne!(pr.frame, Some(0), "list positions count from 1");
        last = pr.line;
    }
    for v in &p.videos {
        assert!(!v.frames.is_empty(), "a video without frames was accepted");
        assert!(v.line >= 1 && v.line <= lines);
        assert!(v.frames.iter().all(|f| f.quality <= 100));
        let low = v.frames.iter().filter(|f| f.quality < 50).count() as u64;
        assert_eq!(v.low_quality, low);
        let text = crate::video::write_vpdq(&v.frames);
        let back = crate::video::parse_vpdq(&text).expect("written lines parse");
        assert_eq!(back.len(), v.frames.len());
        for (a, b) in back.iter().zip(&v.frames) {
            assert_eq!(
                (a.frame_number, a.quality, a.hash),
                (b.frame_number, b.quality, b.hash)
            );
        }
    }
    match p.format {
        VpdqFormat::Empty => assert!(p.videos.is_empty() && p.problems.is_empty()),
        VpdqFormat::Lines | VpdqFormat::Signal | VpdqFormat::LegacyJson => {
            assert!(
                p.videos.len() <= 1,
                "a one-video format gave several videos"
            )
        }
        VpdqFormat::SignalLines => {}
    }
    if p.format == VpdqFormat::LegacyJson {
        assert!(p.videos.is_empty() && p.refused == 1);
    }
}

/// A list file made into an in-memory index as `vigil scan --list` and `vigil match --list`
/// do; every accepted entry is then found by exact lookup and by a range search, with its
/// label, and the index passes `vigil index verify`'s checks.
pub fn list_build(data: &[u8]) {
    let Some((&o, rest)) = data.split_first() else {
        return;
    };
    let p = parse_and_check(rest, &options(o));
    let checked =
        import::check_entries("fuzz", &p, false, o & 0x80 != 0, &|_, _| false).expect("non-strict");
    let per_algo: BTreeMap<Algo, Vec<NewEntry>> = checked.entries;
    let lists: Vec<NewList> = per_algo
        .iter()
        .map(|(algo, entries)| NewList {
            name: format!("fuzz.{}", algo.name()),
            algo: *algo,
            radius: algo.default_radius(),
            version: "fuzz".into(),
            entries: entries.clone(),
            sources: Vec::new(),
        })
        .collect();
    let idx = Index::from_lists(lists, Provenance::default()).expect("accepted entries build");
    idx.verify_deep().expect("a freshly built index verifies");
    for (li, (algo, entries)) in per_algo.iter().enumerate() {
        assert_eq!(idx.manifest().lists[li].algo, *algo);
        assert_eq!(idx.entries(li).count(), entries.len());
        assert_eq!(idx.content_sha256(li), idx.manifest().lists[li].sha256);
        for (id, e) in entries.iter().enumerate().take(32) {
            let id = id as u64;
            assert_eq!(idx.find_exact(li, &e.code).expect("search"), vec![id]);
            let hits = search_code(&idx, li, *algo, &e.code, Backend::Auto);
            let hit = hits
                .iter()
                .find(|h| h.id == id)
                .expect("an entry is within the radius of itself");
            assert_eq!(hit.distance, 0);
            let want = e.label.as_deref().filter(|l| !l.is_empty());
            assert_eq!(idx.label(li, hit), want, "label of entry {id}");
        }
    }
}

/// Search list `li` for one code with the list's radius.
fn search_code(
    idx: &Index,
    li: usize,
    algo: Algo,
    code: &[u8],
    backend: Backend,
) -> Vec<crate::index::Hit> {
    let words: Vec<u64> = code
        .chunks(8)
        .map(|c| {
            let mut b = [0u8; 8];
            b[..c.len()].copy_from_slice(c);
            u64::from_le_bytes(b)
        })
        .collect();
    let radius = idx.manifest().lists[li].radius.min(algo.bits());
    let p = Params {
        radius,
        k: None,
        backend,
        kernel: Kernel::best(),
    };
    let out = match algo {
        Algo::Pdq if words.len() == 4 => idx.search(
            li,
            Queries::Pdq(&[[words[0], words[1], words[2], words[3]]]),
            &p,
        ),
        Algo::Phash if words.len() == 1 => idx.search(li, Queries::Phash(&[[words[0]]]), &p),
        Algo::Pdq | Algo::Phash => return Vec::new(),
        a => idx.search(li, Queries::Digest(a, &[code.to_vec()]), &p),
    };
    match out {
        Ok(mut v) => v.pop().unwrap_or_default(),
        Err(_) => Vec::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// Index files

/// Rewrite the checksums of an index container (section CRCs, table CRC, file length, header
/// CRC) wherever the header and table can be read, so that mutations reach the checks behind
/// them. Anything out of bounds is left alone.
pub fn fix_checksums(b: &mut [u8]) {
    const HEADER: usize = 64;
    const ENTRY: usize = 32;
    if b.len() < HEADER || &b[..8] != b"VIGILIDX" {
        return;
    }
    let u32_at = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().expect("4"));
    let u64_at = |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().expect("8"));
    let len = b.len() as u64;
    b[32..40].copy_from_slice(&len.to_le_bytes());
    let count = u32_at(b, 16) as usize;
    let table = u64_at(b, 24);
    if let Some(end) = count
        .checked_mul(ENTRY)
        .and_then(|t| usize::try_from(table).ok()?.checked_add(t))
        .filter(|&end| end <= b.len())
    {
        let start = table as usize;
        for e in (start..end).step_by(ENTRY) {
            let (off, slen) = (u64_at(b, e + 8), u64_at(b, e + 16));
            if let Some(s) = off
                .checked_add(slen)
                .filter(|&s| s <= len)
                .map(|s| off as usize..s as usize)
            {
                let crc = crc32fast::hash(&b[s]);
                b[e + 24..e + 28].copy_from_slice(&crc.to_le_bytes());
            }
        }
        let crc = crc32fast::hash(&b[start..end]);
        b[40..44].copy_from_slice(&crc.to_le_bytes());
    }
    let crc = crc32fast::hash(&b[..60]);
    b[60..64].copy_from_slice(&crc.to_le_bytes());
}

/// Exercise an index that opened: whatever `Index::open` accepts must be searchable, listable
/// and labelled without a panic (`vigil scan --index` and `vigil match` search without
/// `verify_deep`); when it also passes `verify_deep`, the MIH and scan paths agree.
fn use_index(idx: &Index, probe: &[u8]) {
    let deep = idx.verify_deep().is_ok();
    for (li, l) in idx.manifest().lists.iter().enumerate() {
        let algo = l.algo;
        let first: Vec<Vec<u8>> = idx
            .entries(li)
            .take(4)
            .map(|(_, c, _)| c.to_vec())
            .collect();
        let _ = idx.entries(li).take(4096).count();
        let mut codes = first;
        let mut q = vec![0u8; algo.code_bytes()];
        for (d, s) in q.iter_mut().zip(probe) {
            *d = *s;
        }
        codes.push(q);
        for code in &codes {
            let _ = idx.find_exact(li, code);
            let auto = search_code(idx, li, algo, code, Backend::Auto);
            for h in &auto {
                let _ = idx.label(li, h);
                let _ = idx.code(li, h.segment, h.entry);
            }
            if algo.is_perceptual() {
                let mut scan = search_code(idx, li, algo, code, Backend::Scan);
                let mih = search_code(idx, li, algo, code, Backend::Mih);
                if deep {
                    scan.sort_by_key(|h| (h.distance, h.id));
                    let mut m = mih;
                    m.sort_by_key(|h| (h.distance, h.id));
                    // MIH refuses radii past its limit (an error, so no hits): compare only
                    // when it answered.
                    if !m.is_empty() || scan.is_empty() {
                        assert_eq!(
                            m.iter().map(|h| (h.id, h.distance)).collect::<Vec<_>>(),
                            scan.iter().map(|h| (h.id, h.distance)).collect::<Vec<_>>(),
                            "MIH and scan disagree on a verified index"
                        );
                    }
                }
            }
        }
        if deep {
            let _ = idx.content_sha256(li);
        }
    }
}

/// An untrusted `.vidx` file from bytes. The first byte is a mode: bit 0 set rewrites the
/// checksums first ([`fix_checksums`]) so that mutations get past them.
pub fn index_open(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut bytes = rest.to_vec();
    if mode & 1 == 1 {
        fix_checksums(&mut bytes);
    }
    if let Ok(idx) = Index::from_bytes(&bytes) {
        use_index(&idx, rest);
    }
}

/// A valid index with PDQ, pHash and MD5 lists (several segments' worth of MIH tables, which
/// are too large for corpus files), built once.
fn base_index() -> &'static [u8] {
    static BASE: OnceLock<Vec<u8>> = OnceLock::new();
    BASE.get_or_init(|| {
        let pdq = [
            "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22",
            "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b23",
            "0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f",
        ];
        let phash = ["c3c3c3c33c3c3c3c", "ffff0000ffff0000", "0123456789abcdef"];
        let md5 = [
            "d41d8cd98f00b204e9800998ecf8427e",
            "0cc175b9c0f1b6a831c399e269772661",
        ];
        let list = |algo: Algo, hexes: &[&str]| NewList {
            name: algo.name().into(),
            algo,
            radius: algo.default_radius(),
            version: "1".into(),
            entries: hexes
                .iter()
                .enumerate()
                .map(|(i, h)| NewEntry {
                    code: algo.parse_hex(h).expect("valid hex"),
                    label: (i % 2 == 0).then(|| format!("label {i}")),
                })
                .collect(),
            sources: Vec::new(),
        };
        let idx = Index::from_lists(
            vec![
                list(Algo::Pdq, &pdq),
                list(Algo::Phash, &phash),
                list(Algo::Md5, &md5),
            ],
            Provenance::default(),
        )
        .expect("base index");
        idx.bytes().to_vec()
    })
}

/// Patches to a valid index (`base_index`), checksums rewritten, then open and use it as
/// [`index_open`] does. Input: 5-byte patches `[section, offset (3 bytes, little-endian),
/// xor]`: byte `offset % len` of section `section % sections` is xored with `xor`.
pub fn index_patch(data: &[u8]) {
    let mut bytes = base_index().to_vec();
    let sections = crate::index::format::read_table(&bytes).expect("base index table");
    for p in data.chunks_exact(5) {
        let s = &sections[usize::from(p[0]) % sections.len()];
        if s.len == 0 {
            continue;
        }
        let off = u32::from_le_bytes([p[1], p[2], p[3], 0]) as usize;
        bytes[s.offset as usize + off % s.len as usize] ^= p[4];
    }
    fix_checksums(&mut bytes);
    if let Ok(idx) = Index::from_bytes(&bytes) {
        use_index(&idx, data);
    }
}
