//! Secret conversations' Delivery Service tables: devices and their public
//! signature keys, KeyPackages (each handed out once), Welcomes per device,
//! the groups' epochs and device lists, and their opaque MLS messages in the
//! conversation's change log. Who may do what is part of each statement.

use super::groups::{create_in, Note};
use super::messages::{save_in, senders_read_own_in, NewAttachment, NewMessage, Saved};
use super::{now, Pool, Tx};
use crate::domain::{
    ClaimedKeyPackage, ContentKind, ConversationId, Device, DeviceId, GroupMessage, GroupRecord,
    Message, PendingWelcome, Posted, RosterChange, UserId,
};
use crate::error::{Error, Result};
use crate::limits::{MLS_CLAIM_FRESH, MLS_KEY_PACKAGES_PER_DEVICE};

/// The device of the session with this token hash, registering it with
/// `signature_key` if the session has none, and whether it is new. A
/// session whose browser comes back with another key (its storage was
/// cleared) gets a new device; the old one counts as ended, for its
/// groups' members to remove.
pub(crate) async fn register_device(
    pool: &Pool,
    user: UserId,
    session_hash: &str,
    signature_key: &[u8],
) -> Result<(DeviceId, bool)> {
    let mut tx = pool.begin().await?;
    let existing: Option<(DeviceId, Vec<u8>)> = on_tx!(&mut tx, conn => sqlx::query_as(
        "SELECT id, signature_key FROM mls_devices WHERE session_hash = $1 AND user_id = $2",
    )
    .bind(session_hash)
    .bind(user)
    .fetch_optional(conn)
    .await?);
    if let Some((id, key)) = &existing {
        if key.as_slice() == signature_key {
            return Ok((*id, false));
        }
        on_tx!(&mut tx, conn => sqlx::query("UPDATE mls_devices SET session_hash = NULL WHERE id = $1")
            .bind(id)
            .execute(conn)
            .await
            .map(drop)?);
    }
    let id = on_tx!(&mut tx, conn => sqlx::query_scalar(
        "INSERT INTO mls_devices (user_id, session_hash, signature_key, created_at)
         VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(user)
    .bind(session_hash)
    .bind(signature_key)
    .bind(now())
    .fetch_one(conn)
    .await?);
    tx.commit().await?;
    Ok((id, true))
}

/// The secret conversations `user` is a member of whose groups do not have
/// `device` in them.
pub(crate) async fn conversations_without(
    pool: &Pool,
    user: UserId,
    device: DeviceId,
) -> Result<Vec<ConversationId>> {
    on_pool!(pool, db => Ok(sqlx::query_scalar(
        "SELECT m.conversation_id FROM members m
         JOIN mls_groups g ON g.conversation_id = m.conversation_id
         WHERE m.user_id = $1 AND NOT EXISTS (
             SELECT 1 FROM mls_group_devices gd
             WHERE gd.conversation_id = m.conversation_id AND gd.device_id = $2)
         ORDER BY m.conversation_id",
    )
    .bind(user)
    .bind(device)
    .fetch_all(db)
    .await?))
}

/// The device of the session with this token hash, if it registered one.
pub(crate) async fn device_of_session(pool: &Pool, session_hash: &str) -> Result<Option<DeviceId>> {
    on_pool!(pool, db => Ok(sqlx::query_scalar(
        "SELECT id FROM mls_devices WHERE session_hash = $1",
    )
    .bind(session_hash)
    .fetch_optional(db)
    .await?))
}

/// A user's devices whose sessions are live, oldest first.
pub(crate) async fn devices_of(pool: &Pool, user: UserId) -> Result<Vec<Device>> {
    on_pool!(pool, db => Ok(sqlx::query_as(
        "SELECT id, user_id, signature_key, created_at FROM mls_devices
         WHERE user_id = $1 AND session_hash IS NOT NULL ORDER BY id",
    )
    .bind(user)
    .fetch_all(db)
    .await?))
}

/// How many KeyPackages of `device` are still waiting to be handed out.
pub(crate) async fn key_packages_left(pool: &Pool, device: DeviceId) -> Result<i64> {
    on_pool!(pool, db => Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM mls_key_packages WHERE device_id = $1",
    )
    .bind(device)
    .fetch_one(db)
    .await?))
}

