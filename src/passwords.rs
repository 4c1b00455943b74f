//! Password hashing with argon2id (the crate's defaults: m=19 MiB, t=2, p=1,
//! OWASP's recommendation), one hash per core at a time, each in a block of
//! memory that is reused rather than allocated anew: with a fresh 19 MiB per
//! hash, the system allocator kept what a burst of logins had taken
//! (hundreds of MiB, never given back; see `benches/README.md`).

use std::sync::{LazyLock, Mutex, PoisonError};

use argon2::password_hash::{Output, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::rngs::OsRng;
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::error::{Error, Result};
use crate::limits::HASHING_QUEUE_WAIT;

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

/// Hashes computed at once: each takes a core, so more only adds memory.
static HASHING: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(cores()));

/// argon2's working memory, kept between hashes (at most one per core).
static MEMORY: Mutex<Vec<Vec<Block>>> = Mutex::new(Vec::new());

/// Waits for a turn to hash; a request that would wait longer than
/// `HASHING_QUEUE_WAIT` is answered at once with "try again" instead.
async fn hashing_turn() -> Result<SemaphorePermit<'static>> {
    match tokio::time::timeout(HASHING_QUEUE_WAIT, HASHING.acquire()).await {
        Ok(Ok(permit)) => Ok(permit),
        Ok(Err(_)) => Err(Error::Internal("the hashing semaphore closed".into())),
        Err(_) => Err(Error::TooMany(
            "The server is busy signing people in. Try again in a moment.".into(),
        )),
    }
}

/// Runs argon2 over `password` and the salt's bytes into an output of
/// `output_len` bytes, in reused working memory.
fn compute(
    argon2: &Argon2<'_>,
    params: &Params,
    password: &[u8],
    salt: &[u8],
    output_len: usize,
) -> std::result::Result<Output, argon2::password_hash::Error> {
    let taken = MEMORY.lock().unwrap_or_else(PoisonError::into_inner).pop();
    let mut blocks = taken.unwrap_or_default();
    blocks.resize(params.block_count(), Block::default());
    let output = Output::init_with(output_len, |out| {
        argon2
            .hash_password_into_with_memory(password, salt, out, &mut blocks[..])
            .map_err(argon2::password_hash::Error::from)
    });
    let mut memory = MEMORY.lock().unwrap_or_else(PoisonError::into_inner);
    if memory.len() < cores() {
        memory.push(blocks);
    }
    output
}

/// A new PHC string (`$argon2id$v=19$m=…`) for `password`, as argon2's own
/// `PasswordHasher` writes it.
fn hash_now(password: &str) -> std::result::Result<String, argon2::password_hash::Error> {
    let params = Params::default();
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_bytes = [0u8; 64];
    let salt_raw = salt.as_salt().decode_b64(&mut salt_bytes)?;
    let output_len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let hash = compute(&argon2, &params, password.as_bytes(), salt_raw, output_len)?;
    Ok(PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: (&params).try_into()?,
        salt: Some(salt.as_salt()),
        hash: Some(hash),
    }
    .to_string())
}

/// Whether `password` gives the stored PHC string `stored`, with the
/// algorithm, version and parameters it names. The outputs are compared in
/// constant time (`Output`'s equality).
fn matches(password: &str, stored: &str) -> bool {
    let check = || -> std::result::Result<bool, argon2::password_hash::Error> {
        let parsed = PasswordHash::new(stored)?;
        let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
            return Ok(false);
        };
        let algorithm = Algorithm::try_from(parsed.algorithm)?;
        let version = parsed.version.map(Version::try_from).transpose()?;
        let params = Params::try_from(&parsed)?;
        let argon2 = Argon2::new(algorithm, version.unwrap_or_default(), params.clone());
        let mut salt_bytes = [0u8; 64];
        let salt_raw = salt.decode_b64(&mut salt_bytes)?;
        let computed = compute(
            &argon2,
            &params,
            password.as_bytes(),
            salt_raw,
            expected.len(),
        )?;
        Ok(computed == expected)
    };
    check().unwrap_or(false)
}

/// Hashes a password on a blocking thread so the runtime never stalls.
pub async fn hash_password(password: String) -> Result<String> {
    let _turn = hashing_turn().await?;
    tokio::task::spawn_blocking(move || {
        hash_now(&password).map_err(|e| Error::Internal(format!("hashing failed: {e}")))
    })
    .await
    .map_err(|e| Error::Internal(format!("hashing task failed: {e}")))?
}

/// A hash of a random password, verified when a username does not exist so
/// that "no such user" takes as long as "wrong password".
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    let random_password = SaltString::generate(&mut OsRng);
    hash_now(random_password.as_str()).unwrap_or_default()
});

/// Checks a password against a stored hash (or the dummy hash when `hash` is
/// `None`), on a blocking thread.
pub async fn verify_password(password: String, hash: Option<String>) -> Result<bool> {
    let _turn = hashing_turn().await?;
    tokio::task::spawn_blocking(move || {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| DUMMY_HASH.clone());
        known && matches(&password, &hash)
    })
    .await
    .map_err(|e| Error::Internal(format!("verification task failed: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    #[test]
    fn our_hashes_verify_with_argon2s_own_verifier_and_back() {
        let ours = hash_now("correct horse battery staple").unwrap();
        assert!(
            ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{ours}"
        );
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default()
            .verify_password(b"correct horse battery staple", &parsed)
            .is_ok());
        assert!(Argon2::default()
            .verify_password(b"wrong", &parsed)
            .is_err());

        let salt = SaltString::generate(&mut OsRng);
        let theirs = Argon2::default()
            .hash_password(b"another password", &salt)
            .unwrap()
            .to_string();
        assert!(matches("another password", &theirs));
        assert!(!matches("another passwore", &theirs));
        assert!(!matches("anything", "not a hash"));
    }

    #[test]
    fn other_parameters_in_a_stored_hash_are_honoured() {
        let params = Params::new(8 * 1024, 1, 1, None).unwrap();
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let salt = SaltString::generate(&mut OsRng);
        let stored = argon2.hash_password(b"weaker", &salt).unwrap().to_string();
        assert!(matches("weaker", &stored));
        assert!(!matches("stronger", &stored));
    }
}
