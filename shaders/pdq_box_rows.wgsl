// CPU twin: oracle::box1d along rows (`buf_a` → `buf_b`). One thread per row, workgroup y =
// image, the oracle's four phases in order (add, then subtract), one float32 running sum.

@compute @workgroup_size(64)
fn pdq_box_rows(@builtin(global_invocation_id) gid: vec3<u32>) {
    let img = images[gid.y];
    if (img.skip_blur != 0u || gid.x >= img.height) {
        return;
    }
    let n = img.width;
    let w = img.win_rows;
    let half = (w + 2u) / 2u;
    let base = img.offset + gid.x * n;
    var li = base;
    var ri = base;
    var oi = base;
    var sum = 0.0;
    var cnt = 0u;
    for (var k = 0u; k < half - 1u; k = k + 1u) {
        sum = opq(sum + buf_a[ri]);
        cnt = cnt + 1u;
        ri = ri + 1u;
    }
    for (var k = 0u; k < w - half + 1u; k = k + 1u) {
        sum = opq(sum + buf_a[ri]);
        cnt = cnt + 1u;
        buf_b[oi] = div_small(sum, cnt);
        ri = ri + 1u;
        oi = oi + 1u;
    }
    for (var k = 0u; k < n - w; k = k + 1u) {
        sum = opq(sum + buf_a[ri]);
        sum = opq(sum - buf_a[li]);
        buf_b[oi] = div_small(sum, cnt);
        li = li + 1u;
        ri = ri + 1u;
        oi = oi + 1u;
    }
    for (var k = 0u; k < half - 1u; k = k + 1u) {
        sum = opq(sum - buf_a[li]);
        cnt = cnt - 1u;
        buf_b[oi] = div_small(sum, cnt);
        li = li + 1u;
        oi = oi + 1u;
    }
}
