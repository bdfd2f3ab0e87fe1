//! `vigil gpu-bench`: one run that says what a GPU machine does with PDQ, for a short session on
//! borrowed hardware (run through `scripts/gpu-bench.sh`).
//!
//! In order: the adapter; parity of the GPU engine with the scalar oracle on the reference
//! images (hash, quality, 8 dihedrals); then, on distinct synthetic frames (1280×720 by
//! default), end-to-end frames/s through [`Engine::hash_batch`], the split of a timed batch
//! (pack, upload, kernels by GPU timestamps where the adapter has them, readback, median and
//! bits), the CPU fast path on the same frames (also compared with the GPU's hashes), and the
//! host-to-device copy rate. Writes `report.md` and `report.json` under `--out`.
//!
//! Exit code: 0 when every comparison was equal, 1 when any differed (the report is written
//! either way), 64 when no GPU adapter could be opened (a report saying so is written).

use std::fmt::Write as _;
use std::fs::{self, DirBuilder, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail};
use rayon::prelude::*;
use serde_json::{Value, json};
use vigil::decode::{self, DecodeOptions};
use vigil::gpu::{BatchTiming, GpuContext, KERNELS, UploadTiming};
use vigil::index::store::utc;
use vigil::pdq::{PdqDihedral, PdqOutput, oracle};
use vigil::synth::{self, Pattern};
use vigil::{Backend, Engine, ImageView, RgbImage};

/// Report format version (`"schema"` in `report.json`).
const SCHEMA: u32 = 1;

/// `vigil gpu-bench` arguments.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Distinct frames to time [default: 1024 on a hardware GPU, 6 on a software adapter].
    #[arg(long, value_name = "N")]
    frames: Option<usize>,
    /// Frames per `Engine::hash_batch` call (the engine splits a call into GPU chunks that fit
    /// its buffers) [default: all the frames].
    #[arg(long, value_name = "N")]
    batch: Option<usize>,
    /// Pixels per GPU chunk to time, comma-separated; the first is also the engine's setting
    /// for the headline figures [default: the engine's default, then 2^24, 2^25, 2^27 on a
    /// hardware GPU].
    #[arg(long, value_name = "N,...", value_delimiter = ',')]
    chunk_pixels: Vec<u64>,
    /// Frame size.
    #[arg(long, default_value = "1280x720", value_name = "WxH", value_parser = parse_size)]
    size: (u32, u32),
    /// Timed repetitions of each measurement; medians are reported.
    #[arg(long, default_value_t = 3, value_name = "N")]
    reps: u32,
    /// MiB per host-to-device copy [default: 256 on a hardware GPU, 16 on a software adapter].
    #[arg(long, value_name = "MIB")]
    copy_mib: Option<u64>,
    /// Reference images for the parity check (recursed; files that do not decode are listed).
    #[arg(
        long,
        default_value = "tests/data/threatexchange/pdq/data",
        value_name = "DIR"
    )]
    parity_dir: PathBuf,
    /// Skip the CPU fast-path timing.
    #[arg(long)]
    no_cpu: bool,
    /// Codes in the Hamming range-search benchmark (256-bit, random, with planted
    /// near-duplicates); 0 skips it [default: 10,000,000 on a hardware GPU, 20,000 on a
    /// software adapter].
    #[arg(long, value_name = "N")]
    search_codes: Option<usize>,
    /// Queries in the range-search benchmark [default: 10,000 on a hardware GPU, 100 on a
    /// software adapter].
    #[arg(long, value_name = "N")]
    search_queries: Option<usize>,
    /// Directory for report.md and report.json (created 0700).
    #[arg(long, default_value = "gpu-bench-out", value_name = "DIR")]
    out: PathBuf,
}

fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("{s:?}: expected WxH"))?;
    let w: u32 = w.parse().map_err(|e| format!("{w:?}: {e}"))?;
    let h: u32 = h.parse().map_err(|e| format!("{h:?}: {e}"))?;
    if !(5..=8192).contains(&w) || !(5..=8192).contains(&h) {
        return Err(format!("{s}: each side must be 5..=8192"));
    }
    Ok((w, h))
}

