//! Hostile hosts and hostile local files (issue 7). Every server here binds 127.0.0.1.

use crate::common::*;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use axum::response::Response;
use okx_export::okx::{ClientConfig, OkxClient, OkxError};
use okx_export::sim::{SimConfig, SimKey, SimServer};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Starts an axum app on 127.0.0.1 and returns its base URL.
async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

/// A server that records the headers of every request it gets and answers an empty page.
async fn recorder() -> (String, Arc<Mutex<Vec<HeaderMap>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let app = axum::Router::new().fallback(move |req: Request<Body>| {
        let s = s.clone();
        async move {
            s.lock().unwrap().push(req.headers().clone());
            (
                [(header::CONTENT_TYPE, "application/json")],
                r#"{"code":"0","msg":"","data":[]}"#,
            )
        }
    });
    (serve(app).await, seen)
}

/// A proxy in front of the simulator that answers `302 → target` for paths containing
/// one of `redirect` and forwards everything else unchanged.
async fn redirecting_proxy(sim: &SimServer, redirect: &'static [&'static str], target: String) -> String {
    let upstream = sim.base_url();
    let http = reqwest::Client::new();
    let app = axum::Router::new().fallback(move |req: Request<Body>| {
        let (upstream, http, target) = (upstream.clone(), http.clone(), target.clone());
        async move {
            let path = req
                .uri()
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_default();
            if redirect.iter().any(|r| path.starts_with(r)) {
                return Response::builder()
                    .status(StatusCode::FOUND)
                    .header(header::LOCATION, format!("{target}{path}"))
                    .body(Body::empty())
                    .unwrap();
            }
            let method = req.method().clone();
            let headers = req.headers().clone();
            let body = axum::body::to_bytes(req.into_body(), usize::MAX).await.unwrap();
            let mut up = http.request(method, format!("{upstream}{path}")).body(body);
            for (k, v) in &headers {
                if k != header::HOST {
                    up = up.header(k, v);
                }
            }
            let resp = up.send().await.unwrap();
            let status = resp.status();
            let bytes = resp.bytes().await.unwrap();
            Response::builder()
                .status(status)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(bytes))
                .unwrap()
        }
    });
    serve(app).await
}

fn okx_headers(seen: &Mutex<Vec<HeaderMap>>) -> usize {
    seen.lock()
        .unwrap()
        .iter()
        .flat_map(|h| h.keys())
        .filter(|k| k.as_str().to_ascii_lowercase().starts_with("ok-access"))
        .count()
}

fn env_with_base(sim: &SimServer, base: &str) -> Vec<(String, String)> {
    let mut env = env_for(sim, &SimKey::demo(), sim.config().rate_scale);
    env.retain(|(k, _)| k != "OKX_BASE_URL");
    env.push(("OKX_BASE_URL".into(), base.to_string()));
    env
}

/// A 302 on `account/config` is an error naming the status and the target host; the
/// target never sees a request, let alone an `OK-ACCESS-*` header.
#[tokio::test(flavor = "multi_thread")]
async fn redirect_on_the_key_check_is_not_followed() {
    let sim = sim(fast_config()).await;
    let (target, seen) = recorder().await;
    let target_host = target.trim_start_matches("http://").to_string();
    let proxy = redirecting_proxy(&sim, &["/api/v5/account/config"], target).await;
    let dir = tempfile::tempdir().unwrap();
    let r = run(&["check-key"], &env_with_base(&sim, &proxy), dir.path()).await;
    assert_code(&r, 1);
    assert!(r.err().contains("HTTP 302"), "{}", r.stderr);
    assert!(
        r.err().contains(&format!("redirect to `{target_host}`")),
        "{}",
        r.stderr
    );
    assert!(r.err().contains("--region"), "{}", r.stderr);
    assert_eq!(seen.lock().unwrap().len(), 0, "the redirect target was contacted");
}

