//! The PKCS#11 2.40 functions, named once: for counters, rule matching and messages.

macro_rules! functions {
    ($($variant:ident => $name:literal,)*) => {
        /// One entry of the PKCS#11 2.40 function list.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Func {
            $(
                #[doc = concat!("`", $name, "`")]
                $variant,
            )*
        }

        impl Func {
            /// Every function, in function-list order.
            pub const ALL: &'static [Func] = &[$(Func::$variant,)*];

            /// The C name, e.g. `C_GetSlotList`.
            pub fn name(self) -> &'static str {
                match self {
                    $(Func::$variant => $name,)*
                }
            }
        }
    };
}

functions! {
    Initialize => "C_Initialize",
    Finalize => "C_Finalize",
    GetInfo => "C_GetInfo",
    GetFunctionList => "C_GetFunctionList",
    GetSlotList => "C_GetSlotList",
    GetSlotInfo => "C_GetSlotInfo",
    GetTokenInfo => "C_GetTokenInfo",
    GetMechanismList => "C_GetMechanismList",
    GetMechanismInfo => "C_GetMechanismInfo",
    InitToken => "C_InitToken",
    InitPin => "C_InitPIN",
    SetPin => "C_SetPIN",
    OpenSession => "C_OpenSession",
    CloseSession => "C_CloseSession",
    CloseAllSessions => "C_CloseAllSessions",
    GetSessionInfo => "C_GetSessionInfo",
    GetOperationState => "C_GetOperationState",
    SetOperationState => "C_SetOperationState",
    Login => "C_Login",
    Logout => "C_Logout",
    CreateObject => "C_CreateObject",
    CopyObject => "C_CopyObject",
    DestroyObject => "C_DestroyObject",
    GetObjectSize => "C_GetObjectSize",
    GetAttributeValue => "C_GetAttributeValue",
    SetAttributeValue => "C_SetAttributeValue",
    FindObjectsInit => "C_FindObjectsInit",
    FindObjects => "C_FindObjects",
    FindObjectsFinal => "C_FindObjectsFinal",
    EncryptInit => "C_EncryptInit",
    Encrypt => "C_Encrypt",
    EncryptUpdate => "C_EncryptUpdate",
    EncryptFinal => "C_EncryptFinal",
    DecryptInit => "C_DecryptInit",
    Decrypt => "C_Decrypt",
    DecryptUpdate => "C_DecryptUpdate",
    DecryptFinal => "C_DecryptFinal",
    DigestInit => "C_DigestInit",
    Digest => "C_Digest",
    DigestUpdate => "C_DigestUpdate",
    DigestKey => "C_DigestKey",
    DigestFinal => "C_DigestFinal",
    SignInit => "C_SignInit",
    Sign => "C_Sign",
    SignUpdate => "C_SignUpdate",
    SignFinal => "C_SignFinal",
    SignRecoverInit => "C_SignRecoverInit",
    SignRecover => "C_SignRecover",
    VerifyInit => "C_VerifyInit",
    Verify => "C_Verify",
    VerifyUpdate => "C_VerifyUpdate",
    VerifyFinal => "C_VerifyFinal",
    VerifyRecoverInit => "C_VerifyRecoverInit",
    VerifyRecover => "C_VerifyRecover",
    DigestEncryptUpdate => "C_DigestEncryptUpdate",
    DecryptDigestUpdate => "C_DecryptDigestUpdate",
    SignEncryptUpdate => "C_SignEncryptUpdate",
    DecryptVerifyUpdate => "C_DecryptVerifyUpdate",
    GenerateKey => "C_GenerateKey",
    GenerateKeyPair => "C_GenerateKeyPair",
    WrapKey => "C_WrapKey",
    UnwrapKey => "C_UnwrapKey",
    DeriveKey => "C_DeriveKey",
    SeedRandom => "C_SeedRandom",
    GenerateRandom => "C_GenerateRandom",
    GetFunctionStatus => "C_GetFunctionStatus",
    CancelFunction => "C_CancelFunction",
    WaitForSlotEvent => "C_WaitForSlotEvent",
}

impl Func {
    /// Position in [`Func::ALL`], for counter arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The name as it appears in environment variables: `C_GetSlotList` -> `GET_SLOT_LIST`,
    /// `C_InitPIN` -> `INIT_PIN`.
    pub fn env_name(self) -> String {
        let bare = self.name().trim_start_matches("C_");
        let mut out = String::with_capacity(bare.len() + 4);
        let mut prev_lower = false;
        for ch in bare.chars() {
            if ch.is_ascii_uppercase() && prev_lower {
                out.push('_');
            }
            prev_lower = ch.is_ascii_lowercase();
            out.push(ch.to_ascii_uppercase());
        }
        out
    }

    /// Look a function up by its environment name (see [`Func::env_name`]).
    pub fn from_env_name(name: &str) -> Option<Func> {
        Func::ALL.iter().copied().find(|f| f.env_name() == name)
    }

    /// Whether a failed call of this function must still end an active operation (single-part
    /// and final calls): such faults let the real call run and then replace its result, so the
    /// session is left without a half-finished operation, as the standard requires.
    pub fn ends_operation(self) -> bool {
        matches!(
            self,
            Func::Encrypt
                | Func::EncryptFinal
                | Func::Decrypt
                | Func::DecryptFinal
                | Func::Digest
                | Func::DigestFinal
                | Func::Sign
                | Func::SignFinal
                | Func::SignRecover
                | Func::Verify
                | Func::VerifyFinal
                | Func::VerifyRecover
        )
    }
}

/// What a call addresses, which decides how token absence and session tracking apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Module-wide (`C_GetInfo`, `C_GetSlotList`, ...).
    General,
    /// A slot (`C_GetTokenInfo`, `C_OpenSession`, ...).
    Slot(cryptoki_sys::CK_SLOT_ID),
    /// A session (`C_Sign`, `C_Login`, ...).
    Session(cryptoki_sys::CK_SESSION_HANDLE),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_are_screaming_snake_case() {
        assert_eq!(Func::GetSlotList.env_name(), "GET_SLOT_LIST");
        assert_eq!(Func::InitPin.env_name(), "INIT_PIN");
        assert_eq!(Func::SetPin.env_name(), "SET_PIN");
        assert_eq!(Func::Sign.env_name(), "SIGN");
        assert_eq!(Func::from_env_name("SIGN_INIT"), Some(Func::SignInit));
        assert_eq!(Func::from_env_name("SIGNX"), None);
    }

    #[test]
    fn the_table_has_every_2_40_function_once() {
        assert_eq!(Func::ALL.len(), 68);
        for (i, f) in Func::ALL.iter().enumerate() {
            assert_eq!(f.index(), i);
        }
    }
}
