//! Test only: the private side of a generated password's encryption.
//!
//! Decision: passwords leave the host only age-encrypted to an Ed25519 key
//! (Baton's `baton/jwk/v1`), so a test that checks one needs the matching
//! private key in the OpenSSH form age reads. One copy of that, shared by
//! the encryption module's unit tests and the end-to-end tests.
#![allow(dead_code)]

use std::io::Read as _;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

/// The public JWK (`OKP`/`Ed25519`) a caller hands the host for `key`.
pub fn public_jwk(key: &ed25519_dalek::SigningKey) -> serde_json::Value {
    serde_json::json!({
        "kty": "OKP",
        "crv": "Ed25519",
        "x": URL_SAFE_NO_PAD.encode(key.verifying_key().to_bytes()),
    })
}

/// Decrypts base64 age ciphertext with `key`, as the key's owner would.
pub fn decrypt(key: &ed25519_dalek::SigningKey, base64_ciphertext: &[u8]) -> Vec<u8> {
    let pem = ssh_private_key(key);
    let identity = age::ssh::Identity::from_buffer(pem.as_bytes(), None).unwrap();
    let ciphertext = STANDARD
        .decode(base64_ciphertext)
        .expect("base64 ciphertext");
    let decryptor = age::Decryptor::new(&ciphertext[..]).unwrap();
    let mut reader = decryptor
        .decrypt(std::iter::once(&identity as &dyn age::Identity))
        .unwrap();
    let mut plain = Vec::new();
    reader.read_to_end(&mut plain).unwrap();
    plain
}

/// An unencrypted OpenSSH private key file for `key`.
pub fn ssh_private_key(key: &ed25519_dalek::SigningKey) -> String {
    fn string(out: &mut Vec<u8>, s: &[u8]) {
        out.extend_from_slice(&(s.len() as u32).to_be_bytes());
        out.extend_from_slice(s);
    }
    let public = key.verifying_key().to_bytes();
    let mut pubblob = Vec::new();
    string(&mut pubblob, b"ssh-ed25519");
    string(&mut pubblob, &public);
    let mut private = Vec::new();
    private.extend_from_slice(&[1, 2, 3, 4, 1, 2, 3, 4]);
    string(&mut private, b"ssh-ed25519");
    string(&mut private, &public);
    let mut both = key.to_bytes().to_vec();
    both.extend_from_slice(&public);
    string(&mut private, &both);
    string(&mut private, b"");
    let mut pad = 1u8;
    while private.len() % 8 != 0 {
        private.push(pad);
        pad += 1;
    }
    let mut blob = b"openssh-key-v1\0".to_vec();
    string(&mut blob, b"none");
    string(&mut blob, b"none");
    string(&mut blob, b"");
    blob.extend_from_slice(&1u32.to_be_bytes());
    string(&mut blob, &pubblob);
    string(&mut blob, &private);
    let b64 = STANDARD.encode(blob);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(70)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN OPENSSH PRIVATE KEY-----\n{}\n-----END OPENSSH PRIVATE KEY-----\n",
        lines.join("\n")
    )
}
