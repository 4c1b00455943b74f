//! Where one conversation stands for each of its members, and the cell that
//! lets the pages of one event share it.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::OnceCell;

use super::{
    Conversation, ConversationId, InboxRow, MessageId, NotifyLevel, Preview, User, UserId,
};

/// One member's place in a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberTally {
    pub user_id: UserId,
    pub username: String,
    /// Their display name (see `Profile`).
    pub display_name: String,
    pub avatar: Option<String>,
    /// The newest message they have read.
    pub last_read: MessageId,
    /// What they did not send and have not read (capped, as badges show it).
    pub unread: i64,
    /// Whether an unread message calls them by name.
    pub mentioned: bool,
    /// What they want to be told about.
    pub notify: NotifyLevel,
}

/// A conversation's badges and receipts, for every member at once: what a
/// page needs to show after a message or a read mark, loaded once per event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    pub conversation_id: ConversationId,
    pub group: bool,
    /// The conversation's newest change (see the change log).
    pub last_seq: i64,
    /// The newest message and its sender.
    pub newest: Option<(MessageId, UserId)>,
    /// The newest message as inbox rows preview it.
    pub preview: Option<Preview>,
    /// A group's name.
    pub title: Option<String>,
    /// A secret conversation (end-to-end encrypted).
    pub secret: bool,
    pub members: Vec<MemberTally>,
}

impl Tally {
    fn member(&self, user: UserId) -> Option<&MemberTally> {
        self.members.iter().find(|m| m.user_id == user)
    }

    /// What `user` has not read; `None` when they are not a member.
    pub fn unread_of(&self, user: UserId) -> Option<i64> {
        self.member(user).map(|m| m.unread)
    }

    /// What `user` wants to be told about this conversation.
    pub fn notify_of(&self, user: UserId) -> NotifyLevel {
        self.member(user).map(|m| m.notify).unwrap_or_default()
    }

    /// Whether an unread message calls `user` by name.
    pub fn mentions(&self, user: UserId) -> bool {
        self.member(user).is_some_and(|m| m.mentioned)
    }

    /// The newest message `user` has read; `None` when not a member.
    pub fn last_read_of(&self, user: UserId) -> Option<MessageId> {
        self.member(user).map(|m| m.last_read)
    }

    /// In a direct conversation, the member who is not `user`.
    pub fn other_member(&self, user: UserId) -> Option<UserId> {
        self.members
            .iter()
            .map(|m| m.user_id)
            .find(|&id| id != user)
    }

    /// The conversation's row in `user`'s inbox; `None` when they are not
    /// a member.
    pub fn row_for(&self, user: UserId) -> Option<InboxRow> {
        let me = self.member(user)?;
        let peer = (!self.group)
            .then(|| self.members.iter().find(|m| m.user_id != user))
            .flatten();
        Some(InboxRow {
            id: self.conversation_id,
            group: self.group,
            title: match (&self.title, peer) {
                (Some(title), _) if self.group => title.clone(),
                (_, Some(peer)) if !peer.display_name.is_empty() => peer.display_name.clone(),
                (_, Some(peer)) => peer.username.clone(),
                _ => String::new(),
            },
            peer: peer.map(|p| p.user_id),
            avatar: peer.and_then(|p| p.avatar.clone()),
            unread: me.unread,
            mentioned: me.mentioned,
            notify: me.notify,
            last_seq: self.last_seq,
            newest: self.preview.clone(),
            secret: self.secret,
        })
    }

    /// Whether the newest message is `user`'s and every other member has
    /// read it: `user` then sees "Seen".
    pub fn seen_by_others(&self, user: UserId) -> bool {
        self.newest.is_some_and(|(newest, sender)| {
            sender == user
                && self
                    .members
                    .iter()
                    .all(|m| m.user_id == user || m.last_read >= newest)
        })
    }
}

/// A group after a change, as the pages of everyone concerned need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupState {
    pub group: Conversation,
    /// Its members, alphabetically.
    pub members: Vec<User>,
    /// Everyone, alphabetically (a member's page offers the others to add).
    pub everyone: Vec<User>,
}

impl GroupState {
    pub fn has_member(&self, user: UserId) -> bool {
        self.members.iter().any(|m| m.id == user)
    }

    /// The names of the people `user` could add: everyone else not in it.
    pub fn candidates_for(&self, user: UserId) -> Vec<&str> {
        self.everyone
            .iter()
            .filter(|u| u.id != user && !self.has_member(u.id))
            .map(|u| u.username.as_str())
            .collect()
    }
}

/// Data about an event that its pages need: loaded by the first page that
/// asks and shared by the others on this instance, so it costs one query
/// per event instead of one per page.
#[derive(Debug, Clone, Default)]
pub struct Shared<T>(Arc<OnceCell<T>>);

impl<T> Shared<T> {
    /// The data, loading it with `load` if no page has yet.
    pub async fn get_or_load<E, F, Fut>(&self, load: F) -> Result<&T, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.0.get_or_try_init(load).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(newest: Option<(i64, i64)>, reads: &[(i64, i64)]) -> Tally {
        Tally {
            conversation_id: ConversationId::new(1),
            group: reads.len() > 2,
            last_seq: 3,
            newest: newest.map(|(m, u)| (MessageId::new(m), UserId::new(u))),
            preview: None,
            title: None,
            secret: false,
            members: reads
                .iter()
                .map(|&(user, read)| MemberTally {
                    user_id: UserId::new(user),
                    username: format!("user{user}"),
                    display_name: String::new(),
                    avatar: None,
                    last_read: MessageId::new(read),
                    unread: 0,
                    mentioned: false,
                    notify: NotifyLevel::All,
                })
                .collect(),
        }
    }

    #[test]
    fn seen_when_the_newest_message_is_mine_and_everyone_else_read_it() {
        let me = UserId::new(1);
        assert!(tally(Some((9, 1)), &[(1, 5), (2, 9), (3, 10)]).seen_by_others(me));
        assert!(!tally(Some((9, 1)), &[(1, 5), (2, 9), (3, 8)]).seen_by_others(me));
        assert!(
            !tally(Some((9, 2)), &[(1, 9), (2, 9)]).seen_by_others(me),
            "not mine"
        );
        assert!(!tally(None, &[(1, 0), (2, 0)]).seen_by_others(me));
    }

    #[tokio::test]
    async fn the_first_page_loads_and_the_others_share_it() {
        let shared: Shared<u32> = Shared::default();
        let loads = std::sync::atomic::AtomicU32::new(0);
        for _ in 0..3 {
            let value = shared
                .get_or_load(|| async {
                    loads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    Ok::<_, ()>(7)
                })
                .await;
            assert_eq!(value, Ok(&7));
        }
        assert_eq!(loads.into_inner(), 1);
        let failed: Shared<u32> = Shared::default();
        assert_eq!(
            failed.get_or_load(|| async { Err("down") }).await,
            Err("down")
        );
        assert_eq!(
            failed.get_or_load(|| async { Ok::<_, &str>(1) }).await,
            Ok(&1),
            "a failed load is tried again"
        );
    }
}
