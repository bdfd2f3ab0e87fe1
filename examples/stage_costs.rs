//! Per-image CPU cost of each stage on a folder of images, one thread: decode, PDQ (SIMD),
//! pHash. `cargo run --release --example stage_costs -- DIR [N]`.
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args.next().expect("DIR");
    let n: usize = args.next().map_or(100, |s| s.parse().unwrap());
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.truncate(n);
    let (mut dec, mut pdq, mut ph, mut px) = (0.0, 0.0, 0.0, 0u64);
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        let t = Instant::now();
        let Ok(d) = vigil::decode::decode(&bytes, &Default::default()) else {
            continue;
        };
        dec += t.elapsed().as_secs_f64();
        px += u64::from(d.rgb.width) * u64::from(d.rgb.height);
        let v = d.rgb.view();
        let t = Instant::now();
        std::hint::black_box(vigil::pdq::fast::hash(&v));
        pdq += t.elapsed().as_secs_f64();
        let t = Instant::now();
        std::hint::black_box(vigil::phash::hash(&v));
        ph += t.elapsed().as_secs_f64();
    }
    let k = files.len() as f64 / 1000.0;
    println!(
        "{} images, {:.2} Mpx avg: decode {:.2} ms, pdq {:.2} ms, phash {:.2} ms per image; pdq/decode {:.2}",
        files.len(),
        px as f64 / files.len() as f64 / 1e6,
        dec / k,
        pdq / k,
        ph / k,
        pdq / dec
    );
}
