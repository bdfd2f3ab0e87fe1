//! The index file: build, open (checksums), search through `Index`, add (new segment),
//! remove (tombstones: a removed entry never matches again), replace (atomic: a reader sees
//! the old list or the new one, never a mix), damage detection, digest lists.

use std::path::Path;

use vigil::index::scan::oracle_range;
use vigil::index::{
    Algo, Backend, Index, IndexError, Kernel, NewEntry, NewList, Params, Provenance, Queries,
    Source, build,
};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

fn limbs(code: &[u8]) -> [u64; 4] {
    std::array::from_fn(|i| u64::from_le_bytes(code[8 * i..8 * i + 8].try_into().unwrap()))
}

fn pdq_entries(seed: u64, n: usize) -> Vec<NewEntry> {
    let mut r = Rng(seed);
    (0..n)
        .map(|i| NewEntry {
            code: (0..4).flat_map(|_| r.next().to_le_bytes()).collect(),
            label: (i % 3 == 0).then(|| format!("src{i}:cat{}", i % 5)),
        })
        .collect()
}

fn source(action: &str) -> Source {
    Source {
        path: "test".into(),
        sha256: "0".repeat(64),
        entries: 0,
        added: "2026-01-01T00:00:00Z".into(),
        action: action.into(),
    }
}

fn list(name: &str, version: &str, entries: Vec<NewEntry>) -> NewList {
    NewList {
        name: name.into(),
        algo: Algo::Pdq,
        radius: 31,
        version: version.into(),
        entries,
        sources: vec![source("build")],
    }
}

/// (distance, id) per query from the index, with every backend agreeing.
fn search(idx: &Index, queries: &[[u64; 4]], radius: u32) -> Vec<Vec<(u32, u64)>> {
    let mut first = None;
    for backend in [Backend::Scan, Backend::Mih, Backend::Auto] {
        if backend == Backend::Mih && radius > vigil::index::mih::max_radius(4) {
            continue;
        }
        let p = Params {
            radius,
            k: None,
            backend,
            kernel: Kernel::best(),
        };
        let hits = idx.search(0, Queries::Pdq(queries), &p).unwrap();
        let v: Vec<Vec<(u32, u64)>> = hits
            .iter()
            .map(|h| h.iter().map(|h| (h.distance, h.id)).collect())
            .collect();
        if let Some(f) = &first {
            assert_eq!(&v, f, "{backend:?}");
        } else {
            first = Some(v);
        }
    }
    first.unwrap()
}

fn expected(
    codes: &[[u64; 4]],
    queries: &[[u64; 4]],
    radius: u32,
    dead: &[u64],
) -> Vec<Vec<(u32, u64)>> {
    oracle_range(queries, codes, radius)
        .into_iter()
        .map(|h| {
            let mut v: Vec<(u32, u64)> = h
                .into_iter()
                .map(|(i, d)| (d, u64::from(i)))
                .filter(|(_, id)| !dead.contains(id))
                .collect();
            v.sort_unstable();
            v
        })
        .collect()
}

fn queries_near(codes: &[[u64; 4]], seed: u64) -> Vec<[u64; 4]> {
    let mut r = Rng(seed);
    codes
        .iter()
        .step_by(7)
        .map(|c| {
            let mut q = *c;
            for _ in 0..(r.next() % 12) {
                let b = r.next() % 256;
                q[(b / 64) as usize] ^= 1 << (b % 64);
            }
            q
        })
        .collect()
}

