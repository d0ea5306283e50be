//! Test databases: a fresh SQLite file, or a fresh database in a throwaway
//! PostgreSQL cluster that this test binary starts itself (from the Debian
//! `postgresql` package) and that stops when the test process exits.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A database for one test; the directory goes away with it.
pub struct TestDb {
    pub url: String,
    _dir: Option<TempDir>,
}

pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "frontdoor-cti-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn sqlite() -> TestDb {
    let dir = TempDir::new("sqlite");
    TestDb {
        url: format!("sqlite://{}", dir.0.join("frontdoor.db").display()),
        _dir: Some(dir),
    }
}

pub async fn postgres() -> TestDb {
    let port = cluster();
    static N: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "t{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let admin = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin)
        .await
        .expect("connect to the test PostgreSQL cluster");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create test database");
    TestDb {
        url: format!("postgres://postgres@127.0.0.1:{port}/{name}"),
        _dir: None,
    }
}

fn pg_bin_dir() -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    dirs.retain(|d| d.join("initdb").exists() && d.join("postgres").exists());
    dirs.sort_by_key(|d| {
        d.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    match dirs.pop() {
        Some(d) => d,
        None => panic!(
            "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin. \
             These tests need a real PostgreSQL: install the Debian package `postgresql` \
             (apt-get install -y postgresql; scripts/test does this)."
        ),
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Runs `argv` as the `postgres` user when we are root (PostgreSQL refuses to run as root).
fn as_pg_user(argv: &[&str]) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).args(argv);
        c
    } else {
        let mut c = Command::new(argv[0]);
        c.args(&argv[1..]);
        c
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts the cluster once per test process; returns its TCP port on 127.0.0.1.
fn cluster() -> u16 {
    static PORT: OnceLock<u16> = OnceLock::new();
    *PORT.get_or_init(start_cluster)
}

fn start_cluster() -> u16 {
    let bin = pg_bin_dir();
    let base = std::env::temp_dir().join(format!("frontdoor-cti-pg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).unwrap();
    if is_root() {
        let ok = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&base)
            .status();
        assert!(
            ok.map(|s| s.success()).unwrap_or(false),
            "chown {} to postgres failed",
            base.display()
        );
    }
    let data = base.join("data");
    let initdb = bin.join("initdb");
    let out = as_pg_user(&[
        initdb.to_str().unwrap(),
        "-D",
        data.to_str().unwrap(),
        "-A",
        "trust",
        "-U",
        "postgres",
        "-E",
        "UTF8",
        "--no-sync",
    ])
    .output()
    .expect("run initdb");
    assert!(
        out.status.success(),
        "initdb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A certificate so that clients may ask for TLS (`sslmode=require`).
    let (crt, key) = (data.join("server.crt"), data.join("server.key"));
    let out = as_pg_user(&[
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        key.to_str().unwrap(),
        "-out",
        crt.to_str().unwrap(),
    ])
    .output()
    .expect("run openssl (package openssl)");
    assert!(
        out.status.success(),
        "openssl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let port = free_port();
    let postgres = bin.join("postgres");
    // A watchdog shell: the server runs while this test process lives, then
    // it is stopped and its directory removed, whatever way the tests end.
    let script = format!(
        "{pg} -D {data} -k {sock} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off \
         -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 \
         -c ssl=on -c ssl_cert_file={crt} -c ssl_key_file={key} \
         >{log} 2>&1 & pg=$!; \
         while [ -d /proc/{me} ] && kill -0 $pg 2>/dev/null; do sleep 0.5; done; \
         kill -INT $pg 2>/dev/null; wait $pg; rm -rf {base}",
        pg = postgres.display(),
        data = data.display(),
        sock = base.display(),
        log = base.join("log").display(),
        crt = crt.display(),
        key = key.display(),
        me = std::process::id(),
        base = base.display(),
    );
    // Not waited for: the watchdog outlives every test by design and stops
    // the server itself when this process is gone.
    #[allow(clippy::zombie_processes)]
    let _watchdog = as_pg_user(&["sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start postgres");
    let deadline = Instant::now() + Duration::from_secs(60);
    let isready = bin.join("pg_isready");
    loop {
        let ready = Command::new(&isready)
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q"])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if ready {
            return port;
        }
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(base.join("log")).unwrap_or_default();
            panic!("PostgreSQL did not start within 60 s; its log:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
