//! Encrypting a generated password to its recipient's key.
//!
//! Threat: a password the connector generates for a new account must reach
//! only the person it is meant for. It never leaves the host in plaintext:
//! a ConductorOne create-account task names a recipient key, and the host
//! refuses the task (before creating anything) when it cannot encrypt to any
//! of the keys it is given. The admin API's create-account route takes the
//! same kind of key in its request ([`recipient_from_jwk`]) and answers
//! with the same ciphertext.
//!
//! Format (Baton's `baton/jwk/v1` provider, so ConductorOne can decrypt it):
//! the recipient is a public JSON web key; for an Ed25519 key the password
//! is encrypted with age to the key's `ssh-ed25519` form, the ciphertext is
//! base64 (standard alphabet) in `encrypted_bytes`, and `key_id` and the
//! one entry of `key_ids` are the hex SHA-256 JWK thumbprint (RFC 7638) of
//! the public key.

use std::io::Write as _;
use std::str::FromStr as _;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use baton_api::connector::{EncryptedData, EncryptionConfig, encryption_config::Config};
use sha2::{Digest as _, Sha256};

pub const JWK_PROVIDER: &str = "baton/jwk/v1";

/// A key the host can encrypt to.
pub struct Recipient {
    ssh_key: String,
    key_id: String,
}

/// The first config the host can encrypt to, or why none fits.
pub fn recipient(configs: &[EncryptionConfig]) -> Result<Recipient, String> {
    if configs.is_empty() {
        return Err(
            "a generated password needs an encryption config to be returned, and the task has none"
                .into(),
        );
    }
    let mut reasons = Vec::new();
    for c in configs {
        match from_config(c) {
            Ok(r) => return Ok(r),
            Err(e) => reasons.push(e),
        }
    }
    Err(format!(
        "no usable encryption config for the generated password: {}",
        reasons.join("; ")
    ))
}

fn from_config(c: &EncryptionConfig) -> Result<Recipient, String> {
    let provider = if c.provider.is_empty() {
        JWK_PROVIDER
    } else {
        c.provider.as_str()
    };
    match (&c.config, provider) {
        (Some(Config::JwkPublicKeyConfig(jwk)), JWK_PROVIDER) => recipient_from_jwk(&jwk.pub_key),
        (_, p) => Err(format!(
            "provider {p:?} is not supported (only {JWK_PROVIDER} with an Ed25519 key)"
        )),
    }
}

#[derive(serde::Deserialize)]
struct PublicJwk {
    kty: String,
    crv: Option<String>,
    x: Option<String>,
}

/// A recipient from a public JWK's JSON (only `OKP`/`Ed25519`), or why not.
pub fn recipient_from_jwk(json: &[u8]) -> Result<Recipient, String> {
    let jwk: PublicJwk =
        serde_json::from_slice(json).map_err(|e| format!("the public key is not a JWK: {e}"))?;
    if jwk.kty != "OKP" || jwk.crv.as_deref() != Some("Ed25519") {
        return Err(format!(
            "key type {}/{} is not supported (only OKP/Ed25519)",
            jwk.kty,
            jwk.crv.unwrap_or_default()
        ));
    }
    let x = jwk.x.ok_or("the public key has no \"x\"")?;
    let public = URL_SAFE_NO_PAD
        .decode(&x)
        .map_err(|_| "the public key's \"x\" is not base64url".to_string())?;
    if public.len() != 32 {
        return Err("the public key's \"x\" is not 32 bytes".into());
    }
    // RFC 7638: the required members, sorted, no whitespace.
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    let key_id = hex::encode(Sha256::digest(canonical.as_bytes()));
    // OpenSSH wire format: string "ssh-ed25519", string key.
    let mut wire = Vec::with_capacity(51);
    for part in [b"ssh-ed25519".as_slice(), public.as_slice()] {
        wire.extend_from_slice(&(part.len() as u32).to_be_bytes());
        wire.extend_from_slice(part);
    }
    Ok(Recipient {
        ssh_key: format!("ssh-ed25519 {}", STANDARD.encode(wire)),
        key_id,
    })
}

