//! Outages a test can cause on purpose: a small disk that fills up, and a
//! PostgreSQL server of the test's own that can be stopped and started.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::free_port;

/// A small tmpfs mounted for one test and unmounted after. Mounting needs
/// root: without it the test is skipped, saying why.
pub struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    pub fn mount(size: &str) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().expect("temp dir");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "natter-test"])
            .arg(dir.path())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            eprintln!("skipped: mounting a small tmpfs needs root");
            return None;
        }
        Some(SmallDisk { dir })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn filler(&self) -> PathBuf {
        self.path().join("filler")
    }

    /// Takes every byte left with a file.
    pub fn fill(&self) {
        let mut file = std::fs::File::create(self.filler()).expect("filler");
        let chunk = vec![0u8; 4096];
        while file.write_all(&chunk).is_ok() {}
        let _ = file.sync_all();
    }

    /// Gives the space back.
    pub fn free(&self) {
        std::fs::remove_file(self.filler()).expect("filler removed");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.path()).status();
    }
}

/// A PostgreSQL server of the test's own, which it can stop and start again.
/// It needs PostgreSQL's binaries and root (to run them as `postgres`);
/// without them the test is skipped, saying why.
pub struct PrivatePostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
}

impl PrivatePostgres {
    pub fn start() -> Option<PrivatePostgres> {
        Self::start_configured(|_| {})
    }

    /// One that speaks TLS (only: its `pg_hba.conf` refuses plain
    /// connections over TCP), with a server certificate for `localhost`
    /// and 127.0.0.1 signed by a CA the test made; returns the CA's
    /// certificate file too.
    pub fn start_with_tls() -> Option<(PrivatePostgres, PathBuf)> {
        let mut ca = None;
        let server = Self::start_configured(|data| {
            ca = Some(make_certificates(data));
            let mut conf = std::fs::OpenOptions::new()
                .append(true)
                .open(data.join("postgresql.conf"))
                .expect("postgresql.conf");
            writeln!(
                conf,
                "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'"
            )
            .expect("configured");
            std::fs::write(
                data.join("pg_hba.conf"),
                "local all all trust\nhostssl all all 127.0.0.1/32 trust\n",
            )
            .expect("pg_hba.conf");
        })?;
        Some((server, ca.expect("certificates made")))
    }

    fn start_configured(configure: impl FnOnce(&Path)) -> Option<PrivatePostgres> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|entry| entry.ok().map(|e| e.path().join("bin")))
            .find(|bin| bin.join("initdb").exists());
        let Some(bin) = bin else {
            eprintln!("skipped: PostgreSQL's binaries are not installed");
            return None;
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let owned = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !owned {
            eprintln!("skipped: running a private PostgreSQL needs root");
            return None;
        }
        let server = PrivatePostgres {
            dir,
            bin,
            port: free_port(),
        };
        let data = server.data();
        let initialised = server
            .as_postgres("initdb")
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "-D"])
            .arg(&data)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(initialised, "initdb");
        configure(&data);
        let _ = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&data)
            .status();
        server.pg_ctl_start();
        Some(server)
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    pub fn as_postgres(&self, program: &str) -> Command {
        let mut command = Command::new("runuser");
        command
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join(program));
        command
    }

    pub fn pg_ctl_start(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {}",
            self.port,
            self.dir.path().display()
        );
        let started = self
            .as_postgres("pg_ctl")
            .args(["start", "-w", "-o", &options, "-l"])
            .arg(self.dir.path().join("log"))
            .arg("-D")
            .arg(self.data())
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(started, "pg_ctl start");
    }

    pub fn stop(&self, mode: &str) {
        let _ = self
            .as_postgres("pg_ctl")
            .args(["stop", "-w", "-m", mode, "-D"])
            .arg(self.data())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        self.stop("immediate");
    }
}

/// A CA and a server certificate it signed for `localhost` and 127.0.0.1,
/// made with the `openssl` tool in `data`; returns the CA certificate's path.
fn make_certificates(data: &Path) -> PathBuf {
    let run = |args: &[&str]| {
        let done = Command::new("openssl")
            .current_dir(data)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(done, "openssl {args:?}");
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=Natter test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    std::fs::write(
        data.join("server.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .expect("extensions");
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "server.ext",
    ]);
    let _ = Command::new("chmod")
        .arg("600")
        .arg(data.join("server.key"))
        .status();
    let ca = data.with_file_name("ca.pem");
    std::fs::copy(data.join("ca.pem"), &ca).expect("the CA certificate");
    ca
}
