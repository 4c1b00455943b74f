//! The Natter binary: with no arguments it serves; with some it runs one of
//! the commands for whoever runs the server (`natter help`). Everything
//! lives in the library.

use std::process::ExitCode;

#[rocket::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.is_empty() {
        return natter::cli::run(&args).await;
    }
    let figment = natter::config::figment();
    match figment.extract::<natter::config::Settings>() {
        Ok(settings) => {
            if let Err(e) = natter::logs::init(&settings) {
                eprintln!("natter: logging: {e}");
                return ExitCode::FAILURE;
            }
        }
        Err(e) => {
            eprintln!("natter: configuration: {e}");
            return ExitCode::FAILURE;
        }
    }
    match natter::rocket_with(figment).launch().await {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("natter: {}", e.pretty_print());
            ExitCode::FAILURE
        }
    }
}