impl Recipient {
    /// The key's RFC 7638 thumbprint (hex SHA-256), as `key_id` reports it.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The password as Baton's connector builder returns it.
    pub fn encrypt_password(&self, password: &[u8]) -> Result<EncryptedData, String> {
        let recipient = age::ssh::Recipient::from_str(&self.ssh_key)
            .map_err(|e| format!("the recipient key: {e:?}"))?;
        let encryptor =
            age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
                .map_err(|e| format!("age: {e}"))?;
        let mut ciphertext = Vec::new();
        let written = (|| {
            let mut writer = encryptor.wrap_output(&mut ciphertext)?;
            writer.write_all(password)?;
            writer.finish()
        })();
        written.map_err(|e| format!("age: {e}"))?;
        Ok(EncryptedData {
            provider: JWK_PROVIDER.into(),
            key_id: self.key_id.clone(),
            name: "password".into(),
            description: "Generated password for the new account".into(),
            schema: String::new(),
            encrypted_bytes: STANDARD.encode(ciphertext).into_bytes(),
            // Baton's provider fills both: `key_id` is deprecated in favour
            // of `key_ids`, and readers of either find the key.
            key_ids: vec![self.key_id.clone()],
        })
    }
}

/// The private side, shared with the admin API's and the end-to-end tests.
#[cfg(test)]
#[path = "../../tests/common/age_key.rs"]
pub(crate) mod age_key;

#[cfg(test)]
mod tests {
    use super::age_key;
    use super::*;
    use baton_api::connector::encryption_config::JwkPublicKeyConfig;

    fn config_for(public: [u8; 32]) -> EncryptionConfig {
        let jwk = serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(public)});
        EncryptionConfig {
            provider: JWK_PROVIDER.into(),
            config: Some(Config::JwkPublicKeyConfig(JwkPublicKeyConfig {
                pub_key: jwk.to_string().into_bytes(),
            })),
            ..Default::default()
        }
    }

    #[test]
    fn passwords_decrypt_with_the_recipients_private_key_only() {
        let signing = ed25519_dalek::SigningKey::from_bytes(&[5; 32]);
        let config = config_for(signing.verifying_key().to_bytes());
        let data = recipient(&[config])
            .unwrap()
            .encrypt_password(b"s3cret-P4ss")
            .unwrap();
        assert_eq!(data.provider, JWK_PROVIDER);
        assert_eq!(data.key_id.len(), 64);
        assert_eq!(data.key_ids, std::slice::from_ref(&data.key_id));
        let text = String::from_utf8(data.encrypted_bytes.clone()).unwrap();
        assert!(!text.contains("s3cret"));
        // Decrypt as ConductorOne would: age with the ssh-ed25519 identity.
        assert_eq!(age_key::decrypt(&signing, text.as_bytes()), b"s3cret-P4ss");
        let other = ed25519_dalek::SigningKey::from_bytes(&[6; 32]);
        let pem = age_key::ssh_private_key(&other);
        let identity = age::ssh::Identity::from_buffer(pem.as_bytes(), None).unwrap();
        let ciphertext = STANDARD.decode(text).unwrap();
        let wrong = age::Decryptor::new(&ciphertext[..])
            .unwrap()
            .decrypt(std::iter::once(&identity as &dyn age::Identity));
        assert!(wrong.is_err(), "another key cannot decrypt it");
    }

    #[test]
    fn thumbprints_follow_rfc_7638() {
        // RFC 8037 appendix A.3: the Ed25519 example key's thumbprint.
        let jwk =
            br#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;
        let r = recipient_from_jwk(jwk).unwrap();
        assert_eq!(
            r.key_id,
            hex::encode(
                URL_SAFE_NO_PAD
                    .decode("kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k")
                    .unwrap()
            )
        );
    }

    #[test]
    fn unusable_configs_are_refused_with_reasons() {
        let e = recipient(&[]).err().unwrap();
        assert!(e.contains("has none"), "{e}");
        let age_cfg = EncryptionConfig {
            provider: "baton/age/v1".into(),
            ..Default::default()
        };
        let e = recipient(&[age_cfg]).err().unwrap();
        assert!(e.contains("baton/age/v1"), "{e}");
        let rsa = EncryptionConfig {
            provider: JWK_PROVIDER.into(),
            config: Some(Config::JwkPublicKeyConfig(JwkPublicKeyConfig {
                pub_key: br#"{"kty":"RSA","n":"x","e":"AQAB"}"#.to_vec(),
            })),
            ..Default::default()
        };
        let e = recipient(&[rsa]).err().unwrap();
        assert!(e.contains("RSA"), "{e}");
    }
}
