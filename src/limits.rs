//! Every limit Natter enforces, named in one place.

use std::time::Duration;

/// How many attempts a key may burst, and how fast it earns them back.
#[derive(Debug, Clone, Copy)]
pub struct Rate {
    pub burst: u32,
    pub refill_every: Duration,
}

/// Shortest accepted username, in characters.
pub(crate) const USERNAME_MIN_CHARS: usize = 3;
/// Longest accepted username, in characters.
pub(crate) const USERNAME_MAX_CHARS: usize = 32;
/// Shortest accepted password, in characters.
pub(crate) const PASSWORD_MIN_CHARS: usize = 8;
/// Longest accepted password, in characters (hashed whole, never truncated).
pub(crate) const PASSWORD_MAX_CHARS: usize = 1024;
/// Longest group name, in characters.
pub(crate) const GROUP_TITLE_MAX_CHARS: usize = 64;
/// Longest display name, in characters.
pub(crate) const DISPLAY_NAME_MAX_CHARS: usize = 64;
/// Longest status line, in characters.
pub(crate) const STATUS_MAX_CHARS: usize = 140;
/// Side of a stored avatar, in pixels (shown at 40, sharp on dense screens).
pub(crate) const AVATAR_SIDE: u32 = 256;
/// Largest avatar upload, in bytes.
pub(crate) const AVATAR_MAX_BYTES: u64 = 5 * 1024 * 1024;
/// Longest message body, in characters, after trimming.
pub const MESSAGE_MAX_CHARS: usize = 4000;
/// How long after sending its author may still edit a message (deleting it
/// for everyone has no limit).
pub const EDIT_WINDOW: time::Duration = time::Duration::hours(24);
/// The reactions a message can get: a small fixed set, like other messengers.
pub const REACTIONS: [&str; 6] = ["👍", "❤️", "😂", "😮", "😢", "🙏"];
/// How many people one message can call by name (more `@names` stay text).
pub const MENTIONS_MAX: usize = 20;
/// How many members the "@" suggestions offer at once.
pub const MENTION_SUGGESTIONS: usize = 8;
/// Longest client-generated message id.
pub(crate) const CLIENT_ID_MAX_CHARS: usize = 64;
/// Most KeyPackages one secret-conversation device keeps waiting on the
/// server; its browser tops them up when few are left.
pub(crate) const MLS_KEY_PACKAGES_PER_DEVICE: i64 = 100;