/// A 302 on `account/bills-archive` mid-sync: the stream fails (exit 1) instead of taking
/// the foreign host's empty page as the end of history, no credential header leaves, and
/// nothing from that stream is stored.
#[tokio::test(flavor = "multi_thread")]
async fn redirect_mid_sync_fails_the_sync_and_stores_nothing_from_it() {
    let sim = sim(fast_config()).await;
    let (target, seen) = recorder().await;
    let proxy = redirecting_proxy(&sim, &["/api/v5/account/bills-archive"], target).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let r = run(
        &sync_args(&data, &["--no-archive"]),
        &env_with_base(&sim, &proxy),
        dir.path(),
    )
    .await;
    assert_code(&r, 1);
    assert!(r.err().contains("HTTP 302"), "{}", r.stderr);
    assert!(r.err().contains("bills-archive"), "{}", r.stderr);
    assert_eq!(okx_headers(&seen), 0, "credentials reached the redirect target");
    assert_eq!(seen.lock().unwrap().len(), 0);
    let counts = store(&data).stream_counts().unwrap();
    assert_eq!(counts.get("bills-archive").copied().unwrap_or(0), 0, "{counts:?}");
    // The other streams went on and were stored.
    assert!(
        counts.get("asset-bills-history").copied().unwrap_or(0) > 0,
        "{counts:?}"
    );
}

/// `http://127.0.0.1:1@192.0.2.2:19160` is host 192.0.2.2 with a userinfo: refused before
/// any connection, exit 2, in one line. So are query and fragment.
#[tokio::test(flavor = "multi_thread")]
async fn base_url_is_parsed_not_split() {
    let dir = tempfile::tempdir().unwrap();
    let env = vec![
        ("OKX_API_KEY".to_string(), "k".to_string()),
        ("OKX_API_SECRET".to_string(), "s".to_string()),
        ("OKX_API_PASSPHRASE".to_string(), "p".to_string()),
    ];
    for (url, expect) in [
        ("http://127.0.0.1:1@192.0.2.2:19160", "user name or password"),
        ("http://127.0.0.1.evil.example", "refusing plain http"),
        ("https://www.okx.com/?a=1", "query or fragment"),
        ("https://www.okx.com/#x", "query or fragment"),
    ] {
        let t0 = Instant::now();
        let r = run(&["check-key", "--base-url", url], &env, dir.path()).await;
        assert_code(&r, 2);
        assert!(r.err().contains(expect), "{url}: {}", r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "{url}: {}", r.stderr);
        assert!(t0.elapsed() < Duration::from_secs(5));
        // The environment variable goes through the same check.
        let mut env2 = env.clone();
        env2.push(("OKX_BASE_URL".into(), url.into()));
        let r = run(&["check-key"], &env2, dir.path()).await;
        assert_code(&r, 2);
        assert!(r.err().contains(expect), "{url}: {}", r.stderr);
    }
}

/// A gzip "bomb" made of concatenated members: `members` × 16 MiB of newlines after a
/// header line, about 16 KiB compressed per member.
fn newline_bomb(members: usize) -> Vec<u8> {
    let gz = |data: &[u8]| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    };
    let mut out = gz(b"billId,ts,balChg,bal,ccy\n");
    let block = gz(&vec![b'\n'; 16 << 20]);
    for _ in 0..members {
        out.extend_from_slice(&block);
    }
    out
}