#[test]
fn build_add_remove_replace_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("known.vidx");
    let first = pdq_entries(1, 3_000);
    build(
        &path,
        vec![list("known", "v1", first.clone())],
        Provenance::now(),
    )
    .unwrap();
    let mode = std::fs::metadata(&path).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o600
    );
    let idx = Index::open(&path).unwrap();
    idx.verify_deep().unwrap();
    let mut codes: Vec<[u64; 4]> = first.iter().map(|e| limbs(&e.code)).collect();
    let qs = queries_near(&codes, 9);
    assert_eq!(search(&idx, &qs, 31), expected(&codes, &qs, 31, &[]));
    let l = &idx.manifest().lists[0];
    assert_eq!(
        (l.live, l.next_id, l.version.as_str()),
        (3_000, 3_000, "v1")
    );
    assert_eq!(l.sha256, idx.content_sha256(0));
    // Labels come back for hits.
    let h = idx
        .search(0, Queries::Pdq(&[codes[3]]), &Params::range(0))
        .unwrap();
    assert_eq!(idx.label(0, &h[0][0]), Some("src3:cat3"));
    assert_eq!(
        idx.code(0, h[0][0].segment, h[0][0].entry).unwrap(),
        &first[3].code[..]
    );

    // Add: a new segment, ids continue, old sections copied.
    let more = pdq_entries(2, 1_000);
    let ids = idx
        .add(
            &path,
            "known",
            more.clone(),
            source("add"),
            Provenance::now(),
        )
        .unwrap();
    assert_eq!(ids, 3_000..4_000);
    let idx2 = Index::open(&path).unwrap();
    idx2.verify_deep().unwrap();
    codes.extend(more.iter().map(|e| limbs(&e.code)));
    assert_eq!(idx2.manifest().lists[0].segments.len(), 2);
    let qs = queries_near(&codes, 10);
    assert_eq!(search(&idx2, &qs, 31), expected(&codes, &qs, 31, &[]));
    // The reader opened before the add still sees the old list.
    assert_eq!(
        search(&idx, &qs, 31),
        expected(&codes[..3_000], &qs, 31, &[])
    );

    // Remove: a removed entry never matches again, at any radius, by any path, with k.
    let dead = [5u64, 6, 3_001, 3_999];
    let n = idx2
        .remove(
            &path,
            "known",
            &[5, 6, 3_001, 3_999, 6, 99_999],
            source("remove"),
            Provenance::now(),
        )
        .unwrap();
    assert_eq!(n, 4);
    let idx3 = Index::open(&path).unwrap();
    idx3.verify_deep().unwrap();
    let dead_codes: Vec<[u64; 4]> = dead.iter().map(|&i| codes[i as usize]).collect();
    for radius in [0, 31, 64] {
        let got = search(&idx3, &dead_codes, radius);
        for hits in &got {
            assert!(hits.iter().all(|(_, id)| !dead.contains(id)));
        }
        assert_eq!(got, expected(&codes, &dead_codes, radius, &dead));
        let p = Params {
            radius,
            k: Some(1),
            backend: Backend::Auto,
            kernel: Kernel::best(),
        };
        let top = idx3.search(0, Queries::Pdq(&dead_codes), &p).unwrap();
        assert!(top.iter().flatten().all(|h| !dead.contains(&h.id)));
    }
    assert_eq!(idx3.manifest().lists[0].live, 3_996);
    assert_eq!(idx3.manifest().lists[0].sha256, idx3.content_sha256(0));
    // Still removed after a later add.
    idx3.add(
        &path,
        "known",
        pdq_entries(3, 10),
        source("add"),
        Provenance::now(),
    )
    .unwrap();
    let idx4 = Index::open(&path).unwrap();
    assert!(idx4.find_exact(0, &first[5].code).unwrap().is_empty());
    assert_eq!(idx4.find_exact(0, &first[7].code).unwrap(), vec![7]);

    // Replace: new version, new entries, ids from 0, no tombstones.
    let fresh = pdq_entries(4, 500);
    idx4.replace(&path, list("known", "v2", fresh.clone()), Provenance::now())
        .unwrap();
    let idx5 = Index::open(&path).unwrap();
    let l = &idx5.manifest().lists[0];
    assert_eq!((l.version.as_str(), l.live, l.removed), ("v2", 500, 0));
    let new_codes: Vec<[u64; 4]> = fresh.iter().map(|e| limbs(&e.code)).collect();
    let qs = queries_near(&new_codes, 11);
    assert_eq!(search(&idx5, &qs, 31), expected(&new_codes, &qs, 31, &[]));
    assert!(idx5.find_exact(0, &first[7].code).unwrap().is_empty());
    // The reader from before the replace is untouched.
    assert_eq!(idx4.find_exact(0, &first[7].code).unwrap(), vec![7]);
}

/// A reader opening while the list is replaced over and over sees a whole version each time.
#[test]
fn replace_is_atomic_for_concurrent_readers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.vidx");
    let versions: Vec<Vec<NewEntry>> = (0..4)
        .map(|v| pdq_entries(100 + v, 300 + 50 * v as usize))
        .collect();
    build(
        &path,
        vec![list("l", "0", versions[0].clone())],
        Provenance::now(),
    )
    .unwrap();
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let mut opened = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) || opened == 0 {
                let idx = Index::open(&path).unwrap();
                let l = &idx.manifest().lists[0];
                let v: usize = l.version.parse().unwrap();
                let want = &versions[v % 4];
                assert_eq!(l.live as usize, want.len());
                let all: Vec<Vec<u8>> = idx.entries(0).map(|(_, c, _)| c.to_vec()).collect();
                let want: Vec<Vec<u8>> = want.iter().map(|e| e.code.clone()).collect();
                assert_eq!(all, want, "version {v} mixed");
                opened += 1;
            }
            opened
        });
        for round in 1..40 {
            let idx = Index::open(&path).unwrap();
            idx.replace(
                &path,
                list("l", &round.to_string(), versions[round % 4].clone()),
                Provenance::now(),
            )
            .unwrap();
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(reader.join().unwrap() > 0);
    });
}