/// Stores KeyPackages `device` made, up to `MLS_KEY_PACKAGES_PER_DEVICE`
/// waiting at once; returns how many are waiting now.
pub(crate) async fn add_key_packages(
    pool: &Pool,
    device: DeviceId,
    packages: &[Vec<u8>],
) -> Result<i64> {
    let mut tx = pool.begin().await?;
    let waiting: i64 = on_tx!(&mut tx, conn => sqlx::query_scalar(
        "SELECT COUNT(*) FROM mls_key_packages WHERE device_id = $1",
    )
    .bind(device)
    .fetch_one(conn)
    .await?);
    let room = MLS_KEY_PACKAGES_PER_DEVICE.saturating_sub(waiting);
    if i64::try_from(packages.len()).unwrap_or(i64::MAX) > room {
        return Err(Error::Invalid(format!(
            "A device keeps at most {MLS_KEY_PACKAGES_PER_DEVICE} KeyPackages waiting; it has {waiting}."
        )));
    }
    for package in packages {
        on_tx!(&mut tx, conn => sqlx::query(
            "INSERT INTO mls_key_packages (device_id, key_package) VALUES ($1, $2)",
        )
        .bind(device)
        .bind(package)
        .execute(conn)
        .await
        .map(drop)?);
    }
    tx.commit().await?;
    Ok(waiting + i64::try_from(packages.len()).unwrap_or(0))
}

/// Creates a secret group conversation: a group with its members and first
/// note, its MLS group at epoch 0 with only the creator's `device` in it
/// (the creator's browser made the group and adds the others next).
pub(crate) async fn create_group(
    pool: &Pool,
    creator: UserId,
    device: DeviceId,
    title: &str,
    members: &[UserId],
    note: &Note<'_>,
) -> Result<Message> {
    let mut tx = pool.begin().await?;
    let owned: bool = on_tx!(&mut tx, conn => sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM mls_devices
                        WHERE id = $1 AND user_id = $2 AND session_hash IS NOT NULL)",
    )
    .bind(device)
    .bind(creator)
    .fetch_one(conn)
    .await?);
    if !owned {
        return Err(Error::NotFound);
    }
    let created = create_in(&mut tx, creator, title, members, note).await?;
    for sql in [
        "INSERT INTO mls_groups (conversation_id, epoch) VALUES ($1, 0)",
        "INSERT INTO mls_group_devices (conversation_id, device_id) VALUES ($1, $2)",
    ] {
        on_tx!(&mut tx, conn => sqlx::query(sql)
            .bind(created.conversation_id)
            .bind(device)
            .execute(conn)
            .await
            .map(drop)?);
    }
    tx.commit().await?;
    Ok(created)
}

/// The group's epoch, if device `$1` is user `$2`'s, live, in the group
/// of conversation `$4`, and the user (`$3`) is a member; no row otherwise.
const EPOCH_FOR: &str = "SELECT g.epoch FROM mls_groups g
     JOIN mls_group_devices gd ON gd.conversation_id = g.conversation_id AND gd.device_id = $1
     JOIN mls_devices d ON d.id = gd.device_id AND d.user_id = $2 AND d.session_hash IS NOT NULL
     JOIN members m ON m.conversation_id = g.conversation_id AND m.user_id = $3
     WHERE g.conversation_id = $4";

/// The group's epoch (see `EPOCH_FOR`), inside the caller's transaction.
async fn epoch_for(
    tx: &mut Tx,
    conversation: ConversationId,
    device: DeviceId,
    user: UserId,
) -> Result<Option<i64>> {
    Ok(on_tx!(tx, conn => sqlx::query_scalar(EPOCH_FOR)
    .bind(device)
    .bind(user)
    .bind(user)
    .bind(conversation)
    .fetch_optional(conn)
    .await?))
}