/// A 1.6 GB archive bomb (a few MB on the wire) stops at the expansion cap with a named
/// error; the process's peak RSS stays under 150 MB (measured by the binary itself and
/// written to sync-summary.json).
#[tokio::test(flavor = "multi_thread")]
async fn archive_bomb_stops_at_the_cap_with_bounded_memory() {
    let bomb = newline_bomb(100);
    let compressed = bomb.len();
    let sim = sim(SimConfig {
        archive_file_override: Some(Arc::new(bomb)),
        ..fast_config()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let t0 = Instant::now();
    let r = sync(&sim, &data, &["--archive-max-expanded", "1024"]).await;
    let took = t0.elapsed();
    assert_code(&r, 1);
    assert!(r.err().contains("expands to more than 1024 MiB"), "{}", r.stderr);
    assert!(r.err().contains("--archive-max-expanded"), "{}", r.stderr);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("sync-summary.json")).unwrap()).unwrap();
    let rss = summary["peak_rss_bytes"].as_u64().expect("peak RSS measured");
    println!(
        "archive bomb: {compressed} bytes compressed, 1.68 GB expanded, stopped at the 1024 MiB cap in {took:.1?}; peak RSS of the sync process {:.1} MB",
        rss as f64 / 1e6
    );
    assert!(rss < 150_000_000, "peak RSS {rss} bytes");
    // Nothing was stored from it, and no temporary file is left behind.
    let quarters = store(&data).quarters().unwrap();
    assert!(quarters.iter().all(|q| q.state != "done"), "{quarters:?}");
    let leftovers: Vec<_> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// A download larger than `--archive-max-download` is refused while streaming.
#[tokio::test(flavor = "multi_thread")]
async fn archive_download_is_capped() {
    let sim = sim(SimConfig {
        archive_file_override: Some(Arc::new(vec![b'x'; 3 << 20])),
        ..fast_config()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let r = sync(&sim, &data, &["--archive-max-download", "1"]).await;
    assert_code(&r, 1);
    assert!(r.err().contains("larger than 1 MiB"), "{}", r.stderr);
    assert!(r.err().contains("--archive-max-download"), "{}", r.stderr);
}

fn client_for(base: String, give_up: Duration) -> OkxClient {
    let key = SimKey::demo();
    let mut cfg = ClientConfig::new(
        base,
        Some(okx_export::secret::Credentials {
            api_key: key.api_key,
            secret: okx_export::secret::Secret::new(key.secret),
            passphrase: okx_export::secret::Secret::new(key.passphrase),
        }),
    );
    cfg.backoff_base = Duration::from_millis(20);
    cfg.backoff_cap = Duration::from_millis(200);
    cfg.give_up_after = give_up;
    OkxClient::new(cfg).unwrap()
}

/// Serves `body` to every request on raw TCP, with Content-Length or chunked.
async fn raw_server(body: Arc<Vec<u8>>, chunked: bool) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let _ = sock.read(&mut buf).await;
                let head = if chunked {
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                        .to_string()
                } else {
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                        body.len()
                    )
                };
                if sock.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                for c in body.chunks(1 << 20) {
                    let r = if chunked {
                        let mut framed = format!("{:x}\r\n", c.len()).into_bytes();
                        framed.extend_from_slice(c);
                        framed.extend_from_slice(b"\r\n");
                        sock.write_all(&framed).await
                    } else {
                        sock.write_all(c).await
                    };
                    if r.is_err() {
                        return;
                    }
                }
                if chunked {
                    let _ = sock.write_all(b"0\r\n\r\n").await;
                }
            });
        }
    });
    format!("http://{addr}")
}

/// A 50 MB answer is refused as too large instead of being read into memory, whether
/// it announces its length or not.
#[tokio::test(flavor = "multi_thread")]
async fn huge_json_answer_is_refused() {
    let body = Arc::new(
        format!(
            r#"{{"code":"0","msg":"","data":[{{"ts":"1","pad":"{}"}}]}}"#,
            "x".repeat(50 << 20)
        )
        .into_bytes(),
    );
    for chunked in [false, true] {
        let base = raw_server(body.clone(), chunked).await;
        let c = client_for(base, Duration::from_secs(10));
        let err = c.sync_time().await.unwrap_err();
        assert!(
            matches!(err, OkxError::TooLarge { .. }),
            "chunked={chunked}: {err}"
        );
        assert!(err.to_string().contains("larger than 32 MiB"), "{err}");
    }
}

