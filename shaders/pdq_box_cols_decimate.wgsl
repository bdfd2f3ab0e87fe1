// CPU twin: the second oracle::box1d pass along columns followed by oracle::decimate
// (`buf_b`, layout T, → the 64×64 block of `work`). Decimation keeps 64 columns and 64 rows,
// so only those 64 columns are filtered (one thread each, workgroup = image; the row pass
// before stored only them) and each thread stores only the outputs at the 64 decimation rows.
// Each column is the oracle's running sum in its order (the loop of pdq_box.wgsl); in layout T
// a column is contiguous, so a thread's 32 staged loads share a cache line or two.
// A 64×64 image is copied from the luma (`buf_a`, layout T) unblurred, as upstream does.

var<workgroup> dec_ring: array<f32, 4096>; // 64 steps × 64 threads

@compute @workgroup_size(64)
fn pdq_box_cols_decimate(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) j: u32,
) {
    let m = wid.y;
    let img = images[m];
    let d = m * 128u;
    let dst = m * 4096u + j;
    let col = dec[d + 64u + j];
    if (img.skip_blur != 0u) {
        for (var i = 0u; i < 64u; i = i + 1u) {
            work[dst + i * 64u] = buf_a[img.offset + col * img.height + dec[d + i]];
        }
        return;
    }
    let n = img.height;
    let stride = 1u;
    let w = img.win_cols;
    let half = (w + 2u) / 2u;
    let steps = n + half - 1u;
    let base = img.offset + col * img.height;
    var sum = 0.0;
    var cnt = 0u;
    var next = 0u;
    // As in pdq_box.wgsl: 32 samples of the thread's own column loaded at a time into its
    // slice of a 64-step ring while w <= 32; global memory directly beyond.
    let ringed = w <= 32u;
    for (var s0 = 0u; s0 < steps; s0 = s0 + 32u) {
        if (ringed) {
            for (var r = 0u; r < 32u; r = r + 1u) {
                let s = s0 + r;
                if (s < n) {
                    dec_ring[(s % 64u) * 64u + j] = buf_b[base + s * stride];
                }
            }
        }
        let end = min(s0 + 32u, steps);
        for (var s = s0; s < end; s = s + 1u) {
            if (s < n) {
                var x: f32;
                if (ringed) {
                    x = dec_ring[(s % 64u) * 64u + j];
                } else {
                    x = buf_b[base + s * stride];
                }
                sum = opq(sum + x);
                if (s < w) {
                    cnt = cnt + 1u;
                }
            }
            if (s >= w) {
                var x: f32;
                if (ringed) {
                    x = dec_ring[((s - w) % 64u) * 64u + j];
                } else {
                    x = buf_b[base + (s - w) * stride];
                }
                sum = opq(sum - x);
                if (s >= n) {
                    cnt = cnt - 1u;
                }
            }
            if (s + 1u >= half) {
                let o = s + 1u - half;
                // Decimation rows are non-decreasing; a row can be kept more than once.
                while (next < 64u && dec[d + next] == o) {
                    work[dst + next * 64u] = div_small(sum, cnt);
                    next = next + 1u;
                }
            }
        }
    }
}
