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
use crate::store::{backup, Pool};

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

/// The configured database (migrated, as the server would) and settings.
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
    let pool = Pool::connect_with(&database)
        .await
        .map_err(|e| format!("cannot open the database {}: {e}", database.url))?;
    pool.migrate()
        .await
        .map_err(|e| format!("cannot migrate the database: {e}"))?;
    Ok((pool, settings))
}

async fn set_admin(username: &str, grant: bool) -> Result<String, String> {
    let (pool, settings) = open().await?;
    let user = admin::user_named(&pool, username)
        .await
        .map_err(|_| format!("there is no account named {username}"))?;
    let action = if grant {
        AccountAction::MakeAdmin
    } else {
        AccountAction::UnmakeAdmin
    };
    let done = admin::act_on_account(&pool, &Hub::new(), &settings.media_dir, None, user, action)
        .await
        .map_err(|e| e.public_message());
    pool.close().await;
    let name = done?;
    Ok(if grant {
        format!("{name} is an administrator")
    } else {
        format!("{name} is no longer an administrator")
    })
}

async fn make_backup(file: &Path) -> Result<String, String> {
    if file.exists() {
        return Err(format!("{} exists already", file.display()));
    }
    let (pool, settings) = open().await?;
    let copied = backup::copy_database(&pool, file)
        .await
        .map_err(|e| format!("the database could not be copied: {e}"));
    pool.close().await;
    copied?;
    let media = PathBuf::from(format!("{}.media", file.display()));
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
        if entry.file_type().await?.is_file() {
            tokio::fs::copy(entry.path(), to.join(entry.file_name())).await?;
            copied += 1;
        }
    }
    Ok(copied)
}