fn flip(path: &Path, at: u64) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8];
    f.read_exact_at(&mut b, at).unwrap();
    f.write_all_at(&[b[0] ^ 0x04], at).unwrap();
}

#[test]
fn damage_is_detected_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.vidx");
    build(
        &path,
        vec![list("l", "1", pdq_entries(5, 200))],
        Provenance::now(),
    )
    .unwrap();
    let good = std::fs::read(&path).unwrap();
    let len = good.len() as u64;
    // A byte in the header, in each region of the file, and in the table.
    for at in [3, 20, 64, 64 + 200 * 32 - 1, len / 2, len - 40, len - 1] {
        std::fs::write(&path, &good).unwrap();
        flip(&path, at);
        let e = Index::open(&path).expect_err(&format!("flip at {at} not caught"));
        assert!(matches!(e, IndexError::Format { .. }), "{e}");
    }
    std::fs::write(&path, &good[..good.len() - 8]).unwrap();
    assert!(Index::open(&path).is_err());
    std::fs::write(
        &path,
        b"not an index at all, just some text that is long enough......",
    )
    .unwrap();
    assert!(Index::open(&path).is_err());
}

#[test]
fn digest_lists_match_exactly_and_by_algorithm_only() {
    let sha = |i: u8| -> Vec<u8> {
        (0..32)
            .map(|j| i.wrapping_mul(31).wrapping_add(j))
            .collect()
    };
    let entries: Vec<NewEntry> = (0..50)
        .map(|i| NewEntry {
            code: sha(i),
            label: None,
        })
        .collect();
    let lists = vec![
        NewList {
            name: "s".into(),
            algo: Algo::Sha256,
            radius: 0,
            version: "1".into(),
            entries: entries.clone(),
            sources: vec![],
        },
        list("p", "1", pdq_entries(6, 10)),
    ];
    let idx = Index::from_lists(lists, Provenance::now()).unwrap();
    idx.verify_deep().unwrap();
    let q = vec![sha(7), sha(200), sha(49)];
    let hits = idx
        .search(0, Queries::Digest(Algo::Sha256, &q), &Params::range(0))
        .unwrap();
    let ids: Vec<Vec<u64>> = hits
        .iter()
        .map(|h| h.iter().map(|h| h.id).collect())
        .collect();
    assert_eq!(ids, vec![vec![7], vec![], vec![49]]);
    // A SHA-256 query is never compared with the PDQ list, nor a PDQ query with the digests.
    assert!(
        idx.search(1, Queries::Digest(Algo::Sha256, &q), &Params::range(0))
            .unwrap()
            .iter()
            .all(Vec::is_empty)
    );
    let pdq_q = [limbs(&sha(7))];
    assert!(
        idx.search(0, Queries::Pdq(&pdq_q), &Params::range(256))
            .unwrap()[0]
            .is_empty()
    );
    // Hex round trip of every algorithm's stored form.
    for a in Algo::ALL {
        let hex: String = (0..a.code_bytes() * 2)
            .map(|i| b"0123456789abcdef"[(i * 7) % 16] as char)
            .collect();
        assert_eq!(a.to_hex(&a.parse_hex(&hex.to_uppercase()).unwrap()), hex);
        assert!(a.parse_hex(&hex[1..]).is_none());
    }
    let pdq: vigil::PdqHash = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
        .parse()
        .unwrap();
    assert_eq!(
        limbs(&Algo::Pdq.parse_hex(&pdq.to_string()).unwrap()),
        pdq.0
    );
}

/// A file whose checksums are right but whose MIH tables name an entry past the segment is
/// refused at open: a search indexes the codes by those numbers and would panic (found by the
/// `index_patch` fuzz target; fuzz/regressions/index_patch/).
#[test]
fn mih_id_out_of_range_is_refused_at_open() {
    use vigil::index::format::{Kind, read_table};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.vidx");
    build(
        &path,
        vec![list("l", "1", pdq_entries(9, 50))],
        Provenance::now(),
    )
    .unwrap();
    assert!(Index::open(&path).is_ok());
    let mut bytes = std::fs::read(&path).unwrap();
    let ids = read_table(&bytes)
        .unwrap()
        .into_iter()
        .find(|s| s.kind == Kind::MihIds)
        .unwrap();
    let at = ids.offset as usize + 4 * 7;
    bytes[at..at + 4].copy_from_slice(&50u32.to_le_bytes());
    vigil::fuzzing::fix_checksums(&mut bytes);
    std::fs::write(&path, &bytes).unwrap();
    let e = Index::open(&path).expect_err("an out-of-range MIH id opened");
    assert!(matches!(e, IndexError::Manifest { .. }), "{e}");
}
