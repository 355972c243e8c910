//! The compliance API: RFC 6749 tokens, accounts, customers, transactions.

use std::{collections::HashMap, sync::Arc};

use axum::{
    body::Bytes,
    extract::{FromRequest, Multipart, State},
    http::{header, HeaderMap},
    response::{IntoResponse, Response},
    routing::{on, MethodFilter, MethodRouter},
    Json,
};
use preventor::compliance::types;
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::{
    reply::{bad_request, basic, bearer, check_tenant, json_body, not_found, oauth_error, Reply},
    state::AppState,
};

type S = State<Arc<AppState>>;

/// The handler of a compliance operation, by operationId (its method and path come from the
/// documents, through [`preventor::operations`]).
pub(crate) fn handler(id: &str, method: MethodFilter) -> Option<MethodRouter<Arc<AppState>>> {
    Some(match id {
        "oauthToken" => on(method, token),
        "accountOnboarding" => on(method, account),
        "customerOnboarding" | "customerMaintenance" => on(method, customer),
        "getCustomer" => on(method, get_customer),
        "registerMonetaryTransaction" => on(method, transaction),
        _ => return None,
    })
}

async fn token(State(state): S, headers: HeaderMap, body: Bytes) -> Reply {
    let c = &state.config.credentials;
    check_tenant(&headers, c)?;
    match basic(&headers) {
        Some((id, secret)) if id == c.client_id && secret == c.client_secret => {}
        _ => {
            return Err(oauth_error(
                401,
                "invalid_client",
                "client authentication failed",
            ))
        }
    }
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form_type {
        let message = "Content-Type must be application/x-www-form-urlencoded";
        return Err(oauth_error(400, "invalid_request", message));
    }
    let form: HashMap<String, String> = url_form(&body);
    let mut data = state.data();
    match form.get("grant_type").map(String::as_str) {
        Some("password") => {
            if form.get("username") != Some(&c.username)
                || form.get("password") != Some(&c.password)
            {
                return Err(oauth_error(
                    400,
                    "invalid_grant",
                    "bad username or password",
                ));
            }
        }
        Some("refresh_token") => {
            let known = form
                .get("refresh_token")
                .is_some_and(|t| data.refresh_tokens.remove(t).is_some());
            if !known {
                return Err(oauth_error(
                    400,
                    "invalid_grant",
                    "unknown or used refresh token",
                ));
            }
        }
        Some(_) => {
            let message = "use password or refresh_token";
            return Err(oauth_error(400, "unsupported_grant_type", message));
        }
        None => {
            return Err(oauth_error(
                400,
                "invalid_request",
                "grant_type is required",
            ))
        }
    }
    let access = format!("sbx-at-{}", state.new_id());
    let refresh = format!("sbx-rt-{}", state.new_id());
    let lifetime = state.config.token_lifetime;
    data.access_tokens
        .insert(access.clone(), Instant::now() + lifetime);
    data.refresh_tokens.insert(refresh.clone(), ());
    Ok(Json(json!({
        "access_token": access,
        "token_type": "bearer",
        "expires_in": lifetime.as_secs(),
        "refresh_token": refresh,
        "scope": form.get("scope").cloned().unwrap_or_else(|| "read".into()),
        "jti": state.new_id(),
    }))
    .into_response())
}

fn url_form(body: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

/// Tenant headers and a live access token.
fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), Response> {
    check_tenant(headers, &state.config.credentials)?;
    let live = bearer(headers).is_some_and(|t| {
        state
            .data()
            .access_tokens
            .get(t)
            .is_some_and(|expiry| Instant::now() < *expiry)
    });
    if live {
        Ok(())
    } else {
        Err(oauth_error(
            401,
            "invalid_token",
            "access token missing, unknown or expired",
        ))
    }
}

fn ack(message: &str, id: &str) -> Response {
    Json(json!({"status": "200", "code": "OK", "message": message, "id": id})).into_response()
}

async fn account(State(state): S, headers: HeaderMap, body: Bytes) -> Reply {
    authorize(&state, &headers)?;
    let account: types::Account = json_body(&headers, &body)?;
    let id = account.id.to_string();
    let value = serde_json::to_value(&account).unwrap_or_default();
    let mut data = state.data();
    let data = &mut *data;
    let message = apply(
        &mut data.accounts,
        &mut data.duplicates,
        "account",
        &id,
        account.request_type,
        value,
    )?;
    Ok(ack(&message, &id))
}

async fn customer(State(state): S, headers: HeaderMap, body: Bytes) -> Reply {
    authorize(&state, &headers)?;
    let customer: types::Customer = json_body(&headers, &body)?;
    let id = customer.id.to_string();
    let value = serde_json::to_value(&customer).unwrap_or_default();
    let mut data = state.data();
    let data = &mut *data;
    let message = apply(
        &mut data.customers,
        &mut data.duplicates,
        "customer",
        &id,
        customer.request_type,
        value,
    )?;
    Ok(ack(&message, &id))
}

