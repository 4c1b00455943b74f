//! Searching the messages a person may read: the query resolved against who
//! they are (`from:` a username, `in:` one of their conversations, dates on
//! their clock), then one page of the store's search, newest first.

use std::collections::HashMap;

use crate::domain::{fold, ConversationId, ConversationName, MessageId, SearchHit, SearchQuery};
use crate::domain::{SearchResults, UserId, Zone};
use crate::error::{Error, Result};
use crate::limits::{SEARCH_COUNT_MAX, SEARCH_PAGE};
use crate::store::search::{self, Criteria};
use crate::store::{users, Pool};

/// Searches what `viewer` may read, within `scope` when given (a
/// conversation they must be a member of: `NotFound` otherwise), older than
/// `older_than` for a later page.
pub async fn search(
    pool: &Pool,
    viewer: UserId,
    zone: &Zone,
    query: &SearchQuery,
    scope: Option<ConversationId>,
    older_than: Option<MessageId>,
) -> Result<SearchResults> {
    let rows = search::conversations_of(pool, viewer).await?;
    let scope_row = match scope {
        Some(scope) => Some(
            rows.iter()
                .find(|row| row.id == scope)
                .cloned()
                .ok_or(Error::NotFound)?,
        ),
        None => None,
    };
    let nothing = SearchResults {
        scope: scope_row.clone(),
        ..SearchResults::default()
    };
    if query.is_empty() {
        return Ok(nothing);
    }
    // Every search names the conversations it may look in: the one asked
    // for, those `in:` names, or all of the searcher's (the store narrows
    // its index to them; membership is checked by the query all the same).
    let mut conversations: Vec<ConversationId> = match scope {
        Some(id) => vec![id],
        None => rows.iter().map(|row| row.id).collect(),
    };
    if let Some(name) = &query.within {
        let named: Vec<ConversationId> = rows
            .iter()
            .filter(|row| fold(&row.title).starts_with(name.as_str()))
            .filter(|row| scope.is_none_or(|id| row.id == id))
            .map(|row| row.id)
            .collect();
        conversations = named;
    }
    let sender = match &query.from {
        Some(name) => match users::by_username(pool, name).await? {
            Some(user) => Some(user.id),
            None => return Ok(nothing),
        },
        None => None,
    };
    let criteria = Criteria {
        terms: &query.terms,
        conversations: Some(&conversations),
        sender,
        has_file: query.has_file,
        sent_before: query.before.map(|day| zone.start_of(day)),
        sent_after: query
            .after
            .and_then(|day| day.next_day())
            .map(|day| zone.start_of(day)),
    };
    let mut ids = search::find(pool, viewer, &criteria, older_than, SEARCH_PAGE + 1).await?;
    let next = if ids.len() as i64 > SEARCH_PAGE {
        ids.truncate(SEARCH_PAGE as usize);
        ids.last().copied()
    } else {
        None
    };
    let count = match older_than {
        None if next.is_none() => Some(ids.len() as i64),
        None => Some(search::count(pool, viewer, &criteria, SEARCH_COUNT_MAX + 1).await?),
        Some(_) => None,
    };
    let by_id: HashMap<ConversationId, ConversationName> =
        rows.into_iter().map(|row| (row.id, row)).collect();
    let messages = search::messages(pool, viewer, &ids).await?;
    let hits = messages
        .into_iter()
        .filter_map(|message| {
            let conversation = by_id.get(&message.conversation_id)?.clone();
            Some(SearchHit {
                message,
                conversation,
            })
        })
        .collect();
    Ok(SearchResults {
        hits,
        count,
        next,
        scope: scope_row,
    })
}
