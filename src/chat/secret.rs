//! Secret conversations, the server's side: the MLS Delivery Service. It
//! checks what it can see of each MLS object (its kind, cipher suite,
//! group and epoch: the clear framing), decides who may hand in and fetch
//! what, and keeps the order; what the objects say only the members'
//! browsers can read.

use crate::domain::{
    check_key_package, check_welcome, read_group_message, ClaimedKeyPackage, ContentKind,
    ConversationId, Device, DeviceId, GroupRecord, MlsFramingError, PendingWelcome, Posted,
    RosterChange, UserId,
};
use crate::error::{Error, Result};
use crate::limits::{MLS_FETCH_BATCH, MLS_OBJECT_MAX_BYTES};
use std::sync::Arc;

use crate::domain::{is_valid_client_id, SharedGroup, SharedTally};
use crate::live::hub::{Event, Fanout};
use crate::store::secret;
pub use crate::store::secret::GroupPost;
use crate::store::Pool;

/// The size of an Ed25519 public key, the signature scheme of the one
/// cipher suite secret conversations use.
const SIGNATURE_KEY_BYTES: usize = 32;

/// The MLS group id of a secret conversation: a commit or message for
/// another group is refused.
pub fn group_id(conversation: ConversationId) -> Vec<u8> {
    format!("natter:{conversation}").into_bytes()
}

fn invalid(what: &str, error: MlsFramingError) -> Error {
    Error::Invalid(format!("That is not a valid {what}: {error}."))
}

fn check_size(what: &str, bytes: &[u8]) -> Result<()> {
    if bytes.is_empty() || bytes.len() > MLS_OBJECT_MAX_BYTES {
        return Err(Error::Invalid(format!(
            "A {what} must hold between 1 and {MLS_OBJECT_MAX_BYTES} bytes."
        )));
    }
    Ok(())
}

/// Registers the browser of session `session_hash` as a device of `user`
/// with its signature public key; the same key again is the same device.
pub async fn register_device(
    pool: &Pool,
    user: UserId,
    session_hash: &str,
    signature_key: &[u8],
) -> Result<DeviceId> {
    if signature_key.len() != SIGNATURE_KEY_BYTES {
        return Err(Error::Invalid(format!(
            "A device's signature key is an Ed25519 public key of {SIGNATURE_KEY_BYTES} bytes."
        )));
    }
    Ok(
        secret::register_device(pool, user, session_hash, signature_key)
            .await?
            .0,
    )
}

/// The device of this session, if it registered one.
pub async fn this_device(pool: &Pool, session_hash: &str) -> Result<Option<DeviceId>> {
    secret::device_of_session(pool, session_hash).await
}

/// A user's live devices, for the account page and safety numbers.
pub async fn devices_of(pool: &Pool, user: UserId) -> Result<Vec<Device>> {
    secret::devices_of(pool, user).await
}

/// How many KeyPackages of `device` wait to be handed out.
pub async fn key_packages_left(pool: &Pool, device: DeviceId) -> Result<i64> {
    secret::key_packages_left(pool, device).await
}

/// Stores KeyPackages `device` of `user` made, each checked to be one of
/// the cipher suite in use; returns how many wait now. The user's secret
/// conversations whose groups do not have the device yet (a new browser)
/// are announced to their members as changed: their open pages add it (a
/// commit by any member device that is online), with one of these.
pub async fn add_key_packages(
    pool: &Pool,
    hub: &dyn Fanout,
    device: DeviceId,
    user: UserId,
    packages: &[Vec<u8>],
) -> Result<i64> {
    for package in packages {
        check_size("KeyPackage", package)?;
        check_key_package(package).map_err(|e| invalid("KeyPackage", e))?;
    }
    let waiting = secret::add_key_packages(pool, device, packages).await?;
    for conversation in secret::conversations_without(pool, user, device).await? {
        devices_changed(pool, hub, conversation).await?;
    }
    Ok(waiting)
}

/// Tells the members' open pages that a secret group's devices changed (or
/// should): each reads what changed and adds or removes devices as listed.
async fn devices_changed(
    pool: &Pool,
    hub: &dyn Fanout,
    conversation: ConversationId,
) -> Result<()> {
    let members = crate::store::conversations::member_ids(pool, conversation).await?;
    hub.publish(
        &members,
        Event::GroupChanged {
            conversation_id: conversation,
            group: SharedGroup::default(),
        },
    );
    Ok(())
}