/// Run the benchmark; see the module docs for the exit code.
pub fn run(args: BenchArgs) -> anyhow::Result<i32> {
    if args.batch == Some(0) || args.reps == 0 || args.frames == Some(0) {
        bail!("--batch, --reps and --frames must be at least 1");
    }
    let started = SystemTime::now();
    let command: Vec<String> = std::env::args().collect();
    let mut report = Report::default();
    let engine = match Engine::new(Backend::Gpu) {
        Ok(e) => e,
        Err(e) => {
            let msg = format!("no GPU: {e}");
            let json = json!({
                "schema": SCHEMA,
                "vigil_version": env!("CARGO_PKG_VERSION"),
                "command": command,
                "started_utc": utc(started),
                "error": msg,
            });
            report.line(&format!("# vigil gpu-bench\n\n**{msg}**"));
            write_outputs(&args.out, &report.md, &json)?;
            bail!("{msg} (report in {})", args.out.display());
        }
    };
    let ctx = GpuContext::with_timestamps(false).context("second GPU context for timing")?;
    let adapter = ctx.adapter().clone();
    let software = !adapter.hardware;
    let frames = args.frames.unwrap_or(if software { 6 } else { 1024 });
    let copy_mib = args.copy_mib.unwrap_or(if software { 16 } else { 256 });
    let (w, h) = args.size;
    let batch = args.batch.unwrap_or(frames);
    let gpu = engine.gpu().context("the GPU engine has a GPU context")?;
    let mut chunk_sizes = args.chunk_pixels.clone();
    if chunk_sizes.is_empty() {
        chunk_sizes.push(gpu.chunk_pixels());
        if !software {
            chunk_sizes.extend(
                [1 << 24, 1 << 25, 1 << 27]
                    .into_iter()
                    .filter(|c| *c != gpu.chunk_pixels()),
            );
        }
    }
    for c in &mut chunk_sizes {
        gpu.set_chunk_pixels(*c);
        *c = gpu.chunk_pixels(); // as clamped
    }
    gpu.set_chunk_pixels(chunk_sizes[0]);
    ctx.set_chunk_pixels(chunk_sizes[0]);
    let frame_pixels = u64::from(w) * u64::from(h);
    let chunk_frames = |c: u64| (c / frame_pixels).clamp(1, ctx.batch_images());
    let per_chunk = chunk_frames(chunk_sizes[0]);

    report.line("# vigil gpu-bench\n");
    report.line(&format!(
        "- adapter: **{}** ({}, {}, driver {}){}",
        adapter.name,
        adapter.device_type,
        adapter.backend,
        adapter.driver,
        if software {
            " — software renderer: a correctness run, not a GPU figure"
        } else {
            ""
        }
    ));
    report.flush_stdout();
    report.line(&format!(
        "- vigil {}, CPU: simd {}, rayon {} threads",
        env!("CARGO_PKG_VERSION"),
        vigil::simd::level().name(),
        rayon::current_num_threads()
    ));
    report.line(&format!(
        "- kernel clock: {}; frames: {frames} distinct {w}×{h} synthetic (blocks); batches of \
         {} frames; GPU chunks of up to {per_chunk} frames ({} pixels; buffers hold {} pixels, \
         {} images); {} reps, medians",
        if ctx.has_timestamps() {
            "GPU timestamps"
        } else {
            "wall time (no timestamp queries)"
        },
        batch,
        chunk_sizes[0],
        ctx.batch_pixels(),
        ctx.batch_images(),
        args.reps
    ));
    report.flush_stdout();

    // Parity on the reference images.
    let parity = parity(&engine, &args.parity_dir)?;
    report.line("\n## Parity: GPU engine vs scalar oracle, reference images\n");
    report.line(&format!("Directory `{}`.\n", args.parity_dir.display()));
    report.line(
        "| images | equal | different | dihedral different | not decoded | on CPU fallback |",
    );
    report.line("|---:|---:|---:|---:|---:|---:|");
    report.line(&format!(
        "| {} | {} | {} | {} | {} | {} |",
        parity.images,
        parity.images - parity.different.len(),
        parity.different.len(),
        parity.dihedral_different,
        parity.not_decoded.len(),
        parity.fallback
    ));
    for d in &parity.different {
        report.line(&format!("- differs: `{d}`"));
    }
    for d in &parity.not_decoded {
        report.line(&format!("- not decoded: `{d}`"));
    }
    report.flush_stdout();

    // Frames.
    let gen_started = Instant::now();
    let images: Vec<RgbImage> = (0..frames as u32)
        .into_par_iter()
        .map(|i| synth::image(Pattern::Blocks, w, h, 0x5eed_0000 ^ i))
        .collect();
    let gen_time = gen_started.elapsed();
    let views: Vec<ImageView<'_>> = images.iter().map(RgbImage::view).collect();
    let batches: Vec<&[ImageView<'_>]> = views.chunks(batch).collect();

    // End to end through the engine (the path `vigil hash --backend gpu` takes).
    let before = engine.counters();
    let warm = &views[..views.len().min(batch)];
    unwrap_all(engine.hash_batch(warm))?;
    let mut gpu_out: Vec<PdqOutput> = Vec::new();
    let mut e2e = Vec::new();
    for _ in 0..args.reps {
        let t = Instant::now();
        gpu_out.clear();
        for b in &batches {
            gpu_out.extend(unwrap_all(engine.hash_batch(b))?);
        }
        e2e.push(t.elapsed());
    }
    let fallback = engine.counters().gpu_fallback_cpu - before.gpu_fallback_cpu;

    // The split, on the timing context.
    ctx.dct_batch_timed(warm)?;
    let mut splits: Vec<(BatchTiming, Duration)> = Vec::new();
    let mut split_differs = 0usize;
    for _ in 0..args.reps {
        let mut timing = BatchTiming::default();
        let mut bits = Duration::ZERO;
        let mut at = 0;
        for b in &batches {
            let (outs, t) = ctx.dct_batch_timed(b)?;
            timing.add(&t);
            let t0 = Instant::now();
            let hashes: Vec<PdqOutput> = outs
                .iter()
                .map(|o| PdqOutput {
                    hash: o.hashes[0],
                    quality: o.quality,
                })
                .collect();
            bits += t0.elapsed();
            // The GPU's median and bits against the CPU's on the same read-back DCT.
            split_differs += outs
                .iter()
                .filter(|o| oracle::bits(&o.dct) != o.hashes[0])
                .count();
            split_differs += hashes
                .iter()
                .zip(&gpu_out[at..])
                .filter(|(a, b)| a != b)
                .count();
            at += b.len();
        }
        splits.push((timing, bits));
    }

    // The CPU fast path on the same frames.
    let mut cpu_times = Vec::new();
    let mut cpu_differs = None;
    if !args.no_cpu {
        let cpu = Engine::new(Backend::Cpu)?;
        unwrap_all(cpu.hash_batch(warm))?;
        let mut cpu_out = Vec::new();
        for _ in 0..args.reps {
            let t = Instant::now();
            cpu_out.clear();
            for b in &batches {
                cpu_out.extend(unwrap_all(cpu.hash_batch(b))?);
            }
            cpu_times.push(t.elapsed());
        }
        cpu_differs = Some(cpu_out.iter().zip(&gpu_out).filter(|(a, b)| a != b).count());
    }
    // The other chunk sizes: end to end and kernels (results compared with the first run).
    let mut sweep: Vec<(u64, Duration, Duration)> = Vec::new();
    let mut sweep_differs = 0usize;
    for &c in &chunk_sizes[1..] {
        gpu.set_chunk_pixels(c);
        ctx.set_chunk_pixels(c);
        unwrap_all(engine.hash_batch(warm))?;
        let mut e = Vec::new();
        for _ in 0..args.reps {
            let t = Instant::now();
            let mut at = 0;
            for b in &batches {
                let got = unwrap_all(engine.hash_batch(b))?;
                sweep_differs += got
                    .iter()
                    .zip(&gpu_out[at..])
                    .filter(|(a, b)| a != b)
                    .count();
                at += b.len();
            }
            e.push(t.elapsed());
        }
        let mut k = Vec::new();
        for _ in 0..args.reps {
            let mut timing = BatchTiming::default();
            for b in &batches {
                timing.add(&ctx.dct_batch_timed(b)?.1);
            }
            k.push(timing.kernels().0);
        }
        sweep.push((c, median(&e), median(&k)));
    }
    gpu.set_chunk_pixels(chunk_sizes[0]);
    ctx.set_chunk_pixels(chunk_sizes[0]);
    drop(views);
    drop(images);

    let upload = ctx.measure_upload(copy_mib << 20, args.reps.max(3))?;

    // Throughput table.
    let n = frames as f64;
    let e2e_med = median(&e2e);
    let phase = |f: &dyn Fn(&(BatchTiming, Duration)) -> Duration| -> Duration {
        median(&splits.iter().map(f).collect::<Vec<_>>())
    };
    let pack = phase(&|s| s.0.pack);
    let up = phase(&|s| s.0.upload);
    let kernels_gpu = phase(&|s| s.0.kernels_gpu);
    let kernels_wall = phase(&|s| s.0.kernels_wall);
    let readback = phase(&|s| s.0.readback);
    let bits = phase(&|s| s.1);
    let (kernels, clock) = BatchTiming {
        kernels_gpu,
        kernels_wall,
        ..BatchTiming::default()
    }
    .kernels();
    let split_total = pack + up + kernels_wall + readback + bits;
    let fps = |d: Duration| n / d.as_secs_f64().max(1e-12);
    let ms = |d: Duration| d.as_secs_f64() * 1e3 / n;
    report.line(&format!("\n## Throughput, {w}×{h}\n"));
    report.line(&format!(
        "Frames generated in {:.2} s. GPU hashes vs CPU fast path: {}; timed-split hashes vs \
         end-to-end: {} different.\n",
        gen_time.as_secs_f64(),
        match cpu_differs {
            Some(d) => format!("{} equal, {d} different", frames - d),
            None => "not run".to_owned(),
        },
        split_differs
    ));
    report.line("| path | frames/s | ms/frame |");
    report.line("|---|---:|---:|");
    let row = |name: &str, d: Duration| format!("| {name} | {:.1} | {:.3} |", fps(d), ms(d));
    report.line(&row(
        &format!("GPU kernels only ({})", clock.name()),
        kernels,
    ));
    report.line(&row(
        "GPU end to end (`Engine::hash_batch`: pack, upload, kernels, readback, median+bits)",
        e2e_med,
    ));
    let cpu_med = (!cpu_times.is_empty()).then(|| median(&cpu_times));
    if let Some(c) = cpu_med {
        report.line(&row(
            &format!(
                "CPU fast path (simd {}, rayon {} threads)",
                vigil::simd::level().name(),
                rayon::current_num_threads()
            ),
            c,
        ));
    }
    if fallback > 0 {
        report.line(&format!(
            "\n**{fallback} frames went to the CPU fallback** (see stderr): end-to-end is not a GPU figure."
        ));
    }

    // Host-to-device reference: the best whole path from host memory (median of each).
    let h2d = [
        &upload.write_buffer,
        &upload.write_buffer_with,
        &upload.mapped_write,
    ]
    .iter()
    .filter(|d| !d.is_empty())
    .map(|d| upload.bytes as f64 / median(d).as_secs_f64().max(1e-12) / 1e9)
    .fold(0.0f64, f64::max);
    let frame_bytes = 3.0 * frame_pixels as f64;
    let gb = |d: Duration| fps(d) * frame_bytes / 1e9;
    report.line(&format!(
        "\nEnd to end moves {:.2} GB/s of RGB pixels to the GPU ({:.2} MB a frame): {:.0} % of \
         the measured host → device rate ({h2d:.2} GB/s, best whole path below).",
        gb(e2e_med),
        frame_bytes / 1e6,
        100.0 * gb(e2e_med) / h2d.max(1e-12)
    ));
    let mut sweep_rows = vec![(chunk_sizes[0], e2e_med, kernels)];
    sweep_rows.extend(sweep.iter().copied());
    if sweep_rows.len() > 1 {
        report.line("\n## Chunk size (pixels per submission)\n");
        report.line(&format!(
            "Results at every size equal the first size's: {} different.\n",
            sweep_differs
        ));
        report.line(
            "| chunk pixels | frames/chunk | kernels frames/s | end-to-end frames/s | end-to-end GB/s | % of host → device |",
        );
        report.line("|---:|---:|---:|---:|---:|---:|");
        for (c, e, k) in &sweep_rows {
            report.line(&format!(
                "| {c} | {} | {:.1} | {:.1} | {:.2} | {:.0} % |",
                chunk_frames(*c),
                fps(*k),
                fps(*e),
                gb(*e),
                100.0 * gb(*e) / h2d.max(1e-12)
            ));
        }
    }

    report.line("\n## GPU split (timed batches: each phase submitted and waited for alone)\n");
    report.line("| phase | ms/frame | share |");
    report.line("|---|---:|---:|");
    let share = |d: Duration| 100.0 * d.as_secs_f64() / split_total.as_secs_f64().max(1e-12);
    let srow = |name: &str, d: Duration| format!("| {name} | {:.3} | {:.1} % |", ms(d), share(d));
    report.line(&srow(
        &format!(
            "pack: parameters, and pixels copied into the mapped upload buffer ({} threads)",
            rayon::current_num_threads()
        ),
        pack,
    ));
    report.line(&srow("upload (submit the staged copy, wait)", up));
    report.line(&srow("kernels, submit to done (wall)", kernels_wall));
    if clock.name() == "timestamps" {
        report.line(&format!(
            "| kernels, GPU timestamps (inside the row above) | {:.3} | |",
            ms(kernels_gpu)
        ));
    }
    report.line(&srow("readback (copy, map, read)", readback));
    report.line(&srow("results to hashes (CPU, 1 thread)", bits));
    report.line(&format!("| total | {:.3} | 100 % |", ms(split_total)));
    let kernel_split: Vec<Duration> = (0..KERNELS.len())
        .map(|i| phase(&|s| s.0.kernel_split[i]))
        .collect();
    if kernel_split.iter().any(|d| !d.is_zero()) {
        let sum: Duration = kernel_split.iter().sum();
        report.line("\n## Kernels (GPU timestamps, each kernel in a compute pass of its own)\n");
        report.line("| kernel | µs/frame | share |");
        report.line("|---|---:|---:|");
        for (name, d) in KERNELS.iter().zip(&kernel_split) {
            report.line(&format!(
                "| `{name}` | {:.2} | {:.1} % |",
                ms(*d) * 1e3,
                100.0 * d.as_secs_f64() / sum.as_secs_f64().max(1e-12)
            ));
        }
    }

    let gbs = |bytes: u64, d: &[Duration]| -> Option<(f64, f64)> {
        if d.is_empty() {
            return None;
        }
        let best = d.iter().min().copied().unwrap_or_default();
        let r = |x: Duration| bytes as f64 / x.as_secs_f64().max(1e-12) / 1e9;
        Some((r(median(d)), r(best)))
    };
    report.line(&format!(
        "\n## Host → device copy, {} MiB\n",
        upload.bytes >> 20
    ));
    report.line("| method | GB/s (median) | GB/s (best) |");
    report.line("|---|---:|---:|");
    let methods: [(&str, &[Duration]); 5] = [
        (
            "`queue.write_buffer` from host memory + submit, wait",
            &upload.write_buffer,
        ),
        (
            "`queue.write_buffer_with` filled by all threads + submit, wait",
            &upload.write_buffer_with,
        ),
        (
            "`MAP_WRITE` buffer mapped, filled by all threads, copied to a device buffer, wait (what a batch does)",
            &upload.mapped_write,
        ),
        (
            "filled `MAP_WRITE` buffer → device buffer copy alone, wall (device-side when the \
             driver puts `MAP_WRITE` memory on the card)",
            &upload.staging_copy,
        ),
        ("the same copy, GPU timestamps", &upload.staging_copy_gpu),
    ];
    for (name, d) in methods {
        if let Some((m, b)) = gbs(upload.bytes, d) {
            report.line(&format!("| {name} | {m:.2} | {b:.2} |"));
        }
    }
    // Exact Hamming range search at r = 31 (issue 4): GPU scan vs the CPU flat scan.
    let search_codes = args
        .search_codes
        .unwrap_or(if software { 20_000 } else { 10_000_000 });
    let search_queries = args
        .search_queries
        .unwrap_or(if software { 100 } else { 10_000 });
    let search = if search_codes > 0 && search_queries > 0 {
        let s = search_bench(&ctx, search_codes, search_queries, args.reps)?;
        report.line(&format!(
            "\n## Exact range search, r = 31: {} × {} 256-bit codes\n",
            search_queries, search_codes
        ));
        report.line(&format!(
            "Random codes with {} planted near-duplicates (distances 0-40). Upload of the codes: \
             {:.1} ms. Hits: {} (GPU), {} (CPU scan); {} different.\n",
            s.planted,
            s.upload.as_secs_f64() * 1e3,
            s.gpu_hits,
            s.cpu_hits,
            s.different
        ));
        report.line("| path | seconds (median) | comparisons/s |");
        report.line("|---|---:|---:|");
        let cmp = search_codes as f64 * search_queries as f64;
        report.line(&format!(
            "| GPU scan (`hamming_scan`, all queries in one call) | {:.3} | {:.3e} |",
            s.gpu.as_secs_f64(),
            cmp / s.gpu.as_secs_f64().max(1e-12)
        ));
        report.line(&format!(
            "| CPU flat scan (`index::search`, kernel {}, {} threads) | {:.3} | {:.3e} |",
            vigil::index::Kernel::best().name(),
            rayon::current_num_threads(),
            s.cpu.as_secs_f64(),
            cmp / s.cpu.as_secs_f64().max(1e-12)
        ));
        report.flush_stdout();
        Some((s, cmp))
    } else {
        None
    };

    let finished = SystemTime::now();
    report.line(&format!(
        "\nStarted {}, took {:.1} s.",
        utc(started),
        finished
            .duration_since(started)
            .unwrap_or_default()
            .as_secs_f64()
    ));
    report.flush_stdout();

    let secs = |d: Duration| d.as_secs_f64();
    let search_json = search.as_ref().map(|(s, cmp)| {
        json!({
            "radius": 31,
            "codes": search_codes,
            "queries": search_queries,
            "planted": s.planted,
            "upload_s": s.upload.as_secs_f64(),
            "gpu_s": s.gpu.as_secs_f64(),
            "cpu_s": s.cpu.as_secs_f64(),
            "gpu_comparisons_per_s": cmp / s.gpu.as_secs_f64().max(1e-12),
            "cpu_comparisons_per_s": cmp / s.cpu.as_secs_f64().max(1e-12),
            "gpu_hits": s.gpu_hits,
            "cpu_hits": s.cpu_hits,
            "different": s.different,
        })
    });
    let json = json!({
        "schema": SCHEMA,
        "vigil_version": env!("CARGO_PKG_VERSION"),
        "command": command,
        "started_utc": utc(started),
        "finished_utc": utc(finished),
        "adapter": {
            "name": adapter.name,
            "device_type": adapter.device_type,
            "backend": adapter.backend,
            "driver": adapter.driver,
            "hardware": adapter.hardware,
            "max_storage_buffer_binding_size": adapter.max_storage_buffer_binding_size,
            "max_buffer_size": adapter.max_buffer_size,
        },
        "cpu": {
            "simd": vigil::simd::level().name(),
            "threads": rayon::current_num_threads(),
        },
        "kernel_clock": clock.name(),
        "frames": frames,
        "width": w,
        "height": h,
        "batch": batch,
        "chunk_pixels": chunk_sizes[0],
        "host_to_device_gb_per_s": h2d,
        "e2e_gb_per_s": gb(e2e_med),
        "e2e_share_of_host_to_device": gb(e2e_med) / h2d.max(1e-12),
        "chunk_sweep": sweep_rows.iter().map(|(c, e, k)| json!({
            "chunk_pixels": c,
            "frames_per_chunk": chunk_frames(*c),
            "kernels_fps": fps(*k),
            "e2e_fps": fps(*e),
            "e2e_gb_per_s": gb(*e),
        })).collect::<Vec<_>>(),
        "chunk_sweep_different": sweep_differs,
        "gpu_chunk_frames": per_chunk,
        "batch_pixels": ctx.batch_pixels(),
        "batch_images": ctx.batch_images(),
        "reps": args.reps,
        "parity": {
            "dir": args.parity_dir.display().to_string(),
            "images": parity.images,
            "equal": parity.images - parity.different.len(),
            "different": parity.different.len(),
            "dihedral_different": parity.dihedral_different,
            "differences": parity.different,
            "not_decoded": parity.not_decoded,
            "cpu_fallback": parity.fallback,
        },
        "frames_vs_cpu_different": cpu_differs,
        "split_vs_e2e_different": split_differs,
        "gpu_fallback_frames": fallback,
        "generate_s": secs(gen_time),
        "fps": {
            "gpu_kernels": fps(kernels),
            "gpu_e2e": fps(e2e_med),
            "cpu": cpu_med.map(fps),
        },
        "seconds": {
            "gpu_e2e": e2e.iter().map(|d| secs(*d)).collect::<Vec<_>>(),
            "cpu": cpu_times.iter().map(|d| secs(*d)).collect::<Vec<_>>(),
        },
        "split_ms_per_frame": {
            "pack": ms(pack),
            "upload": ms(up),
            "kernels_wall": ms(kernels_wall),
            "kernels_gpu": (clock.name() == "timestamps").then(|| ms(kernels_gpu)),
            "readback": ms(readback),
            "bits": ms(bits),
            "total": ms(split_total),
        },
        "kernel_us_per_frame": KERNELS.iter().zip(&kernel_split).map(|(k, d)| json!({
            "kernel": k,
            "us": ms(*d) * 1e3,
        })).collect::<Vec<_>>(),
        "upload": upload_json(&upload, &gbs),
        "search": search_json,
    });
    write_outputs(&args.out, &report.md, &json)?;
    eprintln!(
        "vigil gpu-bench: wrote {} and {}",
        args.out.join("report.md").display(),
        args.out.join("report.json").display()
    );
    let clean = parity.different.is_empty()
        && parity.dihedral_different == 0
        && parity.images > 0
        && cpu_differs.unwrap_or(0) == 0
        && split_differs == 0
        && sweep_differs == 0
        && fallback == 0
        && parity.fallback == 0
        && search.as_ref().is_none_or(|(s, _)| s.different == 0);
    Ok(if clean { 0 } else { 1 })
}

struct SearchBench {
    planted: usize,
    upload: Duration,
    gpu: Duration,
    cpu: Duration,
    gpu_hits: usize,
    cpu_hits: usize,
    different: usize,
}

/// SplitMix64 of `x`: deterministic random words for the search data.
fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `n` random codes with a near-duplicate of each query planted (distance `q % 41`), the
/// queries, the GPU scan timed (median of `reps`) and its hit set compared with the CPU scan's.
fn search_bench(ctx: &GpuContext, n: usize, nq: usize, reps: u32) -> anyhow::Result<SearchBench> {
    use vigil::index::search::{self, Backend, Params, Segment, Tombstones};
    let code = |seed: u64| -> [u64; 4] { std::array::from_fn(|w| splitmix(seed << 2 | w as u64)) };
    let mut codes: Vec<[u64; 4]> = (0..n as u64).into_par_iter().map(code).collect();
    let queries: Vec<[u64; 4]> = (0..nq as u64).map(|q| code((1 << 40) + q)).collect();
    let planted = nq.min(n);
    for (q, query) in queries.iter().enumerate().take(planted) {
        let mut c = *query;
        let d = q % 41;
        let mut k = 0u64;
        let mut flipped = 0;
        while flipped < d {
            let bit = (splitmix(q as u64 * 1000 + k) % 256) as usize;
            k += 1;
            if (c[bit / 64] ^ query[bit / 64]) >> (bit % 64) & 1 == 0 {
                c[bit / 64] ^= 1 << (bit % 64);
                flipped += 1;
            }
        }
        codes[(splitmix(q as u64 ^ 0xfeed) % n as u64) as usize] = c;
    }
    let t = Instant::now();
    let db = ctx.upload_codes(&codes)?;
    let upload = t.elapsed();
    ctx.hamming_range(&db, &queries[..nq.min(64)], 31)?; // build the pipeline, warm up
    let mut times = Vec::new();
    let mut gpu_hits = Vec::new();
    for _ in 0..reps {
        let t = Instant::now();
        gpu_hits = ctx.hamming_range(&db, &queries, 31)?;
        times.push(t.elapsed());
    }
    drop(db);
    let segs = [Segment {
        first_id: 0,
        codes: &codes,
        mih: None,
    }];
    let p = Params {
        backend: Backend::Scan,
        ..Params::range(31)
    };
    let t = Instant::now();
    let cpu = search::search(&segs, Tombstones::default(), &queries, &p)?;
    let cpu_time = t.elapsed();
    let mut want: Vec<(u32, u64, u32)> = cpu
        .iter()
        .enumerate()
        .flat_map(|(q, hits)| hits.iter().map(move |h| (q as u32, h.id, h.distance)))
        .collect();
    want.sort_unstable();
    let got: Vec<(u32, u64, u32)> = gpu_hits
        .iter()
        .map(|h| (h.query, u64::from(h.entry), h.distance))
        .collect();
    let different = if got == want {
        0
    } else {
        let a: std::collections::HashSet<_> = got.iter().collect();
        let b: std::collections::HashSet<_> = want.iter().collect();
        a.symmetric_difference(&b).count().max(1)
    };
    Ok(SearchBench {
        planted,
        upload,
        gpu: median(&times),
        cpu: cpu_time,
        gpu_hits: got.len(),
        cpu_hits: want.len(),
        different,
    })
}

type Rates<'a> = dyn Fn(u64, &[Duration]) -> Option<(f64, f64)> + 'a;

fn upload_json(u: &UploadTiming, gbs: &Rates<'_>) -> Value {
    let one = |d: &[Duration]| {
        gbs(u.bytes, d).map(|(m, b)| {
            json!({
                "gb_per_s_median": m,
                "gb_per_s_best": b,
                "seconds": d.iter().map(Duration::as_secs_f64).collect::<Vec<_>>(),
            })
        })
    };
    json!({
        "bytes": u.bytes,
        "write_buffer": one(&u.write_buffer),
        "write_buffer_with_parallel": one(&u.write_buffer_with),
        "mapped_write_parallel": one(&u.mapped_write),
        "staging_copy_wall": one(&u.staging_copy),
        "staging_copy_gpu": one(&u.staging_copy_gpu),
    })
}

/// The Markdown report, also echoed to stdout section by section.
#[derive(Default)]
struct Report {
    md: String,
    printed: usize,
}

impl Report {
    fn line(&mut self, s: &str) {
        let _ = writeln!(self.md, "{s}");
    }

    fn flush_stdout(&mut self) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(&self.md.as_bytes()[self.printed..]);
        let _ = out.flush();
        self.printed = self.md.len();
    }
}

