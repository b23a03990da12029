//! The binary: `generate` to a zstd file, and `replay` to an HTTP server on 127.0.0.1.

use harbinger_shared::{Batch, IngestAck};
use harbinger_sim::{jsonl, GroundTruth};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::{Arc, Mutex};

fn sim() -> Command {
    Command::new(env!("CARGO_BIN_EXE_harbinger-sim"))
}

#[test]
fn generate_writes_zstd_jsonl_and_ground_truth() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("fleet.jsonl.zst");
    let status = sim()
        .args([
            "generate",
            "--hosts",
            "5",
            "--days",
            "1",
            "--seed",
            "9",
            "--interval",
            "300",
            "--out",
        ])
        .arg(&out)
        .output()
        .expect("run harbinger-sim");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let stdout = String::from_utf8_lossy(&status.stdout);
    assert!(stdout.contains("for 5 hosts"), "{stdout}");
    let file = std::fs::File::open(&out).expect("output file");
    let decoder = zstd::stream::read::Decoder::new(file).expect("zstd");
    let batches: Vec<Batch> = jsonl::read(BufReader::new(decoder))
        .collect::<Result<_, _>>()
        .expect("batches");
    let hosts: std::collections::BTreeSet<_> =
        batches.iter().map(|b| b.agent.host_id.clone()).collect();
    assert_eq!(hosts.len(), 5);
    let truth: GroundTruth = serde_json::from_slice(
        &std::fs::read(dir.path().join("fleet.truth.json")).expect("truth file"),
    )
    .expect("truth json");
    assert_eq!(truth.hosts.len(), 5);
    assert!(hosts
        .iter()
        .all(|h| truth.hosts.iter().any(|t| &t.host_id == h)));

    let bad = sim()
        .args(["generate", "--hosts", "0", "--out"])
        .arg(&out)
        .output()
        .expect("run");
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("fleet.hosts: must be at least 1"));
}

/// A minimal HTTP/1.1 ingest endpoint: decodes each zstd body and acknowledges it.
fn serve(listener: TcpListener, received: Arc<Mutex<Vec<Batch>>>) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { return };
        let received = received.clone();
        std::thread::spawn(move || {
            let _ = connection(stream, &received);
        });
    }
}

fn connection(stream: TcpStream, received: &Mutex<Vec<Batch>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    loop {
        let mut head = Vec::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            if line == "\r\n" {
                break;
            }
            head.push(line.trim_end().to_ascii_lowercase());
        }
        assert!(head[0].starts_with("post /api/v1/ingest "), "{head:?}");
        assert!(
            head.iter().any(|h| h == "content-encoding: zstd"),
            "{head:?}"
        );
        let length: usize = head
            .iter()
            .find_map(|h| h.strip_prefix("content-length: "))
            .and_then(|v| v.parse().ok())
            .expect("content-length");
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        let batch = Batch::decode(&body, true, 64 << 20).expect("a valid zstd batch");
        batch.validate().expect("valid");
        let ack = serde_json::to_string(&IngestAck {
            host_id: batch.agent.host_id.clone(),
            seq: batch.seq,
            duplicate: false,
        })
        .expect("ack");
        received.lock().expect("lock").push(batch);
        write!(
            writer,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{ack}",
            ack.len()
        )?;
        writer.flush()?;
    }
}

#[test]
fn replay_posts_every_batch_through_ingest() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let received = Arc::new(Mutex::new(Vec::new()));
    let sink = received.clone();
    std::thread::spawn(move || serve(listener, sink));
    let output = sim()
        .args([
            "replay",
            "--hosts",
            "3",
            "--days",
            "0.5",
            "--interval",
            "300",
            "--concurrency",
            "3",
            "--url",
            &url,
        ])
        .output()
        .expect("run replay");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let received = received.lock().expect("lock");
    assert!(
        stdout.contains(&format!("sent {} batches", received.len())),
        "{stdout}"
    );
    assert!(stdout.contains("samples/s"), "{stdout}");
    assert!(received.len() >= 3 * 14, "{}", received.len());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    assert!(
        received
            .iter()
            .all(|b| b.time_range().is_some_and(|(_, hi)| hi <= now)),
        "no future timestamps"
    );
    let mut per_host: std::collections::BTreeMap<&str, Vec<u64>> = Default::default();
    for b in received.iter() {
        per_host.entry(&b.agent.host_id).or_default().push(b.seq);
    }
    assert_eq!(per_host.len(), 3);
    for seqs in per_host.values_mut() {
        seqs.sort_unstable();
        let n = seqs.len() as u64;
        assert_eq!(
            *seqs,
            (1..=n).collect::<Vec<_>>(),
            "every batch arrives exactly once"
        );
    }
}
