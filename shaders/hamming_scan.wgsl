// CPU twin: index::scan::oracle_range (every code within `radius` of every query). Integer
// only, so exact on any adapter. `WORDS` (u32 words per code: 8 for PDQ, 2 for pHash) is set
// by src/gpu/hamming.rs when it builds the module.
//
// Thread = one code of the chunk (workgroup x × 256 + thread), workgroup y = a block of 64
// queries, staged in workgroup memory and read by every thread at once (a broadcast). A hit
// takes a slot with an atomic counter; past the hit buffer's capacity it is only counted, and
// the host runs that chunk again with a buffer large enough, so no hit is ever lost.

const WORDS: u32 = 8u;
const QUERY_BLOCK: u32 = 64u;

struct ScanParams {
    // Codes in this chunk.
    codes: u32,
    queries: u32,
    radius: u32,
    // Hit slots in `hits`.
    capacity: u32,
}

struct Hit {
    query: u32,
    entry: u32,
    distance: u32,
}

@group(0) @binding(0) var<uniform> params: ScanParams;
@group(0) @binding(1) var<storage, read> codes: array<u32>;
@group(0) @binding(2) var<storage, read> queries: array<u32>;
@group(0) @binding(3) var<storage, read_write> hit_count: array<atomic<u32>, 1>;
@group(0) @binding(4) var<storage, read_write> hits: array<Hit>;

var<workgroup> block: array<u32, 512>; // QUERY_BLOCK × up to 8 words

@compute @workgroup_size(256)
fn hamming_scan(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
) {
    let q0 = wid.y * QUERY_BLOCK;
    let nq = min(QUERY_BLOCK, params.queries - q0);
    for (var k = t; k < nq * WORDS; k = k + 256u) {
        block[k] = queries[q0 * WORDS + k];
    }
    workgroupBarrier();
    // Codes: workgroups x, x + nwg.x, … (a chunk may hold more than 65,535 × 256 codes).
    let stride = nwg.x * 256u;
    for (var e = wid.x * 256u + t; e < params.codes; e = e + stride) {
        var c: array<u32, WORDS>;
        for (var w = 0u; w < WORDS; w = w + 1u) {
            c[w] = codes[e * WORDS + w];
        }
        for (var j = 0u; j < nq; j = j + 1u) {
            var d = 0u;
            for (var w = 0u; w < WORDS; w = w + 1u) {
                d = d + countOneBits(c[w] ^ block[j * WORDS + w]);
            }
            if (d <= params.radius) {
                let slot = atomicAdd(&hit_count[0], 1u);
                if (slot < params.capacity) {
                    hits[slot] = Hit(q0 + j, e, d);
                }
            }
        }
    }
}
