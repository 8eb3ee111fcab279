//! Finding a token: by label or serial, never by slot index (SoftHSM renumbers slots when a
//! token is initialized; Luna HA slot ids are huge and unstable).

use cryptoki::slot::{Slot, TokenInfo};
use serde::Serialize;

use super::error::{Error, Result};
use super::module::Module;
use super::token::Token;
use super::uri::TokenSelector;

/// Labels and serials are blank-padded to 32/16 bytes in `CK_TOKEN_INFO`.
fn matches(selector: &TokenSelector, info: &TokenInfo) -> bool {
    match selector {
        TokenSelector::Label(l) => info.label().trim_end() == l.trim_end(),
        TokenSelector::Serial(s) => info.serial_number().trim() == s.trim(),
    }
}

/// What `dfns-hsm token list` shows for one slot.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenSummary {
    /// Slot id (informational only; unstable across token re-initialization).
    pub slot_id: u64,
    /// Token label.
    pub label: String,
    /// Token serial.
    pub serial: String,
    /// Manufacturer.
    pub manufacturer: String,
    /// Model.
    pub model: String,
    /// Whether a user PIN is set.
    pub user_pin_initialized: bool,
    /// PIN state warnings (`locked`, `final try`, `count low`, `to be changed`).
    pub pin_flags: Vec<&'static str>,
    /// Mechanisms supported, by name.
    pub mechanisms: Vec<String>,
    /// Whether the token is initialized (`CKF_TOKEN_INITIALIZED`); an uninitialized one
    /// cannot be selected.
    pub initialized: bool,
    /// Why the token's information could not be read (`C_GetTokenInfo` failed or returned
    /// what cannot be parsed); the other fields are then empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreadable: Option<String>,
}

impl TokenSummary {
    fn unreadable(slot: Slot, e: &cryptoki::error::Error) -> TokenSummary {
        TokenSummary {
            slot_id: slot.id(),
            label: String::new(),
            serial: String::new(),
            manufacturer: String::new(),
            model: String::new(),
            user_pin_initialized: false,
            pin_flags: Vec::new(),
            mechanisms: Vec::new(),
            initialized: false,
            unreadable: Some(format!(
                "token info unreadable: {}",
                super::error::describe(e)
            )),
        }
    }
}

impl Module {
    /// Find the one slot whose token matches `selector`.
    ///
    /// Slots whose token is not initialized (`CKF_TOKEN_INITIALIZED` clear: tpm2-pkcs11 always
    /// offers one) are passed over; a token whose `C_GetTokenInfo` fails or cannot be parsed
    /// is named in the "not found" error instead of vanishing from it.
    pub fn find_slot(&self, selector: &TokenSelector) -> Result<(Slot, TokenInfo)> {
        let slots = self
            .ctx()
            .get_slots_with_token()
            .map_err(|e| Error::pkcs11("C_GetSlotList", e))?;
        let mut found = Vec::new();
        let mut seen = Vec::new();
        for slot in slots {
            let info = match self.ctx().get_token_info(slot) {
                Ok(info) => info,
                Err(e) => {
                    seen.push(format!(
                        "slot {}: token info unreadable: {}",
                        slot.id(),
                        super::error::describe(&e)
                    ));
                    continue;
                }
            };
            if !info.token_initialized() {
                continue;
            }
            seen.push(format!(
                "{:?} (serial {})",
                info.label().trim_end(),
                info.serial_number().trim()
            ));
            if matches(selector, &info) {
                found.push((slot, info));
            }
        }
        match found.len() {
            1 => Ok(found.remove(0)),
            0 => Err(Error::TokenNotFound {
                selector: selector.to_string(),
                module: self.path().to_path_buf(),
                available: if seen.is_empty() {
                    "none".into()
                } else {
                    seen.join(", ")
                },
            }),
            count => Err(Error::AmbiguousToken {
                selector: selector.to_string(),
                count,
                distinct: ambiguity(selector, &found),
            }),
        }
    }
}

/// What would tell the matching tokens apart: a serial only when every one has its own
/// (tpm2-pkcs11 gives all its tokens serial `0000000000000000`), else the label.
fn ambiguity(selector: &TokenSelector, found: &[(Slot, TokenInfo)]) -> Distinct {
    let unique = |f: fn(&TokenInfo) -> String| {
        let mut values: Vec<String> = found.iter().map(|(_, i)| f(i)).collect();
        values.sort();
        values.dedup();
        values.len() == found.len() && values.iter().all(|v| !v.is_empty())
    };
    let serials = unique(|i| i.serial_number().trim().to_owned());
    let labels = unique(|i| i.label().trim_end().to_owned());
    match selector {
        TokenSelector::Label(_) if serials => Distinct::Serial,
        TokenSelector::Serial(_) if labels => Distinct::Label,
        _ => Distinct::Nothing,
    }
}

/// Which token attribute tells several matching tokens apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Distinct {
    /// Their serials differ.
    Serial,
    /// Their labels differ.
    Label,
    /// Neither: they share label and serial.
    Nothing,
}

/// PIN-state flags worth telling the user about.
pub fn pin_flags(info: &TokenInfo) -> Vec<&'static str> {
    let mut flags = Vec::new();
    if info.user_pin_locked() {
        flags.push("user PIN locked");
    }
    if info.user_pin_final_try() {
        flags.push("user PIN on its final try");
    }
    if info.user_pin_count_low() {
        flags.push("user PIN count low");
    }
    if info.user_pin_to_be_changed() {
        flags.push("user PIN must be changed");
    }
    flags
}

impl Token {
    /// Every slot of `module` that holds a token, summarized (nothing is logged in).
    pub fn list(module: &Module) -> Result<Vec<TokenSummary>> {
        let slots = module
            .ctx()
            .get_slots_with_token()
            .map_err(|e| Error::pkcs11("C_GetSlotList", e))?;
        let mut out = Vec::new();
        for slot in slots {
            let info = match module.ctx().get_token_info(slot) {
                Ok(info) => info,
                // Listed, not skipped: a token that is there but cannot be read is news.
                Err(e) => {
                    out.push(TokenSummary::unreadable(slot, &e));
                    continue;
                }
            };
            let mechanisms = module
                .ctx()
                .get_mechanism_list(slot)
                .map(|m| m.iter().map(|t| t.to_string()).collect())
                .unwrap_or_default();
            out.push(TokenSummary {
                slot_id: slot.id(),
                label: info.label().trim_end().to_owned(),
                serial: info.serial_number().trim().to_owned(),
                manufacturer: info.manufacturer_id().trim().to_owned(),
                model: info.model().trim().to_owned(),
                user_pin_initialized: info.user_pin_initialized(),
                pin_flags: pin_flags(&info),
                mechanisms,
                initialized: info.token_initialized(),
                unreadable: None,
            });
        }
        Ok(out)
    }
}
