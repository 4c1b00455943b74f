//! The database of each scenario, fresh on SQLite or PostgreSQL and removed
//! afterwards, and everything written into it or read back from it directly:
//! users, sessions, conversations (direct, and a group), a long history, and
//! the chat messages the correctness check counts.

use std::sync::atomic::{AtomicU32, Ordering};

use natter::domain::{ConversationId, UserId};
use natter::store::Pool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqlitePoolOptions, SqliteSynchronous};
use tempfile::TempDir;

use crate::options::Options;
use crate::FILLER;

/// The database of one scenario: a SQLite file in a temporary directory, or
/// a PostgreSQL database made for the run and dropped when done.
pub(crate) struct Database {
    pub(crate) url: String,
    /// Holds the SQLite file.
    _dir: TempDir,
    /// The PostgreSQL server and the database's name, to drop it afterwards.
    postgres: Option<(String, String)>,
}

impl Database {
    /// A fresh, migrated database of the kind the options ask for.
    async fn fresh(options: &Options) -> Result<Database, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
        let database = match &options.postgres {
            Some(server) => {
                static RUNS: AtomicU32 = AtomicU32::new(0);
                let name = format!(
                    "natter_bench_{}_{}",
                    std::process::id(),
                    RUNS.fetch_add(1, Ordering::Relaxed)
                );
                postgres_admin(server, &format!("CREATE DATABASE \"{name}\"")).await?;
                Database {
                    url: format!("{server}/{name}"),
                    _dir: dir,
                    postgres: Some((server.clone(), name)),
                }
            }
            None => Database {
                url: format!("sqlite://{}", dir.path().join("natter.db").display()),
                _dir: dir,
                postgres: None,
            },
        };
        let pool = database.open().await?;
        pool.migrate()
            .await
            .map_err(|e| format!("migrating: {e}"))?;
        pool.close().await;
        Ok(database)
    }

    /// A connection for seeding and checking, without waiting for each commit
    /// to reach the disk: the setting is per connection, so the servers still
    /// write with full durability, and seeding a thousand users does not wait
    /// on thousands of fsyncs.
    async fn open(&self) -> Result<Pool, String> {
        let pool = if self.postgres.is_some() {
            let options = self
                .url
                .parse::<PgConnectOptions>()
                .map_err(|e| format!("database options: {e}"))?
                .options([("synchronous_commit", "off")]);
            Pool::Postgres(
                PgPoolOptions::new()
                    .max_connections(1)
                    .connect_with(options)
                    .await
                    .map_err(|e| format!("opening the database: {e}"))?,
            )
        } else {
            let options = natter::store::connect_options(&self.url)
                .map_err(|e| format!("database options: {e}"))?
                .synchronous(SqliteSynchronous::Off);
            Pool::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect_with(options)
                    .await
                    .map_err(|e| format!("opening {}: {e}", self.url))?,
            )
        };
        Ok(pool)
    }

    /// Drops a PostgreSQL database (the servers must be stopped).
    async fn remove(self) {
        if let Some((server, name)) = &self.postgres {
            let drop = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
            if let Err(e) = postgres_admin(server, &drop).await {
                eprintln!("note: could not drop the database {name}: {e}");
            }
        }
    }

    /// `users` users (`idle00000`, …), each with a session: their cookie tokens.
    pub(crate) async fn seed_idle_users(&self, users: usize) -> Result<Vec<String>, String> {
        let pool = self.open().await?;
        let hash = shared_password_hash().await?;
        let mut tokens = Vec::with_capacity(users);
        for i in 0..users {
            tokens.push(
                seed_user(&pool, &format!("idle{i:05}"), &hash)
                    .await?
                    .1
                    .token,
            );
        }
        pool.close().await;
        Ok(tokens)
    }

    /// `pairs` direct conversations between two users each (`p00000a` and
    /// `p00000b`, …), every user with a session: each conversation's id and
    /// its two members' cookie tokens.
    pub(crate) async fn seed_pairs(
        &self,
        pairs: usize,
    ) -> Result<Vec<(ConversationId, [Session; 2])>, String> {
        Ok(self
            .seed_conversations("p", pairs)
            .await?
            .into_iter()
            .map(|(conversation, [(_, a), (_, b)])| (conversation, [a, b]))
            .collect())
    }

    /// `pairs` direct conversations between two people each (`c00000a` and
    /// `c00000b`, …), every one with a session: each conversation's id and
    /// its two members with their cookie tokens.
    pub(crate) async fn seed_crowd(
        &self,
        pairs: usize,
    ) -> Result<Vec<(ConversationId, [(UserId, String); 2])>, String> {
        Ok(self
            .seed_conversations("c", pairs)
            .await?
            .into_iter()
            .map(|(conversation, [(a, sa), (b, sb)])| {
                (conversation, [(a, sa.token), (b, sb.token)])
            })
            .collect())
    }

    /// `pairs` direct conversations between `<prefix>00000a` and
    /// `<prefix>00000b`, …, each member with a session.
    async fn seed_conversations(
        &self,
        prefix: &str,
        pairs: usize,
    ) -> Result<Vec<(ConversationId, [(UserId, Session); 2])>, String> {
        let pool = self.open().await?;
        let hash = shared_password_hash().await?;
        let mut seeded = Vec::with_capacity(pairs);
        for i in 0..pairs {
            let a = seed_user(&pool, &format!("{prefix}{i:05}a"), &hash).await?;
            let b = seed_user(&pool, &format!("{prefix}{i:05}b"), &hash).await?;
            let conversation = natter::store::conversations::open_direct(&pool, a.0, b.0)
                .await
                .map_err(|e| format!("conversation {i}: {e}"))?;
            seeded.push((conversation, [a, b]));
        }
        pool.close().await;
        Ok(seeded)
    }

    /// One group of `members` users (`g00000`, …), each with a session,
    /// created by the first as the page does it (with its first note): the
    /// group's id and every member's login, in member order.
    pub(crate) async fn seed_group(
        &self,
        members: usize,
    ) -> Result<(ConversationId, Vec<Session>), String> {
        let pool = self.open().await?;
        let hash = shared_password_hash().await?;
        let mut ids = Vec::with_capacity(members);
        let mut sessions = Vec::with_capacity(members);
        for i in 0..members {
            let (id, session) = seed_user(&pool, &format!("g{i:05}"), &hash).await?;
            ids.push(id);
            sessions.push(session);
        }
        let note = natter::store::groups::Note {
            text: "created the group",
            client_id: "group-created",
        };
        let created = natter::store::groups::create(&pool, ids[0], "Everyone", &ids[1..], &note)
            .await
            .map_err(|e| format!("creating the group: {e}"))?;
        pool.close().await;
        Ok((created.conversation_id, sessions))
    }

    /// A direct conversation between `hist-reader` and `hist-writer` that
    /// holds `messages` messages, `history-1 …` to `history-<messages> …`.
    pub(crate) async fn seed_history(&self, messages: usize) -> Result<SeededHistory, String> {
        let pool = self.open().await?;
        let hash = shared_password_hash().await?;
        let (reader, Session { token, .. }) = seed_user(&pool, "hist-reader", &hash).await?;
        let (writer, _) = seed_user(&pool, "hist-writer", &hash).await?;
        let conversation = natter::store::conversations::open_direct(&pool, reader, writer)
            .await
            .map_err(|e| format!("conversation: {e}"))?;
        insert_history(&pool, conversation, [reader, writer], messages).await?;
        let bounds = natter::on_pool!(&pool, p => {
            sqlx::query_as("SELECT MIN(id), MAX(id) FROM messages WHERE conversation_id = $1")
                .bind(conversation)
                .fetch_one(p)
                .await
        });
        let (first_id, last_id): (i64, i64) = bounds.map_err(|e| e.to_string())?;
        pool.close().await;
        Ok(SeededHistory {
            conversation,
            reader_token: token,
            first_id,
            last_id,
        })
    }

    /// The search scenario's database: `conversations` direct conversations,
    /// the first fiftieth of them (at least two) the searcher's (with
    /// `sp00000`, …), the rest between others (`sx00000a` and `sx00000b`, …),
    /// and `messages` messages spread over all of them in rounds, one per
    /// conversation per round, as if they were all chatting at once. Message
    /// `n` (counting over all) reads `c<n % 11> m<n % 997> r<n % 99991>` and
    /// the filler: words in about 9 % of messages, in 0.1 %, and in 0.001 %.
    /// Members take turns writing: the searcher writes the even rounds of
    /// theirs.
    pub(crate) async fn seed_search(
        &self,
        conversations: usize,
        messages: usize,
    ) -> Result<SeededSearch, String> {
        let pool = self.open().await?;
        let hash = shared_password_hash().await?;
        let (searcher, session) = seed_user(&pool, "searcher", &hash).await?;
        let theirs = (conversations / 50).max(2).min(conversations);
        let mut ids = Vec::with_capacity(conversations);
        for i in 0..conversations {
            let (a, b) = if i < theirs {
                let (partner, _) = seed_user(&pool, &format!("sp{i:05}"), &hash).await?;
                (searcher, partner)
            } else {
                let (a, _) = seed_user(&pool, &format!("sx{i:05}a"), &hash).await?;
                let (b, _) = seed_user(&pool, &format!("sx{i:05}b"), &hash).await?;
                (a, b)
            };
            let conversation = natter::store::conversations::open_direct(&pool, a, b)
                .await
                .map_err(|e| format!("conversation {i}: {e}"))?;
            ids.push(conversation);
        }
        let (first, last) = (ids[0], ids[ids.len() - 1]);
        if last.get() - first.get() + 1 != conversations as i64 {
            return Err("the search conversations' ids are not one run".into());
        }
        let rounds = messages.div_ceil(conversations);
        let start = time::OffsetDateTime::now_utc() - time::Duration::seconds(rounds as i64);
        for round in 0..rounds {
            // One message in every conversation, then their logs move on.
            let inserted = natter::on_pool!(&pool, p => {
                sqlx::query(
                    "INSERT INTO messages
                        (conversation_id, seq, changed_seq, sender_id, body, client_id, created_at)
                     SELECT c.id, c.last_seq + 1, c.last_seq + 1,
                        (SELECT CASE WHEN $1 % 2 = 0 THEN MIN(user_id) ELSE MAX(user_id) END
                         FROM members WHERE conversation_id = c.id),
                        'c' || (($1 * $2 + c.id - $3) % 11) || ' m' || (($1 * $2 + c.id - $3) % 997)
                            || ' r' || (($1 * $2 + c.id - $3) % 99991) || ' ' || $4,
                        's' || $1 || '-' || c.id, $5
                     FROM conversations c WHERE c.id BETWEEN $3 AND $6",
                )
                .bind(round as i64)
                .bind(conversations as i64)
                .bind(first)
                .bind(FILLER)
                .bind(start + time::Duration::seconds(round as i64))
                .bind(last)
                .execute(p)
                .await
                .map(drop)
            });
            inserted.map_err(|e| format!("round {round} of messages: {e}"))?;
            let numbered = natter::on_pool!(&pool, p => {
                sqlx::query("UPDATE conversations SET last_seq = last_seq + 1 WHERE id BETWEEN $1 AND $2")
                    .bind(first)
                    .bind(last)
                    .execute(p)
                    .await
                    .map(drop)
            });
            numbered.map_err(|e| format!("round {round}: {e}"))?;
        }
        // The index built again over every message, as the migration builds
        // it for a database that already has them.
        let building = std::time::Instant::now();
        let rebuilt = natter::on_pool!(&pool, p => {
            sqlx::raw_sql(if self.postgres.is_some() {
                "ALTER TABLE messages DROP COLUMN search;
                 ALTER TABLE messages ADD COLUMN search tsvector
                     GENERATED ALWAYS AS (natter_search_vector(body)) STORED;
                 CREATE INDEX messages_search ON messages USING GIN (search);
                 ANALYZE messages;"
            } else {
                "INSERT INTO messages_search (messages_search) VALUES ('rebuild');
                 ANALYZE;"
            })
            .execute(p)
            .await
            .map(drop)
        });
        rebuilt.map_err(|e| format!("building the search index: {e}"))?;
        let index_seconds = building.elapsed().as_secs_f64();
        let size = natter::on_pool!(&pool, p => {
            sqlx::query_scalar::<_, i64>(if self.postgres.is_some() {
                "SELECT pg_database_size(current_database())"
            } else {
                "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()"
            })
            .fetch_one(p)
            .await
        });
        let database_bytes = size.map_err(|e| format!("the database's size: {e}"))?;
        pool.close().await;
        Ok(SeededSearch {
            searcher_token: session.token,
            searcher_conversations: ids[..theirs].to_vec(),
            rounds,
            index_seconds,
            database_bytes,
        })
    }

    /// Every message of the chat scenarios, deleted ones included: id,
    /// conversation, body, whether deleted, whether edited.
    pub(crate) async fn chat_rows(&self) -> Result<Vec<ChatRow>, String> {
        let pool = self.open().await?;
        let rows = natter::on_pool!(&pool, p => {
            sqlx::query_as(
                "SELECT id, conversation_id, body, deleted_at IS NOT NULL, edited_at IS NOT NULL
                 FROM messages WHERE body LIKE 'bench-%' OR deleted_at IS NOT NULL",
            )
            .fetch_all(p)
            .await
        });
        pool.close().await;
        rows.map_err(|e| format!("reading messages: {e}"))
    }

    /// The chat messages stored so far (bodies starting with `bench-`): how
    /// many rows, how many distinct client ids, and their bodies.
    pub(crate) async fn chat_messages(&self) -> Result<StoredChat, String> {
        // The servers keep running; on SQLite (WAL) a second connection reads fine.
        let pool = self.open().await?;
        let counted = natter::on_pool!(&pool, p => {
            sqlx::query_as(
                "SELECT COUNT(*), COUNT(DISTINCT client_id) FROM messages WHERE body LIKE 'bench-%'",
            )
            .fetch_one(p)
            .await
        });
        let (rows, distinct_client_ids): (i64, i64) =
            counted.map_err(|e| format!("counting messages: {e}"))?;
        let bodies: Result<Vec<String>, _> = natter::on_pool!(&pool, p => {
            sqlx::query_scalar("SELECT body FROM messages WHERE body LIKE 'bench-%'")
                .fetch_all(p)
                .await
        });
        let bodies = bodies.map_err(|e| format!("reading messages: {e}"))?;
        pool.close().await;
        Ok(StoredChat {
            rows,
            distinct_client_ids,
            bodies,
        })
    }
}

