//! The biometrics API: process tokens, bio users, photo uploads, enroll results.

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::{Path, State},
    http::HeaderMap,
    response::{IntoResponse, Response},
    routing::{on, MethodFilter, MethodRouter},
    Json,
};
use preventor::biometrics::types;
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::{
    identity::Identity,
    reply::{bad_request, basic, bearer, check_tenant, error, json_body, not_found, Reply},
    state::{AppState, BioProcess, Upload},
};

type S = State<Arc<AppState>>;

/// Largest upload body accepted: four photos at the 1 MB limit as data URIs, and the JSON around.
const UPLOAD_LIMIT: usize = 4 * 1_398_127 + 4096;

/// The handler of a biometrics operation, by operationId (its method and path come from the
/// documents, through [`preventor::operations`]).
pub(crate) fn handler(id: &str, method: MethodFilter) -> Option<MethodRouter<Arc<AppState>>> {
    Some(match id {
        "bioToken" => on(method, token),
        "createBioUser" => on(method, create_user),
        // Four photos of 1 MB each, base64 in JSON: about 5.6 MB (axum's default limit is 2 MB).
        "uploadBioFiles" => {
            on(method, upload).layer(axum::extract::DefaultBodyLimit::max(UPLOAD_LIMIT))
        }
        "bioEnroll" => on(method, enroll),
        _ => return None,
    })
}

async fn token(State(state): S, headers: HeaderMap, body: Bytes) -> Reply {
    let c = &state.config.credentials;
    check_tenant(&headers, c)?;
    match basic(&headers) {
        Some((key, secret)) if key == c.api_key && secret == c.api_secret => {}
        _ => return Err(error(401, "UNAUTHORIZED", "API key or API secret is wrong")),
    }
    json_body::<types::BioTokenRequest>(&headers, &body)?;
    let token = format!("sbx-bio-{}", state.new_id());
    let expires = Instant::now() + state.config.bio_token_lifetime;
    state
        .data()
        .bio_tokens
        .insert(token.clone(), BioProcess { expires });
    Ok(Json(json!({"token": token})).into_response())
}

/// Tenant headers and a live process token; returns the token.
fn process(state: &AppState, headers: &HeaderMap) -> Result<String, Response> {
    check_tenant(headers, &state.config.credentials)?;
    let token = bearer(headers).unwrap_or_default().to_string();
    let live = state
        .data()
        .bio_tokens
        .get(&token)
        .is_some_and(|p| Instant::now() < p.expires);
    if live {
        Ok(token)
    } else {
        Err(error(
            401,
            "UNAUTHORIZED",
            "process token missing, unknown or expired",
        ))
    }
}

async fn create_user(State(state): S, headers: HeaderMap) -> Reply {
    let token = process(&state, &headers)?;
    let user_id = state.new_id();
    let mut data = state.data();
    // "One process at a time": a process token carries one bio user.
    if data
        .bio_users
        .values()
        .any(|owner| owner.as_str() == token.as_str())
    {
        return Err(error(
            400,
            "PROCESS_HAS_USER",
            "this process token already has a bio user: start a new process for another",
        ));
    }
    data.bio_users.insert(user_id.clone(), token);
    drop(data);
    let created = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    Ok(Json(json!({"userId": user_id, "create": created})).into_response())
}

/// The user exists and belongs to this process.
fn owned_user(state: &AppState, token: &str, user_id: &str) -> Result<(), Response> {
    match state.data().bio_users.get(user_id) {
        Some(owner) if owner == token => Ok(()),
        _ => Err(not_found(format!(
            "bio user {user_id} does not exist in this process"
        ))),
    }
}

/// A JPEG data URI of at most 1 MB, or what is wrong with it: the SDK's own rule
/// ([`preventor::redacted::PhotoDataUri`]), so that the sandbox refuses what the SDK refuses.
fn check_photo(field: &str, uri: &str) -> Result<(), String> {
    match preventor::redacted::PhotoDataUri::try_from(uri) {
        Ok(_) => Ok(()),
        Err(preventor::Error::InvalidInput { problem, .. }) => Err(format!("{field} {problem}")),
        Err(other) => Err(format!("{field}: {other}")),
    }
}

