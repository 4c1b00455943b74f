//! Finding messages by their words: SQLite's FTS5 index (`messages_search`,
//! kept in step by triggers) or PostgreSQL's `tsvector` column with its GIN
//! index. The two dialects differ only in how words are matched; which
//! messages a searcher may see is the same clause in both, inside the query:
//! conversations they are a member of now, no group notes, nothing deleted,
//! and the current text of edited messages (the index follows every edit).

use time::OffsetDateTime;

use super::messages::{decorate, Message, SELECT};
use super::Pool;
use crate::domain::{ConversationId, ConversationName, MessageId, SearchTerm, UserId};
use crate::error::Result;
use crate::limits::SEARCH_INDEX_CONVERSATIONS_MAX;

/// What to look for, resolved: the terms, and the filters as ids and instants.
#[derive(Debug, Default)]
pub(crate) struct Criteria<'a> {
    pub terms: &'a [SearchTerm],
    /// Only these conversations (`None`: any the searcher is in).
    pub conversations: Option<&'a [ConversationId]>,
    pub sender: Option<UserId>,
    pub has_file: bool,
    /// Sent before this instant.
    pub sent_before: Option<OffsetDateTime>,
    /// Sent at or after this instant.
    pub sent_after: Option<OffsetDateTime>,
}

/// A value the query binds, in order.
enum Bind {
    Int(i64),
    Text(String),
    Time(OffsetDateTime),
}

/// Binds every value of `binds` to `query`, in order (a macro: the query's
/// type differs per database). Search statements are not kept prepared:
/// PostgreSQL then plans each with its values (a cached generic plan takes
/// every word for a rare one, and walked the whole word index for a word in
/// every message: seconds instead of milliseconds).
macro_rules! bind_all {
    ($query:expr, $binds:expr) => {{
        let mut query = $query;
        for value in $binds {
            query = match value {
                Bind::Int(v) => query.bind(v),
                Bind::Text(v) => query.bind(v),
                Bind::Time(v) => query.bind(v),
            };
        }
        query
    }};
}

/// A query being written: its text with `$n` placeholders, and their values.
struct Sql {
    text: String,
    binds: Vec<Bind>,
}

impl Sql {
    /// The placeholder of a new bound value.
    fn bind(&mut self, value: Bind) -> String {
        self.binds.push(value);
        format!("${}", self.binds.len())
    }
}

/// The ids of the newest messages `viewer` may read that match, newest
/// first, older than `older_than` (the keyset of the next page), at most
/// `limit`.
pub(crate) async fn find(
    pool: &Pool,
    viewer: UserId,
    criteria: &Criteria<'_>,
    older_than: Option<MessageId>,
    limit: i64,
) -> Result<Vec<MessageId>> {
    let sql = newest(
        pool.postgres().is_some(),
        viewer,
        criteria,
        older_than,
        limit,
    );
    let ids: Vec<i64> = on_pool!(pool, p => {
        bind_all!(sqlx::query_scalar(&sql.text).persistent(false), sql.binds).fetch_all(p).await?
    });
    Ok(ids.into_iter().map(MessageId::new).collect())
}

/// How many messages match, counting no further than `cap`.
pub(crate) async fn count(
    pool: &Pool,
    viewer: UserId,
    criteria: &Criteria<'_>,
    cap: i64,
) -> Result<i64> {
    let sql = newest(pool.postgres().is_some(), viewer, criteria, None, cap);
    let text = format!("SELECT COUNT(*) FROM ({}) AS counted", sql.text);
    Ok(on_pool!(pool, p => {
        bind_all!(sqlx::query_scalar::<_, i64>(&text).persistent(false), sql.binds)
            .fetch_one(p)
            .await?
    }))
}

/// The conversations `viewer` is a member of, named as results name them.
pub(crate) async fn conversations_of(pool: &Pool, viewer: UserId) -> Result<Vec<ConversationName>> {
    Ok(on_pool!(pool, p => sqlx::query_as(
        "SELECT c.id, c.kind = 'group' AS \"group\",
                COALESCE(c.title, NULLIF(u.display_name, ''), u.username, '') AS title
         FROM members v
         JOIN conversations c ON c.id = v.conversation_id
         LEFT JOIN members other
           ON c.kind = 'direct' AND other.conversation_id = c.id AND other.user_id <> v.user_id
         LEFT JOIN users u ON u.id = other.user_id
         WHERE v.user_id = $1",
    )
    .bind(viewer)
    .fetch_all(p)
    .await?))
}

