//! Import: every format is recognised, every malformed line is reported with its line number
//! (nothing dropped silently), strict mode stops at the first problem, lenient counts them.

use vigil::index::Algo;
use vigil::index::import::{
    FLAT_NOISE_PDQ, Format, ImportError, ParseOptions, Problem, ProblemKind, check_entries,
    parse_bytes,
};

const A: &str = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22";
const B: &str = "54a9f7c321d1443c43ba566e21d4a13989a3553f1472611cbbc5fda59e03b677";
const P: &str = "aca29c1c33dc23d7";

fn none(_: Algo, _: &[u8]) -> bool {
    false
}

fn lines(p: &[Problem]) -> Vec<(u64, ProblemKind)> {
    p.iter().map(|p| (p.line, p.kind.clone())).collect()
}

#[test]
fn plain_list_every_problem_has_its_line() {
    let zero = "0".repeat(64);
    let text = format!(
        "# a comment\n{A}\nhash={},source-7:cat-1\n\n{}\nzz{}\n{A}\n{zero}\n{}\n{B},only-metadata\n{}\n",
        B.to_uppercase(),
        &A[..60],
        &B[2..],
        FLAT_NOISE_PDQ[3],
        "1".repeat(65),
    );
    let parsed = parse_bytes(text.as_bytes(), &ParseOptions::default());
    assert_eq!(parsed.format, Some(Format::Plain));
    let checked = check_entries("list.txt", &parsed, false, false, &none).unwrap();
    assert_eq!(
        lines(&checked.problems),
        vec![
            (5, ProblemKind::WrongLength),
            (6, ProblemKind::NotHex),
            (7, ProblemKind::Duplicate),
            (8, ProblemKind::AllZero),
            (9, ProblemKind::FlatNoise),
            (10, ProblemKind::Duplicate),
            (11, ProblemKind::WrongLength),
        ]
    );
    let pdq = &checked.entries[&Algo::Pdq];
    assert_eq!(pdq.len(), 2);
    assert_eq!(Algo::Pdq.to_hex(&pdq[1].code), B);
    assert_eq!(pdq[1].label.as_deref(), Some("source-7:cat-1"));
    // Accepted + problems account for every non-blank, non-comment line.
    assert_eq!(pdq.len() + checked.problems.len(), 9);
    // Strict: the first problem, by line.
    match check_entries("list.txt", &parsed, true, false, &none) {
        Err(ImportError::Strict { line, kind, .. }) => {
            assert_eq!((line, kind), (5, ProblemKind::WrongLength))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn cpp_cli_and_details_lines_with_quality() {
    let cli = format!("{A},100,a.jpg\n{B},12,dark, file.jpg\nnot-a-hash,5,x\n");
    let parsed = parse_bytes(cli.as_bytes(), &ParseOptions::default());
    assert_eq!(parsed.format, Some(Format::CppCli));
    let c = check_entries("x", &parsed, false, false, &none).unwrap();
    assert_eq!(
        lines(&c.problems),
        vec![(2, ProblemKind::LowQuality(12)), (3, ProblemKind::NotHex)]
    );
    assert_eq!(c.entries[&Algo::Pdq][0].label.as_deref(), Some("a.jpg"));
    // --keep-low-quality keeps it.
    let c = check_entries("x", &parsed, false, true, &none).unwrap();
    assert_eq!(c.entries[&Algo::Pdq].len(), 2);

    let details = format!(
        "hash={A},norm=128,delta=0,quality=100,dims=10x10,filename=a,b.jpg\nhash={B},norm=1,quality=49,filename=c.jpg\nhash=,quality=100\n"
    );
    let parsed = parse_bytes(details.as_bytes(), &ParseOptions::default());
    assert_eq!(parsed.format, Some(Format::CppDetails));
    let c = check_entries("x", &parsed, false, false, &none).unwrap();
    assert_eq!(
        lines(&c.problems),
        vec![
            (2, ProblemKind::LowQuality(49)),
            (3, ProblemKind::Unparseable("no hash"))
        ]
    );
    assert_eq!(c.entries[&Algo::Pdq][0].label.as_deref(), Some("a,b.jpg"));
}

#[test]
fn threatexchange_lines() {
    let text = format!("pdq {A}\npdq {}\nvideo_md5 abc\nphash {P}\n", &A[1..]);
    let parsed = parse_bytes(text.as_bytes(), &ParseOptions::default());
    assert_eq!(parsed.format, Some(Format::ThreatExchange));
    let c = check_entries("x", &parsed, false, false, &none).unwrap();
    assert_eq!(
        lines(&c.problems),
        vec![(2, ProblemKind::WrongLength), (3, ProblemKind::UnknownAlgo)]
    );
    assert_eq!(c.entries[&Algo::Pdq].len(), 1);
    assert_eq!(c.entries[&Algo::Phash].len(), 1);
}

#[test]
fn vigil_csv_and_jsonl_pick_lists_by_algo_and_count_error_rows() {
    let csv = format!(
        "path,algo,hash,quality,width,height,error,path_bytes\n\
         a.jpg,pdq,{A},100,10,10,,\n\
         a.jpg,phash,{P},,10,10,,\n\
         b.txt,pdq,,,,,skipped: not an image,\n\
         \"c,d.jpg\",pdq,{B},30,10,10,,\n\
         e.jpg,pdq,{},90,1,1,,\n",
        &B[..63]
    );
    let parsed = parse_bytes(csv.as_bytes(), &ParseOptions::default());
    assert_eq!(parsed.format, Some(Format::VigilCsv));
    assert_eq!(parsed.error_rows, 1);
    let c = check_entries("x", &parsed, false, false, &none).unwrap();
    assert_eq!(
        lines(&c.problems),
        vec![
            (5, ProblemKind::LowQuality(30)),
            (6, ProblemKind::WrongLength)
        ]
    );
    assert_eq!(c.entries[&Algo::Pdq].len(), 1);
    assert_eq!(c.entries[&Algo::Phash].len(), 1);
    assert_eq!(c.entries[&Algo::Pdq][0].label.as_deref(), Some("a.jpg"));

    let jsonl = format!(
        "{{\"schema\":1,\"path\":\"a.jpg\",\"algo\":\"pdq\",\"hash\":\"{A}\",\"quality\":100,\"status\":\"hashed\"}}\n\
         {{\"schema\":1,\"path\":\"b\",\"algo\":\"pdq\",\"hash\":null,\"status\":\"failed\",\"error\":\"truncated\"}}\n\
         not json\n\
         {{\"schema\":1,\"path\":\"s.bin\",\"sha256\":\"{A}\",\"md5\":\"{}\"}}\n",
        &A[..32]
    );
    let parsed = parse_bytes(jsonl.as_bytes(), &ParseOptions::default());
    assert_eq!(parsed.format, Some(Format::VigilJsonl));
    assert_eq!(parsed.error_rows, 1);
    let c = check_entries("x", &parsed, false, false, &none).unwrap();
    assert_eq!(
        lines(&c.problems),
        vec![(3, ProblemKind::Unparseable("not a JSON object"))]
    );
    assert_eq!(c.entries[&Algo::Sha256].len(), 1);
    assert_eq!(c.entries[&Algo::Md5].len(), 1);
    assert_eq!(c.entries[&Algo::Pdq].len(), 1);
}

#[test]
fn digest_lists_by_length_or_named() {
    let text = format!("{}\n{}\n{}\n", &A[..32], &A[..40], A);
    let by_len = parse_bytes(text.as_bytes(), &ParseOptions::default());
    let algos: Vec<Algo> = by_len.records.iter().map(|r| r.algo).collect();
    assert_eq!(algos, vec![Algo::Md5, Algo::Sha1, Algo::Pdq]);
    let named = parse_bytes(
        text.as_bytes(),
        &ParseOptions {
            algo: Some(Algo::Sha256),
        },
    );
    assert_eq!(named.records.len(), 1);
    assert_eq!(named.records[0].algo, Algo::Sha256);
    assert_eq!(
        lines(&named.problems),
        vec![(1, ProblemKind::WrongLength), (2, ProblemKind::WrongLength)]
    );
}
