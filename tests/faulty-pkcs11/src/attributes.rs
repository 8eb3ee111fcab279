//! `CKA_EC_POINT` presented raw (`FAULTY_EC_POINT_RAW=1`): the DER OCTET STRING the real module
//! wraps around the point is removed, as some tokens (kryoptic for Edwards keys, a few HSMs for
//! Weierstrass keys) return it.
//!
//! The two-pass size protocol is kept: a length query (NULL `pValue`) reports the raw length, and
//! a buffer of that length receives the raw point. The other attributes of the template go to the
//! real module in one call that writes straight into the caller's buffers.

use cryptoki_sys::*;

type GetAttributeValue =
    unsafe extern "C" fn(CK_SESSION_HANDLE, CK_OBJECT_HANDLE, *mut CK_ATTRIBUTE, CK_ULONG) -> CK_RV;

/// `C_GetAttributeValue` through `get`, with EC points unwrapped.
///
/// # Safety
/// `template` must point to `count` valid `CK_ATTRIBUTE`s whose non-NULL `pValue`s point to
/// writable buffers of `ulValueLen` bytes (the PKCS#11 contract of the caller), and `get` must be
/// a real module's `C_GetAttributeValue`.
pub unsafe fn get_with_raw_ec_point(
    get: GetAttributeValue,
    session: CK_SESSION_HANDLE,
    object: CK_OBJECT_HANDLE,
    template: *mut CK_ATTRIBUTE,
    count: CK_ULONG,
) -> CK_RV {
    let Ok(len) = usize::try_from(count) else {
        return CKR_ARGUMENTS_BAD;
    };
    if template.is_null() || len == 0 {
        // SAFETY: passed through unchanged; the real module validates it.
        return unsafe { get(session, object, template, count) };
    }
    // SAFETY: the caller guarantees `count` valid attributes at `template`.
    let attrs = unsafe { std::slice::from_raw_parts_mut(template, len) };
    if !attrs.iter().any(|a| a.type_ == CKA_EC_POINT) {
        // SAFETY: as above, unchanged.
        return unsafe { get(session, object, template, count) };
    }

    // Everything but the EC point, in one real call writing into the caller's buffers.
    let mut rest: Vec<CK_ATTRIBUTE> = attrs
        .iter()
        .filter(|a| a.type_ != CKA_EC_POINT)
        .copied()
        .collect();
    let rv_rest = if rest.is_empty() {
        CKR_OK
    } else {
        // SAFETY: `rest` holds copies of the caller's attributes (same buffers and sizes).
        unsafe { get(session, object, rest.as_mut_ptr(), rest.len() as CK_ULONG) }
    };
    if !is_per_attribute(rv_rest) {
        return rv_rest;
    }
    let mut lengths = rest.iter().map(|a| a.ulValueLen);
    for a in attrs.iter_mut().filter(|a| a.type_ != CKA_EC_POINT) {
        if let Some(l) = lengths.next() {
            a.ulValueLen = l;
        }
    }

    let mut rv_ec = CKR_OK;
    for a in attrs.iter_mut().filter(|a| a.type_ == CKA_EC_POINT) {
        // SAFETY: same session and object as the caller's call, local buffers.
        let rv = match unsafe { read_whole(get, session, object, CKA_EC_POINT) } {
            Ok(der) => {
                let raw = unwrap_octet_string(&der);
                if raw.len() != der.len() {
                    crate::stats::stats().ec_point_unwrapped();
                }
                // SAFETY: `a` is one of the caller's attributes (see the function's contract).
                unsafe { fill(a, raw) }
            }
            Err(rv) if is_per_attribute(rv) => {
                a.ulValueLen = CK_UNAVAILABLE_INFORMATION;
                rv
            }
            Err(rv) => return rv,
        };
        if rv_ec == CKR_OK {
            rv_ec = rv;
        }
    }
    if rv_rest != CKR_OK {
        rv_rest
    } else {
        rv_ec
    }
}

