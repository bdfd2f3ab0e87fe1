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
            // 32 loads written out, all issued before the first is used (a loop here was not
            // unrolled: each load waited for the previous one). Steps past the end load the
            // last sample again; those ring slots are never read.
            let last = n - 1u;
            let v00 = buf_a[base + min(s0 + 0u, last) * stride];
            let v01 = buf_a[base + min(s0 + 1u, last) * stride];
            let v02 = buf_a[base + min(s0 + 2u, last) * stride];
            let v03 = buf_a[base + min(s0 + 3u, last) * stride];
            let v04 = buf_a[base + min(s0 + 4u, last) * stride];
            let v05 = buf_a[base + min(s0 + 5u, last) * stride];
            let v06 = buf_a[base + min(s0 + 6u, last) * stride];
            let v07 = buf_a[base + min(s0 + 7u, last) * stride];
            let v08 = buf_a[base + min(s0 + 8u, last) * stride];
            let v09 = buf_a[base + min(s0 + 9u, last) * stride];
            let v10 = buf_a[base + min(s0 + 10u, last) * stride];
            let v11 = buf_a[base + min(s0 + 11u, last) * stride];
            let v12 = buf_a[base + min(s0 + 12u, last) * stride];
            let v13 = buf_a[base + min(s0 + 13u, last) * stride];
            let v14 = buf_a[base + min(s0 + 14u, last) * stride];
            let v15 = buf_a[base + min(s0 + 15u, last) * stride];
            let v16 = buf_a[base + min(s0 + 16u, last) * stride];
            let v17 = buf_a[base + min(s0 + 17u, last) * stride];
            let v18 = buf_a[base + min(s0 + 18u, last) * stride];
            let v19 = buf_a[base + min(s0 + 19u, last) * stride];
            let v20 = buf_a[base + min(s0 + 20u, last) * stride];
            let v21 = buf_a[base + min(s0 + 21u, last) * stride];
            let v22 = buf_a[base + min(s0 + 22u, last) * stride];
            let v23 = buf_a[base + min(s0 + 23u, last) * stride];
            let v24 = buf_a[base + min(s0 + 24u, last) * stride];
            let v25 = buf_a[base + min(s0 + 25u, last) * stride];
            let v26 = buf_a[base + min(s0 + 26u, last) * stride];
            let v27 = buf_a[base + min(s0 + 27u, last) * stride];
            let v28 = buf_a[base + min(s0 + 28u, last) * stride];
            let v29 = buf_a[base + min(s0 + 29u, last) * stride];
            let v30 = buf_a[base + min(s0 + 30u, last) * stride];
            let v31 = buf_a[base + min(s0 + 31u, last) * stride];
            walk_ring[((s0 + 0u) % 64u) * 64u + t] = v00;
            walk_ring[((s0 + 1u) % 64u) * 64u + t] = v01;
            walk_ring[((s0 + 2u) % 64u) * 64u + t] = v02;
            walk_ring[((s0 + 3u) % 64u) * 64u + t] = v03;
            walk_ring[((s0 + 4u) % 64u) * 64u + t] = v04;
            walk_ring[((s0 + 5u) % 64u) * 64u + t] = v05;
            walk_ring[((s0 + 6u) % 64u) * 64u + t] = v06;
            walk_ring[((s0 + 7u) % 64u) * 64u + t] = v07;
            walk_ring[((s0 + 8u) % 64u) * 64u + t] = v08;
            walk_ring[((s0 + 9u) % 64u) * 64u + t] = v09;
            walk_ring[((s0 + 10u) % 64u) * 64u + t] = v10;
            walk_ring[((s0 + 11u) % 64u) * 64u + t] = v11;
            walk_ring[((s0 + 12u) % 64u) * 64u + t] = v12;
            walk_ring[((s0 + 13u) % 64u) * 64u + t] = v13;
            walk_ring[((s0 + 14u) % 64u) * 64u + t] = v14;
            walk_ring[((s0 + 15u) % 64u) * 64u + t] = v15;
            walk_ring[((s0 + 16u) % 64u) * 64u + t] = v16;
            walk_ring[((s0 + 17u) % 64u) * 64u + t] = v17;
            walk_ring[((s0 + 18u) % 64u) * 64u + t] = v18;
            walk_ring[((s0 + 19u) % 64u) * 64u + t] = v19;
            walk_ring[((s0 + 20u) % 64u) * 64u + t] = v20;
            walk_ring[((s0 + 21u) % 64u) * 64u + t] = v21;
            walk_ring[((s0 + 22u) % 64u) * 64u + t] = v22;
            walk_ring[((s0 + 23u) % 64u) * 64u + t] = v23;
            walk_ring[((s0 + 24u) % 64u) * 64u + t] = v24;
            walk_ring[((s0 + 25u) % 64u) * 64u + t] = v25;
            walk_ring[((s0 + 26u) % 64u) * 64u + t] = v26;
            walk_ring[((s0 + 27u) % 64u) * 64u + t] = v27;
            walk_ring[((s0 + 28u) % 64u) * 64u + t] = v28;
            walk_ring[((s0 + 29u) % 64u) * 64u + t] = v29;
            walk_ring[((s0 + 30u) % 64u) * 64u + t] = v30;
            walk_ring[((s0 + 31u) % 64u) * 64u + t] = v31;
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
