//! The web view's request policy (`web::route`) on any request head, with and without a
//! token: never a panic, and a request without the token is never let in.
#![no_main]

use inception_edge::camera::web::{route, Route};
use libfuzzer_sys::fuzz_target;

const TOKEN: &str = "fuzz-token-0123456789";

fuzz_target!(|data: &[u8]| {
    let Ok(head) = std::str::from_utf8(data) else { return };
    let _ = route(head, None);
    let r = route(head, Some(TOKEN));
    if !head.contains(TOKEN) {
        assert!(
            matches!(r, Route::Unauthorized | Route::Refuse(..)),
            "let in without the token: {r:?}"
        );
    }
});