/// Codes that describe one attribute rather than the whole call.
fn is_per_attribute(rv: CK_RV) -> bool {
    matches!(
        rv,
        CKR_OK | CKR_ATTRIBUTE_SENSITIVE | CKR_ATTRIBUTE_TYPE_INVALID | CKR_BUFFER_TOO_SMALL
    )
}

/// Read one attribute's whole value with the two-pass protocol.
unsafe fn read_whole(
    get: GetAttributeValue,
    session: CK_SESSION_HANDLE,
    object: CK_OBJECT_HANDLE,
    kind: CK_ATTRIBUTE_TYPE,
) -> Result<Vec<u8>, CK_RV> {
    let mut probe = CK_ATTRIBUTE {
        type_: kind,
        pValue: std::ptr::null_mut(),
        ulValueLen: 0,
    };
    // SAFETY: one attribute with a NULL value: a length query.
    let rv = unsafe { get(session, object, &mut probe, 1) };
    if rv != CKR_OK {
        return Err(rv);
    }
    if probe.ulValueLen == CK_UNAVAILABLE_INFORMATION {
        return Err(CKR_ATTRIBUTE_TYPE_INVALID);
    }
    let size = usize::try_from(probe.ulValueLen).map_err(|_| CKR_GENERAL_ERROR)?;
    let mut value = vec![0u8; size];
    let mut fetch = CK_ATTRIBUTE {
        type_: kind,
        pValue: value.as_mut_ptr().cast(),
        ulValueLen: probe.ulValueLen,
    };
    // SAFETY: `value` has exactly the size the module asked for.
    let rv = unsafe { get(session, object, &mut fetch, 1) };
    if rv != CKR_OK {
        return Err(rv);
    }
    value.truncate(usize::try_from(fetch.ulValueLen).unwrap_or(size).min(size));
    Ok(value)
}

/// Give `value` to the caller following the size protocol.
unsafe fn fill(attr: &mut CK_ATTRIBUTE, value: &[u8]) -> CK_RV {
    let len = value.len() as CK_ULONG;
    if attr.pValue.is_null() {
        attr.ulValueLen = len;
        CKR_OK
    } else if attr.ulValueLen < len {
        attr.ulValueLen = CK_UNAVAILABLE_INFORMATION;
        CKR_BUFFER_TOO_SMALL
    } else {
        // SAFETY: the caller's buffer holds `ulValueLen` >= `len` bytes.
        unsafe {
            std::ptr::copy_nonoverlapping(value.as_ptr(), attr.pValue.cast::<u8>(), value.len())
        };
        attr.ulValueLen = len;
        CKR_OK
    }
}

