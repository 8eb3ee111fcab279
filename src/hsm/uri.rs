//! RFC 7512 `pkcs11:` URIs naming a token and, optionally, a key on it.
//!
//! `pkcs11:token=dfns;object=ops-bot;id=%01%02?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=env:PIN`
//!
//! Rules (stricter than the RFC where the RFC leaves room for mistakes):
//! - path attributes are separated by `;`, query attributes by `&`; values are percent-decoded;
//! - an attribute given twice, an empty value, or an attribute in the wrong component is an error;
//! - unknown attributes are errors naming the attribute; vendor `x-...` attributes are ignored;
//! - `pin-value` is refused: a PIN in a URI ends up in argv, shell history and logs;
//! - `slot-id` is parsed but never used to select a token (see [`Pkcs11Uri::refuse_slot_id`]);
//! - error messages name attributes, never echo values (a value may be a secret pasted by mistake).

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use percent_encoding::{percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::error::{Error, Result};

/// The scheme, matched case-insensitively.
const SCHEME: &str = "pkcs11:";

/// Characters left literal in path values: RFC 3986 unreserved plus `:` and `@`. Everything else
/// is percent-encoded, which every RFC 7512 parser accepts.
const PATH_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b':')
    .remove(b'@');

/// Query values may also carry `/` literally, so module paths stay readable.
const QUERY_VALUE: &AsciiSet = &PATH_VALUE.remove(b'/');

/// The kind of PKCS#11 object a URI names (`type=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectType {
    /// `private`: a private key.
    Private,
    /// `public`: a public key.
    Public,
    /// `cert`: a certificate.
    Cert,
    /// `secret-key`: a symmetric key.
    SecretKey,
    /// `data`: a data object.
    Data,
}

impl ObjectType {
    /// Every object type, as RFC 7512 lists them.
    pub const ALL: [ObjectType; 5] = [
        ObjectType::Private,
        ObjectType::Public,
        ObjectType::Cert,
        ObjectType::SecretKey,
        ObjectType::Data,
    ];

    /// The RFC 7512 spelling.
    pub fn name(self) -> &'static str {
        match self {
            ObjectType::Private => "private",
            ObjectType::Public => "public",
            ObjectType::Cert => "cert",
            ObjectType::SecretKey => "secret-key",
            ObjectType::Data => "data",
        }
    }
}

impl fmt::Display for ObjectType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ObjectType {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        ObjectType::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| {
                Error::Uri(format!(
                    "type must be one of private, public, cert, secret-key, data (got {s:?})"
                ))
            })
    }
}

/// How a URI selects its token: by label or by serial number, exactly one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSelector {
    /// `token=`: the token label (CKA_LABEL of the token, trailing blanks trimmed).
    Label(String),
    /// `serial=`: the token serial number.
    Serial(String),
}

impl fmt::Display for TokenSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenSelector::Label(l) => write!(f, "label {l:?}"),
            TokenSelector::Serial(s) => write!(f, "serial {s:?}"),
        }
    }
}

/// A parsed `pkcs11:` URI. Every field is optional: `pkcs11:` alone is valid and leaves
/// everything to the configuration. It never holds a secret (`pin-value` is refused).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pkcs11Uri {
    /// `token`: token label.
    pub token: Option<String>,
    /// `serial`: token serial number.
    pub serial: Option<String>,
    /// `manufacturer`: token manufacturer ID.
    pub manufacturer: Option<String>,
    /// `model`: token model.
    pub model: Option<String>,
    /// `slot-id`: parsed for completeness, refused for token selection.
    pub slot_id: Option<u64>,
    /// `object`: object label (CKA_LABEL).
    pub object: Option<String>,
    /// `id`: object id (CKA_ID), raw bytes.
    pub id: Option<Vec<u8>>,
    /// `type`: object class.
    pub object_type: Option<ObjectType>,
    /// `module-path` (query): the PKCS#11 library.
    pub module_path: Option<PathBuf>,
    /// `pin-source` (query): `env:VAR`, `file:PATH` or `prompt`.
    pub pin_source: Option<String>,
}

