//! The layering rules of `../shared/DESIGN.md`, checked on the source: data
//! flows one way (handlers → services → store; services → live → sockets),
//! views reach nothing above them, and no two modules import each other in
//! a circle. A rule broken here is a design decision to make on purpose.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `src/`, with its text (comments removed).
fn sources() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("src is readable") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let name = path
                .strip_prefix(&src)
                .expect("under src")
                .to_string_lossy()
                .into_owned();
            let text = std::fs::read_to_string(&path).expect("readable");
            let code: Vec<&str> = text
                .lines()
                .map(|line| line.split("//").next().unwrap_or_default())
                .collect();
            (name, code.join("\n"))
        })
        .collect()
}

/// The top-level module a file belongs to (`chat/send.rs` → `chat`).
fn module_of(file: &str) -> String {
    file.split('/')
        .next()
        .unwrap_or_default()
        .trim_end_matches(".rs")
        .to_owned()
}

/// Expands one use tree (`a::{b, c::{D, e}}`) into full paths.
fn expand(prefix: &str, tree: &str, out: &mut Vec<String>) {
    let tree = tree.trim();
    match tree.find('{') {
        None => {
            let leaf = tree.split(" as ").next().unwrap_or_default().trim();
            if !leaf.is_empty() {
                out.push(format!("{prefix}{leaf}"));
            }
        }
        Some(open) => {
            let head = &tree[..open];
            let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
            let (mut depth, mut start) = (0, 0);
            for (i, c) in inner.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        expand(&format!("{prefix}{head}"), &inner[start..i], out);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            expand(&format!("{prefix}{head}"), &inner[start..], out);
        }
    }
}

/// Every path into the crate a file names: `use crate::…` trees expanded,
/// plus inline `crate::a::b` paths.
fn crate_paths(code: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("use crate::") {
        let statement = &rest[at + "use crate::".len()..];
        let end = statement.find(';').unwrap_or(statement.len());
        expand("", &statement[..end], &mut paths);
        rest = &statement[end..];
    }
    for (at, _) in code.match_indices("crate::") {
        if code[..at].ends_with("use ") {
            continue;
        }
        let path: String = code[at + "crate::".len()..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        paths.push(path.trim_end_matches(':').to_owned());
    }
    paths
}

/// Which top-level modules each module imports.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let modules: BTreeSet<String> = sources().iter().map(|(f, _)| module_of(f)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (file, code) in sources() {
        let from = module_of(&file);
        for path in crate_paths(&code) {
            let to = path.split("::").next().unwrap_or_default().to_owned();
            if to != from && modules.contains(&to) {
                graph.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    graph
}

/// Paths into `store` that name something other than a type (a module
/// or a function): running SQL, which handlers and views must leave to
/// the services.
fn store_calls(code: &str) -> Vec<String> {
    crate_paths(code)
        .into_iter()
        .filter(|p| p.starts_with("store::") || p == "store")
        .filter(|p| {
            let leaf = p.rsplit("::").next().unwrap_or_default();
            !leaf.starts_with(|c: char| c.is_ascii_uppercase())
        })
        .collect()
}

#[test]
fn no_two_modules_import_each_other_in_a_circle() {
    let graph = imports();
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) {
        if let Some(at) = path.iter().position(|n| n == node) {
            panic!("import circle: {:?}", &path[at..]);
        }
        if done.contains(node) {
            return;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            visit(next, graph, path, done);
        }
        path.pop();
        done.insert(node.to_owned());
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        visit(node, &graph, &mut Vec::new(), &mut done);
    }
}

#[test]
fn handlers_and_views_run_no_sql_themselves() {
    for (file, code) in sources() {
        if !["http", "socket", "views", "app"].contains(&module_of(&file).as_str()) {
            continue;
        }
        let calls = store_calls(&code);
        assert!(calls.is_empty(), "{file} reaches into store: {calls:?}");
        for sql in ["sqlx::", "on_pool!", "on_tx!"] {
            assert!(!code.contains(sql), "{file} runs SQL itself ({sql})");
        }
    }
}

#[test]
fn each_layer_imports_only_what_is_below_it() {
    let allowed: &[(&str, &[&str])] = &[
        ("error", &[]),
        ("limits", &[]),
        ("metrics", &[]),
        ("config", &["domain", "limits"]),
        ("domain", &["error", "limits"]),
        ("store", &["domain", "error", "limits", "metrics"]),
        ("views", &["assets", "domain", "limits"]),
        (
            "socket",
            &[
                "app", "auth", "chat", "domain", "error", "limits", "live", "metrics", "store",
                "throttle", "views",
            ],
        ),
    ];
    let graph = imports();
    for (module, may) in allowed {
        for used in graph.get(*module).into_iter().flatten() {
            assert!(
                may.contains(&used.as_str()),
                "{module} imports {used}, which is not below it"
            );
        }
    }
    for handler in ["http", "socket"] {
        let other = if handler == "http" { "socket" } else { "http" };
        assert!(
            !graph.get(handler).is_some_and(|m| m.contains(other)),
            "{handler} calls {other}: handlers share services, not each other"
        );
    }
}

#[test]
fn only_services_and_live_delivery_publish_events() {
    for (file, code) in sources() {
        let publishes = code.contains(".publish(") || code.contains(".broadcast(");
        let module = module_of(&file);
        if publishes {
            assert!(
                ["chat", "live"].contains(&module.as_str()),
                "{file} publishes events; only chat/ services (and live/ delivery) may"
            );
        }
    }
}

#[test]
fn the_checker_sees_imports_and_calls() {
    let graph = imports();
    assert!(graph["http"].contains("chat"), "{graph:?}");
    assert!(graph["chat"].contains("store"), "{graph:?}");
    let chat_send = sources()
        .into_iter()
        .find(|(f, _)| f == "chat/send.rs")
        .expect("chat/send.rs");
    assert!(
        !store_calls(&chat_send.1).is_empty(),
        "services do call store"
    );
    let code = "use crate::store::{self, contacts::{Contact, list}};\nfn f() { crate::store::users::create(); }";
    let paths = crate_paths(code);
    assert!(
        paths.contains(&"store::contacts::Contact".to_owned()),
        "{paths:?}"
    );
    assert_eq!(
        store_calls(code),
        vec![
            "store::self".to_owned(),
            "store::contacts::list".to_owned(),
            "store::users::create".to_owned()
        ]
    );
}
