//! Reads the subject common name of an X.509 certificate, the user name that
//! kube-apiserver takes from a verified client certificate.
//!
//! The reader walks only the DER structure from the certificate down to its
//! subject (RFC 5280, section 4.1). It runs on certificates that rustls has
//! already verified, and returns `None` for anything it does not understand.

/// Object identifier 2.5.4.3, `id-at-commonName`, as DER content bytes.
const COMMON_NAME_OID: &[u8] = &[0x55, 0x04, 0x03];

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const INTEGER: u8 = 0x02;
const OBJECT_IDENTIFIER: u8 = 0x06;
const UTF8_STRING: u8 = 0x0c;
const PRINTABLE_STRING: u8 = 0x13;
const IA5_STRING: u8 = 0x16;
/// `[0] EXPLICIT Version` at the start of a `TBSCertificate`.
const VERSION_TAG: u8 = 0xa0;

/// Returns the subject common name of the DER certificate `certificate`.
///
/// With several common names it returns the last, as Go's `crypto/x509` does
/// for kube-apiserver. Returns `None` when the subject has none, or when the
/// name is not a UTF8String, PrintableString or IA5String.
pub(crate) fn common_name(certificate: &[u8]) -> Option<String> {
    let (certificate, _) = expect(certificate, SEQUENCE)?;
    let (tbs, _) = expect(certificate, SEQUENCE)?;
    let mut rest = tbs;
    if rest.first() == Some(&VERSION_TAG) {
        rest = element(rest)?.2;
    }
    let (_, rest) = expect(rest, INTEGER)?;
    // The signature algorithm, the issuer and the validity precede the subject.
    let (_, rest) = expect(rest, SEQUENCE)?;
    let (_, rest) = expect(rest, SEQUENCE)?;
    let (_, rest) = expect(rest, SEQUENCE)?;
    let (subject, _) = expect(rest, SEQUENCE)?;
    last_common_name(subject)
}

/// Returns the last common name among the relative distinguished names of a
/// `Name`'s content.
fn last_common_name(mut name: &[u8]) -> Option<String> {
    let mut found = None;
    while !name.is_empty() {
        let (relative_name, rest) = expect(name, SET)?;
        name = rest;
        let mut attributes = relative_name;
        while !attributes.is_empty() {
            let (attribute, rest) = expect(attributes, SEQUENCE)?;
            attributes = rest;
            let (oid, value) = expect(attribute, OBJECT_IDENTIFIER)?;
            if oid == COMMON_NAME_OID {
                found = Some(string_value(value)?);
            }
        }
    }
    found
}

/// Decodes an attribute value that is one of the string types that
/// certificates use for names in ASCII or UTF-8.
fn string_value(value: &[u8]) -> Option<String> {
    let (tag, content, _) = element(value)?;
    match tag {
        UTF8_STRING | PRINTABLE_STRING | IA5_STRING => String::from_utf8(content.to_vec()).ok(),
        _ => None,
    }
}

/// Splits the element at the start of `input` with tag `tag` into its content
/// and the bytes after it.
fn expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (found, content, rest) = element(input)?;
    (found == tag).then_some((content, rest))
}

/// Splits the DER element at the start of `input` into its tag, its content
/// and the bytes after it. Tags above 30, which need more than one byte, and
/// lengths above 4 GiB return `None`.
fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, input) = input.split_first()?;
    if tag & 0x1f == 0x1f {
        return None;
    }
    let (&first, mut input) = input.split_first()?;
    let length = if first < 0x80 {
        usize::from(first)
    } else {
        let octets = usize::from(first & 0x7f);
        if octets == 0 || octets > 4 || input.len() < octets {
            return None;
        }
        let (digits, rest) = input.split_at(octets);
        input = rest;
        digits
            .iter()
            .fold(0usize, |length, digit| (length << 8) | usize::from(*digit))
    };
    if input.len() < length {
        return None;
    }
    let (content, rest) = input.split_at(length);
    Some((tag, content, rest))
}

#[cfg(test)]
mod tests {
    use rcgen::{CertificateParams, DistinguishedName, DnType, DnValue, KeyPair};

    use super::*;

    fn certificate(name: DistinguishedName) -> Vec<u8> {
        let mut params = CertificateParams::default();
        params.distinguished_name = name;
        let key = KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn common_name_read_from_subject() {
        let mut name = DistinguishedName::new();
        name.push(DnType::OrganizationName, "system:masters");
        name.push(DnType::CommonName, "alice");
        assert_eq!(common_name(&certificate(name)).as_deref(), Some("alice"));
    }

    #[test]
    fn printable_string_common_name_read() {
        let mut name = DistinguishedName::new();
        let value = DnValue::PrintableString("bob".try_into().unwrap());
        name.push(DnType::CommonName, value);
        assert_eq!(common_name(&certificate(name)).as_deref(), Some("bob"));
    }

    #[test]
    fn subject_without_common_name() {
        let mut name = DistinguishedName::new();
        name.push(DnType::OrganizationName, "system:masters");
        assert_eq!(common_name(&certificate(name)), None);
    }

    #[test]
    fn malformed_input_rejected() {
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, "alice");
        let der = certificate(name);
        for length in [0, 1, 2, 10, der.len() / 2, der.len() - 1] {
            assert_eq!(common_name(&der[..length]), None, "first {length} bytes");
        }
        assert_eq!(common_name(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
        assert_eq!(common_name(b"not a certificate"), None);
    }
}