/// A host that accepts connections and never answers: the request fails within the
/// give-up time, naming the host and what was tried. The binary's default is 60 s.
#[tokio::test(flavor = "multi_thread")]
async fn silent_host_fails_fast_and_names_itself() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock); // read nothing, answer nothing
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let env = vec![
        ("OKX_API_KEY".to_string(), "k".to_string()),
        ("OKX_API_SECRET".to_string(), "s".to_string()),
        ("OKX_API_PASSPHRASE".to_string(), "p".to_string()),
        ("OKX_EXPORT_BACKOFF_MS".to_string(), "100".to_string()),
    ];
    let base = format!("http://{addr}");
    let t0 = Instant::now();
    let r = run(
        &["check-key", "--base-url", &base, "--give-up-after", "3"],
        &env,
        dir.path(),
    )
    .await;
    let took = t0.elapsed();
    println!("silent host: failed after {took:.1?} with --give-up-after 3");
    assert_code(&r, 1);
    assert!(took < Duration::from_secs(8), "took {took:?}");
    assert!(
        took >= Duration::from_secs(3),
        "gave up before the deadline: {took:?}"
    );
    assert!(
        r.err().contains(&format!("no usable answer from `{addr}`")),
        "{}",
        r.stderr
    );
    assert!(r.err().contains("no answer within"), "{}", r.stderr);

    // A port nobody listens on: connection refused, named, well before the deadline.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let t0 = Instant::now();
    let r = run(
        &[
            "check-key",
            "--base-url",
            &format!("http://{dead}"),
            "--give-up-after",
            "3",
        ],
        &env,
        dir.path(),
    )
    .await;
    assert_code(&r, 1);
    assert!(r.err().contains("connection refused"), "{}", r.stderr);
    assert!(r.err().contains(&dead.to_string()), "{}", r.stderr);
    assert!(t0.elapsed() < Duration::from_secs(8));

    let help = run(&["sync", "--help"], &[], dir.path()).await;
    assert!(help.stdout.contains("--give-up-after"), "{}", help.stdout);
    assert!(help.stdout.contains("[default: 60]"), "{}", help.stdout);
}

/// Archive links: plain http to a foreign host is refused; a download gets no OKX header.
#[tokio::test(flavor = "multi_thread")]
async fn download_links_get_no_credentials() {
    let (target, seen) = recorder().await;
    let c = client_for("http://127.0.0.1:9".into(), Duration::from_secs(5));
    let mut f = tempfile::tempfile().unwrap();
    let n = c
        .download_to("archive-download", &format!("{target}/file.zip"), &mut f, 1 << 20)
        .await
        .unwrap();
    assert!(n > 0);
    assert_eq!(seen.lock().unwrap().len(), 1);
    assert_eq!(okx_headers(&seen), 0);
    let err = c
        .download_to("archive-download", "http://files.example/x.zip", &mut f, 1 << 20)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("refusing plain http"), "{err}");
    // A redirect from a link to plain http is refused.
    let redirect = serve(axum::Router::new().fallback(|| async {
        Response::builder()
            .status(StatusCode::FOUND)
            .header(header::LOCATION, "http://127.0.0.1:9/x")
            .body(Body::empty())
            .unwrap()
    }))
    .await;
    let err = c
        .download_to("archive-download", &format!("{redirect}/f"), &mut f, 1 << 20)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("non-https"), "{err}");
}

