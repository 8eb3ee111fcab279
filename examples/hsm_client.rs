//! The library without the CLI: an HSM key signs every user action a `DfnsClient` needs.
//!
//! ```sh
//! export DFNS_HSM_MODULE=/usr/lib/softhsm/libsofthsm2.so DFNS_HSM_TOKEN=dfns DFNS_HSM_PIN=...
//! export DFNS_KEY_LABEL=ops-bot DFNS_CRED_ID=... DFNS_API_URL=https://api.dfns.io
//! export DFNS_AUTH_TOKEN_FILE=ops-bot.token
//! cargo run --example hsm_client [SERVICE_ACCOUNT_ID]
//! ```
//!
//! It lists the organization's service accounts (a read: no signature), then, given an
//! account id, sets that account's external id (a mutation: the client asks Dfns for a
//! challenge, the HSM signs it, and the one-time user-action token goes with the request).

use std::path::Path;
use std::sync::Arc;

use dfns_hsm::api::{ApiUrl, AuthToken, DfnsClient, Method, Outcome, UpdateServiceAccount};
use dfns_hsm::hsm::{Key, KeySelector, Module, PinSource, Token, TokenOptions, TokenSelector};
use dfns_hsm::signer::{HsmSigner, Signer};

type Error = Box<dyn std::error::Error>;

fn var(name: &str) -> Result<String, Error> {
    std::env::var(name).map_err(|_| format!("set {name} (see the example's doc comment)").into())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    // The HSM side: one module per process, a logged-in token, a key found by its label.
    let module = Module::load(Path::new(&var("DFNS_HSM_MODULE")?), None)?;
    let token = Token::open(
        module,
        &TokenSelector::Label(var("DFNS_HSM_TOKEN")?),
        &PinSource::Env("DFNS_HSM_PIN".into()),
        TokenOptions::default(),
    )?;
    let key = Arc::new(Key::find(
        &token,
        KeySelector::Label(var("DFNS_KEY_LABEL")?),
    )?);

    // The signer: the key plus the credential id Dfns registered it under.
    let signer = Arc::new(HsmSigner::new(key, &var("DFNS_CRED_ID")?)?);
    println!("signing as {} with {}", signer.cred_id(), signer.key_uri());

    // The client: any Signer signs its user actions; reads need none.
    let auth = AuthToken::from_file(Path::new(&var("DFNS_AUTH_TOKEN_FILE")?))?;
    let client = DfnsClient::builder(ApiUrl::parse(&var("DFNS_API_URL")?)?, auth)
        .signer(signer.clone())
        .build()?;

    for account in client.service_accounts().list().await?.items {
        println!("{} {}", account.user_info.user_id, account.user_info.name);
    }

    let Some(id) = std::env::args().nth(1) else {
        return Ok(());
    };
    let path = format!("/auth/service-accounts/{id}");

    // A delegated flow, step by step: the challenge comes from `POST /auth/action/init`,
    // the signer turns it into the `firstFactor` that `POST /auth/action` takes.
    let challenge = client.init_user_action(&Method::PUT, &path, None).await?;
    let first_factor = signer.sign(&challenge).await?;
    println!("firstFactor: {}", serde_json::to_string(&first_factor)?);

    // The usual flow: the typed call runs challenge, signature and user-action token itself.
    let update = UpdateServiceAccount {
        name: None,
        external_id: Some("set-by-hsm-client".into()),
    };
    match client.service_accounts().update(&id, &update).await? {
        Outcome::Done(account) => println!(
            "updated {}: externalId {:?}",
            account.id(),
            account.external_id()
        ),
        Outcome::PendingApproval(approval) => println!("waiting for a policy approval: {approval}"),
    }
    Ok(())
}
