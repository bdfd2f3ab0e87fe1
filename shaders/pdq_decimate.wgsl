// CPU twin: oracle::decimate. One thread per output sample, workgroup y = image; the indices
// were computed on the CPU in f64 exactly as oracle::decimation_index. Nothing is rounded.

@compute @workgroup_size(64)
fn pdq_decimate(@builtin(global_invocation_id) gid: vec3<u32>) {
    let img = images[gid.y];
    let i = gid.x / 64u;
    let j = gid.x % 64u;
    let d = gid.y * 128u;
    work[gid.y * 4096u + gid.x] = buf_a[img.offset + dec[d + i] * img.width + dec[d + 64u + j]];
}
