//! Deterministic, non-cryptographic hashes (64-bit FNV-1a) for seeded names and
//! ids and for the OpenAPI `hash` parameter. Nothing secret is derived from them.

/// Hashes text with 64-bit FNV-1a.
pub(crate) fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Derives 64 hexadecimal digits from `seed`, shaped like a SHA-256 digest.
pub(crate) fn hex64(seed: &str) -> String {
    (0..4)
        .map(|round| format!("{:016x}", fnv1a(&format!("{round}:{seed}"))))
        .collect()
}

/// Alphabet Kubernetes uses for generated name suffixes: no vowels and no digits
/// that look like letters, so suffixes never spell words.
const NAME_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// Derives a name suffix of `length` characters in the generated-name alphabet from `seed`.
pub(crate) fn name_suffix(seed: &str, length: usize) -> String {
    let base = NAME_ALPHABET.len() as u64;
    let mut hash = fnv1a(seed);
    (0..length)
        .map(|round| {
            if hash < base {
                hash = fnv1a(&format!("{round}:{seed}"));
            }
            let character = NAME_ALPHABET[(hash % base) as usize];
            hash /= base;
            character as char
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_suffix_stable() {
        let suffix = name_suffix("shop/web", 10);
        assert_eq!(suffix.len(), 10);
        assert_eq!(suffix, name_suffix("shop/web", 10));
        assert_ne!(suffix, name_suffix("shop/cart", 10));
        assert!(suffix.bytes().all(|byte| NAME_ALPHABET.contains(&byte)));
    }
}
