//! Group commit. Every write on the hot path (saving a message, moving a read
//! position) is queued to one writer task, which applies whatever has queued
//! up in a single transaction, commits once (one fsync for the lot), and only
//! then answers each caller. A message is still confirmed only once it is
//! durable, but a thousand senders no longer wait for a thousand fsyncs, and
//! SQLite's single writer lock is never fought over.

use tokio::sync::{mpsc, oneshot};

use super::messages::{self, MessageKind, NewAttachment, NewMessage, Saved};
use super::{contacts, Pool, Tx};
use crate::domain::{ConversationId, MessageId, UserId};
use crate::error::{DatabaseFailure, Error, Result};

/// Most jobs committed in one transaction.
const MAX_BATCH: usize = 512;
/// Jobs waiting for the writer before callers wait to queue.
const QUEUE: usize = 8192;

/// A write to apply, and where to send its result once committed.
enum Job {
    Save {
        conversation_id: ConversationId,
        sender_id: UserId,
        body: String,
        client_id: String,
        attachment: Option<NewAttachment>,
        reply_to: Option<MessageId>,
        reply: oneshot::Sender<Result<Saved>>,
    },
    MarkRead {
        conversation_id: ConversationId,
        user_id: UserId,
        up_to: Option<MessageId>,
        reply: oneshot::Sender<Result<Option<MessageId>>>,
    },
}

/// What applying a job gave, kept until the transaction commits.
// Outcomes live only for one batch; boxing the larger one would cost an
// allocation per saved message on the hot path to save a few bytes of stack.
#[allow(clippy::large_enum_variant)]
enum Outcome {
    Saved(Result<Saved>),
    Read(Option<MessageId>),
}

impl Outcome {
    /// Whether it is a new message.
    fn created(&self) -> bool {
        matches!(self, Outcome::Saved(Ok(messages::Saved::Created(_))))
    }
}

/// The handle to the writer task.
#[derive(Clone)]
pub struct Writer {
    queue: mpsc::Sender<Job>,
    pool: Pool,
}

impl Writer {
    /// Whether the writer task is still there to take saves.
    pub fn is_running(&self) -> bool {
        !self.queue.is_closed()
    }

    /// Starts the writer task on `pool`.
    pub fn start(pool: Pool) -> Writer {
        let (queue, jobs) = mpsc::channel(QUEUE);
        tokio::spawn(run(pool.clone(), jobs));
        Writer { queue, pool }
    }

    /// The pool, for reads.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    async fn submit<T>(&self, job: Job, answer: oneshot::Receiver<Result<T>>) -> Result<T> {
        let stopped = || Error::Internal("the database writer has stopped".into());
        self.queue.send(job).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Saves a message (see `messages::save`), answering once it is durable.
    pub async fn save(
        &self,
        conversation_id: ConversationId,
        sender_id: UserId,
        body: &str,
        client_id: &str,
    ) -> Result<Saved> {
        self.save_with(conversation_id, sender_id, body, client_id, None, None)
            .await
    }

    /// Saves a message with an attached file (already on disk), answering
    /// `reply_to` (ignored unless it is a message of the same conversation).
    pub(crate) async fn save_with(
        &self,
        conversation_id: ConversationId,
        sender_id: UserId,
        body: &str,
        client_id: &str,
        attachment: Option<NewAttachment>,
        reply_to: Option<MessageId>,
    ) -> Result<Saved> {
        let (reply, answer) = oneshot::channel();
        let job = Job::Save {
            conversation_id,
            sender_id,
            body: body.to_owned(),
            client_id: client_id.to_owned(),
            attachment,
            reply_to,
            reply,
        };
        self.submit(job, answer).await
    }

    /// Moves a read position forward (see `contacts::mark_read_in`);
    /// returns the new position if it moved.
    pub async fn mark_read(
        &self,
        conversation_id: ConversationId,
        user_id: UserId,
        up_to: Option<MessageId>,
    ) -> Result<Option<MessageId>> {
        let (reply, answer) = oneshot::channel();
        let job = Job::MarkRead {
            conversation_id,
            user_id,
            up_to,
            reply,
        };
        self.submit(job, answer).await
    }
}

impl Job {
    fn conversation_id(&self) -> ConversationId {
        match self {
            Job::Save {
                conversation_id, ..
            }
            | Job::MarkRead {
                conversation_id, ..
            } => *conversation_id,
        }
    }

    /// The message a save job stores.
    fn new_message(&self) -> Option<NewMessage<'_>> {
        match self {
            Job::Save {
                conversation_id,
                sender_id,
                body,
                client_id,
                attachment,
                reply_to,
                ..
            } => Some(NewMessage {
                conversation_id: *conversation_id,
                sender_id: *sender_id,
                kind: MessageKind::Text,
                body,
                client_id,
                attachment: attachment.as_ref(),
                reply_to: *reply_to,
            }),
            Job::MarkRead { .. } => None,
        }
    }

    /// Fails the job's caller.
    fn fail(self, error: Error) {
        match self {
            Job::Save { reply, .. } => {
                let _ = reply.send(Err(error));
            }
            Job::MarkRead { reply, .. } => {
                let _ = reply.send(Err(error));
            }
        }
    }

    /// Sends the result; a caller that gave up waiting is no concern.
    fn answer(self, outcome: Result<Outcome, sqlx::Error>) {
        match (self, outcome) {
            (Job::Save { reply, .. }, Ok(Outcome::Saved(result))) => {
                let _ = reply.send(result);
            }
            (Job::MarkRead { reply, .. }, Ok(Outcome::Read(moved))) => {
                let _ = reply.send(Ok(moved));
            }
            (Job::Save { reply, .. }, Err(e)) => {
                let _ = reply.send(Err(e.into()));
            }
            (Job::MarkRead { reply, .. }, Err(e)) => {
                let _ = reply.send(Err(e.into()));
            }
            (Job::Save { reply, .. }, Ok(Outcome::Read(_))) => {
                let _ = reply.send(Err(Error::Internal("mismatched write outcome".into())));
            }
            (Job::MarkRead { reply, .. }, Ok(Outcome::Saved(_))) => {
                let _ = reply.send(Err(Error::Internal("mismatched write outcome".into())));
            }
        }
    }
}

