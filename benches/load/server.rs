//! The servers under test: starting and stopping the instances, and reading
//! their memory and CPU (and the machine's) from `/proc`.

use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tempfile::TempDir;
use tokio::task::JoinHandle;

use crate::database::Database;
use crate::options::Options;
use crate::report::CpuShare;
use crate::wire;

/// The servers under test: one, or several instances sharing one PostgreSQL
/// database. Socket `i` goes to instance `i % n`.
pub(crate) struct Servers {
    instances: Vec<Server>,
}

impl Servers {
    /// Starts `options.instances` servers on the (seeded) database.
    pub(crate) async fn start(database: &Database, options: &Options) -> Result<Servers, String> {
        let mut instances = Vec::with_capacity(options.instances);
        for _ in 0..options.instances {
            instances.push(Server::start(&database.url, options).await?);
        }
        Ok(Servers { instances })
    }

    pub(crate) fn for_socket(&self, index: usize) -> &Server {
        &self.instances[index % self.instances.len()]
    }

    pub(crate) fn ports(&self) -> Vec<u16> {
        self.instances.iter().map(|s| s.port).collect()
    }

    pub(crate) fn pids(&self) -> Vec<u32> {
        self.instances.iter().map(|s| s.pid).collect()
    }

    /// Resident memory of all instances together.
    pub(crate) fn rss_kib(&self) -> u64 {
        self.instances.iter().map(Server::rss_kib).sum()
    }

    /// CPU time of all instances together.
    pub(crate) fn cpu_seconds(&self) -> f64 {
        self.instances.iter().map(Server::cpu_seconds).sum()
    }

    /// Context switches of all instances' threads together, so far.
    pub(crate) fn context_switches(&self) -> u64 {
        self.instances.iter().map(|s| context_switches(s.pid)).sum()
    }

    pub(crate) fn check_alive(&mut self) -> Result<(), String> {
        self.instances.iter_mut().try_for_each(Server::check_alive)
    }

    pub(crate) async fn stop(self) {
        for server in self.instances {
            server.stop().await;
        }
    }
}

/// A Natter process on an ephemeral port, killed when stopped or dropped.
pub(crate) struct Server {
    child: tokio::process::Child,
    port: u16,
    pid: u32,
    /// Its working directory: media and its log.
    dir: TempDir,
}

impl Server {
    /// Starts the binary on the database at `url` (already seeded) and waits
    /// until it serves the login page.
    async fn start(url: &str, options: &Options) -> Result<Server, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
        let port = wire::unused_port().map_err(|e| format!("no free port: {e}"))?;
        let log_path = dir.path().join("server.log");
        let log = std::fs::File::create(&log_path).map_err(|e| format!("server log: {e}"))?;
        let mut child = tokio::process::Command::new(&options.server)
            .current_dir(dir.path())
            .env("ROCKET_ADDRESS", "127.0.0.1")
            .env("ROCKET_PORT", port.to_string())
            .env("ROCKET_LOG_LEVEL", "off")
            .env("NATTER_DATABASE_URL", url)
            .env("NATTER_PRESENCE_GRACE_MS", "200")
            .envs(options.server_env.iter().cloned())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("could not start {}: {e}", options.server.display()))?;
        let pid = child.id().ok_or("the server exited at once")?;
        let http = reqwest::Client::new();
        let login = format!("http://127.0.0.1:{port}/login");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(response) = http.get(&login).send().await {
                if response.status().is_success() {
                    break;
                }
            }
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                return Err(format!("the server exited ({status}): {log}"));
            }
            if Instant::now() > deadline {
                return Err("the server did not answer GET /login within 30 s".into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Server {
            child,
            port,
            pid,
            dir,
        })
    }

    pub(crate) fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn rss_kib(&self) -> u64 {
        rss_kib(self.pid)
    }

    fn cpu_seconds(&self) -> f64 {
        cpu_seconds(&self.pid.to_string())
    }

    /// Fails if the server died under load.
    fn check_alive(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => {
                let log =
                    std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
                Err(format!("the server exited ({status}): {log}"))
            }
            Err(e) => Err(format!("cannot check the server: {e}")),
        }
    }

    async fn stop(mut self) {
        // The server is disposable: no graceful shutdown to wait for.
        let _ = self.child.kill().await;
    }
}