async fn upload(
    State(state): S,
    Path(user_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let token = process(&state, &headers)?;
    owned_user(&state, &token, &user_id)?;
    // Decode loosely first so that a bad photo gets a message naming it.
    let raw: Value = json_body(&headers, &body)?;
    let mut pictures = Vec::new();
    for set in ["portraits", "documents"] {
        for slot in ["picture1", "picture2"] {
            if let Some(uri) = raw.get(set).and_then(|s| s.get(slot)) {
                let field = format!("{set}.{slot}");
                let uri = uri
                    .as_str()
                    .ok_or_else(|| bad_request(format!("{field} must be a string")))?;
                check_photo(&field, uri).map_err(bad_request)?;
                pictures.push(uri.to_string());
            }
        }
    }
    let upload: types::BioUpload = serde_json::from_value(raw)
        .map_err(|_| bad_request("portraits.picture1 and documents.picture1 are required"))?;
    let identity = Identity::from_pictures(pictures.iter().map(String::as_str));
    let ticket = state.new_id();
    state.data().uploads.insert(
        ticket.clone(),
        Upload {
            user_id,
            identity,
            portrait: upload.portraits.picture1.expose().to_string(),
        },
    );
    Ok(Json(json!({"ticket": ticket})).into_response())
}

async fn enroll(
    State(state): S,
    Path((user_id, ticket)): Path<(String, String)>,
    headers: HeaderMap,
) -> Reply {
    let token = process(&state, &headers)?;
    owned_user(&state, &token, &user_id)?;
    let data = state.data();
    match data.uploads.get(&ticket) {
        Some(upload) if upload.user_id == user_id => {
            let mut result = enroll_result(&upload.identity, &upload.portrait);
            state.config.refusals.apply(&mut result);
            Ok(Json(result).into_response())
        }
        _ => Err(not_found(format!(
            "ticket {ticket} does not exist for bio user {user_id}"
        ))),
    }
}

fn field(name: &str, code: i32, mrz: Option<&str>, visual: Option<&str>) -> Value {
    let mut f = json!({
        "fieldType": name,
        "fieldTypeCode": code,
        "mrzBarcodeStatus": "disabled",
        "mrzVisualStatus": if mrz.is_some() && visual.is_some() { "compared" } else { "disabled" },
        "visualBarcodeStatus": "disabled",
        "lexicalValidity": if mrz.is_some() { "valid" } else { "disabled" },
    });
    if let Some(v) = mrz {
        f["mrzValue"] = json!(v);
    }
    if let Some(v) = visual {
        f["visualValue"] = json!(v);
    }
    f
}

/// The enroll result in the page's shape (Regula field codes), for `identity`.
pub fn enroll_result(identity: &Identity, portrait: &str) -> Value {
    let i = identity;
    let [l1, l2, l3] = i.mrz_lines();
    let date = |d: chrono::NaiveDate| d.format("%Y-%m-%d").to_string();
    let full = format!("{} {} {}", i.surname, i.second_surname, i.given_names);
    let sex = i.sex.to_string();
    let digit = |s: &str| preventor::onboarding::mrz::check_digit(s).to_string();
    let fields = vec![
        field("Document class code", 0, Some("I"), None),
        field("Issuing state code", 1, Some(i.state), None),
        field(
            "Document #",
            2,
            Some(&i.document_number),
            Some(&i.document_number),
        ),
        field("Date of expiry", 3, Some(&date(i.expiry)), None),
        field("Date of issue", 4, None, Some(&date(i.issue))),
        field("Date of birth", 5, Some(&date(i.birth)), None),
        field("Personal number", 7, None, Some(&i.personal_number)),
        field("Surname", 8, Some(&i.surname), Some(&i.surname)),
        field("Given name", 9, Some(&i.given_names), Some(&i.given_names)),
        field("Nationality", 11, Some("Peru"), None),
        field("Sex", 12, Some(&sex), Some(&sex)),
        field("Address (10250)", 17, None, Some(&i.address)),
        field("Surname and given names", 25, Some(&full), Some(&full)),
        field("Nationality code", 26, Some(i.state), None),
        field("MRZ Type", 35, Some("ID-1"), None),
        field("Issuing state", 38, Some("Peru"), None),
        field("MRZ lines", 51, Some(&format!("{l1}^{l2}^{l3}")), None),
        field(
            "Check digit for document number",
            80,
            Some(&digit(&l1[5..14])),
            None,
        ),
        field(
            "Check digit for date of birth",
            81,
            Some(&digit(&l2[0..6])),
            None,
        ),
        field(
            "Check digit for date of expiry",
            82,
            Some(&digit(&l2[8..14])),
            None,
        ),
        field("Final check digit", 84, Some(&l2[29..30]), None),
        field("Second surname", 145, None, Some(&i.second_surname)),
    ];
    json!({
        "photoVerify": true,
        "liveness": true,
        "enroll": true,
        "documentReader": {
            "generalInfo": {
                "documentName": "Peru - Id Card (sandbox)",
                "countryName": "Peru",
                "hasMrz": true, "hasBarcode": false, "hasVisual": true,
                "hasMrzVisual": true, "hasMrzBarcode": false, "hasVisualBarcode": false
            },
            "fields": fields,
            "graphics": {"imageType": "Portrait", "image": portrait, "format": ".jpg"}
        }
    })
}
