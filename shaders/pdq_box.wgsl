// CPU twin: oracle::box1d, the Jarosz passes, and the layout changes between them.
//
// Layouts: "T" (transposed) holds pixel (x, y) at x * height + y, "R" (row-major) at
// y * width + x. A pass walks lines (rows, or columns) one thread per line; a line's samples
// are `stride` apart, and neighbouring lines are neighbouring addresses, so every load and
// store of a warp is coalesced. Rows are walked in T, columns in R:
//   luma → buf_a (T) · rows → buf_b (T) · transpose → buf_a (R) · columns → buf_b (R)
//   · transpose → buf_a (T) · rows, emitting only the 64 decimation columns → buf_b (T)
//   · pdq_box_cols_decimate: the 64 decimation columns → the 64×64 block.
// 64×64 images are not blurred (upstream copies them): every kernel here skips them.
//
// Each line is one float32 running sum in the oracle's order. The oracle's four phases (add;
// add and emit; add, subtract and emit; subtract and emit) are one loop over steps
// s = 0 .. n + half - 2: enter x[s] while s < n (count + 1 while s < w), then leave x[s - w]
// once s >= w (count - 1 once s >= n), then emit output s - (half - 1) once s >= half - 1: the
// same additions and subtractions in the same order, each rounded (opq), each output divided
// by div_small.
//
// What limits a walk is the latency of each load, so each thread first loads the next 32
// samples of its line (32 independent loads in flight) into its own slice of a workgroup ring
// that keeps the last 64, then walks them there; the leaving sample (w behind) is still in the
// ring while w <= 32 (lines up to 4096); longer lines walk global memory directly. A thread
// reads only its own slice, so no barrier is needed.

var<workgroup> walk_ring: array<f32, 4096>; // 64 steps × 64 threads

// Walk line `k` of image `m` (buf_a → buf_b): n samples `stride` apart from offset + k,
// window w. With `sparse`, emit only the outputs at image m's decimation columns.
fn walk(t: u32, k: u32, m: u32, img: ImageParams, n: u32, stride: u32, w: u32, sparse: bool) {
    let half = (w + 2u) / 2u;
    let steps = n + half - 1u;
    let base = img.offset + k;
    let cols = m * 128u + 64u;
    let ringed = w <= 32u;
    var sum = 0.0;
    var cnt = 0u;
    var next = 0u;
    for (var s0 = 0u; s0 < steps; s0 = s0 + 32u) {
        if (ringed) {
            for (var r = 0u; r < 32u; r = r + 1u) {
                let s = s0 + r;
                if (s < n) {
                    walk_ring[(s % 64u) * 64u + t] = buf_a[base + s * stride];
                }
            }
        }
        let end = min(s0 + 32u, steps);
        for (var s = s0; s < end; s = s + 1u) {
            if (s < n) {
                var x: f32;
                if (ringed) {
                    x = walk_ring[(s % 64u) * 64u + t];
                } else {
                    x = buf_a[base + s * stride];
                }
                sum = opq(sum + x);
                if (s < w) {
                    cnt = cnt + 1u;
                }
            }
            if (s >= w) {
                var x: f32;
                if (ringed) {
                    x = walk_ring[((s - w) % 64u) * 64u + t];
                } else {
                    x = buf_a[base + (s - w) * stride];
                }
                sum = opq(sum - x);
                if (s >= n) {
                    cnt = cnt - 1u;
                }
            }
            if (s + 1u >= half) {
                let o = s + 1u - half;
                if (!sparse) {
                    buf_b[base + o * stride] = div_small(sum, cnt);
                } else {
                    // Decimation columns are non-decreasing (a column can repeat).
                    while (next < 64u && dec[cols + next] < o) {
                        next = next + 1u;
                    }
                    if (next < 64u && dec[cols + next] == o) {
                        buf_b[base + o * stride] = div_small(sum, cnt);
                    }
                }
            }
        }
    }
}

// Rows in T: line k = y, n = width, stride = height.
@compute @workgroup_size(64)
fn pdq_box_rows(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
) {
    let img = images[gid.y];
    if (img.skip_blur != 0u || gid.x >= img.height) {
        return;
    }
    walk(t, gid.x, gid.y, img, img.width, img.height, img.win_rows, false);
}

// The second row pass: only the decimation columns are kept, so only they are divided and
// stored.
@compute @workgroup_size(64)
fn pdq_box_rows_decimate(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
) {
    let img = images[gid.y];
    if (img.skip_blur != 0u || gid.x >= img.height) {
        return;
    }
    walk(t, gid.x, gid.y, img, img.width, img.height, img.win_rows, true);
}

// Columns in R: line k = x, n = height, stride = width.
@compute @workgroup_size(64)
fn pdq_box_cols(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
) {
    let img = images[gid.y];
    if (img.skip_blur != 0u || gid.x >= img.width) {
        return;
    }
    walk(t, gid.x, gid.y, img, img.height, img.width, img.win_cols, false);
}

var<workgroup> transpose_tile: array<f32, 1056>; // 32 × (32 + 1 padding)

// buf_b → buf_a: a `rows` × `cols` row-major matrix to its transpose, 32×32 tiles, workgroup
// x taking tiles x, x + nwg.x, … (workgroup y = image), both sides coalesced. Nothing is
// computed.
fn transpose(wx: u32, nwx: u32, lid: vec3<u32>, img: ImageParams, rows: u32, cols: u32) {
    let tiles_c = (cols + 31u) / 32u;
    let tiles = tiles_c * ((rows + 31u) / 32u);
    for (var tile = wx; tile < tiles; tile = tile + nwx) {
        let c0 = (tile % tiles_c) * 32u;
        let r0 = (tile / tiles_c) * 32u;
        for (var k = 0u; k < 32u; k = k + 8u) {
            let r = r0 + lid.y + k;
            let c = c0 + lid.x;
            if (r < rows && c < cols) {
                transpose_tile[(lid.y + k) * 33u + lid.x] = buf_b[img.offset + r * cols + c];
            }
        }
        workgroupBarrier();
        for (var k = 0u; k < 32u; k = k + 8u) {
            let c = c0 + lid.y + k;
            let r = r0 + lid.x;
            if (r < rows && c < cols) {
                buf_a[img.offset + c * rows + r] = transpose_tile[lid.x * 33u + lid.y + k];
            }
        }
        workgroupBarrier();
    }
}

// T → R (T is width rows of height samples).
@compute @workgroup_size(32, 8)
fn pdq_transpose_to_rows(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
) {
    let img = images[wid.y];
    if (img.skip_blur != 0u) {
        return;
    }
    transpose(wid.x, nwg.x, lid, img, img.width, img.height);
}

// R → T.
@compute @workgroup_size(32, 8)
fn pdq_transpose_to_cols(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
) {
    let img = images[wid.y];
    if (img.skip_blur != 0u) {
        return;
    }
    transpose(wid.x, nwg.x, lid, img, img.height, img.width);
}