/// Hands out one KeyPackage of each live device of the conversation's
/// members that is not in its group yet (and has one left), for `device`
/// of `user`, which must be in the group. Each package is deleted as it is
/// handed out, so it is never handed out twice, even to two callers at once;
/// and a device another caller was handed a package of within
/// `MLS_CLAIM_FRESH` is left to that caller to add.
pub(crate) async fn claim_key_packages(
    pool: &Pool,
    conversation: ConversationId,
    device: DeviceId,
    user: UserId,
) -> Result<Vec<ClaimedKeyPackage>> {
    let mut tx = pool.begin().await?;
    if epoch_for(&mut tx, conversation, device, user)
        .await?
        .is_none()
    {
        return Err(Error::NotFound);
    }
    let candidates: Vec<(i64, DeviceId, UserId)> = on_tx!(&mut tx, conn => sqlx::query_as(
        "SELECT MIN(k.id), d.id, d.user_id FROM mls_key_packages k
         JOIN mls_devices d ON d.id = k.device_id AND d.session_hash IS NOT NULL
         JOIN members m ON m.user_id = d.user_id AND m.conversation_id = $1
         WHERE NOT EXISTS (SELECT 1 FROM mls_group_devices gd
                           WHERE gd.conversation_id = $2 AND gd.device_id = d.id)
           AND NOT EXISTS (SELECT 1 FROM mls_claims c
                           WHERE c.conversation_id = $3 AND c.device_id = d.id AND c.claimed_at > $4)
         GROUP BY d.id, d.user_id ORDER BY d.id",
    )
    .bind(conversation)
    .bind(conversation)
    .bind(conversation)
    .bind(now() - MLS_CLAIM_FRESH)
    .fetch_all(conn)
    .await?);
    let mut claimed = Vec::with_capacity(candidates.len());
    for (package, device_id, user_id) in candidates {
        let taken: Option<Vec<u8>> = on_tx!(&mut tx, conn => sqlx::query_scalar(
            "DELETE FROM mls_key_packages WHERE id = $1 RETURNING key_package",
        )
        .bind(package)
        .fetch_optional(conn)
        .await?);
        if let Some(key_package) = taken {
            on_tx!(&mut tx, conn => sqlx::query(
                "INSERT INTO mls_claims (conversation_id, device_id, claimed_at) VALUES ($1, $2, $3)
                 ON CONFLICT (conversation_id, device_id) DO UPDATE SET claimed_at = excluded.claimed_at",
            )
            .bind(conversation)
            .bind(device_id)
            .bind(now())
            .execute(conn)
            .await
            .map(drop)?);
            claimed.push(ClaimedKeyPackage {
                device_id,
                user_id,
                key_package,
            });
        }
    }
    tx.commit().await?;
    Ok(claimed)
}

/// A group message as its device hands it in.
#[derive(Debug, Clone, Copy)]
pub struct GroupPost<'a> {
    /// The `MLSMessage`.
    pub body: &'a [u8],
    /// For a commit: the devices it adds (each with its Welcome) and removes.
    pub roster: &'a RosterChange,
    /// For an application message: sent twice, stored once.
    pub client_id: &'a str,
    /// For an application message: a file encrypted in the browser, stored.
    pub attachment: Option<&'a NewAttachment>,
}

