//! What a test asserts of a type that holds a secret: its `Debug` output
//! shows no part of the secret, in any of the forms a careless
//! `#[derive(Debug)]` would print it in.

use std::fmt::Debug;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

/// The length of the fragments looked for: long enough that a fragment of a
/// random secret turns up by chance practically never, short enough to catch
/// a secret printed in part or cut short.
pub const WINDOW: usize = 8;

/// Fails the test when `{:?}` or `{:#?}` of `value` shows any [`WINDOW`]
/// consecutive bytes of `secret`: as they are, in hex, as the list of numbers
/// `Debug` prints for bytes, or as any run of [`WINDOW`] characters of its
/// base64 (standard or URL-safe, at every alignment). The body of a PEM file
/// is the standard base64 of its DER, so passing the DER covers the PEM too.
#[track_caller]
pub fn assert_debug_hides(value: &impl Debug, secret: &[u8]) {
    assert!(
        secret.len() >= WINDOW,
        "a secret to look for needs at least {WINDOW} bytes"
    );
    for output in [format!("{value:?}"), format!("{value:#?}")] {
        if let Some(fragment) = exposed_fragment(&output, secret) {
            panic!("Debug output shows the secret ({fragment}):\n{output}");
        }
    }
}

/// The DER of the first block of a PEM file (a private key, say), for
/// [`assert_debug_hides`].
pub fn pem_der(pem: &[u8]) -> anyhow::Result<Vec<u8>> {
    let text = std::str::from_utf8(pem).context("PEM is not text")?;
    let body: String = text
        .lines()
        .skip_while(|line| !line.starts_with("-----BEGIN "))
        .skip(1)
        .take_while(|line| !line.starts_with("-----END "))
        .map(str::trim)
        .collect();
    anyhow::ensure!(!body.is_empty(), "no PEM block");
    STANDARD.decode(body).context("PEM body is not base64")
}

/// The first fragment of `secret` found in `output`, described.
fn exposed_fragment(output: &str, secret: &[u8]) -> Option<String> {
    let bytes = output.as_bytes();
    let lower = output.to_lowercase();
    let numbers: String = output.chars().filter(|c| !c.is_whitespace()).collect();
    for window in secret.windows(WINDOW) {
        if bytes.windows(WINDOW).any(|candidate| candidate == window) {
            return Some(format!("bytes {}", String::from_utf8_lossy(window)));
        }
        let hex: String = window.iter().map(|b| format!("{b:02x}")).collect();
        if lower.contains(&hex) {
            return Some(format!("hex {hex}"));
        }
        let listed = window.iter().map(u8::to_string).collect::<Vec<_>>().join(",");
        if numbers.contains(&listed) {
            return Some(format!("numbers [{listed}]"));
        }
    }
    for skip in 0..3.min(secret.len()) {
        for encoded in [
            STANDARD.encode(&secret[skip..]),
            URL_SAFE_NO_PAD.encode(&secret[skip..]),
        ] {
            // The last characters of an encoding depend on where it stops.
            let stable = encoded.trim_end_matches('=');
            let stable = &stable[..stable.len().saturating_sub(3)];
            if let Some(run) = stable
                .as_bytes()
                .windows(WINDOW)
                .find(|run| bytes.windows(WINDOW).any(|candidate| candidate == *run))
            {
                return Some(format!("base64 {}", String::from_utf8_lossy(run)));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"Zr4-distinctive-Secret-Value-9Qk";

    #[derive(Debug)]
    #[allow(dead_code)] // read only through Debug
    struct Leaky {
        text: String,
        bytes: Vec<u8>,
        encoded: String,
    }

    #[test]
    fn a_secret_shown_in_any_form_is_found() {
        let part = &SECRET[5..5 + WINDOW];
        let shown = [
            Leaky {
                text: String::from_utf8_lossy(part).into_owned(),
                bytes: Vec::new(),
                encoded: String::new(),
            },
            Leaky {
                text: String::new(),
                bytes: part.to_vec(),
                encoded: String::new(),
            },
            Leaky {
                text: String::new(),
                bytes: Vec::new(),
                encoded: part.iter().map(|b| format!("{b:02X}")).collect(),
            },
            Leaky {
                text: String::new(),
                bytes: Vec::new(),
                encoded: STANDARD.encode(&SECRET[1..]),
            },
            Leaky {
                text: String::new(),
                bytes: Vec::new(),
                encoded: URL_SAFE_NO_PAD.encode(SECRET),
            },
        ];
        for leaky in &shown {
            for output in [format!("{leaky:?}"), format!("{leaky:#?}")] {
                assert!(exposed_fragment(&output, SECRET).is_some(), "{output}");
            }
        }
    }

    #[test]
    fn the_der_of_a_pem_block_is_its_body_decoded() -> anyhow::Result<()> {
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            STANDARD.encode(SECRET)
        );
        assert_eq!(pem_der(pem.as_bytes())?, SECRET);
        Ok(())
    }

    #[test]
    fn a_redacted_value_passes() {
        let redacted = Leaky {
            text: "[REDACTED]".into(),
            bytes: SECRET[..WINDOW - 1].to_vec(),
            encoded: String::from_utf8_lossy(&SECRET[..WINDOW - 1]).into_owned(),
        };
        assert_debug_hides(&redacted, SECRET);
    }
}
