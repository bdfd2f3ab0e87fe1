// CPU twin: oracle::box1d along columns (`buf_b` → `buf_a`). One thread per column, workgroup
// y = image, one float32 running sum per column in the oracle's order (the unified loop of
// pdq_box_rows.wgsl: enter x[s] while s < n, leave x[s - w] once s >= w, emit s - (half - 1)).
//
// Neighbouring threads read neighbouring columns, so every load is coalesced; what limits a
// column walk is the latency of each load. So each thread first loads the next 32 samples of
// its own column (32 independent loads in flight) into its own slice of a workgroup ring that
// keeps the last 64, then walks them: the leaving sample (w behind) is still in the ring while
// w <= 32, i.e. for heights up to 4096; taller images walk global memory directly. A thread only
// ever reads its own slice, so no barrier is needed.

const COLS_PER_GROUP: u32 = 64u;
var<workgroup> col_ring: array<f32, 4096>; // 64 steps × 64 threads

@compute @workgroup_size(64)
fn pdq_box_cols(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
) {
    let img = images[gid.y];
    if (img.skip_blur != 0u || gid.x >= img.width) {
        return;
    }
    let n = img.height;
    let stride = img.width;
    let w = img.win_cols;
    let half = (w + 2u) / 2u;
    let steps = n + half - 1u;
    let base = img.offset + gid.x;
    var sum = 0.0;
    var cnt = 0u;
    if (w > 32u) {
        for (var s = 0u; s < steps; s = s + 1u) {
            if (s < n) {
                sum = opq(sum + buf_b[base + s * stride]);
                if (s < w) {
                    cnt = cnt + 1u;
                }
            }
            if (s >= w) {
                sum = opq(sum - buf_b[base + (s - w) * stride]);
                if (s >= n) {
                    cnt = cnt - 1u;
                }
            }
            if (s + 1u >= half) {
                buf_a[base + (s + 1u - half) * stride] = div_small(sum, cnt);
            }
        }
        return;
    }
    for (var s0 = 0u; s0 < steps; s0 = s0 + 32u) {
        for (var r = 0u; r < 32u; r = r + 1u) {
            let s = s0 + r;
            if (s < n) {
                col_ring[(s % 64u) * COLS_PER_GROUP + t] = buf_b[base + s * stride];
            }
        }
        let end = min(s0 + 32u, steps);
        for (var s = s0; s < end; s = s + 1u) {
            if (s < n) {
                sum = opq(sum + col_ring[(s % 64u) * COLS_PER_GROUP + t]);
                if (s < w) {
                    cnt = cnt + 1u;
                }
            }
            if (s >= w) {
                sum = opq(sum - col_ring[((s - w) % 64u) * COLS_PER_GROUP + t]);
                if (s >= n) {
                    cnt = cnt - 1u;
                }
            }
            if (s + 1u >= half) {
                buf_a[base + (s + 1u - half) * stride] = div_small(sum, cnt);
            }
        }
    }
}