impl Pkcs11Uri {
    /// Parse a `pkcs11:` URI (surrounding whitespace is ignored).
    pub fn parse(input: &str) -> Result<Self> {
        let input = input.trim();
        let rest = input
            .split_at_checked(SCHEME.len())
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case(SCHEME))
            .map(|(_, rest)| rest)
            .ok_or_else(|| Error::Uri("it must start with \"pkcs11:\"".into()))?;
        let (path, query) = match rest.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (rest, None),
        };
        let mut uri = Pkcs11Uri::default();
        for attr in split_attrs(path, ';') {
            uri.set_path_attr(attr?)?;
        }
        for attr in query.into_iter().flat_map(|q| split_attrs(q, '&')) {
            uri.set_query_attr(attr?)?;
        }
        Ok(uri)
    }

    /// A URI naming a key by token label, object label and CKA_ID, as `key generate` prints it.
    pub fn key(
        token_label: &str,
        object_label: &str,
        id: &[u8],
        module_path: Option<&Path>,
    ) -> Self {
        Pkcs11Uri {
            token: Some(token_label.to_owned()),
            object: Some(object_label.to_owned()),
            id: Some(id.to_vec()),
            module_path: module_path.map(Path::to_path_buf),
            ..Pkcs11Uri::default()
        }
    }

    /// The token selector: `Ok(None)` when the URI names no token (the caller falls back to its
    /// configuration), an error when both `token` and `serial` are given or `slot-id` is used.
    pub fn token_selector(&self) -> Result<Option<TokenSelector>> {
        self.refuse_slot_id()?;
        match (&self.token, &self.serial) {
            (Some(_), Some(_)) => Err(Error::Uri(
                "give exactly one of token= (label) or serial=, not both".into(),
            )),
            (Some(label), None) => Ok(Some(TokenSelector::Label(label.clone()))),
            (None, Some(serial)) => Ok(Some(TokenSelector::Serial(serial.clone()))),
            (None, None) => Ok(None),
        }
    }

    /// Fails when the URI carries `slot-id`: slot numbers are not stable.
    pub fn refuse_slot_id(&self) -> Result<()> {
        match self.slot_id {
            Some(_) => Err(Error::Uri(
                "select by token label or serial, never by slot-id: SoftHSM renumbers slots \
                 (replace slot-id=... with token=LABEL or serial=...)"
                    .into(),
            )),
            None => Ok(()),
        }
    }

    /// True when the URI names an object (by label or id).
    pub fn names_object(&self) -> bool {
        self.object.is_some() || self.id.is_some()
    }

    fn set_path_attr(&mut self, (name, raw): (&str, &str)) -> Result<()> {
        match name {
            "token" => set_once(&mut self.token, name, decode_text(name, raw)?),
            "serial" => set_once(&mut self.serial, name, decode_text(name, raw)?),
            "manufacturer" => set_once(&mut self.manufacturer, name, decode_text(name, raw)?),
            "model" => set_once(&mut self.model, name, decode_text(name, raw)?),
            "object" => set_once(&mut self.object, name, decode_text(name, raw)?),
            "id" => set_once(&mut self.id, name, decode(name, raw)?),
            "type" => {
                let value = decode_text(name, raw)?.parse()?;
                set_once(&mut self.object_type, name, value)
            }
            "slot-id" => {
                let text = decode_text(name, raw)?;
                let value = text
                    .bytes()
                    .all(|b| b.is_ascii_digit())
                    .then(|| text.parse::<u64>().ok())
                    .flatten()
                    .ok_or_else(|| Error::Uri("slot-id must be a decimal number".into()))?;
                set_once(&mut self.slot_id, name, value)
            }
            "module-path" | "pin-source" | "pin-value" | "module-name" => Err(Error::Uri(format!(
                "{name} belongs in the query part, after '?' (pkcs11:...?{name}=...)"
            ))),
            _ => other_attr(name, &["token", "serial", "object", "id", "type"]),
        }
    }

    fn set_query_attr(&mut self, (name, raw): (&str, &str)) -> Result<()> {
        match name {
            "module-path" => {
                let path = decode_path(name, raw)?;
                set_once(&mut self.module_path, name, path)
            }
            "pin-source" => {
                let source = decode_text(name, raw)?;
                check_pin_source(&source)?;
                set_once(&mut self.pin_source, name, source)
            }
            "pin-value" => Err(Error::Uri(
                "pin-value is refused: a PIN in a URI ends up in argv, shell history and logs; \
                 use pin-source=env:VAR or pin-source=file:PATH"
                    .into(),
            )),
            "module-name" => Err(Error::Uri(
                "module-name is not supported; give the library's path with module-path=".into(),
            )),
            "token" | "serial" | "manufacturer" | "model" | "object" | "id" | "type"
            | "slot-id" => Err(Error::Uri(format!(
                "{name} belongs in the path part, before '?' (pkcs11:{name}=...)"
            ))),
            _ => other_attr(name, &["module-path", "pin-source"]),
        }
    }
}

