//! The flags: what to run, how hard, and where the report goes.

use std::path::PathBuf;

use serde::Serialize;

pub(crate) const USAGE: &str = "\
Natter load generator

usage: cargo bench --bench load -- [flags]

  --scenario NAME   idle | crowd | steady | saturation | group | history |
                    search | all
                    (default: all)
  --quick           tiny correctness smoke: checks loss and duplicates only
  --pairs N         conversations (two users, one socket each) for steady and
                    saturation (default 500; quick 10)
  --rate N          steady message rate, messages/s (default 1000; quick 50)
  --seconds S       steady duration, and the group's sending time (default 15;
                    quick 4)
  --sockets N       idle sockets (default 10000; quick 50)
  --users N         distinct people in the crowd scenario, one page each, in
                    pairs (default 10000; quick 500)
  --members N       members of the group scenario's one group, each with its
                    conversation page open (default 200; quick 20)
  --group-rate N    messages/s sent into the group by random members
                    (default 20; quick 5)
  --history N       messages stored in the history conversation (default 100000; quick 1000)
  --page-loads N    timed page loads in the history scenario (default 200; quick 20)
  --search-messages N
                    messages the search scenario searches (default 1000000;
                    quick 20000)
  --search-conversations N
                    conversations they are spread over (default 1000; quick
                    100); the searcher is in a fiftieth of them
  --searches N      timed searches per query (default 50; quick 5)
  --steps A,B,...   saturation rates, messages/s (default 500,1000,2000,4000,8000)
  --step-seconds S  duration of each saturation step (default 3; quick 1)
  --json PATH       where the JSON report goes (default target/bench-load.json)
  --server PATH     run this natter binary instead of the one built with the
                    bench, to compare builds (it must use the same schema)
  --server-env K=V  extra environment for the server (repeatable), e.g. to try
                    another pool size: ROCKET_DATABASES={natter={max_connections=1}}
  --postgres URL    run on PostgreSQL instead of SQLite: a fresh database is made
                    on this server (e.g. postgres://postgres@127.0.0.1:5432) and
                    dropped afterwards
  --instances N     server instances sharing the database (default 2 with
                    --postgres, else 1); each pair's two sockets go to different
                    instances, so every message crosses between them
  --help            this text
";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Scenario {
    Idle,
    Crowd,
    Steady,
    Saturation,
    Group,
    History,
    Search,
    All,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Options {
    pub(crate) scenario: Scenario,
    pub(crate) quick: bool,
    pub(crate) pairs: usize,
    pub(crate) rate: f64,
    pub(crate) seconds: f64,
    pub(crate) sockets: usize,
    pub(crate) users: usize,
    /// Members of the group scenario's group.
    pub(crate) members: usize,
    /// Messages a second sent into that group.
    pub(crate) group_rate: f64,
    pub(crate) history: usize,
    pub(crate) page_loads: usize,
    /// Messages and conversations of the search scenario, and timed
    /// searches per query.
    pub(crate) search_messages: usize,
    pub(crate) search_conversations: usize,
    pub(crate) searches: usize,
    pub(crate) steps: Vec<f64>,
    pub(crate) step_seconds: f64,
    /// A short run at the steady rate before measuring, so cold statement
    /// caches and first-use allocations do not land in the steady p99.
    pub(crate) warmup_seconds: f64,
    pub(crate) json: PathBuf,
    pub(crate) server: PathBuf,
    pub(crate) server_env: Vec<(String, String)>,
    /// The PostgreSQL server to run on, when not SQLite.
    pub(crate) postgres: Option<String>,
    pub(crate) instances: usize,
}

impl Options {
    /// Reads the flags; `None` for `--help`.
    pub(crate) fn parse(args: impl IntoIterator<Item = String>) -> Result<Option<Options>, String> {
        let args: Vec<String> = args.into_iter().collect();
        let quick = args.iter().any(|a| a == "--quick");
        let mut options = if quick {
            Options {
                scenario: Scenario::All,
                quick,
                pairs: 10,
                rate: 50.0,
                seconds: 4.0,
                sockets: 50,
                users: 500,
                members: 20,
                group_rate: 5.0,
                history: 1000,
                page_loads: 20,
                search_messages: 20_000,
                search_conversations: 100,
                searches: 5,
                steps: vec![40.0, 80.0],
                step_seconds: 1.0,
                warmup_seconds: 0.0,
                json: PathBuf::from("target/bench-load.json"),
                server: PathBuf::from(env!("CARGO_BIN_EXE_natter")),
                server_env: Vec::new(),
                postgres: None,
                instances: 0,
            }
        } else {
            Options {
                scenario: Scenario::All,
                quick,
                pairs: 500,
                rate: 1000.0,
                seconds: 15.0,
                sockets: 10_000,
                users: 10_000,
                members: 200,
                group_rate: 20.0,
                history: 100_000,
                page_loads: 200,
                search_messages: 1_000_000,
                search_conversations: 1000,
                searches: 50,
                steps: vec![500.0, 1000.0, 2000.0, 4000.0, 8000.0],
                step_seconds: 3.0,
                warmup_seconds: 1.0,
                json: PathBuf::from("target/bench-load.json"),
                server: PathBuf::from(env!("CARGO_BIN_EXE_natter")),
                server_env: Vec::new(),
                postgres: None,
                instances: 0,
            }
        };
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
            match flag.as_str() {
                // `cargo bench` passes `--bench` to every bench binary.
                "--bench" | "--quick" => {}
                "--help" | "-h" => return Ok(None),
                "--scenario" => {
                    options.scenario = match value()?.as_str() {
                        "idle" => Scenario::Idle,
                        "crowd" => Scenario::Crowd,
                        "steady" => Scenario::Steady,
                        "saturation" => Scenario::Saturation,
                        "group" => Scenario::Group,
                        "history" => Scenario::History,
                        "search" => Scenario::Search,
                        "all" => Scenario::All,
                        other => return Err(format!("unknown scenario {other:?}")),
                    }
                }
                "--pairs" => options.pairs = number(&flag, &value()?)?,
                "--rate" => options.rate = number(&flag, &value()?)?,
                "--seconds" => options.seconds = number(&flag, &value()?)?,
                "--sockets" => options.sockets = number(&flag, &value()?)?,
                "--users" => options.users = number(&flag, &value()?)?,
                "--members" => options.members = number(&flag, &value()?)?,
                "--group-rate" => options.group_rate = number(&flag, &value()?)?,
                "--history" => options.history = number(&flag, &value()?)?,
                "--page-loads" => options.page_loads = number(&flag, &value()?)?,
                "--search-messages" => options.search_messages = number(&flag, &value()?)?,
                "--search-conversations" => {
                    options.search_conversations = number(&flag, &value()?)?
                }
                "--searches" => options.searches = number(&flag, &value()?)?,
                "--step-seconds" => options.step_seconds = number(&flag, &value()?)?,
                "--steps" => {
                    options.steps = value()?
                        .split(',')
                        .map(|step| number(&flag, step.trim()))
                        .collect::<Result<_, _>>()?
                }
                "--json" => options.json = PathBuf::from(value()?),
                "--server" => options.server = PathBuf::from(value()?),
                "--server-env" => {
                    let pair = value()?;
                    let (key, val) = pair
                        .split_once('=')
                        .ok_or_else(|| format!("--server-env wants KEY=VALUE, not {pair:?}"))?;
                    options.server_env.push((key.to_owned(), val.to_owned()));
                }
                "--postgres" => options.postgres = Some(value()?.trim_end_matches('/').to_owned()),
                "--instances" => options.instances = number(&flag, &value()?)?,
                other => return Err(format!("unknown flag {other:?}")),
            }
        }
        if options.instances == 0 {
            options.instances = if options.postgres.is_some() { 2 } else { 1 };
        }
        if options.instances > 1 && options.postgres.is_none() {
            return Err("several --instances share one database: add --postgres URL".into());
        }
        let positive = [
            ("--pairs", options.pairs as f64),
            ("--rate", options.rate),
            ("--seconds", options.seconds),
            ("--sockets", options.sockets as f64),
            ("--group-rate", options.group_rate),
            ("--history", options.history as f64),
            ("--page-loads", options.page_loads as f64),
            ("--search-messages", options.search_messages as f64),
            (
                "--search-conversations",
                options.search_conversations as f64,
            ),
            ("--searches", options.searches as f64),
            ("--step-seconds", options.step_seconds),
        ];
        if let Some((flag, _)) = positive.iter().find(|(_, v)| v.is_nan() || *v <= 0.0) {
            return Err(format!("{flag} must be positive"));
        }
        if options.members < 2 {
            return Err("--members must be at least 2".into());
        }
        if options.steps.iter().any(|s| s.is_nan() || *s <= 0.0) {
            return Err("--steps must be positive rates".into());
        }
        Ok(Some(options))
    }

    pub(crate) fn runs(&self, scenario: Scenario) -> bool {
        self.scenario == Scenario::All || self.scenario == scenario
    }

    /// Messages the chat fixture may send in total, so its tables are sized once.
    pub(crate) fn chat_capacity(&self) -> usize {
        let mut total = 0.0;
        if self.runs(Scenario::Steady) {
            total += self.rate * (self.seconds + self.warmup_seconds);
        }
        if self.runs(Scenario::Saturation) {
            total += self
                .steps
                .iter()
                .map(|r| r * self.step_seconds)
                .sum::<f64>();
        }
        total.ceil() as usize + 16
    }
}

fn number<T: std::str::FromStr>(flag: &str, text: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("{flag}: {text:?} is not a number"))
}