fn write_private(path: &Path, text: &str, mode: u32) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A config file writable by others, or owned by another user, is refused before any of
/// its commands runs.
#[tokio::test(flavor = "multi_thread")]
async fn untrusted_config_file_is_refused_and_not_run() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let marker = p.join("ran");
    let cfg = p.join("okx-export.toml");
    let text = format!(
        "[profile.default]\napi_key = \"k\"\nsecret_command = \"touch {}; echo s\"\npassphrase_command = \"echo p\"\nbase_url = \"http://127.0.0.1:9\"\n",
        marker.display()
    );
    write_private(&cfg, &text, 0o666);
    let r = run(&["check-key"], &[], p).await;
    assert_code(&r, 2);
    assert!(r.err().contains("chmod go-w okx-export.toml"), "{}", r.stderr);
    assert!(!marker.exists(), "the untrusted config's secret_command ran");
    if unsafe_euid() == 0 {
        std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::os::unix::fs::chown(&cfg, Some(65534), None).unwrap();
        let r = run(&["check-key"], &[], p).await;
        assert_code(&r, 2);
        assert!(r.err().contains("owned by uid 65534"), "{}", r.stderr);
        assert!(!marker.exists(), "the foreign config's secret_command ran");
    } else {
        eprintln!("SKIPPED: the ownership half needs root to chown");
    }
}

fn unsafe_euid() -> u32 {
    okx_export::settings::config_file::current_uid()
}

/// A hanging secret_command is killed after `command_timeout`, with a message naming the
/// profile and the key.
#[tokio::test(flavor = "multi_thread")]
async fn hanging_secret_command_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    write_private(
        &p.join("okx-export.toml"),
        "[profile.work]\napi_key = \"k\"\nsecret_command = \"sleep 300\"\npassphrase_command = \"echo p\"\ncommand_timeout = 1\nbase_url = \"http://127.0.0.1:9\"\n",
        0o600,
    );
    let t0 = Instant::now();
    let r = run(&["--profile", "work", "check-key"], &[], p).await;
    assert_code(&r, 2);
    assert!(t0.elapsed() < Duration::from_secs(6), "{:?}", t0.elapsed());
    assert!(r.err().contains("profile `work`"), "{}", r.stderr);
    assert!(
        r.err()
            .contains("secret_command `sleep 300` did not finish within 1s"),
        "{}",
        r.stderr
    );
}

/// `--profile company` uses that profile even when OKX_API_* are set (with a warning);
/// without `--profile`, the environment wins over `[profile.default]`.
#[tokio::test(flavor = "multi_thread")]
async fn explicit_profile_beats_the_environment() {
    let sim = sim(fast_config()).await;
    let key = SimKey::demo();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    write_private(
        &p.join("okx-export.toml"),
        &format!(
            "[profile.default]\napi_key = \"default-key-unknown\"\nsecret_command = \"echo s\"\npassphrase_command = \"echo p\"\nbase_url = \"{}\"\n\n[profile.company]\napi_key = \"{}\"\nsecret_command = \"echo {}\"\npassphrase_command = \"echo {}\"\nbase_url = \"{}\"\n",
            sim.base_url(),
            key.api_key,
            key.secret,
            key.passphrase,
            sim.base_url()
        ),
        0o600,
    );
    let wrong_env = vec![
        (
            "OKX_API_KEY".to_string(),
            "env-key-of-another-account".to_string(),
        ),
        ("OKX_API_SECRET".to_string(), "x".to_string()),
        ("OKX_API_PASSPHRASE".to_string(), "y".to_string()),
        ("OKX_BASE_URL".to_string(), "http://127.0.0.1:9".to_string()),
    ];
    let r = run(&["--profile", "company", "check-key"], &wrong_env, p).await;
    assert_code(&r, 0);
    assert!(
        r.err()
            .contains("OKX_API_KEY/OKX_API_SECRET/OKX_API_PASSPHRASE are ignored"),
        "{}",
        r.stderr
    );
    assert!(r.err().contains("OKX_BASE_URL is ignored"), "{}", r.stderr);
    // Without --profile the environment wins (and its unknown key is rejected: exit 3).
    let mut env = wrong_env.clone();
    env.retain(|(k, _)| k != "OKX_BASE_URL");
    let r = run(&["check-key"], &env, p).await;
    assert_code(&r, 3);
}