struct Parity {
    images: usize,
    different: Vec<String>,
    dihedral_different: usize,
    not_decoded: Vec<String>,
    fallback: u64,
}

/// Decode every file under `dir` and compare the GPU engine with the scalar oracle.
fn parity(engine: &Engine, dir: &Path) -> anyhow::Result<Parity> {
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(walkdir::DirEntry::into_path)
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("--parity-dir {}: no files", dir.display());
    }
    let decoded: Vec<(PathBuf, Result<RgbImage, String>)> = files
        .into_par_iter()
        .map(|p| {
            let r = fs::read(&p)
                .map_err(|e| e.to_string())
                .and_then(|b| {
                    decode::decode(&b, &DecodeOptions::default()).map_err(|e| e.to_string())
                })
                .map(|d| d.rgb);
            (p, r)
        })
        .collect();
    let mut names = Vec::new();
    let mut images = Vec::new();
    let mut not_decoded = Vec::new();
    for (p, r) in decoded {
        match r {
            Ok(img) => {
                names.push(p.display().to_string());
                images.push(img);
            }
            Err(e) => not_decoded.push(format!("{}: {e}", p.display())),
        }
    }
    let views: Vec<ImageView<'_>> = images.iter().map(RgbImage::view).collect();
    let scalar = Engine::new(Backend::Scalar)?;
    let before = engine.counters().gpu_fallback_cpu;
    let gpu = unwrap_all(engine.hash_batch(&views))?;
    let gpu_dih: Vec<PdqDihedral> = unwrap_all(engine.hash_batch_dihedral(&views))?;
    let fallback = engine.counters().gpu_fallback_cpu - before;
    let want = unwrap_all(scalar.hash_batch(&views))?;
    let want_dih = unwrap_all(scalar.hash_batch_dihedral(&views))?;
    let mut different = Vec::new();
    for (((name, v), g), o) in names.iter().zip(&views).zip(&gpu).zip(&want) {
        if g != o {
            different.push(format!(
                "{name} ({}×{}): gpu {} q{} vs oracle {} q{} ({} bits)",
                v.width(),
                v.height(),
                g.hash,
                g.quality,
                o.hash,
                o.quality,
                g.hash.distance(&o.hash)
            ));
        }
    }
    let dihedral_different = gpu_dih
        .iter()
        .zip(&want_dih)
        .filter(|(a, b)| a != b)
        .count();
    Ok(Parity {
        images: views.len(),
        different,
        dihedral_different,
        not_decoded,
        fallback,
    })
}

