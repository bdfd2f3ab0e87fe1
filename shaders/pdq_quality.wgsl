// CPU twin: oracle::quality. One thread per image (x = image): the oracle's two loops in
// order, d = (int)(((a - b) * 100f) / 255f) with the division by 255 done by div_small, the
// truncation and the sum in i32.

fn grad(a: f32, b: f32) -> i32 {
    return abs(i32(div_small(opq(opq(a - b) * 100.0), 255u)));
}

@compute @workgroup_size(64)
fn pdq_quality(@builtin(global_invocation_id) gid: vec3<u32>) {
    let m = gid.x;
    if (m >= globals.num_images) {
        return;
    }
    let base = m * 4096u;
    var sum = 0;
    for (var i = 0u; i < 63u; i = i + 1u) {
        for (var j = 0u; j < 64u; j = j + 1u) {
            sum = sum + grad(work[base + i * 64u + j], work[base + (i + 1u) * 64u + j]);
        }
    }
    for (var i = 0u; i < 64u; i = i + 1u) {
        for (var j = 0u; j < 63u; j = j + 1u) {
            sum = sum + grad(work[base + i * 64u + j], work[base + i * 64u + j + 1u]);
        }
    }
    quality_out[m] = u32(min(sum / 90, 100));
}