/// A chat message as stored: id, conversation, body, deleted, edited.
pub(crate) type ChatRow = (i64, ConversationId, String, bool, bool);

/// The seeded history conversation.
pub(crate) struct SeededHistory {
    pub(crate) conversation: ConversationId,
    /// The session cookie token of the member who opens it.
    pub(crate) reader_token: String,
    /// Ids of its oldest and newest message.
    pub(crate) first_id: i64,
    pub(crate) last_id: i64,
}

/// The search scenario's database.
pub(crate) struct SeededSearch {
    /// The session cookie token of the one who searches.
    pub(crate) searcher_token: String,
    /// The conversations they are in.
    pub(crate) searcher_conversations: Vec<ConversationId>,
    /// Messages per conversation.
    pub(crate) rounds: usize,
    /// Building the search index over all of them, as the migration does.
    pub(crate) index_seconds: f64,
    /// The whole database's size on disk, index included.
    pub(crate) database_bytes: i64,
}

/// The chat messages as stored, read back for the correctness check.
pub(crate) struct StoredChat {
    pub(crate) rows: i64,
    pub(crate) distinct_client_ids: i64,
    pub(crate) bodies: Vec<String>,
}

/// Stores `messages` messages in `conversation`, `history-1 …` to
/// `history-<messages> …`, all at the same moment: the odd-numbered ones from
/// `senders[1]`, the even-numbered ones from `senders[0]`. Every message the
/// bench writes into a database itself goes through here (the chat scenarios
/// send theirs through the servers).
async fn insert_history(
    pool: &Pool,
    conversation: ConversationId,
    senders: [UserId; 2],
    messages: usize,
) -> Result<(), String> {
    // One statement: a hundred thousand round trips through sqlx would take
    // longer than the measurement.
    let inserted = natter::on_pool!(pool, p => {
        sqlx::query(
            "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < $1)
             INSERT INTO messages (conversation_id, seq, sender_id, body, client_id, created_at)
             SELECT $2, (SELECT last_seq FROM conversations WHERE id = $3) + n,
                    CASE WHEN n % 2 = 0 THEN $4 ELSE $5 END,
                    'history-' || n || ' ' || $6, 'h' || n, $7
             FROM seq",
        )
        .bind(messages as i64)
        .bind(conversation)
        .bind(conversation)
        .bind(senders[0])
        .bind(senders[1])
        .bind(FILLER)
        .bind(time::OffsetDateTime::now_utc())
        .execute(p)
        .await
        .map(|done| done.rows_affected())
    });
    let inserted = inserted.map_err(|e| format!("inserting the history: {e}"))?;
    // The conversation's change log goes on after them.
    let numbered = natter::on_pool!(pool, p => {
        sqlx::query("UPDATE conversations SET last_seq = last_seq + $1 WHERE id = $2")
            .bind(inserted as i64)
            .bind(conversation)
            .execute(p)
            .await
            .map(drop)
    });
    numbered.map_err(|e| format!("numbering the history: {e}"))?;
    Ok(())
}

