//! `preventor customer get ID`: one customer, its personal data masked unless asked.

use crate::{
    output::Exit,
    target::{self, Needs},
};

/// Customer calls.
#[derive(clap::Subcommand, Debug)]
pub enum CustomerCommand {
    /// getCustomer: print a customer (personal data masked unless --show-personal-data).
    Get {
        /// The customer's id.
        id: String,
        /// Print names, addresses, phones, emails and document numbers in clear.
        #[arg(long)]
        show_personal_data: bool,
    },
}

/// Runs `customer get`.
pub async fn run(sandbox: bool, command: CustomerCommand, json: bool) -> Exit {
    let CustomerCommand::Get {
        id,
        show_personal_data,
    } = command;
    let clients = match target::clients(sandbox, Needs::Compliance).await {
        Ok(c) => c,
        Err(e) => return e.into(),
    };
    match clients.compliance.get_customer(&id).await {
        Ok(customer) => {
            let mut value = serde_json::to_value(&customer).unwrap_or_default();
            if !show_personal_data {
                preventor::redacted::mask_personal(&mut value);
            }
            out!(
                "{}",
                if json {
                    value.to_string()
                } else {
                    serde_json::to_string_pretty(&value).unwrap_or_default()
                }
            );
            Exit::Ok
        }
        Err(e) if e.is_not_found() => {
            eprintln!("customer {id} does not exist");
            Exit::Rejected
        }
        Err(e) => Exit::fatal(e.to_string()),
    }
}
