//! The change check, after the chat phases: in every conversation one
//! member edits a message and deletes another over HTTP, as a page with
//! htmx does. Both members' sockets must show each change once, and the
//! database must hold it (the edited text; no text at all once deleted).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};

/// Edits and deletions in flight at once.
const CHANGES_IN_FLIGHT: usize = 32;
use serde::Serialize;

use crate::chat::Pair;
use crate::database::{ChatRow, Database};
use crate::server::Servers;
use crate::sockets::session_cookie;
use crate::tracker::{lock, tags, Drawn, Tracker};
use crate::{progress, TAG};

/// How long the sockets get to show every change.
const SETTLE: Duration = Duration::from_secs(30);

/// What the change check found.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct ChangeCheck {
    pub(crate) edits: usize,
    pub(crate) deletions: usize,
    /// Answers other than success to an edit or a deletion.
    pub(crate) refused: usize,
    pub(crate) refusal_samples: Vec<String>,
    /// A member's socket that never showed a change.
    pub(crate) lost: usize,
    /// A change shown more than once on one socket.
    pub(crate) duplicated: usize,
    /// Changes the database does not hold.
    pub(crate) not_stored: usize,
    /// The messages deleted (by the bench's own numbering), whose text is
    /// rightly gone from the database.
    #[serde(skip)]
    pub(crate) deleted: HashSet<usize>,
}

/// One change to make: which message, by whom, and how.
struct Change {
    pair: usize,
    side: usize,
    seq: usize,
    id: i64,
    drawn: Drawn,
}

impl Change {
    fn body(&self) -> String {
        format!("{TAG}{} edited", self.seq)
    }
}

/// Makes the changes and checks them.
pub(crate) async fn check_changes(
    database: &Database,
    servers: &Servers,
    pairs: &[Arc<Pair>],
    tracker: &Tracker,
) -> Result<ChangeCheck, String> {
    let rows = database.chat_rows().await?;
    let changes = plan(&rows, pairs, tracker);
    progress(&format!(
        "changes: {} edits and deletions over HTTP",
        changes.len()
    ));
    let http = reqwest::Client::new();
    let mut check = ChangeCheck::default();
    // Pages edit at a person's pace: a few dozen at a time check that every
    // change shows, without turning the check into a burst test (a burst
    // of thousands queues for the write lock and some answer 503).
    let answers: Vec<Result<(), String>> = stream::iter(changes.iter().map(|change| {
        let pair = &pairs[change.pair];
        let session = &pair.sessions[change.side];
        let origin = servers.for_socket(2 * change.pair + change.side).origin();
        let (action, mut fields) = match change.drawn {
            Drawn::Edited => ("edit", vec![("body", change.body())]),
            Drawn::Deleted => ("delete", Vec::new()),
        };
        fields.push(("csrf", session.csrf.clone()));
        let request = http
            .post(format!(
                "{origin}/conversations/{}/messages/{}/{action}",
                pair.conversation_id, change.id
            ))
            .header("Cookie", session_cookie(&session.token))
            .header("Origin", origin.clone())
            .header("HX-Request", "true")
            .form(&fields);
        async move {
            match request.send().await {
                Ok(answer) if answer.status().is_success() => Ok(()),
                Ok(answer) => Err(format!("{action}: {}", answer.status())),
                Err(e) => Err(format!("{action}: {e}")),
            }
        }
    }))
    .buffered(CHANGES_IN_FLIGHT)
    .collect()
    .await;
    for (change, answer) in changes.iter().zip(answers) {
        match answer {
            Ok(()) => match change.drawn {
                Drawn::Edited => check.edits += 1,
                Drawn::Deleted => {
                    check.deletions += 1;
                    check.deleted.insert(change.seq);
                }
            },
            Err(e) => {
                check.refused += 1;
                if check.refusal_samples.len() < 5 {
                    check.refusal_samples.push(e);
                }
            }
        }
    }
    let made: Vec<&Change> = changes
        .iter()
        .filter(|c| c.drawn == Drawn::Edited || check.deleted.contains(&c.seq))
        .collect();
    wait_until_shown(tracker, &made).await;
    let shown = lock(&tracker.changes).clone();
    for change in &made {
        for side in 0..2 {
            match shown.get(&(2 * change.pair + side, change.id, change.drawn)) {
                None => check.lost += 1,
                Some(&n) if n > 1 => check.duplicated += 1,
                Some(_) => {}
            }
        }
    }
    let stored = database.chat_rows().await?;
    for change in &made {
        let held = stored.iter().any(|(id, _, body, deleted, edited)| {
            *id == change.id
                && match change.drawn {
                    Drawn::Edited => *edited && !*deleted && *body == change.body(),
                    Drawn::Deleted => *deleted && body.is_empty(),
                }
        });
        check.not_stored += usize::from(!held);
    }
    Ok(check)
}

/// In each conversation with two messages or more the server accepted: its
/// second newest edited and its newest deleted, each by its sender.
fn plan(rows: &[ChatRow], pairs: &[Arc<Pair>], tracker: &Tracker) -> Vec<Change> {
    let mut changes = Vec::new();
    for (p, pair) in pairs.iter().enumerate() {
        let mut mine: Vec<(usize, i64)> = rows
            .iter()
            .filter(|(_, conversation, ..)| *conversation == pair.conversation_id)
            .filter_map(|(id, _, body, ..)| tags(body).next().map(|seq| (seq, *id)))
            .collect();
        mine.sort_unstable();
        let [.., (edit_seq, edit_id), (delete_seq, delete_id)] = mine[..] else {
            continue;
        };
        for (seq, id, drawn) in [
            (edit_seq, edit_id, Drawn::Edited),
            (delete_seq, delete_id, Drawn::Deleted),
        ] {
            let Some(side) = tracker.side_of(seq, p) else {
                continue;
            };
            changes.push(Change {
                pair: p,
                side,
                seq,
                id,
                drawn,
            });
        }
    }
    changes
}

/// Waits until both members' sockets showed every change, or `SETTLE`.
async fn wait_until_shown(tracker: &Tracker, made: &[&Change]) {
    let deadline = Instant::now() + SETTLE;
    while Instant::now() < deadline {
        let all = {
            let shown = lock(&tracker.changes);
            made.iter()
                .all(|c| (0..2).all(|side| shown.contains_key(&(2 * c.pair + side, c.id, c.drawn))))
        };
        if all {
            // A moment more, for any copy that should not come.
            tokio::time::sleep(Duration::from_millis(300)).await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
