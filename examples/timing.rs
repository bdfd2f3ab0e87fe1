//! Timing helper for `scripts/compare-python.sh` (not a benchmark suite: see `benches/`).
//!
//! - `timing buffer FILE N`: decode FILE once, then hash its RGB buffer N times on this thread
//!   with the default CPU path; prints the median milliseconds and the hash.
//! - `timing split DIR`: decode and hash every file in DIR on this thread; prints the total
//!   decode and hash seconds, so the decode/hash split of `vigil hash` can be reported.

use std::time::Instant;

use vigil::{HashOptions, decode, pdq};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("buffer") => {
            let bytes = std::fs::read(&args[2]).expect("read FILE");
            let n: usize = args[3].parse().expect("N");
            let img = decode::decode(&bytes, &Default::default())
                .expect("decode")
                .rgb;
            let mut times = Vec::with_capacity(n);
            let mut out = None;
            for _ in 0..n {
                let t = Instant::now();
                out = Some(pdq::hash(&img.view()));
                times.push(t.elapsed().as_secs_f64() * 1e3);
            }
            times.sort_by(f64::total_cmp);
            let out = out.expect("N > 0");
            println!(
                "median_ms={:.3} min_ms={:.3} hash={} quality={} simd={}",
                times[n / 2],
                times[0],
                out.hash,
                out.quality,
                vigil::simd::level().name()
            );
        }
        Some("split") => {
            let opts = HashOptions::default();
            let (mut dec, mut hash, mut n) = (0.0f64, 0.0f64, 0usize);
            let mut files: Vec<_> = std::fs::read_dir(&args[2])
                .expect("read DIR")
                .map(|e| e.expect("entry").path())
                .collect();
            files.sort();
            for f in files {
                let bytes = std::fs::read(&f).expect("read");
                let t = Instant::now();
                let Ok(d) = decode::decode(&bytes, &opts.decode) else {
                    continue;
                };
                dec += t.elapsed().as_secs_f64();
                let t = Instant::now();
                std::hint::black_box(pdq::hash(&d.rgb.view()));
                hash += t.elapsed().as_secs_f64();
                n += 1;
            }
            println!(
                "images={n} decode_s={dec:.3} pdq_s={hash:.3} decode_ms_per_image={:.2} pdq_ms_per_image={:.2}",
                dec * 1e3 / n as f64,
                hash * 1e3 / n as f64
            );
        }
        _ => eprintln!("usage: timing buffer FILE N | timing split DIR"),
    }
}