/// Runs one statement on a PostgreSQL server's maintenance database.
async fn postgres_admin(server: &str, sql: &str) -> Result<(), String> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&format!("{server}/postgres"))
        .await
        .map_err(|e| format!("connecting to {server}: {e}"))?;
    let result = sqlx::query(sql).execute(&mut conn).await;
    let _ = conn.close().await;
    result.map(drop).map_err(|e| format!("{sql}: {e}"))
}

/// One argon2 hash, shared by every seeded user (nobody logs in with it).
async fn shared_password_hash() -> Result<String, String> {
    natter::auth::hash_password("bench password, never used to log in".into())
        .await
        .map_err(|e| format!("hashing: {e}"))
}

/// A user with a live session; returns the user id and the cookie token.
async fn seed_user(pool: &Pool, name: &str, hash: &str) -> Result<(UserId, Session), String> {
    let user = natter::store::users::create(pool, name, hash)
        .await
        .map_err(|e| format!("creating {name}: {e}"))?;
    let session = Session {
        token: natter::auth::random_token(),
        csrf: natter::auth::random_token(),
    };
    let expires_at = time::OffsetDateTime::now_utc() + time::Duration::days(1);
    natter::store::sessions::create(
        pool,
        &natter::auth::token_hash(&session.token),
        user.id,
        &session.csrf,
        expires_at,
    )
    .await
    .map_err(|e| format!("session for {name}: {e}"))?;
    Ok((user.id, session))
}

/// A seeded login: the session cookie's token and the session's form token.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub(crate) token: String,
    pub(crate) csrf: String,
}

/// Runs a scenario on a database of its own, removed afterwards (whether the
/// scenario succeeded or not).
pub(crate) async fn on_fresh_database<T>(
    options: &Options,
    scenario: impl AsyncFnOnce(&Database) -> Result<T, String>,
) -> Result<T, String> {
    let database = Database::fresh(options).await?;
    let result = scenario(&database).await;
    database.remove().await;
    result
}