/// Vendor `x-` attributes are ignored; the RFC's other attributes and anything else are errors.
fn other_attr(name: &str, supported: &[&str]) -> Result<()> {
    const UNSUPPORTED_RFC: [&str; 5] = [
        "library-description",
        "library-manufacturer",
        "library-version",
        "slot-description",
        "slot-manufacturer",
    ];
    if name.starts_with("x-") {
        Ok(())
    } else if UNSUPPORTED_RFC.contains(&name) {
        Err(Error::Uri(format!(
            "attribute {name:?} is not supported by dfns-hsm; use {}",
            supported.join(", ")
        )))
    } else {
        Err(Error::Uri(format!(
            "unknown attribute {name:?}; supported here: {}",
            supported.join(", ")
        )))
    }
}

/// Split a component into `(name, raw value)` pairs. An empty component has no attributes.
fn split_attrs(component: &str, sep: char) -> impl Iterator<Item = Result<(&str, &str)>> {
    let parts = if component.is_empty() {
        None
    } else {
        Some(component.split(sep))
    };
    parts.into_iter().flatten().map(move |attr| {
        if attr.is_empty() {
            return Err(Error::Uri(format!("empty attribute (stray '{sep}')")));
        }
        let (name, value) = attr
            .split_once('=')
            .ok_or_else(|| Error::Uri(format!("attribute {:?} has no '=value'", truncate(attr))))?;
        if name.is_empty() {
            return Err(Error::Uri("attribute with an empty name".into()));
        }
        if value.is_empty() {
            return Err(Error::Uri(format!("attribute {name:?} has an empty value")));
        }
        Ok((name, value))
    })
}

/// An attribute name for an error message, shortened in case the input is not a URI at all.
fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

fn set_once<T>(slot: &mut Option<T>, name: &str, value: T) -> Result<()> {
    if slot.is_some() {
        return Err(Error::Uri(format!(
            "attribute {name:?} is given twice; give it once"
        )));
    }
    *slot = Some(value);
    Ok(())
}

/// Percent-decode, rejecting malformed escapes (the `percent-encoding` crate passes them through).
fn decode(name: &str, raw: &str) -> Result<Vec<u8>> {
    let bad = || Error::Uri(format!("attribute {name:?} has a malformed %-escape"));
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or_else(bad)?;
            let hex = std::str::from_utf8(hex).map_err(|_| bad())?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(out)
}

fn decode_text(name: &str, raw: &str) -> Result<String> {
    String::from_utf8(decode(name, raw)?).map_err(|_| {
        Error::Uri(format!(
            "attribute {name:?} is not valid UTF-8 after percent-decoding"
        ))
    })
}

#[cfg(unix)]
fn decode_path(name: &str, raw: &str) -> Result<PathBuf> {
    use std::os::unix::ffi::OsStringExt;
    Ok(PathBuf::from(std::ffi::OsString::from_vec(decode(
        name, raw,
    )?)))
}

#[cfg(not(unix))]
fn decode_path(name: &str, raw: &str) -> Result<PathBuf> {
    decode_text(name, raw).map(PathBuf::from)
}

#[cfg(unix)]
fn path_bytes(path: &Path) -> std::borrow::Cow<'_, [u8]> {
    use std::os::unix::ffi::OsStrExt;
    path.as_os_str().as_bytes().into()
}

#[cfg(not(unix))]
fn path_bytes(path: &Path) -> std::borrow::Cow<'_, [u8]> {
    match path.to_string_lossy() {
        std::borrow::Cow::Borrowed(s) => s.as_bytes().into(),
        std::borrow::Cow::Owned(s) => s.into_bytes().into(),
    }
}

/// Same shapes as the CLI's `--pin-source`; checked here so a typo fails at parse time.
fn check_pin_source(source: &str) -> Result<()> {
    let ok = source == "prompt"
        || source.strip_prefix("env:").is_some_and(|v| !v.is_empty())
        || source.strip_prefix("file:").is_some_and(|p| !p.is_empty());
    if ok {
        Ok(())
    } else {
        Err(Error::Uri(
            "pin-source must be env:VAR, file:PATH or prompt".into(),
        ))
    }
}

impl FromStr for Pkcs11Uri {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Pkcs11Uri::parse(s)
    }
}

