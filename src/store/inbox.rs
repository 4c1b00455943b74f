//! The inbox as one member sees it: every conversation they are in, newest
//! activity first, each with its newest message and what they have not read.

use super::contacts::{
    mentioned, preview_columns, unread_count, PreviewColumns, PREVIEW_JOINS, SECRET,
};
use super::Pool;
use crate::domain::{ConversationId, InboxRow, NotifyLevel, UserId};
use crate::error::Result;

#[derive(sqlx::FromRow)]
struct Row {
    id: ConversationId,
    is_group: bool,
    title: Option<String>,
    peer_id: Option<UserId>,
    avatar: Option<String>,
    unread: i64,
    mentioned: bool,
    notify: String,
    last_seq: i64,
    secret: bool,
    #[sqlx(flatten)]
    newest: PreviewColumns,
}

/// The viewer's conversations, most recently active first: their groups,
/// and the direct conversations that have a message (opening one with
/// someone creates it empty; it joins the inbox once somebody writes).
pub async fn list(pool: &Pool, viewer: UserId) -> Result<Vec<InboxRow>> {
    let sql = format!(
        "SELECT c.id, c.kind = 'group' AS is_group, COALESCE(c.title, NULLIF(p.display_name, ''), p.username) AS title,
                p.id AS peer_id, p.avatar, {unread} AS unread, {mentioned} AS mentioned, v.notify, c.last_seq,
                {SECRET} AS secret, {preview}
         FROM members v
         JOIN conversations c ON c.id = v.conversation_id
         LEFT JOIN members pv
           ON c.kind = 'direct' AND pv.conversation_id = c.id AND pv.user_id <> v.user_id
         LEFT JOIN users p ON p.id = pv.user_id
         {PREVIEW_JOINS}
         WHERE v.user_id = $1 AND (c.kind = 'group' OR n.id IS NOT NULL)
         ORDER BY n.id DESC NULLS LAST, c.id DESC",
        unread = unread_count("c.id", "v"),
        mentioned = mentioned("c.id", "v"),
        preview = preview_columns(),
    );
    let rows: Vec<Row> = on_pool!(pool, p => sqlx::query_as(&sql)
        .bind(viewer)
        .fetch_all(p)
        .await?);
    Ok(rows
        .into_iter()
        .map(|row| InboxRow {
            id: row.id,
            group: row.is_group,
            title: row.title.unwrap_or_default(),
            peer: row.peer_id,
            avatar: row.avatar,
            unread: row.unread,
            mentioned: row.mentioned,
            notify: NotifyLevel::parse(&row.notify).unwrap_or_default(),
            last_seq: row.last_seq,
            newest: row.newest.preview(),
            secret: row.secret,
        })
        .collect())
}
