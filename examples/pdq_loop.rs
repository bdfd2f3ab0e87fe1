//! PDQ (SIMD path) on the decoded images of a folder, repeated, one thread: a profiling loop
//! for `perf`. `cargo run --release --example pdq_loop -- DIR [N] [REPEAT] [fresh]`.
//!
//! With `fresh`, each image is decoded again right before it is hashed and only the hashing is
//! timed, in thread CPU time as `vigil scan`'s summary counts it: PDQ then reads pixels the
//! decoder has just written, as in a scan, rather than pixels long evicted to memory. Without
//! it, wall time of the whole loop.
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args.next().expect("DIR");
    let n: usize = args.next().map_or(50, |s| s.parse().unwrap());
    let rep: usize = args.next().map_or(5, |s| s.parse().unwrap());
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.truncate(n);
    let imgs: Vec<_> = files
        .iter()
        .filter_map(|f| vigil::decode::decode(&std::fs::read(f).ok()?, &Default::default()).ok())
        .collect();
    let px: u64 = imgs
        .iter()
        .map(|d| u64::from(d.rgb.width) * u64::from(d.rgb.height))
        .sum();
    let fresh = args.next().is_some_and(|a| a == "fresh");
    let mut times = Vec::new();
    if fresh {
        let bytes: Vec<_> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
        let cpu = vigil::scan::isolate::thread_cpu;
        let mut decode = Vec::new();
        for _ in 0..rep {
            let (mut total, mut dec) = (0.0, 0.0);
            for b in &bytes {
                let t = cpu();
                let d = vigil::decode::decode(b, &Default::default()).unwrap();
                let t1 = cpu();
                std::hint::black_box(vigil::pdq::fast::hash(&d.rgb.view()));
                total += (cpu() - t1).as_secs_f64();
                dec += (t1 - t).as_secs_f64();
            }
            times.push(total);
            decode.push(dec);
        }
        decode.sort_by(f64::total_cmp);
        times.sort_by(f64::total_cmp);
        println!(
            "decode {:.3} ms per image (fastest of {rep}); pdq / decode {:.3} (medians)",
            decode[0] / imgs.len() as f64 * 1e3,
            times[rep / 2] / decode[rep / 2]
        );
    }
    for _ in 0..if fresh { 0 } else { rep } {
        let t = Instant::now();
        for d in &imgs {
            std::hint::black_box(vigil::pdq::fast::hash(&d.rgb.view()));
        }
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let med = times[0];
    println!(
        "{} images, {:.2} Mpx avg: pdq {:.3} ms per image, {:.2} ns/px (fastest of {rep})",
        imgs.len(),
        px as f64 / imgs.len() as f64 / 1e6,
        med / imgs.len() as f64 * 1e3,
        med / px as f64 * 1e9
    );
}
