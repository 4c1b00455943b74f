//! Health checks for load balancers and service managers: `/healthz`
//! answers while the process runs, `/readyz` only while it can serve
//! (database reachable, migrations applied, writer running).

use rocket::http::Status;
use rocket::State;

use crate::chat::health;
use crate::store::writer::Writer;
use crate::store::Db;

#[rocket::get("/healthz")]
fn healthz() -> &'static str {
    "ok"
}

#[rocket::get("/readyz")]
async fn readyz(db: &Db, writer: &State<Writer>) -> (Status, String) {
    match health::readiness(db.pool(), writer).await {
        Ok(()) => (Status::Ok, "ready".into()),
        Err(why) => (Status::ServiceUnavailable, format!("not ready: {why}")),
    }
}

pub fn routes() -> Vec<rocket::Route> {
    rocket::routes![healthz, readyz]
}