async fn run(pool: Pool, mut jobs: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    // While one batch commits, the next one queues up: batches grow with load
    // on their own, with no timer adding delay when the server is quiet.
    while jobs.recv_many(&mut batch, MAX_BATCH).await > 0 {
        crate::metrics::writer_queue(jobs.len());
        commit(&pool, std::mem::take(&mut batch)).await;
    }
}

/// Applies a batch in one transaction. If the database fails part-way, the
/// batch is rolled back and each job is retried alone, so one bad write
/// cannot fail the others.
async fn commit(pool: &Pool, batch: Vec<Job>) {
    let started = std::time::Instant::now();
    match apply_all(pool, &batch).await {
        Ok(outcomes) => {
            crate::metrics::batch_committed(batch.len(), started.elapsed());
            crate::metrics::messages_committed(outcomes.iter().filter(|o| o.created()).count());
            for (job, outcome) in batch.into_iter().zip(outcomes) {
                job.answer(Ok(outcome));
            }
        }
        Err(e) if batch.len() == 1 => {
            if let Some(job) = batch.into_iter().next() {
                job.answer(Err(e));
            }
        }
        Err(e) if DatabaseFailure::of(&e) != DatabaseFailure::Other => {
            // A full disk or a lost database fails every write alike:
            // retrying each alone would only repeat the failure.
            rocket::warn!("a batch of {} writes failed ({e})", batch.len());
            let failure = DatabaseFailure::of(&e);
            for job in batch {
                job.fail(Error::shared(failure, &e));
            }
        }
        Err(e) => {
            rocket::warn!(
                "a batch of {} writes failed ({e}); retrying one by one",
                batch.len()
            );
            for job in batch {
                let outcome = apply_all(pool, std::slice::from_ref(&job))
                    .await
                    .map(|mut outcomes| outcomes.remove(0));
                let created = outcome.as_ref().is_ok_and(Outcome::created);
                crate::metrics::messages_committed(usize::from(created));
                job.answer(outcome);
            }
        }
    }
}

async fn apply_all(pool: &Pool, jobs: &[Job]) -> Result<Vec<Outcome>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    // Each save locks its conversation's row until the commit (it takes the
    // next sequence number there). Taking those locks in one order, lowest
    // conversation first, keeps two instances' batches from deadlocking; a
    // stable sort keeps each conversation's own order.
    let mut order: Vec<usize> = (0..jobs.len()).collect();
    order.sort_by_key(|&i| jobs[i].conversation_id());
    let mut outcomes: Vec<Option<Outcome>> = (0..jobs.len()).map(|_| None).collect();
    // Runs of saves go in a few statements whatever their length; a read
    // mark between them keeps its place in its conversation's order.
    let mut run: Vec<usize> = Vec::new();
    for i in order {
        match &jobs[i] {
            Job::Save { .. } => run.push(i),
            Job::MarkRead {
                conversation_id,
                user_id,
                up_to,
                ..
            } => {
                save_run(&mut tx, jobs, &mut run, &mut outcomes).await?;
                let moved =
                    match contacts::mark_read_in(&mut tx, *conversation_id, *user_id, *up_to).await
                    {
                        Ok(moved) => moved,
                        Err(Error::Database(e)) => return Err(e),
                        Err(other) => return Err(sqlx::Error::Protocol(other.to_string())),
                    };
                outcomes[i] = Some(Outcome::Read(moved));
            }
        }
    }
    save_run(&mut tx, jobs, &mut run, &mut outcomes).await?;
    let outcomes: Vec<Outcome> = outcomes.into_iter().flatten().collect();
    let sent: Vec<&messages::Message> = outcomes
        .iter()
        .filter_map(|outcome| match outcome {
            Outcome::Saved(Ok(messages::Saved::Created(message))) => Some(message),
            _ => None,
        })
        .collect();
    messages::senders_read_own_in(&mut tx, &sent).await?;
    tx.commit().await?;
    Ok(outcomes)
}

/// Saves the run of save jobs `run` (indices into `jobs`) in one go, and
/// empties it.
async fn save_run(
    tx: &mut Tx,
    jobs: &[Job],
    run: &mut Vec<usize>,
    outcomes: &mut [Option<Outcome>],
) -> Result<(), sqlx::Error> {
    let batch: Vec<NewMessage> = run.iter().filter_map(|&i| jobs[i].new_message()).collect();
    let saved = messages::save_many_in(tx, &batch).await?;
    for (i, saved) in run.drain(..).zip(saved) {
        outcomes[i] = Some(Outcome::Saved(saved));
    }
    Ok(())
}
