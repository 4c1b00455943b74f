//! The Natter server binary: everything lives in the library.
#[rocket::launch]
fn launch() -> _ {
    natter::rocket()
}