/// Stores a group message `device` of `user` sent (its clear header read
/// into `header`), as the conversation's next change, if it is for the
/// group's current epoch. An application message also becomes a message of
/// the conversation (with no text: its bubble shows the ciphertext to the
/// members' browsers), stored once per `client_id` like any other; a commit
/// moves the epoch on and applies `roster` (devices added must be live
/// devices of members; each gets its Welcome); other kinds ignore
/// `roster`. A message for an epoch that is over is refused as stale, and
/// two commits for one epoch cannot both be taken.
pub(crate) async fn post(
    pool: &Pool,
    conversation: ConversationId,
    device: DeviceId,
    user: UserId,
    header: &GroupMessage,
    post: &GroupPost<'_>,
) -> Result<(Posted, Option<Message>)> {
    let GroupPost {
        body,
        roster,
        client_id,
        attachment,
    } = *post;
    let epoch = i64::try_from(header.epoch)
        .map_err(|_| Error::Invalid("That MLS epoch is out of range.".into()))?;
    let kind = header.kind;
    let commit = kind == ContentKind::Commit;
    let mut tx = pool.begin().await?;
    let Some(current) = epoch_for(&mut tx, conversation, device, user).await? else {
        return Err(Error::NotFound);
    };
    // The same row every sender of this group updates: on PostgreSQL it
    // serialises them, and the epoch is checked again after any wait.
    let moved = on_tx!(&mut tx, conn => sqlx::query(
        "UPDATE mls_groups SET epoch = epoch + $1 WHERE conversation_id = $2 AND epoch = $3",
    )
    .bind(i64::from(commit))
    .bind(conversation)
    .bind(epoch)
    .execute(conn)
    .await?
    .rows_affected());
    if moved != 1 {
        return Err(Error::Stale(format!(
            "This was made for epoch {epoch}, but the group is at epoch {current}: fetch what changed and try again."
        )));
    }
    let posted = |seq| Posted {
        seq,
        epoch: epoch + i64::from(commit),
    };
    let (seq, message) = if kind == ContentKind::Application {
        let new = NewMessage {
            attachment,
            ..NewMessage::text(conversation, user, "", client_id)
        };
        match save_in(&mut tx, &new).await? {
            Saved::Created(mut message) => {
                senders_read_own_in(&mut tx, &[&message]).await?;
                message.ciphertext = Some(body.to_vec());
                (message.seq, Some(message))
            }
            // Sent before (the page sent again, not knowing it arrived):
            // the first stands.
            Saved::Duplicate(message) => return Ok((posted(message.seq), None)),
            Saved::ClientIdReused => {
                return Err(Error::Invalid(
                    "This message could not be sent. Reload the page and send again.".into(),
                ))
            }
        }
    } else {
        let seq = on_tx!(&mut tx, conn => sqlx::query_scalar(
            "UPDATE conversations SET last_seq = last_seq + 1 WHERE id = $1 RETURNING last_seq",
        )
        .bind(conversation)
        .fetch_one(conn)
        .await?);
        (seq, None)
    };
    on_tx!(&mut tx, conn => sqlx::query(
        "INSERT INTO mls_messages
         (conversation_id, seq, device_id, sender_id, epoch, kind, body, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(conversation)
    .bind(seq)
    .bind(device)
    .bind(user)
    .bind(epoch)
    .bind(kind.as_str())
    .bind(body)
    .bind(now())
    .execute(conn)
    .await
    .map(drop)?);
    if commit {
        apply_roster(&mut tx, conversation, roster, seq).await?;
    }
    tx.commit().await?;
    Ok((posted(seq), message))
}

/// Puts a commit's added devices in the group with their Welcomes (to read
/// on after change `seq`, the commit's), and takes its removed devices out.
async fn apply_roster(
    tx: &mut Tx,
    conversation: ConversationId,
    roster: &RosterChange,
    seq: i64,
) -> Result<()> {
    for (device, welcome) in &roster.added {
        let added = on_tx!(&mut *tx, conn => sqlx::query(
            "INSERT INTO mls_group_devices (conversation_id, device_id)
             SELECT $1, d.id FROM mls_devices d
             JOIN members m ON m.user_id = d.user_id AND m.conversation_id = $2
             WHERE d.id = $3 AND d.session_hash IS NOT NULL
             ON CONFLICT DO NOTHING",
        )
        .bind(conversation)
        .bind(conversation)
        .bind(device)
        .execute(conn)
        .await?
        .rows_affected());
        if added != 1 {
            return Err(Error::Invalid(format!(
                "Device {device} is not a live device of a member outside the group."
            )));
        }
        on_tx!(&mut *tx, conn => sqlx::query(
            "INSERT INTO mls_welcomes (device_id, conversation_id, welcome, seq, created_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(device)
        .bind(conversation)
        .bind(welcome)
        .bind(seq)
        .bind(now())
        .execute(conn)
        .await
        .map(drop)?);
    }
    for device in &roster.removed {
        on_tx!(&mut *tx, conn => sqlx::query(
            "DELETE FROM mls_group_devices WHERE conversation_id = $1 AND device_id = $2",
        )
        .bind(conversation)
        .bind(device)
        .execute(conn)
        .await
        .map(drop)?);
    }
    Ok(())
}

/// The group's messages after change `after`, oldest first, at most
/// `limit`, for `device` of `user` while it is in the group. Two reads, no
/// transaction: on SQLite a transaction here would take the write lock
/// for every catch-up (a device removed in between reads what it was
/// entitled to a moment before).
pub(crate) async fn messages_after(
    pool: &Pool,
    conversation: ConversationId,
    device: DeviceId,
    user: UserId,
    after: i64,
    limit: i64,
) -> Result<Vec<GroupRecord>> {
    on_pool!(pool, db => {
        let epoch: Option<i64> = sqlx::query_scalar(EPOCH_FOR)
            .bind(device)
            .bind(user)
            .bind(user)
            .bind(conversation)
            .fetch_optional(db)
            .await?;
        if epoch.is_none() {
            return Err(Error::NotFound);
        }
        Ok(sqlx::query_as(
            "SELECT seq, device_id, sender_id, epoch, kind, body, created_at FROM mls_messages
             WHERE conversation_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(conversation)
        .bind(after)
        .bind(limit)
        .fetch_all(db)
        .await?)
    })
}

/// The Welcomes waiting for `device`, oldest first.
pub(crate) async fn welcomes(pool: &Pool, device: DeviceId) -> Result<Vec<PendingWelcome>> {
    on_pool!(pool, db => Ok(sqlx::query_as(
        "SELECT id, conversation_id, welcome, seq FROM mls_welcomes WHERE device_id = $1 ORDER BY id",
    )
    .bind(device)
    .fetch_all(db)
    .await?))
}

/// Forgets a Welcome `device` has taken; whether it was there.
pub(crate) async fn drop_welcome(pool: &Pool, device: DeviceId, id: i64) -> Result<bool> {
    on_pool!(pool, db => Ok(sqlx::query(
        "DELETE FROM mls_welcomes WHERE id = $1 AND device_id = $2",
    )
    .bind(id)
    .bind(device)
    .execute(db)
    .await?
    .rows_affected() == 1))
}

/// The devices in the group whose sessions ended or whose users left it,
/// for a member's device to remove with a commit; `None` unless `user` is
/// a member.
pub(crate) async fn devices_to_remove(
    pool: &Pool,
    conversation: ConversationId,
    user: UserId,
) -> Result<Option<Vec<DeviceId>>> {
    on_pool!(pool, db => {
        let member: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM members m JOIN mls_groups g ON g.conversation_id = m.conversation_id
                            WHERE m.conversation_id = $1 AND m.user_id = $2)",
        )
        .bind(conversation)
        .bind(user)
        .fetch_one(db)
        .await?;
        if !member {
            return Ok(None);
        }
        Ok(Some(sqlx::query_scalar(
            "SELECT d.id FROM mls_group_devices gd JOIN mls_devices d ON d.id = gd.device_id
             LEFT JOIN members m ON m.conversation_id = gd.conversation_id AND m.user_id = d.user_id
             WHERE gd.conversation_id = $1 AND (d.session_hash IS NULL OR m.user_id IS NULL)
             ORDER BY d.id",
        )
        .bind(conversation)
        .fetch_all(db)
        .await?))
    })
}