/// Canonical form: fixed attribute order, reserved characters percent-encoded, `id` always as
/// `%XX` bytes. Parses back to an equal value (given non-empty values).
impl fmt::Display for Pkcs11Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(SCHEME)?;
        let mut sep = "";
        let mut path_attr = |f: &mut fmt::Formatter<'_>, name: &str, value: &[u8]| {
            let r = write!(f, "{sep}{name}={}", percent_encode(value, PATH_VALUE));
            sep = ";";
            r
        };
        let text = [
            ("token", &self.token),
            ("serial", &self.serial),
            ("manufacturer", &self.manufacturer),
            ("model", &self.model),
        ];
        for (name, value) in text {
            if let Some(v) = value {
                path_attr(f, name, v.as_bytes())?;
            }
        }
        if let Some(slot) = self.slot_id {
            path_attr(f, "slot-id", slot.to_string().as_bytes())?;
        }
        if let Some(object) = &self.object {
            path_attr(f, "object", object.as_bytes())?;
        }
        if let Some(id) = &self.id {
            write!(f, "{sep}id=")?;
            sep = ";";
            for b in id {
                write!(f, "%{b:02X}")?;
            }
        }
        if let Some(t) = self.object_type {
            write!(f, "{sep}type={t}")?;
        }

        let mut sep = '?';
        if let Some(path) = &self.module_path {
            write!(
                f,
                "{sep}module-path={}",
                percent_encode(&path_bytes(path), QUERY_VALUE)
            )?;
            sep = '&';
        }
        if let Some(source) = &self.pin_source {
            write!(
                f,
                "{sep}pin-source={}",
                percent_encode(source.as_bytes(), QUERY_VALUE)
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn err(input: &str) -> String {
        Pkcs11Uri::parse(input).unwrap_err().to_string()
    }

    #[test]
    fn parses_a_full_uri() {
        let uri = Pkcs11Uri::parse(
            "pkcs11:token=My%20Token;serial=0123;manufacturer=SoftHSM%20project;model=SoftHSM%20v2;\
             object=ops-bot;id=%01%02%ff;type=private\
             ?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=env:DFNS_HSM_PIN",
        )
        .unwrap();
        assert_eq!(uri.token.as_deref(), Some("My Token"));
        assert_eq!(uri.serial.as_deref(), Some("0123"));
        assert_eq!(uri.manufacturer.as_deref(), Some("SoftHSM project"));
        assert_eq!(uri.model.as_deref(), Some("SoftHSM v2"));
        assert_eq!(uri.object.as_deref(), Some("ops-bot"));
        assert_eq!(uri.id.as_deref(), Some(&[1u8, 2, 0xff][..]));
        assert_eq!(uri.object_type, Some(ObjectType::Private));
        assert_eq!(
            uri.module_path.as_deref(),
            Some(Path::new("/usr/lib/softhsm/libsofthsm2.so"))
        );
        assert_eq!(uri.pin_source.as_deref(), Some("env:DFNS_HSM_PIN"));
    }

    #[test]
    fn empty_uri_is_allowed() {
        assert_eq!(Pkcs11Uri::parse("pkcs11:").unwrap(), Pkcs11Uri::default());
        assert_eq!(Pkcs11Uri::parse("PKCS11:?").unwrap(), Pkcs11Uri::default());
        assert_eq!(Pkcs11Uri::default().to_string(), "pkcs11:");
    }

    #[test]
    fn pin_value_is_refused_without_echoing_it() {
        let e = err("pkcs11:token=a?pin-value=hunter2");
        assert!(e.contains("pin-value is refused"), "{e}");
        assert!(e.contains("pin-source=env:VAR"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
        let e = err("pkcs11:token=a;pin-value=hunter2");
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn duplicates_unknowns_and_misplaced_attributes_are_errors() {
        assert!(err("pkcs11:token=a;token=b").contains("\"token\" is given twice"));
        assert!(err("pkcs11:?pin-source=env:A&pin-source=env:B").contains("given twice"));
        assert!(err("pkcs11:tokne=a").contains("unknown attribute \"tokne\""));
        assert!(err("pkcs11:?max-sessions=4").contains("unknown attribute \"max-sessions\""));
        assert!(err("pkcs11:library-version=1").contains("not supported"));
        assert!(err("pkcs11:module-path=/x").contains("query part"));
        assert!(err("pkcs11:?token=a").contains("path part"));
        assert!(err("pkcs11:?module-name=softhsm2").contains("module-path="));
    }

    #[test]
    fn vendor_attributes_are_ignored() {
        let uri = Pkcs11Uri::parse("pkcs11:x-vendor=1;token=a?x-thing=%41").unwrap();
        assert_eq!(uri.token.as_deref(), Some("a"));
    }

    #[test]
    fn malformed_input_is_rejected() {
        assert!(err("token=a").contains("must start with"));
        assert!(err("pkcs11:token").contains("no '=value'"));
        assert!(err("pkcs11:token=").contains("empty value"));
        assert!(err("pkcs11:token=a;").contains("stray ';'"));
        assert!(err("pkcs11:id=%0").contains("malformed %-escape"));
        assert!(err("pkcs11:id=%zz").contains("malformed %-escape"));
        assert!(err("pkcs11:token=%ff").contains("UTF-8"));
        assert!(err("pkcs11:slot-id=-1").contains("decimal"));
        assert!(err("pkcs11:type=key").contains("type must be"));
        assert!(err("pkcs11:?pin-source=/etc/pin").contains("env:VAR, file:PATH or prompt"));
    }

    #[test]
    fn token_selector_wants_exactly_one() {
        let sel = |s: &str| Pkcs11Uri::parse(s).unwrap().token_selector();
        assert_eq!(
            sel("pkcs11:token=dfns").unwrap(),
            Some(TokenSelector::Label("dfns".into()))
        );
        assert_eq!(
            sel("pkcs11:serial=42").unwrap(),
            Some(TokenSelector::Serial("42".into()))
        );
        assert_eq!(sel("pkcs11:object=k").unwrap(), None);
        let both = sel("pkcs11:token=a;serial=b").unwrap_err().to_string();
        assert!(both.contains("exactly one"), "{both}");
        let slot = sel("pkcs11:slot-id=251045885").unwrap_err().to_string();
        assert!(slot.contains("never by slot-id"), "{slot}");
        assert_eq!(
            Pkcs11Uri::parse("pkcs11:slot-id=251045885")
                .unwrap()
                .slot_id,
            Some(251045885)
        );
    }

    #[test]
    fn key_uri_is_canonical() {
        let uri = Pkcs11Uri::key(
            "dfns hsm",
            "ops;bot/1",
            &[0x0a, 0xb0],
            Some(Path::new("/usr/lib/softhsm/libsofthsm2.so")),
        );
        let text = uri.to_string();
        assert_eq!(
            text,
            "pkcs11:token=dfns%20hsm;object=ops%3Bbot%2F1;id=%0A%B0\
             ?module-path=/usr/lib/softhsm/libsofthsm2.so"
        );
        assert_eq!(Pkcs11Uri::parse(&text).unwrap(), uri);
        assert!(uri.names_object());
    }

    fn text() -> impl Strategy<Value = Option<String>> {
        proptest::option::of(any::<String>().prop_filter("non-empty", |s| !s.is_empty()))
    }

    fn uri() -> impl Strategy<Value = Pkcs11Uri> {
        let pin_source = proptest::option::of(prop_oneof![
            Just("prompt".to_string()),
            "[A-Za-z_][A-Za-z0-9_]{0,12}".prop_map(|v| format!("env:{v}")),
            any::<String>()
                .prop_filter("non-empty", |s| !s.is_empty())
                .prop_map(|p| format!("file:{p}")),
        ]);
        let object_type = proptest::option::of(proptest::sample::select(ObjectType::ALL.to_vec()));
        (
            (text(), text(), text(), text()),
            proptest::option::of(any::<u64>()),
            text(),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 1..20)),
            object_type,
            proptest::option::of(
                proptest::collection::vec(any::<u8>(), 1..40)
                    .prop_map(|b| PathBuf::from(std::ffi::OsString::from_vec(b))),
            ),
            pin_source,
        )
            .prop_map(
                |(
                    (token, serial, manufacturer, model),
                    slot_id,
                    object,
                    id,
                    object_type,
                    module_path,
                    pin_source,
                )| {
                    Pkcs11Uri {
                        token,
                        serial,
                        manufacturer,
                        model,
                        slot_id,
                        object,
                        id,
                        object_type,
                        module_path,
                        pin_source,
                    }
                },
            )
    }

    use std::os::unix::ffi::OsStringExt;

    proptest! {
        #[test]
        fn parse_never_panics(s in any::<String>()) {
            let _ = Pkcs11Uri::parse(&s);
        }

        #[test]
        fn parse_never_panics_on_uri_like_input(s in "pkcs11:[a-z;=&?%0-9A-F\\-]{0,40}") {
            let _ = Pkcs11Uri::parse(&s);
        }

        #[test]
        fn display_round_trips(u in uri()) {
            let text = u.to_string();
            prop_assert_eq!(Pkcs11Uri::parse(&text).unwrap(), u);
        }
    }
}
