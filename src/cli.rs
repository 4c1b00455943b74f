//! The binary's commands besides serving, for whoever runs the server:
//! `natter admin grant|revoke <username>` (recovering administration) and
//! `natter backup <file>` (a consistent copy of a running server's SQLite
//! database, with its files beside it). They read the same configuration
//! as the server.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use rocket::figment::providers::Serialized;

use crate::chat::admin::{self, AccountAction};
use crate::config::{self, Settings};
use crate::live::hub::Hub;
use crate::store::{self, backup, Pool};

const USAGE: &str = "usage:
  natter                          serve (configured by Rocket.toml and NATTER_* variables)
  natter admin grant <username>   make an account an administrator
  natter admin revoke <username>  make it an ordinary account again
  natter backup <file>            copy the SQLite database to <file> and the files to <file>.media/";

/// Runs the command `args` names (the arguments after the binary's name).
pub async fn run(args: &[String]) -> ExitCode {
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match words.as_slice() {
        ["admin", "grant", name] => set_admin(name, true).await,
        ["admin", "revoke", name] => set_admin(name, false).await,
        ["backup", file] => make_backup(Path::new(file)).await,
        ["help" | "--help" | "-h"] => Ok(USAGE.to_owned()),
        _ => Err(format!("not a command: {}\n\n{USAGE}", words.join(" "))),
    };
    match result {
        Ok(done) => {
            println!("{done}");
            ExitCode::SUCCESS
        }
        Err(why) => {
            eprintln!("natter: {why}");
            ExitCode::FAILURE
        }
    }
}

/// The configured database and settings. The database must exist and be
/// this version's (the server creates and migrates it): a command never
/// makes a new one or changes a schema under running servers.
async fn open() -> Result<(Pool, Settings), String> {
    let figment = config::figment();
    let settings: Settings = figment
        .extract()
        .map_err(|e| format!("the configuration is not valid: {e}"))?;
    // The same defaults the server's pool gets from Rocket.
    let database: rocket_db_pools::Config = figment
        .focus("databases.natter")
        .join(Serialized::default("connect_timeout", 5))
        .join(Serialized::default("max_connections", 2))
        .extract()
        .map_err(|e| format!("the database configuration is not valid: {e}"))?;
    if let Some(file) = store::sqlite_file(&database.url) {
        if !file.exists() {
            return Err(format!(
                "there is no database at {} (run this where the server runs, with its configuration)",
                file.display()
            ));
        }
    }
    let pool = Pool::connect_with(&database)
        .await
        .map_err(|e| format!("cannot open the database {}: {e}", database.url))?;
    if let Err(why) = store::health::readiness(&pool).await {
        pool.close().await;
        return Err(format!(
            "the database is not ready for this version of natter ({why}); start the server once to migrate it"
        ));
    }
    Ok((pool, settings))
}

async fn set_admin(username: &str, grant: bool) -> Result<String, String> {
    let (pool, settings) = open().await?;
    let done = async {
        let user = crate::chat::user_named(&pool, username)
            .await?
            .ok_or(crate::error::Error::NotFound)?
            .id;
        // Granting also reactivates: it is how a locked-out administrator
        // gets back in.
        let actions: &[AccountAction] = if grant {
            &[AccountAction::Reactivate, AccountAction::MakeAdmin]
        } else {
            &[AccountAction::UnmakeAdmin]
        };
        let mut name = String::new();
        for action in actions {
            name =
                admin::act_on_account(&pool, &Hub::new(), &settings.media_dir, None, user, *action)
                    .await?;
        }
        Ok::<_, crate::error::Error>(name)
    }
    .await
    .map_err(|e| match e {
        crate::error::Error::NotFound => format!("there is no account named {username}"),
        crate::error::Error::NotAllowed(why) => why.to_owned(),
        other => other.to_string(),
    });
    pool.close().await;
    let name = done?;
    Ok(if grant {
        format!("{name} is an administrator")
    } else {
        format!("{name} is no longer an administrator")
    })
}

async fn make_backup(file: &Path) -> Result<String, String> {
    let media = PathBuf::from(format!("{}.media", file.display()));
    for taken in [file, media.as_path()] {
        if taken.exists() {
            return Err(format!("{} exists already", taken.display()));
        }
    }
    let (pool, settings) = open().await?;
    let copied = backup::copy_database(&pool, file)
        .await
        .map_err(|e| format!("the database could not be copied: {e}"));
    pool.close().await;
    copied?;
    let files = copy_files(&settings.media_dir, &media)
        .await
        .map_err(|e| format!("the files could not be copied to {}: {e}", media.display()))?;
    Ok(format!(
        "copied the database to {} and {files} files to {}",
        file.display(),
        media.display()
    ))
}

/// Copies every file of `from` (files are stored by content hash and never
/// change, so copying them after the database misses nothing it names,
/// unless one is deleted meanwhile).
async fn copy_files(from: &Path, to: &Path) -> std::io::Result<usize> {
    tokio::fs::create_dir_all(to).await?;
    let mut copied = 0;
    let mut entries = match tokio::fs::read_dir(from).await {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    while let Some(entry) = entries.next_entry().await? {
        // An upload still being written is not a stored file yet.
        let partial = entry.file_name().to_string_lossy().contains(".part-");
        if entry.file_type().await?.is_file() && !partial {
            tokio::fs::copy(entry.path(), to.join(entry.file_name())).await?;
            copied += 1;
        }
    }
    Ok(copied)
}