fn unwrap_all<T>(v: Vec<Result<T, vigil::EngineError>>) -> anyhow::Result<Vec<T>> {
    v.into_iter()
        .map(|r| r.map_err(anyhow::Error::from))
        .collect()
}

fn median(d: &[Duration]) -> Duration {
    let mut v = d.to_vec();
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// Write `report.md` and `report.json` under `dir` (created 0700, files 0600).
fn write_outputs(dir: &Path, md: &str, json: &Value) -> anyhow::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("--out {}", dir.display()))?;
    let write = |name: &str, bytes: &[u8]| -> std::io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(dir.join(name))?;
        f.write_all(bytes)
    };
    write("report.md", md.as_bytes()).with_context(|| format!("--out {}", dir.display()))?;
    let mut j = serde_json::to_vec_pretty(json)?;
    j.push(b'\n');
    write("report.json", &j).with_context(|| format!("--out {}", dir.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(utc(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_709_210_096); // leap day 2024
        assert_eq!(utc(t), "2024-02-29T12:34:56Z");
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("1280x720"), Ok((1280, 720)));
        assert!(parse_size("4x720").is_err());
        assert!(parse_size("1280").is_err());
    }

    #[test]
    fn median_of_odd_and_even() {
        let ms = |v: &[u64]| {
            v.iter()
                .map(|&x| Duration::from_millis(x))
                .collect::<Vec<_>>()
        };
        assert_eq!(median(&ms(&[3, 1, 2])), Duration::from_millis(2));
        assert_eq!(median(&ms(&[4, 1, 3, 2])), Duration::from_millis(3));
        assert_eq!(median(&[]), Duration::ZERO);
    }
}