/// `request_type` semantics: A adds (400 if the id exists), U merges (404 if unknown),
/// D deletes (404 if unknown). Nested lists follow their items' own `request_type`.
fn apply(
    table: &mut HashMap<String, Value>,
    duplicates: &mut u64,
    kind: &str,
    id: &str,
    request_type: types::RequestType,
    value: Value,
) -> Result<String, Response> {
    match request_type {
        types::RequestType::A => {
            if table.contains_key(id) {
                *duplicates += 1;
                return Err(bad_request(format!(
                    "{kind} {id} already exists; use request_type U to update it"
                )));
            }
            let mut value = value;
            for list in value
                .as_object_mut()
                .into_iter()
                .flat_map(|o| o.values_mut())
            {
                if let Value::Array(items) = list {
                    let mut seen = std::collections::HashSet::new();
                    for item in items.iter() {
                        if item.get("request_type") != Some(&json!("A")) {
                            return Err(bad_request(format!(
                                "{kind} {id}: items of a new {kind} must have request_type A"
                            )));
                        }
                        if !seen.insert(item.get("id").cloned()) {
                            return Err(bad_request(format!(
                                "{kind} {id}: duplicate item id {}",
                                item["id"]
                            )));
                        }
                    }
                }
            }
            table.insert(id.to_string(), value);
            Ok(format!("{kind} created"))
        }
        types::RequestType::U => {
            let stored = table
                .get_mut(id)
                .ok_or_else(|| not_found(format!("{kind} {id} does not exist")))?;
            let mut merged = stored.clone();
            merge(&mut merged, value, kind, id)?;
            *stored = merged;
            Ok(format!("{kind} updated"))
        }
        types::RequestType::D => {
            table
                .remove(id)
                .ok_or_else(|| not_found(format!("{kind} {id} does not exist")))?;
            Ok(format!("{kind} deleted"))
        }
    }
}

fn merge(stored: &mut Value, update: Value, kind: &str, id: &str) -> Result<(), Response> {
    let (Some(stored), Value::Object(update)) = (stored.as_object_mut(), update) else {
        return Ok(());
    };
    for (field, value) in update {
        if field == "request_type" || field == "id" {
            continue;
        }
        match value {
            Value::Array(items) => {
                let list = stored.entry(field.clone()).or_insert_with(|| json!([]));
                merge_items(list, items, &format!("{kind} {id} {field}"))?;
            }
            other => {
                stored.insert(field, other);
            }
        }
    }
    Ok(())
}

fn merge_items(list: &mut Value, items: Vec<Value>, what: &str) -> Result<(), Response> {
    let Value::Array(list) = list else {
        return Ok(());
    };
    for item in items {
        let item_id = item.get("id").cloned().unwrap_or(Value::Null);
        let position = list.iter().position(|i| i.get("id") == Some(&item_id));
        match (item.get("request_type").and_then(Value::as_str), position) {
            (Some("A"), None) => list.push(item),
            (Some("A"), Some(_)) => {
                return Err(bad_request(format!(
                    "{what}: item {item_id} already exists"
                )))
            }
            (Some("U"), Some(p)) => {
                if let (Some(target), Value::Object(fields)) = (list[p].as_object_mut(), item) {
                    for (k, v) in fields {
                        target.insert(k, v);
                    }
                }
            }
            (Some("D"), Some(p)) => {
                list.remove(p);
            }
            (_, None) => return Err(not_found(format!("{what}: item {item_id} does not exist"))),
            _ => {
                return Err(bad_request(format!(
                    "{what}: item {item_id} has no valid request_type"
                )))
            }
        }
    }
    Ok(())
}

async fn get_customer(State(state): S, mut request: axum::extract::Request) -> Reply {
    authorize(&state, request.headers())?;
    // The page's own curl sends its `--form` with `Content-Type: application/json`, so curl
    // sends `application/json; boundary=...`: a multipart body under another type. Accept it.
    let boundary = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(boundary_of);
    if let Some(boundary) = boundary {
        if let Ok(value) = format!("multipart/form-data; boundary={boundary}").parse() {
            request.headers_mut().insert(header::CONTENT_TYPE, value);
        }
    }
    let mut multipart = Multipart::from_request(request, &state)
        .await
        .map_err(|_| bad_request("body must be multipart/form-data with a cifCod part"))?;
    let mut cif = None;
    loop {
        match multipart.next_field().await {
            Ok(None) => break,
            Ok(Some(field)) if field.name() == Some("cifCod") && cif.is_none() => {
                cif = field.text().await.ok();
            }
            Ok(Some(_)) | Err(_) => {
                return Err(bad_request("the form must have exactly one part, cifCod"))
            }
        }
    }
    let cif = cif
        .filter(|c| types::Id::try_from(c.as_str()).is_ok())
        .ok_or_else(|| bad_request("cifCod is required (1 to 128 characters)"))?;
    match state.data().customers.get(&cif) {
        Some(customer) => Ok(Json(customer.clone()).into_response()),
        None => Err(not_found(format!("customer {cif} does not exist"))),
    }
}

/// The `boundary` parameter of a Content-Type value, whatever its media type.
fn boundary_of(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        (name.trim().eq_ignore_ascii_case("boundary"))
            .then(|| value.trim().trim_matches('"').to_string())
            .filter(|b| !b.is_empty())
    })
}

async fn transaction(State(state): S, headers: HeaderMap, body: Bytes) -> Reply {
    authorize(&state, &headers)?;
    let tx: types::MonetaryTransaction = json_body(&headers, &body)?;
    let id = tx.id.to_string();
    let account = tx.account_number.to_string();
    let mut data = state.data();
    let known = data
        .accounts
        .values()
        .any(|a| a.get("account_number").and_then(Value::as_str) == Some(account.as_str()));
    if !known && !state.config.accept_unknown_accounts {
        return Err(not_found(format!("account {account} does not exist")));
    }
    if data.transactions.contains(id.as_str()) {
        data.duplicates += 1;
        return Err(bad_request(format!("transaction {id} already exists")));
    }
    data.transactions.insert(id.as_str().into());
    data.arrivals
        .entry(account.into_boxed_str())
        .or_default()
        .push(id.as_str().into());
    Ok(ack("transaction registered", &id))
}
