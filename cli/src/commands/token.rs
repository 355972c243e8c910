//! `preventor token`: checks the compliance credentials by obtaining a token (prints nothing
//! secret).

use crate::{
    output::Exit,
    target::{self, Needs},
};

/// Runs `token`.
pub async fn run(sandbox: bool, json: bool) -> Exit {
    let clients = match target::clients(sandbox, Needs::Compliance).await {
        Ok(c) => c,
        Err(e) => return e.into(),
    };
    match clients.compliance.authenticate().await {
        Ok(()) => {
            if json {
                out!("{}", serde_json::json!({"token": "obtained"}));
            } else {
                out!("credentials accepted: an access token was obtained");
            }
            Exit::Ok
        }
        Err(e) => Exit::fatal(format!("credentials refused: {e}")),
    }
}
