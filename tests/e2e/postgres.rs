//! A PostgreSQL server of a test's own (from the Debian `postgresql`
//! package), which the test can stop and start again: an outage of the
//! database. The cti crate's tests share one cluster; this one is a test's
//! alone.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::harness::TempDir;

pub struct Postgres {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    root: bool,
    dir: TempDir,
}

impl Postgres {
    /// A new cluster, started, trusting local connections as `postgres`.
    pub fn start() -> Postgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL is installed (apt-get install postgresql; scripts/test does)")
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|b| b.join("pg_ctl").exists())
            .max()
            .expect("a PostgreSQL server under /usr/lib/postgresql/*/bin");
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
        let dir = TempDir::new("postgres");
        if root {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "chown the test cluster's folder to postgres");
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let pg = Postgres {
            data: dir.path().join("data"),
            bin,
            port,
            root,
            dir,
        };
        let initdb = pg.bin.join("initdb");
        let data = pg.data.display().to_string();
        pg.run(&[
            initdb.to_str().unwrap(),
            "-D",
            &data,
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
        ]);
        pg.start_again();
        pg
    }

    /// The URL of its `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the server (waiting until it accepts connections).
    pub fn start_again(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50",
            self.port,
            self.dir.path().display()
        );
        let pg_ctl = self.bin.join("pg_ctl");
        let log = self.dir.path().join("log").display().to_string();
        let data = self.data.display().to_string();
        self.run(&[
            pg_ctl.to_str().unwrap(),
            "-D",
            &data,
            "-o",
            &options,
            "-l",
            &log,
            "-w",
            "start",
        ]);
    }

    /// Stops the server (fast shutdown: sessions are cut off).
    pub fn stop(&self) {
        let pg_ctl = self.bin.join("pg_ctl");
        let data = self.data.display().to_string();
        self.run(&[
            pg_ctl.to_str().unwrap(),
            "-D",
            &data,
            "-m",
            "fast",
            "-w",
            "stop",
        ]);
    }

    /// One value from `sql`, as psql prints it.
    pub fn query(&self, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", "postgres", "-d", "postgres", "-At", "-c", sql])
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// `argv`, as the `postgres` user when we are root (the server refuses
    /// to run as root).
    fn command(&self, argv: &[&str]) -> Command {
        let mut c = if self.root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).args(argv);
            c
        } else {
            let mut c = Command::new(argv[0]);
            c.args(&argv[1..]);
            c
        };
        c.stdin(Stdio::null());
        c
    }

    fn run(&self, argv: &[&str]) {
        let out = self
            .command(argv)
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", argv[0]));
        assert!(
            out.status.success(),
            "{} failed: {}{}",
            argv.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let pg_ctl = self.bin.join("pg_ctl");
        let data = self.data.display().to_string();
        let argv = [
            pg_ctl.to_str().unwrap_or(""),
            "-D",
            &data,
            "-m",
            "immediate",
            "stop",
        ];
        let _ = self
            .command(&argv)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
