// CPU twin: oracle::box1d along rows (`buf_a` → `buf_b`). One thread per row, one float32
// running sum per row in the oracle's order; workgroup = 32 consecutive rows of one image
// (workgroup y = image).
//
// The oracle's four phases (add; add and emit; add, subtract and emit; subtract and emit) are
// written as one loop over steps s = 0 .. n + half - 2: enter x[s] while s < n (count + 1
// while s < w), then leave x[s - w] once s >= w (count - 1 once s >= n), then emit output
// s - (half - 1) once s >= half - 1. The same additions and subtractions in the same order.
//
// A thread walking its own row reads addresses a row apart from its neighbours', which a GPU
// serves one transaction per thread. So the 32 rows' columns are staged, 32 at a time, in
// workgroup memory by coalesced loads (each load instruction reads 32 consecutive floats of
// one row), and each thread walks its row there. A ring of two such tiles holds both the
// entering column and the leaving one (w columns behind) while w <= 32, i.e. for widths up to
// 4096; wider images walk global memory directly. Outputs go the same way back: each
// thread's 32 outputs of a step block into a workgroup tile, then out with coalesced stores.

const ROWS_PER_GROUP: u32 = 32u;
const TILE: u32 = 32u;
// 2 tiles of 32 columns, each column 32 rows + 1 padding word against bank conflicts.
var<workgroup> ring: array<f32, 2112>;
// The outputs of one block of 32 steps: 32 columns × (32 rows + 1 padding word).
var<workgroup> outs: array<f32, 1056>;

@compute @workgroup_size(32)
fn pdq_box_rows(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
) {
    let img = images[wid.y];
    let y0 = wid.x * ROWS_PER_GROUP;
    if (img.skip_blur != 0u || y0 >= img.height) {
        return;
    }
    let n = img.width;
    let w = img.win_rows;
    let half = (w + 2u) / 2u;
    let steps = n + half - 1u;
    let row = y0 + t;
    let live = row < img.height;
    let base = img.offset + row * n;
    var sum = 0.0;
    var cnt = 0u;

    if (w > TILE) {
        if (!live) {
            return;
        }
        for (var s = 0u; s < steps; s = s + 1u) {
            if (s < n) {
                sum = opq(sum + buf_a[base + s]);
                if (s < w) {
                    cnt = cnt + 1u;
                }
            }
            if (s >= w) {
                sum = opq(sum - buf_a[base + s - w]);
                if (s >= n) {
                    cnt = cnt - 1u;
                }
            }
            if (s + 1u >= half) {
                buf_b[base + s + 1u - half] = div_small(sum, cnt);
            }
        }
        return;
    }

    let rows_here = min(ROWS_PER_GROUP, img.height - y0);
    for (var s0 = 0u; s0 < steps; s0 = s0 + TILE) {
        // Stage columns s0 .. s0 + 31 (those inside the row) of the group's rows.
        if (s0 < n) {
            let c = s0 + t;
            let slot = (c % (2u * TILE)) * 33u;
            if (c < n) {
                // A constant trip count, so the 32 loads can all be in flight at once.
                for (var r = 0u; r < ROWS_PER_GROUP; r = r + 1u) {
                    if (r < rows_here) {
                        ring[slot + r] = buf_a[img.offset + (y0 + r) * n + c];
                    }
                }
            }
        }
        workgroupBarrier();
        let end = min(s0 + TILE, steps);
        if (live) {
            for (var s = s0; s < end; s = s + 1u) {
                if (s < n) {
                    sum = opq(sum + ring[(s % (2u * TILE)) * 33u + t]);
                    if (s < w) {
                        cnt = cnt + 1u;
                    }
                }
                if (s >= w) {
                    sum = opq(sum - ring[((s - w) % (2u * TILE)) * 33u + t]);
                    if (s >= n) {
                        cnt = cnt - 1u;
                    }
                }
                if (s + 1u >= half) {
                    outs[(s - s0) * 33u + t] = div_small(sum, cnt);
                }
            }
        }
        workgroupBarrier();
        // Step s0 + t emitted output s0 + t - (half - 1), if any: write it for every row.
        let s = s0 + t;
        if (s < end && s + 1u >= half) {
            let o = s + 1u - half;
            for (var r = 0u; r < rows_here; r = r + 1u) {
                buf_b[img.offset + (y0 + r) * n + o] = outs[t * 33u + r];
            }
        }
    }
}