/// The messages of `ids` that `viewer` may read, newest first.
pub(crate) async fn messages(
    pool: &Pool,
    viewer: UserId,
    ids: &[MessageId],
) -> Result<Vec<Message>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list: Vec<String> = (2..ids.len() + 2).map(|i| format!("${i}")).collect();
    let text = format!(
        "{SELECT} WHERE m.id IN ({}) AND EXISTS
            (SELECT 1 FROM members WHERE conversation_id = m.conversation_id AND user_id = $1)
         ORDER BY m.id DESC",
        list.join(", ")
    );
    let mut found = on_pool!(pool, p => {
        let mut query = sqlx::query_as::<_, Message>(&text).bind(viewer);
        for id in ids {
            query = query.bind(*id);
        }
        query.fetch_all(p).await?
    });
    decorate(pool, &mut found).await?;
    Ok(found)
}

/// The query for the ids of the newest `limit` messages `viewer` may read
/// that match (older than `older_than`), newest first, in either dialect.
/// Membership is part of it in both.
fn newest(
    postgres: bool,
    viewer: UserId,
    criteria: &Criteria<'_>,
    older_than: Option<MessageId>,
    limit: i64,
) -> Sql {
    let mut sql = Sql {
        text: String::new(),
        binds: Vec::new(),
    };
    let member = sql.bind(Bind::Int(viewer.get()));
    let words = word_query(postgres, criteria.terms);
    match (postgres, criteria.conversations) {
        (true, Some(conversations)) if conversations.len() <= SEARCH_INDEX_CONVERSATIONS_MAX => {
            // Each conversation's newest matches, walked newest first by
            // its own index with each message tested (see `filters`), then
            // the newest of those: a common word never reads every message
            // that has it.
            let ids: Vec<String> = conversations.iter().map(|id| id.to_string()).collect();
            let ids = sql.bind(Bind::Text(format!("[{}]", ids.join(","))));
            let filters = filters(&mut sql, Dialect::PostgresPerRow, criteria, words);
            let keyset = keyset(&mut sql, "m.id", older_than);
            let limit = sql.bind(Bind::Int(limit));
            sql.text = format!(
                "SELECT found.id FROM
                   (SELECT value::bigint AS cid FROM jsonb_array_elements_text({ids}::jsonb)) AS c
                 JOIN members mb ON mb.conversation_id = c.cid AND mb.user_id = {member}
                 CROSS JOIN LATERAL (
                   SELECT m.id FROM messages m
                   WHERE m.conversation_id = c.cid AND m.kind <> 'note' AND m.deleted_at IS NULL
                     {filters}{keyset}
                   ORDER BY m.id DESC LIMIT {limit}) AS found
                 ORDER BY found.id DESC LIMIT {limit}"
            );
        }
        _ => {
            let indexed = words.is_some() && !postgres;
            // FTS5 narrows to a few conversations inside its index (their
            // ids are indexed as words), far cheaper than reading every
            // match of a common word; many conversations are left to the
            // join.
            let (words, narrowed) = match (indexed, criteria.conversations, words) {
                (true, Some(ids), Some(w))
                    if !ids.is_empty() && ids.len() <= SEARCH_INDEX_CONVERSATIONS_MAX =>
                {
                    let ids: Vec<String> = ids.iter().map(|id| format!("\"{id}\"")).collect();
                    let w = format!("{w} AND conversation_id : ({})", ids.join(" OR "));
                    (Some(w), true)
                }
                (_, _, w) => (w, false),
            };
            let key = if indexed { "s.rowid" } else { "m.id" };
            let dialect = if postgres {
                Dialect::Postgres
            } else {
                Dialect::Sqlite
            };
            let filters = filters(&mut sql, dialect, criteria, words);
            let within = match (criteria.conversations, narrowed) {
                (Some([]), false) => " AND 1 = 0".to_owned(),
                (Some(ids), false) => {
                    let list: Vec<String> =
                        ids.iter().map(|id| sql.bind(Bind::Int(id.get()))).collect();
                    format!(" AND m.conversation_id IN ({})", list.join(", "))
                }
                _ => String::new(),
            };
            let keyset = keyset(&mut sql, key, older_than);
            let limit = sql.bind(Bind::Int(limit));
            let from = if indexed {
                "messages_search s JOIN messages m ON m.id = s.rowid"
            } else {
                "messages m"
            };
            sql.text = format!(
                "SELECT m.id FROM {from}
                 JOIN members mb ON mb.conversation_id = m.conversation_id AND mb.user_id = {member}
                 WHERE m.kind <> 'note' AND m.deleted_at IS NULL{filters}{within}{keyset}
                 ORDER BY {key} DESC LIMIT {limit}"
            );
        }
    }
    sql
}