/// A device is asked for more KeyPackages when fewer than this many wait
/// (each adds it to one conversation), and tops them up to
/// `MLS_KEY_PACKAGES_FULL`.
pub(crate) const MLS_KEY_PACKAGES_LOW: i64 = 5;
pub(crate) const MLS_KEY_PACKAGES_FULL: i64 = 20;
/// How long a member device that was handed a device's KeyPackage has to
/// commit adding it before another member device is handed one instead.
pub(crate) const MLS_CLAIM_FRESH: time::Duration = time::Duration::seconds(30);
/// Largest MLS object (KeyPackage, Welcome, commit, application message)
/// the server stores: base64-encoded it still fits a form
/// (`FORM_MAX_BYTES`). An application message holds at most a message's
/// text or a file's key; a commit adds a few dozen devices at most.
pub const MLS_OBJECT_MAX_BYTES: usize = 46 * 1024;
/// Most group messages one fetch returns; the page asks again for more.
pub(crate) const MLS_FETCH_BATCH: i64 = 200;
/// Largest WebSocket message or frame accepted from a browser.
pub const SOCKET_MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// Largest amount of unsent data buffered for one socket before writes fail.
pub(crate) const SOCKET_MAX_WRITE_BUFFER_BYTES: usize = 1024 * 1024;
/// Events buffered per user before a slow socket is resynchronised instead.
/// A broadcast channel allocates every slot up front (about 64 bytes each)
/// for as long as the user is online: 256 took 16 KiB per user, a quarter
/// of an idle socket's memory. A socket takes an event in microseconds, so
/// 32 only run out when one is stuck writing to a page that stopped
/// reading, and that page is brought up to date once it reads again.
pub(crate) const HUB_CHANNEL_CAPACITY: usize = 32;
/// Messages shown per page of history.
pub const HISTORY_PAGE: i64 = 50;
/// Highest unread count a badge shows as a number; above it says "99+".
pub(crate) const UNREAD_SHOWN_MAX: i64 = 99;
/// How much of the newest message an inbox row carries: a line's worth,
/// not a whole message in every push.
pub(crate) const PREVIEW_MAX_CHARS: i64 = 100;
/// Most messages replayed to a reconnecting socket before the whole list is replaced.
pub const RESYNC_MAX_MESSAGES: i64 = 200;
/// Largest accepted HTML form body.
pub(crate) const FORM_MAX_BYTES: u64 = 64 * 1024;
/// Typing notices accepted from one socket: one every half second.
pub(crate) const SOCKET_TYPING: Rate = Rate {
    burst: 1,
    refill_every: Duration::from_millis(500),
};
/// Frames other than typing notices accepted from one socket: a burst of 20,
/// then five a second. Beyond that the page is told to slow down.
pub const SOCKET_MESSAGES: Rate = Rate {
    burst: 20,
    refill_every: Duration::from_millis(200),
};
/// Messages one user may send, over all their sockets and plain forms
/// together: the same burst of 20, then five a second.
pub const MESSAGES_PER_USER: Rate = SOCKET_MESSAGES;
/// Files one user may upload: a burst of 10, then one every 6 seconds
/// (each may be a large image to decode).
pub const UPLOADS_PER_USER: Rate = Rate {
    burst: 10,
    refill_every: Duration::from_secs(6),
};
/// A socket that has sent nothing (not even a pong) for this long is closed
/// (the default of the `socket_idle_ms` setting). Pings go out three times
/// as often, so a live page always answers in time.
pub(crate) const SOCKET_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Open sockets one user may have at once, across all their tabs and devices.
pub const SOCKETS_PER_USER: usize = 32;
/// Presence changes a page should show are gathered this long and sent as
/// one frame: a crowd coming online at once costs each page a few frames.
pub(crate) const PRESENCE_COALESCE: Duration = Duration::from_millis(250);
/// How long "… is typing" stays up after the last notice.
pub(crate) const TYPING_SHOWN_MS: u64 = 3000;
/// Login attempts per client address: a burst, then one more every 3 seconds.
pub(crate) const LOGIN_PER_ADDRESS: Rate = Rate {
    burst: 20,
    refill_every: Duration::from_secs(3),
};
/// Login attempts per username, from anywhere: a burst, then one every 12
/// seconds. A browser that logged in to the account before is exempt, so a
/// stranger's guesses cannot lock the owner out of the devices they use.
pub const LOGIN_PER_USERNAME: Rate = Rate {
    burst: 10,
    refill_every: Duration::from_secs(12),
};
/// Login attempts per username from one address: a burst, then one every
/// 12 seconds (known devices exempt too).
pub const LOGIN_PER_USERNAME_AND_ADDRESS: Rate = Rate {
    burst: 5,
    refill_every: Duration::from_secs(12),
};
/// Sign-ups per client address: a burst, then one every 30 seconds.
pub const SIGNUP_PER_ADDRESS: Rate = Rate {
    burst: 10,
    refill_every: Duration::from_secs(30),
};
/// A page showing a conversation writes its read position at most this often,
/// so a busy conversation does not cost a write per message per reader.
pub const READ_MARK_DELAY: Duration = Duration::from_millis(250);
/// Longest a sign-up or login waits for a turn to hash its password before
/// it is told to try again (hashing runs one per core at a time).
pub(crate) const HASHING_QUEUE_WAIT: Duration = Duration::from_secs(5);
/// Most pixels an uploaded image may have (a 6000×4000 photo has 24
/// million); a larger one is refused from its header before it is decoded.
pub(crate) const MAX_IMAGE_PIXELS: u64 = 25_000_000;
/// Memory, in MiB, that all images being decoded and re-encoded at once may
/// take together; an upload waits for its share.
pub(crate) const IMAGE_DECODE_BUDGET_MIB: u64 = 320;