/// The content of a DER OCTET STRING that spans all of `der`, or `der` itself when it is not one.
pub fn unwrap_octet_string(der: &[u8]) -> &[u8] {
    let Some((&0x04, rest)) = der.split_first() else {
        return der;
    };
    let Some((&first, rest)) = rest.split_first() else {
        return der;
    };
    let (len, body) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return der;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    if body.len() == len {
        body
    } else {
        der
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P256_POINT: [u8; 65] = {
        let mut p = [0x11u8; 65];
        p[0] = 0x04;
        p
    };

    fn der_point() -> Vec<u8> {
        let mut v = vec![0x04, 65];
        v.extend_from_slice(&P256_POINT);
        v
    }

    /// A stand-in real module: CKA_EC_POINT is DER-wrapped, CKA_LABEL is "k", CKA_VALUE sensitive.
    unsafe extern "C" fn fake_get(
        _s: CK_SESSION_HANDLE,
        _o: CK_OBJECT_HANDLE,
        t: *mut CK_ATTRIBUTE,
        n: CK_ULONG,
    ) -> CK_RV {
        // SAFETY: test callers pass valid templates.
        let attrs = unsafe { std::slice::from_raw_parts_mut(t, n as usize) };
        let mut rv = CKR_OK;
        for a in attrs {
            let value: Vec<u8> = match a.type_ {
                CKA_EC_POINT => der_point(),
                CKA_LABEL => b"k".to_vec(),
                CKA_VALUE => {
                    a.ulValueLen = CK_UNAVAILABLE_INFORMATION;
                    rv = CKR_ATTRIBUTE_SENSITIVE;
                    continue;
                }
                _ => {
                    a.ulValueLen = CK_UNAVAILABLE_INFORMATION;
                    rv = CKR_ATTRIBUTE_TYPE_INVALID;
                    continue;
                }
            };
            // SAFETY: as in `fill`.
            let r = unsafe { fill(a, &value) };
            if rv == CKR_OK {
                rv = r;
            }
        }
        rv
    }

    fn attr(kind: CK_ATTRIBUTE_TYPE, buf: Option<&mut Vec<u8>>) -> CK_ATTRIBUTE {
        match buf {
            Some(b) => CK_ATTRIBUTE {
                type_: kind,
                pValue: b.as_mut_ptr().cast(),
                ulValueLen: b.len() as CK_ULONG,
            },
            None => CK_ATTRIBUTE {
                type_: kind,
                pValue: std::ptr::null_mut(),
                ulValueLen: 0,
            },
        }
    }

    #[test]
    fn unwraps_short_and_long_forms_only_when_exact() {
        assert_eq!(unwrap_octet_string(&der_point()), &P256_POINT[..]);
        let ed = [&[0x04u8, 0x20][..], &[7u8; 32][..]].concat();
        assert_eq!(unwrap_octet_string(&ed), &[7u8; 32][..]);
        let mut long = vec![0x04, 0x81, 0x85];
        long.extend_from_slice(&[1u8; 0x85]);
        assert_eq!(unwrap_octet_string(&long), &[1u8; 0x85][..]);
        // Already raw, or trailing bytes: untouched.
        assert_eq!(unwrap_octet_string(&P256_POINT), &P256_POINT[..]);
        let mut trailing = der_point();
        trailing.push(0);
        assert_eq!(unwrap_octet_string(&trailing), &trailing[..]);
        assert_eq!(unwrap_octet_string(&[]), &[] as &[u8]);
    }

    #[test]
    fn two_pass_protocol_with_raw_points() {
        // Pass 1: lengths.
        let mut t = [attr(CKA_LABEL, None), attr(CKA_EC_POINT, None)];
        // SAFETY: valid template.
        let rv = unsafe { get_with_raw_ec_point(fake_get, 1, 2, t.as_mut_ptr(), 2) };
        assert_eq!(rv, CKR_OK);
        assert_eq!(t[0].ulValueLen, 1);
        assert_eq!(t[1].ulValueLen, 65);
        // Pass 2: buffers of exactly those sizes (smaller than the DER form).
        let mut label = vec![0u8; 1];
        let mut point = vec![0u8; 65];
        let mut t = [
            attr(CKA_LABEL, Some(&mut label)),
            attr(CKA_EC_POINT, Some(&mut point)),
        ];
        // SAFETY: valid template and buffers.
        let rv = unsafe { get_with_raw_ec_point(fake_get, 1, 2, t.as_mut_ptr(), 2) };
        assert_eq!(rv, CKR_OK);
        assert_eq!(t[1].ulValueLen, 65);
        assert_eq!(label, b"k");
        assert_eq!(point, P256_POINT.to_vec());
    }

    #[test]
    fn small_buffers_and_per_attribute_errors() {
        let mut point = vec![0u8; 10];
        let mut t = [attr(CKA_EC_POINT, Some(&mut point))];
        // SAFETY: valid template and buffer.
        let rv = unsafe { get_with_raw_ec_point(fake_get, 1, 2, t.as_mut_ptr(), 1) };
        assert_eq!(rv, CKR_BUFFER_TOO_SMALL);
        assert_eq!(t[0].ulValueLen, CK_UNAVAILABLE_INFORMATION);

        let mut t = [attr(CKA_VALUE, None), attr(CKA_EC_POINT, None)];
        // SAFETY: valid template.
        let rv = unsafe { get_with_raw_ec_point(fake_get, 1, 2, t.as_mut_ptr(), 2) };
        assert_eq!(rv, CKR_ATTRIBUTE_SENSITIVE);
        assert_eq!(t[0].ulValueLen, CK_UNAVAILABLE_INFORMATION);
        assert_eq!(t[1].ulValueLen, 65, "the point is still reported");
    }
}
