//! A compressed body that inflates far beyond the cap on buffered
//! responses: the engine reads it only up to the cap, after decompression,
//! and fails naming the limit. Memory stays bounded (the process's peak
//! resident size is checked, Linux), and the client stops reading the
//! compressed stream instead of inflating it all (an endless stream ends
//! because the client goes away).
//!
//! The bodies are generated here: one full-flushed deflate segment of
//! 1 MiB of spaces (JSON whitespace), about 1 KiB compressed, repeated.

mod support;

use std::time::Duration;

use flate2::{Compress, Compression, Crc, FlushCompress};
use support::raw::RawServer;
use support::*;
use switchboard_core::engine::{Engine, InstallationContext};
use switchboard_core::{Arguments, ErrorKind};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

const MIB: usize = 1024 * 1024;

/// 1 MiB of spaces, deflated and full-flushed: byte-aligned and referring
/// to nothing before it, so copies of it concatenate into valid deflate
/// data. Returns the segment and the CRC-32 of what it inflates to.
fn segment() -> (Vec<u8>, Crc) {
    let input = vec![b' '; MIB];
    let mut compress = Compress::new(Compression::best(), false);
    let mut out = Vec::with_capacity(64 * 1024);
    compress
        .compress_vec(&input, &mut out, FlushCompress::Full)
        .unwrap();
    assert_eq!(compress.total_in(), MIB as u64, "one call takes it all");
    let mut crc = Crc::new();
    crc.update(&input);
    (out, crc)
}

const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// A whole gzip member of about `compressed` bytes: `n` segments, a final
/// empty block, the CRC and the length. Returns it and the inflated size.
fn gzip_bomb(compressed: usize) -> (Vec<u8>, u64) {
    let (unit, unit_crc) = segment();
    let n = compressed / unit.len();
    let mut body = Vec::with_capacity(compressed + 64);
    body.extend_from_slice(&GZIP_HEADER);
    let mut crc = Crc::new();
    for _ in 0..n {
        body.extend_from_slice(&unit);
        crc.combine(&unit_crc);
    }
    // BFINAL=1, fixed Huffman, end of block: 10 bits
    body.extend_from_slice(&[0x03, 0x00]);
    body.extend_from_slice(&crc.sum().to_le_bytes());
    let inflated = (n * MIB) as u64;
    body.extend_from_slice(&(inflated as u32).to_le_bytes());
    (body, inflated)
}

/// The process's peak resident size in bytes (Linux `VmHWM`).
fn peak_resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn engine_capped_at_one_mib() -> Engine {
    Engine::builder(registry())
        .retry_policy(policy())
        .max_response_bytes(MIB as u64)
        .build()
        .unwrap()
}

fn get_user() -> Arguments {
    Arguments::new().set("id", "adele")
}

#[tokio::test]
async fn a_one_megabyte_gzip_body_that_inflates_to_a_gibibyte_stops_at_the_cap() {
    let (bomb, inflated) = gzip_bomb(MIB);
    assert!(bomb.len() <= MIB + 64, "{} bytes compressed", bomb.len());
    assert!(inflated >= 900 * MIB as u64, "{inflated} bytes inflated");
    // the fixture is a valid gzip stream (checked on its first megabytes)
    let mut head = vec![0u8; 4 * MIB];
    let mut decoder = flate2::read::GzDecoder::new(&bomb[..]);
    std::io::Read::read_exact(&mut decoder, &mut head).unwrap();
    assert!(head.iter().all(|b| *b == b' '));
    drop(decoder);

    let server = server().await;
    Mock::given(method("GET"))
        .and(path("/v1.0/users/adele"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-encoding", "gzip")
                .set_body_raw(bomb, "application/json"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let before = peak_resident_bytes();
    let err = engine_capped_at_one_mib()
        .call(
            &ctx(&server, RecordingCredential::new()),
            "users.get_user",
            get_user(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
    assert_eq!(err.field(), Some("max_response_bytes"));
    assert!(
        err.message().contains(&format!(
            "the response from `127.0.0.1:{}` is larger than 1 MiB",
            server.address().port()
        )),
        "{err}"
    );
    // a gibibyte was on offer; the process never came near holding it
    if let (Some(before), Some(after)) = (before, peak_resident_bytes()) {
        assert!(
            after < before.max(64 * MIB as u64) + 128 * MIB as u64,
            "peak resident size rose from {before} to {after} bytes"
        );
    }
}

#[tokio::test]
async fn an_endless_gzip_stream_is_read_only_to_the_cap() {
    let (unit, _) = segment();
    let head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-encoding: gzip\r\ntransfer-encoding: chunked\r\n\r\n";
    // the gzip header, then deflate segments for ever, as HTTP chunks
    let mut first = format!("{:x}\r\n", GZIP_HEADER.len()).into_bytes();
    first.extend_from_slice(&GZIP_HEADER);
    first.extend_from_slice(b"\r\n");
    let mut chunk = format!("{:x}\r\n", unit.len()).into_bytes();
    chunk.extend_from_slice(&unit);
    chunk.extend_from_slice(b"\r\n");
    let mut start = head.to_vec();
    start.extend_from_slice(&first);
    let server = RawServer::endless(start, chunk).await;
    let ctx = InstallationContext::new(
        INSTALLATION,
        CONNECTOR,
        "delegated",
        switchboard_core::connector::Endpoints {
            base_url: url::Url::parse(&format!("{}/v1.0", server.base())).unwrap(),
            allowed_hosts: vec!["127.0.0.1".into()],
        },
        RecordingCredential::new(),
    );
    let err = engine_capped_at_one_mib()
        .call(&ctx, "users.get_user", get_user())
        .await
        .unwrap_err();
    assert_eq!(err.field(), Some("max_response_bytes"), "{err}");
    // the client went away: the server's endless answer ended
    tokio::time::timeout(Duration::from_secs(60), async {
        while server.dropped() == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the client stopped reading and closed the connection");
    assert_eq!(server.connections(), 1);
    // what it took before it stopped is the cap's worth of compressed data
    // plus what the sockets buffered: megabytes, against an endless stream
    assert!(
        server.bytes_sent() < 64 * MIB,
        "{} bytes were sent",
        server.bytes_sent()
    );
}
