//! The one place where an error becomes an HTTP response.
//!
//! Bodies are generic JSON and never say what exactly failed; the detail goes to the log.

use serde::Serialize;
use worker::{console_error, Response};

/// Everything that can go wrong while the edge handles a request.
#[derive(Debug)]
pub enum EdgeError {
    /// The worker's configuration is missing or invalid (500). The text is for the log only.
    Config(String),
    /// The origin could not be reached or did not answer (502).
    OriginUnreachable(worker::Error),
    /// Any other failure inside the edge (500).
    Internal(worker::Error),
}

impl From<worker::Error> for EdgeError {
    fn from(err: worker::Error) -> Self {
        EdgeError::Internal(err)
    }
}

/// Status, machine-readable code and human message for each error: the error→HTTP table.
fn table(err: &EdgeError) -> (u16, &'static str, &'static str) {
    match err {
        EdgeError::Config(_) | EdgeError::Internal(_) => (
            500,
            "internal_error",
            "The gateway could not handle this request.",
        ),
        EdgeError::OriginUnreachable(_) => (502, "bad_gateway", "The origin could not be reached."),
    }
}

/// Logs `err` in full and answers with its generic JSON body and status.
pub fn error(err: &EdgeError) -> worker::Result<Response> {
    let (status, code, message) = table(err);
    match err {
        EdgeError::Config(detail) => console_error!("edgeauth: configuration error: {detail}"),
        EdgeError::OriginUnreachable(cause) => {
            console_error!("edgeauth: origin fetch failed: {cause}")
        }
        EdgeError::Internal(cause) => console_error!("edgeauth: internal error: {cause}"),
    }
    json(
        status,
        &serde_json::json!({ "error": code, "message": message }),
    )
    .map_err(|_| worker::Error::RustError(format!("could not build the {status} response")))
}

/// A JSON response with `status` that no cache keeps.
pub fn json<T: Serialize>(status: u16, body: &T) -> Result<Response, EdgeError> {
    let response = Response::from_json(body)?.with_status(status);
    response.headers().set("cache-control", "no-store")?;
    Ok(response)
}