/// How long presence changes are kept for pages that open their socket a
/// moment after they were rendered (see `Presence::changed_since`). Longer
/// gaps are reconnects, which fetch the whole contact list instead.
pub(crate) const PRESENCE_REPLAY: time::Duration = time::Duration::minutes(2);
/// Most presence changes sent to a page that opens its socket; past that
/// (a restart, everyone reconnecting) it gets its whole contact list.
pub const PRESENCE_REPLAY_MAX: usize = 200;
/// How far before its render time a page asks for presence changes: the
/// instance that rendered it and the one its socket reaches may differ.
pub(crate) const PRESENCE_CLOCK_MARGIN: time::Duration = time::Duration::seconds(2);

/// Seconds a client is asked to wait before retrying while the database is
/// down (the Retry-After header, and the error page reloading itself).
pub(crate) const RETRY_AFTER_SECS: u32 = 5;

/// Messages waiting to be turned into Web Push notifications, at most; past
/// that a message is not pushed (and a warning logged) rather than holding
/// memory or delivery up.
pub(crate) const PUSH_QUEUE: usize = 4096;
/// Messages whose pushes are looked up in one query.
pub(crate) const PUSH_BATCH: usize = 64;
/// Pushes in flight to push services at once.
pub(crate) const PUSH_CONCURRENCY: usize = 16;
/// Pushes sending or waiting to (to retry, or for one of the above) at
/// once; past that new ones wait in the queue.
pub(crate) const PUSH_PENDING: usize = 1024;
/// Browsers one account may be pushed on.
pub(crate) const PUSH_SUBSCRIPTIONS_PER_USER: i64 = 10;
/// Visibility notices a page may send in a burst, then one a second (an
/// honest page sends one as its tab is hidden or shown).
pub(crate) const SOCKET_VISIBILITY: Rate = Rate {
    burst: 10,
    refill_every: Duration::from_secs(1),
};
/// How long one push request may take before it counts as failed.
pub(crate) const PUSH_TIMEOUT: Duration = Duration::from_secs(10);
/// Waits before each retry of a push the service could not take (an error,
/// 429 or 5xx); after the last it is given up.
pub(crate) const PUSH_RETRIES: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(5),
    Duration::from_secs(30),
];
/// How long a push service keeps a notification for a browser that is off
/// (the TTL header), and how long the VAPID signature holds.
pub(crate) const PUSH_TTL: Duration = Duration::from_secs(12 * 60 * 60);
/// Longest push endpoint URL accepted from a browser.
pub(crate) const PUSH_ENDPOINT_MAX_BYTES: usize = 1024;

/// Most uses one invitation link may have.
pub const INVITE_MAX_USES: i64 = 100;
/// Longest an invitation link may stay valid, in days.
pub const INVITE_MAX_DAYS: i64 = 30;
/// Most accounts the admin page lists at once (searching narrows them).
pub(crate) const ADMIN_USERS_SHOWN: i64 = 200;
/// Most entries of the administrators' log the admin page shows.
pub(crate) const ADMIN_LOG_SHOWN: i64 = 50;

/// Longest search kept, in characters (the rest is cut, not refused).
pub const SEARCH_QUERY_MAX_CHARS: usize = 200;
/// Most words and phrases one search matches on (the rest are dropped).
pub const SEARCH_TERMS_MAX: usize = 8;
/// Results shown per page of a search.
pub const SEARCH_PAGE: i64 = 20;
/// Results counted at most: past it the count reads "100+".
pub const SEARCH_COUNT_MAX: i64 = 100;
/// Most conversations a search narrows to inside SQLite's word index (a
/// person in more has them checked by the query's join instead).
pub(crate) const SEARCH_INDEX_CONVERSATIONS_MAX: usize = 200;
/// Words of a result's text shown around what matched.
pub(crate) const SEARCH_SNIPPET_WORDS: usize = 16;
