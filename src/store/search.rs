//! Finding messages by their words: SQLite's FTS5 index (`messages_search`,
//! kept in step by triggers) or PostgreSQL's `tsvector` column with its GIN
//! index. The two dialects differ only in how words are matched; which
//! messages a searcher may see is the same clause in both, inside the query:
//! conversations they are a member of now, no group notes, nothing deleted,
//! and the current text of edited messages (the index follows every edit).

use time::OffsetDateTime;

use super::messages::{decorate, Message, SELECT};
use super::Pool;
use crate::domain::{ConversationId, MessageId, SearchTerm, UserId};
use crate::error::Result;

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
/// type differs per database).
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
    /// The message id as the query best orders and bounds it by: the word
    /// index's own row id when it leads (FTS5 walks it newest first).
    key: &'static str,
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
    let postgres = pool.postgres().is_some();
    let mut sql = matching(postgres, viewer, criteria);
    let key = sql.key;
    if let Some(before) = older_than {
        let at = sql.bind(Bind::Int(before.get()));
        sql.text.push_str(&format!(" AND {key} < {at}"));
    }
    let limit = sql.bind(Bind::Int(limit));
    sql.text
        .push_str(&format!(" ORDER BY {key} DESC LIMIT {limit}"));
    let ids: Vec<i64> = on_pool!(pool, p => {
        bind_all!(sqlx::query_scalar(&sql.text), sql.binds).fetch_all(p).await?
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
    let postgres = pool.postgres().is_some();
    let mut sql = matching(postgres, viewer, criteria);
    let cap = sql.bind(Bind::Int(cap));
    let text = format!("SELECT COUNT(*) FROM ({} LIMIT {cap}) AS found", sql.text);
    Ok(on_pool!(pool, p => {
        bind_all!(sqlx::query_scalar::<_, i64>(&text), sql.binds).fetch_one(p).await?
    }))
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

/// `SELECT m.id FROM … WHERE …` for every message `viewer` may read that
/// matches, in either dialect (no order, no limit yet).
fn matching(postgres: bool, viewer: UserId, criteria: &Criteria<'_>) -> Sql {
    let words = word_query(postgres, criteria.terms);
    let indexed = words.is_some() && !postgres;
    let mut sql = Sql {
        text: if indexed {
            "SELECT m.id FROM messages_search s JOIN messages m ON m.id = s.rowid".to_owned()
        } else {
            "SELECT m.id FROM messages m".to_owned()
        },
        binds: Vec::new(),
        key: if indexed { "s.rowid" } else { "m.id" },
    };
    let member = sql.bind(Bind::Int(viewer.get()));
    sql.text.push_str(&format!(
        " JOIN members mb ON mb.conversation_id = m.conversation_id AND mb.user_id = {member}
         WHERE m.kind <> 'note' AND m.deleted_at IS NULL"
    ));
    if let Some(words) = words {
        let words = sql.bind(Bind::Text(words));
        sql.text.push_str(&if postgres {
            format!(" AND m.search @@ to_tsquery('simple', public.unaccent({words}))")
        } else {
            format!(" AND messages_search MATCH {words}")
        });
    }
    for term in criteria.terms {
        if let SearchTerm::Substring(text) = term {
            let text = sql.bind(Bind::Text(text.clone()));
            sql.text.push_str(&if postgres {
                format!(" AND strpos(lower(m.body), {text}) > 0")
            } else {
                format!(" AND instr(lower(m.body), {text}) > 0")
            });
        }
    }
    if let Some(conversations) = criteria.conversations {
        let list: Vec<String> = conversations
            .iter()
            .map(|id| sql.bind(Bind::Int(id.get())))
            .collect();
        if list.is_empty() {
            sql.text.push_str(" AND 1 = 0");
        } else {
            sql.text
                .push_str(&format!(" AND m.conversation_id IN ({})", list.join(", ")));
        }
    }
    if let Some(sender) = criteria.sender {
        let sender = sql.bind(Bind::Int(sender.get()));
        sql.text.push_str(&format!(" AND m.sender_id = {sender}"));
    }
    if criteria.has_file {
        sql.text
            .push_str(" AND EXISTS (SELECT 1 FROM attachments a WHERE a.message_id = m.id)");
    }
    if let Some(at) = criteria.sent_before {
        let at = sql.bind(Bind::Time(at));
        sql.text.push_str(&format!(" AND m.created_at < {at}"));
    }
    if let Some(at) = criteria.sent_after {
        let at = sql.bind(Bind::Time(at));
        sql.text.push_str(&format!(" AND m.created_at >= {at}"));
    }
    sql
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
    Some(parts.join(if postgres { " & " } else { " AND " }))
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
            Some(r#""cafe" AND "new chapter" AND "bo"*"#)
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
