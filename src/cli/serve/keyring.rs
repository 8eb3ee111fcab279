//! The logged-in tokens the service signs with: one login per token for the process's life,
//! shared by every identity on it and kept across reloads.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::cli::context::Settings;
use crate::cli::error::CliError;
use crate::config::{HsmSettings, KeyRef};
use crate::hsm::{Key, Token};

/// Tokens opened so far, by module and token selector.
#[derive(Debug, Default)]
pub struct Keyring {
    tokens: Mutex<HashMap<String, Arc<Token>>>,
    gates: Mutex<HashMap<usize, Arc<tokio::sync::Semaphore>>>,
}

impl Keyring {
    /// The key `key` names, on its token (opened and logged in once). Blocking.
    pub fn key(
        &self,
        settings: &Settings,
        key: &KeyRef,
    ) -> Result<(Arc<Token>, Arc<Key>), CliError> {
        let (hsm, selector) = settings.key_location(key)?;
        let token = self.token(settings, &hsm)?;
        let key = Arc::new(Key::find(&token, selector)?);
        settings.ensure_safe(&key)?;
        Ok((token, key))
    }

    fn token(&self, settings: &Settings, hsm: &HsmSettings) -> Result<Arc<Token>, CliError> {
        let id = format!("{:?}|{:?}|{:?}", hsm.module, hsm.token, hsm.serial);
        let mut tokens = match self.tokens.lock() {
            Ok(t) => t,
            Err(p) => p.into_inner(),
        };
        if let Some(t) = tokens.get(&id) {
            return Ok(Arc::clone(t));
        }
        let token = settings.open_token(hsm)?;
        tokens.insert(id, Arc::clone(&token));
        Ok(token)
    }

    /// The gate that admits as many signatures at once as `token` has worker sessions.
    pub fn gate(&self, token: &Arc<Token>) -> Arc<tokio::sync::Semaphore> {
        let mut gates = match self.gates.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let id = Arc::as_ptr(token) as usize;
        Arc::clone(
            gates.entry(id).or_insert_with(|| {
                Arc::new(tokio::sync::Semaphore::new(token.max_sessions().max(1)))
            }),
        )
    }

    /// Every token opened.
    pub fn tokens(&self) -> Vec<Arc<Token>> {
        match self.tokens.lock() {
            Ok(t) => t.values().cloned().collect(),
            Err(p) => p.into_inner().values().cloned().collect(),
        }
    }
}