/// How the words are matched.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Sqlite,
    /// With `@@`, which the GIN index serves.
    Postgres,
    /// Testing each message as a conversation's own index walks it.
    PostgresPerRow,
}

/// `AND …` for the words, substrings, sender, file and dates.
fn filters(
    sql: &mut Sql,
    dialect: Dialect,
    criteria: &Criteria<'_>,
    words: Option<String>,
) -> String {
    let postgres = dialect != Dialect::Sqlite;
    let mut text = String::new();
    if let Some(words) = words {
        let words = sql.bind(Bind::Text(words));
        text.push_str(&if dialect == Dialect::Postgres {
            format!(" AND m.search @@ natter_search_query({words})")
        } else if postgres {
            // Through the lateral join, each conversation is walked newest
            // first by its own index and each message tested; `@@` would let
            // the planner scan the word index once per conversation (a word
            // in 9 % of a million messages: a second), the function call
            // does not. (Someone in very many conversations is searched
            // through the word index instead.)
            format!(" AND ts_match_vq(m.search, natter_search_query({words}))")
        } else {
            format!(" AND messages_search MATCH {words}")
        });
    }
    for term in criteria.terms {
        if let SearchTerm::Substring(needle) = term {
            let needle = sql.bind(Bind::Text(needle.clone()));
            text.push_str(&if postgres {
                format!(" AND strpos(lower(m.body), {needle}) > 0")
            } else {
                format!(" AND instr(lower(m.body), {needle}) > 0")
            });
        }
    }
    if let Some(sender) = criteria.sender {
        let sender = sql.bind(Bind::Int(sender.get()));
        text.push_str(&format!(" AND m.sender_id = {sender}"));
    }
    if criteria.has_file {
        text.push_str(" AND EXISTS (SELECT 1 FROM attachments a WHERE a.message_id = m.id)");
    }
    if let Some(at) = criteria.sent_before {
        let at = sql.bind(Bind::Time(at));
        text.push_str(&format!(" AND m.created_at < {at}"));
    }
    if let Some(at) = criteria.sent_after {
        let at = sql.bind(Bind::Time(at));
        text.push_str(&format!(" AND m.created_at >= {at}"));
    }
    text
}

/// `AND <key> < …` for a page after the first.
fn keyset(sql: &mut Sql, key: &str, older_than: Option<MessageId>) -> String {
    older_than.map_or_else(String::new, |before| {
        let at = sql.bind(Bind::Int(before.get()));
        format!(" AND {key} < {at}")
    })
}

/// The words and phrases as the dialect's match expression, every word
/// quoted (they hold only letters and digits, so nothing typed can be an
/// operator); `None` when there are none.
fn word_query(postgres: bool, terms: &[SearchTerm]) -> Option<String> {
    let parts: Vec<String> = terms
        .iter()
        .filter_map(|term| match term {
            SearchTerm::Word { text, prefix } if postgres => {
                Some(format!("'{text}'{}", if *prefix { ":*" } else { "" }))
            }
            SearchTerm::Word { text, prefix } => {
                Some(format!("\"{text}\"{}", if *prefix { "*" } else { "" }))
            }
            SearchTerm::Phrase(words) if postgres => Some(format!(
                "({})",
                words
                    .iter()
                    .map(|w| format!("'{w}'"))
                    .collect::<Vec<_>>()
                    .join(" <-> ")
            )),
            SearchTerm::Phrase(words) => Some(format!("\"{}\"", words.join(" "))),
            SearchTerm::Substring(_) => None,
        })
        .collect();
    if parts.is_empty() {
        return None;
    }
    Some(if postgres {
        parts.join(" & ")
    } else {
        // Only the text: the index also holds each message's conversation.
        format!("body : ({})", parts.join(" AND "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::SearchQuery;

    #[test]
    fn every_word_is_quoted_in_both_dialects() {
        let query = SearchQuery::parse(r#"Café "new chapter" bo"#);
        assert_eq!(
            word_query(false, &query.terms).as_deref(),
            Some(r#"body : ("cafe" AND "new chapter" AND "bo"*)"#)
        );
        assert_eq!(
            word_query(true, &query.terms).as_deref(),
            Some("'cafe' & ('new' <-> 'chapter') & 'bo':*")
        );
        let hostile = SearchQuery::parse(r#"a" OR "b NEAR(c) d'e"#);
        let sqlite = word_query(false, &hostile.terms).unwrap_or_default();
        assert_eq!(sqlite.matches('"').count() % 2, 0, "{sqlite}");
        let postgres = word_query(true, &hostile.terms).unwrap_or_default();
        assert_eq!(postgres.matches('\'').count() % 2, 0, "{postgres}");
    }
}