/// Creates a secret group with `device` of `creator` as its only device so
/// far; the creator's browser then adds the members' devices.
pub async fn create_group(
    pool: &Pool,
    hub: &dyn Fanout,
    creator: UserId,
    device: DeviceId,
    title: &str,
    members: &[UserId],
) -> Result<ConversationId> {
    super::groups::create_as(pool, hub, creator, title, members, Some(device)).await
}

/// One KeyPackage for each device of the members that is not in the group
/// yet, for a device in it to add them; each is handed out once.
pub async fn claim_key_packages(
    pool: &Pool,
    conversation: ConversationId,
    device: DeviceId,
    user: UserId,
) -> Result<Vec<ClaimedKeyPackage>> {
    secret::claim_key_packages(pool, conversation, device, user).await
}

/// Takes a group message from `device` of `user`: it must be for this
/// conversation's group and its current epoch; a commit also says which
/// devices it adds (each with its Welcome) and removes. An application
/// message is shown to the members at once, as a bubble whose text their
/// browsers decrypt; its client id (a fresh one if the page sent none)
/// makes sending it twice store it once, and it may carry a file the
/// browser encrypted.
pub async fn post(
    pool: &Pool,
    hub: &dyn Fanout,
    conversation: ConversationId,
    device: DeviceId,
    user: UserId,
    post: &GroupPost<'_>,
) -> Result<Posted> {
    let (body, roster, client_id) = (post.body, post.roster, post.client_id);
    check_size("group message", body)?;
    let header = read_group_message(body).map_err(|e| invalid("group message", e))?;
    if header.group_id != group_id(conversation) {
        return Err(Error::Invalid("That message is for another group.".into()));
    }
    if header.kind != ContentKind::Commit && roster != &RosterChange::default() {
        return Err(Error::Invalid(
            "Only a commit changes who is in a group.".into(),
        ));
    }
    if header.kind != ContentKind::Application && post.attachment.is_some() {
        return Err(Error::Invalid(
            "Only an application message carries a file.".into(),
        ));
    }
    for (_, welcome) in &roster.added {
        check_size("Welcome", welcome)?;
        check_welcome(welcome).map_err(|e| invalid("Welcome", e))?;
    }
    let fresh;
    let client_id = if client_id.is_empty() {
        fresh = super::new_client_id();
        &fresh
    } else if is_valid_client_id(client_id) {
        client_id
    } else {
        return Err(Error::Invalid(
            "This page is out of date. Reload it and send again.".into(),
        ));
    };
    let checked = GroupPost { client_id, ..*post };
    let (posted, message) =
        secret::post(pool, conversation, device, user, &header, &checked).await?;
    if header.kind == ContentKind::Commit {
        // Members' open pages read the commit now (their safety numbers may
        // change), not at the next message.
        devices_changed(pool, hub, conversation).await?;
    }
    if let Some(message) = message {
        let members = crate::store::conversations::member_ids(pool, conversation).await?;
        hub.publish(
            &members,
            Event::MessagePosted {
                message: Arc::new(message),
                tally: SharedTally::default(),
                bubbles: Default::default(),
            },
        );
    }
    Ok(posted)
}

/// The group's messages after change `after`, for a device in the group.
pub async fn messages_after(
    pool: &Pool,
    conversation: ConversationId,
    device: DeviceId,
    user: UserId,
    after: i64,
) -> Result<Vec<GroupRecord>> {
    secret::messages_after(pool, conversation, device, user, after, MLS_FETCH_BATCH).await
}

/// The Welcomes waiting for `device`.
pub async fn welcomes(pool: &Pool, device: DeviceId) -> Result<Vec<PendingWelcome>> {
    secret::welcomes(pool, device).await
}

/// Forgets a Welcome once `device` has joined with it.
pub async fn drop_welcome(pool: &Pool, device: DeviceId, id: i64) -> Result<()> {
    if secret::drop_welcome(pool, device, id).await? {
        Ok(())
    } else {
        Err(Error::NotFound)
    }
}

/// The devices a member's device should remove from the group with its
/// next commit: their sessions ended, or their users left.
pub async fn devices_to_remove(
    pool: &Pool,
    conversation: ConversationId,
    user: UserId,
) -> Result<Vec<DeviceId>> {
    secret::devices_to_remove(pool, conversation, user)
        .await?
        .ok_or(Error::NotFound)
}