fn mode_of(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// The data directory is 0700 and every file in it 0600, including the store's -wal/-shm,
/// the lock and sync-summary.json; a store left 0644 by an older version is tightened.
#[tokio::test(flavor = "multi_thread")]
async fn private_files_are_private() {
    let sim = sim(fast_config()).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let r = sync(&sim, &data, &["--no-archive"]).await;
    assert_code(&r, 0);
    let r = run(
        &[
            "--data-dir",
            data.to_str().unwrap(),
            "report",
            "--format",
            "koinly",
            "--allow-incomplete",
        ],
        &[],
        dir.path(),
    )
    .await;
    // --no-archive leaves the archive quarters uncovered: the files are written anyway.
    assert_code(&r, 0);
    assert_eq!(mode_of(&data), 0o700);
    let mut names = Vec::new();
    for e in std::fs::read_dir(&data).unwrap() {
        let p = e.unwrap().path();
        names.push(p.file_name().unwrap().to_string_lossy().into_owned());
        assert_eq!(mode_of(&p), 0o600, "{}", p.display());
    }
    for must in [
        "okx-export.sqlite3",
        "okx-export.lock",
        "sync-summary.json",
        "koinly.csv",
    ] {
        assert!(names.iter().any(|n| n == must), "{must} missing: {names:?}");
    }
    let db = data.join("okx-export.sqlite3");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let r = run(&["--data-dir", data.to_str().unwrap(), "status"], &[], dir.path()).await;
    assert_code(&r, 0);
    assert_eq!(mode_of(&db), 0o600);

    // Issue 20 item 10: a data directory an older version (or another tool) left 0755
    // with 0644 files is tightened whole when the store is opened: the directory, the
    // lock, the caches, the summaries and the reports, not only the store.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    for name in &names {
        std::fs::set_permissions(data.join(name), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let r = run(&["--data-dir", data.to_str().unwrap(), "status"], &[], dir.path()).await;
    assert_code(&r, 0);
    assert_eq!(mode_of(&data), 0o700);
    for name in &names {
        assert_eq!(mode_of(&data.join(name)), 0o600, "{name}");
    }
}

/// A store that is not a database names its path and what to do.
#[tokio::test(flavor = "multi_thread")]
async fn corrupt_store_names_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let db = data.join("okx-export.sqlite3");
    std::fs::write(&db, vec![b'#'; 8192]).unwrap();
    let r = run(&["--data-dir", data.to_str().unwrap(), "status"], &[], dir.path()).await;
    assert_code(&r, 1);
    assert!(
        r.err()
            .contains(&format!("cannot open the store `{}`", db.display())),
        "{}",
        r.stderr
    );
    assert!(r.err().contains("move it away"), "{}", r.stderr);
}

async fn interrupt_mid_sync(signal: &str, code: i32) {
    // OKX's real limits: a full sync takes far longer than the signal's delay.
    let sim = sim(SimConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let env = env_for(&sim, &SimKey::demo(), 1);
    let child = command(&sync_args(&data, &[]), &env, dir.path()).spawn().unwrap();
    let pid = child.id().unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let t0 = Instant::now();
    let status = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().await.unwrap();
    let stopped_in = t0.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{signal}: stopped {stopped_in:.2?} after the signal");
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    assert!(
        stderr.contains("interrupted; run sync again to resume"),
        "{stderr}"
    );
    assert!(stopped_in < Duration::from_secs(3), "{stopped_in:?}");
    // The lock is released and the store is consistent: it opens and a new lock is taken.
    let _lock = okx_export::store::Store::lock(&data).expect("lock released");
    let s = store(&data);
    assert!(s.kind_stats().unwrap().iter().map(|k| k.count).sum::<u64>() > 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_stops_cleanly_with_130() {
    interrupt_mid_sync("-INT", 130).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_stops_cleanly_with_143() {
    interrupt_mid_sync("-TERM", 143).await;
}