/// A process's resident memory, from `/proc/<pid>/status`.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// CPU time PostgreSQL's processes on this machine have used (its backends
/// live as long as the servers' pooled connections, so none is missed).
fn postgres_cpu_seconds() -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|pid| pid.bytes().all(|b| b.is_ascii_digit()))
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim_end() == "postgres")
        })
        .map(|pid| cpu_seconds(&pid))
        .sum()
}

/// CPU time a process (a pid, or `self`) has used, user + system, from
/// `/proc/<pid>/stat`, counting the usual 100 clock ticks per second.
fn cpu_seconds(pid: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            // Fields after the command name, which may hold spaces.
            let rest = &stat[stat.rfind(')')? + 1..];
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let ticks: u64 =
                fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
            Some(ticks as f64 / 100.0)
        })
        .unwrap_or(0.0)
}

/// Context switches (voluntary and not) of every thread of a process, from
/// `/proc/<pid>/task/*/status` (a thread that ended takes its count along:
/// the server's threads live as long as it does).
fn context_switches(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("status")).ok())
        .flat_map(|status| {
            status
                .lines()
                .filter(|line| line.contains("ctxt_switches:"))
                .filter_map(|line| line.split_whitespace().nth(1)?.parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum()
}

/// CPU time the whole machine has spent busy (all cores), from `/proc/stat`.
fn machine_busy_seconds() -> f64 {
    std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|stat| {
            let ticks: Vec<u64> = stat
                .lines()
                .next()?
                .split_whitespace()
                .skip(1)
                .filter_map(|t| t.parse().ok())
                .collect();
            // user nice system idle iowait irq softirq steal: all but idle and iowait.
            let busy: u64 = ticks.iter().take(8).sum::<u64>() - ticks.get(3)? - ticks.get(4)?;
            Some(busy as f64 / 100.0)
        })
        .unwrap_or(0.0)
}

/// The machine's 1-minute load average, from `/proc/loadavg`.
pub(crate) fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// CPU time used from `start` until `read`: the servers', PostgreSQL's, the
/// bench's own, and what is left of the machine's busy time for everything
/// else ("rest"), which says whether another load disturbed the figures.
pub(crate) struct CpuMeter {
    server: f64,
    switches: u64,
    database: f64,
    bench: f64,
    machine: f64,
    clock: Instant,
}

impl CpuMeter {
    pub(crate) fn start(servers: &Servers) -> CpuMeter {
        CpuMeter {
            server: servers.cpu_seconds(),
            switches: servers.context_switches(),
            database: postgres_cpu_seconds(),
            bench: cpu_seconds("self"),
            machine: machine_busy_seconds(),
            clock: Instant::now(),
        }
    }

    /// What was used since `start`, in % of one core over the wall time.
    pub(crate) fn read(&self, servers: &Servers) -> CpuShare {
        let wall = self.clock.elapsed().as_secs_f64();
        let server = servers.cpu_seconds() - self.server;
        let database = postgres_cpu_seconds() - self.database;
        let bench = cpu_seconds("self") - self.bench;
        let machine = machine_busy_seconds() - self.machine;
        let percent = |seconds: f64| seconds / wall.max(1e-9) * 100.0;
        CpuShare {
            wall_seconds: wall,
            server_core_seconds: server,
            server_context_switches: servers.context_switches().saturating_sub(self.switches),
            server_cpu_percent: percent(server),
            database_cpu_percent: percent(database),
            bench_cpu_percent: percent(bench),
            other_cpu_percent: percent((machine - server - bench - database).max(0.0)),
        }
    }
}

/// Samples the server's RSS until stopped; yields the peak.
pub(crate) struct RssSampler {
    stop: Arc<AtomicBool>,
    task: JoinHandle<u64>,
}

impl RssSampler {
    /// Samples the sum over `pids` (the instances of one deployment).
    pub(crate) fn start(pids: Vec<u32>) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let task = tokio::spawn(async move {
            let mut peak = 0;
            while !flag.load(Ordering::Relaxed) {
                let rss: u64 = pids.iter().map(|&pid| rss_kib(pid)).sum();
                peak = peak.max(rss);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            peak
        });
        RssSampler { stop, task }
    }

    pub(crate) async fn peak(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap_or(0)
    }
}
