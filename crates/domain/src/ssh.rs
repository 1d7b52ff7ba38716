//! SSH public keys that users register for the platform's SSH tunnel service.
//!
//! A key is parsed with the `ssh-key` crate from the one line of an OpenSSH `.pub` file
//! (`ssh-ed25519 AAAA... ann@laptop`). The platform accepts ed25519, ECDSA (NIST P-256, P-384,
//! P-521) and RSA keys of at least 2048 bits; everything else is refused with a message that
//! says what was pasted and what to paste instead. A key is identified by its SHA-256
//! fingerprint, written as `ssh-keygen -l` prints it.

use ssh_key::public::KeyData;
use ssh_key::{EcdsaCurve, HashAlg, PublicKey};

use crate::DomainError;
use crate::organization::Name;

/// The input field a public key comes in.
const FIELD: &str = "publicKey";

/// What to do instead, appended to refusals.
const ACCEPTED: &str = "use an ed25519, ECDSA (nistp256, nistp384 or nistp521) or RSA \
    (at least 2048 bits) key; generate one with ssh-keygen -t ed25519";

/// The kinds of key the platform accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SshKeyAlgorithm {
    Ed25519,
    EcdsaP256,
    EcdsaP384,
    EcdsaP521,
    Rsa,
}

impl SshKeyAlgorithm {
    pub const ALL: [SshKeyAlgorithm; 5] = [
        SshKeyAlgorithm::Ed25519,
        SshKeyAlgorithm::EcdsaP256,
        SshKeyAlgorithm::EcdsaP384,
        SshKeyAlgorithm::EcdsaP521,
        SshKeyAlgorithm::Rsa,
    ];

    /// The algorithm's OpenSSH name, as the first word of a `.pub` file.
    pub fn code(self) -> &'static str {
        match self {
            SshKeyAlgorithm::Ed25519 => "ssh-ed25519",
            SshKeyAlgorithm::EcdsaP256 => "ecdsa-sha2-nistp256",
            SshKeyAlgorithm::EcdsaP384 => "ecdsa-sha2-nistp384",
            SshKeyAlgorithm::EcdsaP521 => "ecdsa-sha2-nistp521",
            SshKeyAlgorithm::Rsa => "ssh-rsa",
        }
    }

    pub fn from_code(code: &str) -> Option<SshKeyAlgorithm> {
        SshKeyAlgorithm::ALL
            .into_iter()
            .find(|algorithm| algorithm.code() == code)
    }
}

/// A validated OpenSSH public key of an accepted kind and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshPublicKey {
    algorithm: SshKeyAlgorithm,
    bits: u32,
    openssh: String,
    fingerprint: SshFingerprint,
    comment: Option<String>,
}

impl SshPublicKey {
    pub const MIN_RSA_BITS: u32 = 2048;
    /// The largest key `ssh-keygen` makes; bigger ones only cost time at every login.
    pub const MAX_RSA_BITS: u32 = 16384;
    /// Far more than the longest accepted key (a 16384-bit RSA key is about 2 800
    /// characters), so that nothing larger is parsed at all.
    pub const MAX_LEN: usize = 8192;

    /// Parses the line of a `.pub` file: the algorithm, the base64 key and an optional
    /// comment. Surrounding white space is ignored.
    pub fn parse(value: &str) -> Result<Self, DomainError> {
        let value = value.trim();
        if value.is_empty() {
            return Err(DomainError::invalid(
                FIELD,
                "must not be empty; paste the contents of your public key file, such as \
                 ~/.ssh/id_ed25519.pub",
            ));
        }
        let private = (value.starts_with("-----BEGIN") && value.contains("PRIVATE KEY"))
            || value.starts_with("PuTTY-User-Key-File");
        if private {
            return Err(DomainError::invalid(
                FIELD,
                "this is a private key; paste the .pub file instead (such as \
                 ~/.ssh/id_ed25519.pub), and keep the private key to yourself",
            ));
        }
        if value.len() > Self::MAX_LEN {
            return Err(DomainError::invalid(
                FIELD,
                format!(
                    "is too long for a public key (at most {} characters); paste the one line \
                     of your .pub file",
                    Self::MAX_LEN
                ),
            ));
        }
        if value.starts_with("---- BEGIN SSH2 PUBLIC KEY") {
            return Err(DomainError::invalid(
                FIELD,
                "is in the SSH2 (RFC 4716) format; convert it with ssh-keygen -i -f KEY.pub \
                 and paste the one line it prints",
            ));
        }
        if value.starts_with("-----BEGIN") {
            return Err(DomainError::invalid(
                FIELD,
                "is a PEM file, not an OpenSSH public key; paste the one line of your .pub \
                 file (ssh-keygen -y -f KEY prints it)",
            ));
        }
        if value.lines().count() > 1 {
            return Err(DomainError::invalid(
                FIELD,
                "must be one key on one line; add each key on its own",
            ));
        }
        let kind = value.split_whitespace().next().unwrap_or_default();
        if kind == "ssh-dss" {
            return Err(DomainError::invalid(
                FIELD,
                format!("DSA keys are not accepted, since they are weak; {ACCEPTED}"),
            ));
        }
        if kind.ends_with("-cert-v01@openssh.com") {
            return Err(DomainError::invalid(
                FIELD,
                "this is an SSH certificate, not a public key; paste the key it was issued \
                 for (the .pub file without -cert)",
            ));
        }
        if kind.starts_with("sk-") {
            return Err(DomainError::invalid(
                FIELD,
                format!("security-key (FIDO) keys are not accepted yet; {ACCEPTED}"),
            ));
        }
        let not_a_key = || {
            DomainError::invalid(
                FIELD,
                "is not an OpenSSH public key; paste the one line of your .pub file, such as \
                 ssh-ed25519 AAAAC3Nza... you@host (ssh-keygen -t ed25519 makes one)",
            )
        };
        let key = PublicKey::from_openssh(&single_spaced(value)).map_err(|_| not_a_key())?;
        let (algorithm, bits) = match key.key_data() {
            KeyData::Ed25519(_) => (SshKeyAlgorithm::Ed25519, 256),
            KeyData::Ecdsa(ecdsa) => match ecdsa.curve() {
                EcdsaCurve::NistP256 => (SshKeyAlgorithm::EcdsaP256, 256),
                EcdsaCurve::NistP384 => (SshKeyAlgorithm::EcdsaP384, 384),
                EcdsaCurve::NistP521 => (SshKeyAlgorithm::EcdsaP521, 521),
            },
            KeyData::Rsa(rsa) => {
                let bits = rsa
                    .n
                    .as_positive_bytes()
                    .map(bit_length)
                    .ok_or_else(not_a_key)?;
                if bits < Self::MIN_RSA_BITS {
                    return Err(DomainError::invalid(
                        FIELD,
                        format!(
                            "RSA keys must have at least {} bits; this one has {bits}; \
                             generate one with ssh-keygen -t ed25519",
                            Self::MIN_RSA_BITS
                        ),
                    ));
                }
                if bits > Self::MAX_RSA_BITS {
                    return Err(DomainError::invalid(
                        FIELD,
                        format!(
                            "RSA keys may have at most {} bits; this one has {bits}; \
                             generate one with ssh-keygen -t ed25519",
                            Self::MAX_RSA_BITS
                        ),
                    ));
                }
                (SshKeyAlgorithm::Rsa, bits)
            }
            KeyData::Dsa(_) => {
                return Err(DomainError::invalid(
                    FIELD,
                    format!("DSA keys are not accepted, since they are weak; {ACCEPTED}"),
                ));
            }
            _ => {
                return Err(DomainError::invalid(
                    FIELD,
                    format!("keys of this kind are not accepted; {ACCEPTED}"),
                ));
            }
        };
        // The stored form leaves the comment out, so the same key pasted with another
        // comment is the same key.
        let openssh = PublicKey::new(key.key_data().clone(), "")
            .to_openssh()
            .map_err(|_| not_a_key())?;
        let comment = key.comment().trim();
        Ok(Self {
            algorithm,
            bits,
            openssh: openssh.trim().to_owned(),
            fingerprint: SshFingerprint(key.fingerprint(HashAlg::Sha256).to_string()),
            comment: (!comment.is_empty()).then(|| comment.to_owned()),
        })
    }

    pub fn algorithm(&self) -> SshKeyAlgorithm {
        self.algorithm
    }

    /// The key's size: 256 for ed25519, the curve's for ECDSA, the modulus's for RSA.
    pub fn bits(&self) -> u32 {
        self.bits
    }

    /// `ALGORITHM BASE64`, without the comment.
    pub fn openssh(&self) -> &str {
        &self.openssh
    }

    pub fn fingerprint(&self) -> &SshFingerprint {
        &self.fingerprint
    }

    /// The comment of the `.pub` line (often `user@host`), if it had one.
    pub fn comment(&self) -> Option<&str> {
        self.comment.as_deref()
    }

    /// The title a key is stored with: the one given, else the key's comment.
    pub fn title(&self, given: Option<&str>) -> Result<Name, DomainError> {
        match given.map(str::trim).filter(|title| !title.is_empty()) {
            Some(title) => Name::parse("title", title),
            None => match self.comment() {
                // A comment too long for a title is cut rather than refused: the user gave
                // no title to correct.
                Some(comment) => Name::parse(
                    "title",
                    &comment.chars().take(Name::MAX_LEN).collect::<String>(),
                ),
                None => Err(DomainError::invalid(
                    "title",
                    "give the key a title, such as the name of the computer it is on (the key \
                     has no comment to use instead)",
                )),
            },
        }
    }
}

/// The line with its fields separated by one space. OpenSSH reads fields separated by any run
/// of spaces and tabs (as a terminal or a web page may copy them); the `ssh-key` crate only
/// by one space. The comment keeps its own spacing.
fn single_spaced(line: &str) -> String {
    const BLANK: [char; 2] = [' ', '\t'];
    let (algorithm, rest) = line.split_once(BLANK).unwrap_or((line, ""));
    let rest = rest.trim_start_matches(BLANK);
    let (data, comment) = rest.split_once(BLANK).unwrap_or((rest, ""));
    [algorithm, data, comment.trim_start_matches(BLANK)]
        .into_iter()
        .filter(|field| !field.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The number of bits of a big-endian unsigned integer without leading zero bytes.
fn bit_length(bytes: &[u8]) -> u32 {
    let bytes = match bytes.iter().position(|byte| *byte != 0) {
        Some(first) => &bytes[first..],
        None => return 0,
    };
    let whole = u32::try_from(bytes.len().saturating_sub(1))
        .unwrap_or(u32::MAX / 8)
        .saturating_mul(8);
    whole.saturating_add(8 - bytes[0].leading_zeros())
}

/// A SHA-256 key fingerprint as `ssh-keygen -l` prints it: `SHA256:` and 43 characters of
/// unpadded base64.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SshFingerprint(String);

impl SshFingerprint {
    const PREFIX: &'static str = "SHA256:";

    /// Parses a fingerprint given by a client, such as the SSH tunnel service.
    pub fn parse(field: &'static str, value: &str) -> Result<Self, DomainError> {
        let value = value.trim();
        let valid = value.strip_prefix(Self::PREFIX).is_some_and(|hash| {
            hash.len() == 43
                && hash
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '/')
        });
        if valid {
            Ok(Self(value.to_owned()))
        } else {
            Err(DomainError::invalid(
                field,
                "is not a SHA-256 key fingerprint; give it as ssh-keygen -l prints it, \
                 SHA256: followed by 43 characters",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Generated once with `ssh-keygen -t TYPE [-b BITS] -f KEY -N '' -C COMMENT`; each
    // expected fingerprint is what `ssh-keygen -lf KEY.pub` printed for it.
    const ED25519: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBdIaQxXGnf+b9/H5E0Z5xaZQwH5SykbCve24Ot/fWh+ ann@laptop";
    const ECDSA_256: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBPTUmLpvn3hqX4W0XdZTIS0H+RJPFQkFlGB95GRpmhi/Ga74QwrVUd3b8NHfnc0KdkPaLQ7QOoaLcxsYkK8kmz8= ecdsa-256";
    const ECDSA_384: &str = "ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBEEdKc8PqI18PMXzjx8/F4xw4siaN+RGtevlKQ3fU9IYWftxe2BfCKp++vLhWVVkY/BfR9zxj0oQWr2SML1GklZtm9INs1vw6VUin2t7V+zvn4Q0SggmT6Az2fRuoQF3tQ== ecdsa-384";
    const ECDSA_521: &str = "ecdsa-sha2-nistp521 AAAAE2VjZHNhLXNoYTItbmlzdHA1MjEAAAAIbmlzdHA1MjEAAACFBAC7TqRBtnWocng2d/O77q/ftqEu0lB/6sqqn/1kKqUjzolXCvejX1poi3HQiRvZmQuc6/ua7ghoutM/IvqeJrgzuwHZdKbS7Ak/zJLweK1hmAoSxlF3R/2Ois77HgnQne42L34qSSn9iD8j8cB3CrakslQv9CFkt/MLgPNjiIvRwzhvKg== ecdsa-521";
    const RSA_2048: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDGaicHlHuutNb5UlIKhUeNL9VBkSnBbYZ3VeOrTo0ibCBTN0KjC1JDiK1Men3epcBOcarQ4h37MhaE5b+F+tgsb+lr+gCw5mNAR7JBlfCE4yusAalUkRWgTIbZ9up9zAD9fOFLP8FFMhnGBvpHAJzmfTEFsjlM0Xpol/sZpMKUL5bafd7V5fVklE7jzL3metTuRVYLeEixEFU8thtBiE0/2Kf27snnUGqJtzqh1RHb/q1TFRvi1gz4C3SWRpVpHThy3XmkMESipoWxnrOX85z1m1CCSw5un7IaUlWLeu4l463ZJXNhx/I7LVKiZC+rZfR6Veqh/IgbpoglmTWYuCdp rsa-2048";
    const RSA_4096: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAACAQCVhQ+JcxUPebW/+o2YIQGwp6RBnPI/SVVFN857kAqNQH2lMfiXZL/kk9qrHnXwap84jwnX36u/+3sZau0edwEUuAzGiqO4/fXhiq13IeiQdd+ZImIm11aAUsSjpqGL5Wbzigmc+OZxY5u6BZM/egvjk3CRbhiSswF15c09tXO1D/UvXRudlQ8bNDxB2rzUslwbAoM3DuJczx61Ohk4ymHih9WwdNvFumZoGnkUTuduzV9gWRSo/Tm7kiYss33NVMwbgQPAwcsn4pa2bVRJ1hOovm9h86lEgZV3J//4f28IAiRvJ8wPElluVhPbcuV4h/qz2YBUongfrJ/27fLkLlo5RTp6ocpJbU9XtudbEetwkokc4M+DYZje8PHDnZ6nQVPPaKDQR9LQYaVOiU92xH9DMSdXSL3My3dPu1PoE/j66/En/v6awqbVzDxiih8NcGcwXWyeSocIHq2TYsMX/D0KDoA/62YZItptXvyvUKr1qZsFCk1CCPyUYRBWUq28LsXiNye36GiiOWpRjjhYXlAHfFM7s7V+7enJC8SUN3sheJ2wc6EaL02sEFvCQgjsmEuhfbT/G3u+qV8tmOETqRmoQYWK3QqBom4Mdv0qaTug60amn/Z13E1Eu/bdIsLdinIZkK3h1PYV9ZESiQNCOPDh4AJFPEU61+1bkJpVVH9RTQ== rsa-4096";
    const RSA_1024: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC8GFkmfvwW9dBLV43ctw6/eYpzVzcTMMoh7gzeJ+SE3vz0/YG/CxojsUHITMbXR7kzGFWCnJTN32GYd896wbg7/Dum42Gd0hJet28oIyEMlgaADxC0Ftb6dhYMVrZTinMQhtqy8wbNe8eMGIKmASPt09rh2tbYExOA3i121lnVzw== rsa-1024";
    const DSA: &str = "ssh-dss AAAAB3NzaC1kc3MAAACBAI3dxnDC3OIKB9CSpaOsFu57gs+qrf1mkngtgFWRvxkzw+JTWz/7QopJbI4avGZDICIR/B8SaxRDffylkQj63aNEI7mfjQ+eMGSbv+TlBotjta2hSlWPjgiLa1sxLZk5VAIC92mlUq8qXmL2bGnFzblQMW/waFIGSWZXzSJCucWZAAAAFQCGPLO1iYTGzkpru53OTi9hSqkz1wAAAIByw/z0uWjKOB6ta+X5uk8ks3U6ZTStJjIXbAyUkkIQsMdwQADYnZe26jQBkv8H56de5uZ0JDccqapTJYUjxJ9QpXhBU2+GRr3mo5nNlv6cJfNZpltN0ZRMXjy/Uu06VIeKz6iY1ujGva49crgDRRPIivgupT1+F4ub+fud7NFUEwAAAIB6Ua7Hq/a8a66FJZiBHPQ6TGAzkVZV/L5CFTu9NHJjo5Qzcn8Ewb1oYDp2/8XCZtkdPcIkBkUqA19r+bieUTSW+u51mhofM8y88F7B7FlkptNSTDI/0pkw3y3QVvXKcQRYBs64uF32S1e/G9qE+J31GOV2n6ORjFWLGHBhb7RAXg== dsa";
    const CERTIFICATE: &str = "ssh-ed25519-cert-v01@openssh.com AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29tAAAAINRQi0ZqP7G3kcAIcH/NTod913KCcZcafnU+w584VoNYAAAAIFgEVOuz0p9+6RNybnGHAqQG2+Q+HEr/OPBw8+egITjIAAAAAAAAAAAAAAABAAAABGNlcnQAAAAHAAAAA2FubgAAAAAAAAAA//////////8AAAAAAAAAggAAABVwZXJtaXQtWDExLWZvcndhcmRpbmcAAAAAAAAAF3Blcm1pdC1hZ2VudC1mb3J3YXJkaW5nAAAAAAAAABZwZXJtaXQtcG9ydC1mb3J3YXJkaW5nAAAAAAAAAApwZXJtaXQtcHR5AAAAAAAAAA5wZXJtaXQtdXNlci1yYwAAAAAAAAAAAAAAMwAAAAtzc2gtZWQyNTUxOQAAACCauadTpnDmD+dEEfsNI7DF6rPtxn/DCHD/E8Hfzppk1gAAAFMAAAALc3NoLWVkMjU1MTkAAABAMdK/0N4w9R76CeksnQpzKUpGA5FSngM1Kt2yskKy6vEZraTgBFcy7jTyyQigFjS9ilDs2YL+HfnpxoxHngVgAA== bob@desk";
    const PRIVATE: &str = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n-----END OPENSSH PRIVATE KEY-----\n";

    fn refusal(value: &str) -> String {
        let error = SshPublicKey::parse(value).expect_err(value);
        assert_eq!(error.field(), Some("publicKey"), "{error}");
        error.to_string()
    }

    #[test]
    fn each_accepted_kind_parses_with_the_fingerprint_ssh_keygen_prints() {
        let cases = [
            (
                ED25519,
                SshKeyAlgorithm::Ed25519,
                256,
                "SHA256:dYoLD4Y1YYpaWinazqfjyo9InOHSek7yJXN6fMwqxoI",
                "ann@laptop",
            ),
            (
                ECDSA_256,
                SshKeyAlgorithm::EcdsaP256,
                256,
                "SHA256:m52UetRfdRX7u2kvUZMTMyqJn0q7sjwI6OWBy+I2Nsg",
                "ecdsa-256",
            ),
            (
                ECDSA_384,
                SshKeyAlgorithm::EcdsaP384,
                384,
                "SHA256:ZHblUPi5UpTLHwrUMsyVn/EKO3NDZQKZ8H7a99ryZk4",
                "ecdsa-384",
            ),
            (
                ECDSA_521,
                SshKeyAlgorithm::EcdsaP521,
                521,
                "SHA256:mah+ZwqGNDvs2dMKUgx2sHfiz4qvtQO37GiY+FlXomU",
                "ecdsa-521",
            ),
            (
                RSA_2048,
                SshKeyAlgorithm::Rsa,
                2048,
                "SHA256:e0K0AYHuaevU9/Jw1iDIFctailL9KC4CxNNSyhRSLsA",
                "rsa-2048",
            ),
            (
                RSA_4096,
                SshKeyAlgorithm::Rsa,
                4096,
                "SHA256:OD1CaZGm7MYukg93txWMl+fOVm7nlRsOAwRw7QLn/8A",
                "rsa-4096",
            ),
        ];
        for (line, algorithm, bits, fingerprint, comment) in cases {
            let key = SshPublicKey::parse(line).expect(line);
            assert_eq!(key.algorithm(), algorithm, "{line}");
            assert_eq!(key.bits(), bits, "{line}");
            assert_eq!(key.fingerprint().as_str(), fingerprint, "{line}");
            assert_eq!(key.comment(), Some(comment));
            let without_comment = line.rsplit_once(' ').map(|(key, _)| key);
            assert_eq!(Some(key.openssh()), without_comment);
            assert!(key.openssh().starts_with(algorithm.code()));
            assert_eq!(
                SshKeyAlgorithm::from_code(algorithm.code()),
                Some(algorithm)
            );
            assert_eq!(
                SshFingerprint::parse("fingerprint", fingerprint).as_ref(),
                Ok(key.fingerprint())
            );
        }
    }

    #[test]
    fn the_comment_does_not_change_the_key() {
        let bare = ED25519.trim_end_matches(" ann@laptop");
        let plain = SshPublicKey::parse(&format!("  {bare}\n")).expect("no comment");
        let commented = SshPublicKey::parse(ED25519).expect("comment");
        assert_eq!(plain.comment(), None);
        assert_eq!(plain.fingerprint(), commented.fingerprint());
        assert_eq!(plain.openssh(), commented.openssh());
    }

    #[test]
    fn fields_separated_by_tabs_or_several_spaces_are_read_as_openssh_reads_them() {
        let commented = SshPublicKey::parse(ED25519).expect("key");
        let (algorithm, rest) = ED25519.split_once(' ').expect("fields");
        let (data, comment) = rest.split_once(' ').expect("fields");
        for line in [
            format!("{algorithm}\t{data}\t{comment}"),
            format!("{algorithm}   {data}  \t {comment}"),
            format!("{algorithm} {data}\t"),
        ] {
            let key = SshPublicKey::parse(&line).expect(&line);
            assert_eq!(key.fingerprint(), commented.fingerprint(), "{line}");
            assert_eq!(key.openssh(), commented.openssh(), "{line}");
        }
        let spaced = SshPublicKey::parse(&format!("{algorithm} {data}  my  laptop")).expect("key");
        assert_eq!(spaced.comment(), Some("my  laptop"));
    }

    #[test]
    fn rsa_keys_under_2048_bits_are_refused_with_their_size() {
        let message = refusal(RSA_1024);
        assert!(
            message.contains("RSA keys must have at least 2048 bits; this one has 1024"),
            "{message}"
        );
        assert!(message.contains("ssh-keygen -t ed25519"), "{message}");
    }

    #[test]
    fn dsa_keys_certificates_and_private_keys_are_refused_saying_what_they_are() {
        assert!(refusal(DSA).contains("DSA keys are not accepted"));
        assert!(refusal(CERTIFICATE).contains("certificate"));
        let private = refusal(PRIVATE);
        assert!(
            private.contains("this is a private key; paste the .pub file instead"),
            "{private}"
        );
        assert!(refusal("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n").contains("private key"));
        assert!(refusal("-----BEGIN PUBLIC KEY-----\nMIIB\n").contains("PEM"));
        assert!(
            refusal("PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\n")
                .contains("private key")
        );
        // A comment is the user's own words: it is not mistaken for a private key.
        let commented = format!(
            "{} not my PRIVATE KEY",
            ED25519.trim_end_matches(" ann@laptop")
        );
        assert!(SshPublicKey::parse(&commented).is_ok());
        assert!(refusal("---- BEGIN SSH2 PUBLIC KEY ----\nAAAA\n").contains("ssh-keygen -i"));
        assert!(
            refusal("sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29t")
                .contains("security-key")
        );
    }

    #[test]
    fn garbage_is_refused_saying_what_to_paste() {
        for garbage in [
            "hello",
            "ssh-ed25519",
            "ssh-ed25519 not-base64!",
            // A valid ed25519 blob announced as another algorithm.
            "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIBdIaQxXGnf+b9/H5E0Z5xaZQwH5SykbCve24Ot/fWh+",
            // Cut short.
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBdIaQxXGnf+b9/H5E0Z5xaZ",
        ] {
            assert!(
                refusal(garbage).contains("is not an OpenSSH public key"),
                "{garbage}"
            );
        }
        assert!(refusal("   ").contains("must not be empty"));
        assert!(refusal(&format!("{ED25519}\n{RSA_2048}")).contains("one line"));
        assert!(refusal(&"A".repeat(SshPublicKey::MAX_LEN + 1)).contains("too long"));
    }

    #[test]
    fn the_title_is_the_one_given_or_else_the_comment() {
        let key = SshPublicKey::parse(ED25519).expect("key");
        assert_eq!(
            key.title(Some(" Work laptop "))
                .map(|t| t.as_str().to_owned()),
            Ok("Work laptop".to_owned())
        );
        assert_eq!(
            key.title(None).map(|t| t.as_str().to_owned()),
            Ok("ann@laptop".to_owned())
        );
        assert_eq!(
            key.title(Some("  ")).map(|t| t.as_str().to_owned()),
            Ok("ann@laptop".to_owned())
        );
        assert_eq!(
            key.title(Some(&"x".repeat(101))).expect_err("long").field(),
            Some("title")
        );
        let bare = SshPublicKey::parse(ED25519.trim_end_matches(" ann@laptop")).expect("key");
        assert_eq!(
            bare.title(None).expect_err("no title").field(),
            Some("title")
        );
    }

    #[test]
    fn fingerprints_are_parsed_as_ssh_keygen_prints_them() {
        assert!(
            SshFingerprint::parse(
                "fingerprint",
                "SHA256:dYoLD4Y1YYpaWinazqfjyo9InOHSek7yJXN6fMwqxoI"
            )
            .is_ok()
        );
        for bad in [
            "dYoLD4Y1YYpaWinazqfjyo9InOHSek7yJXN6fMwqxoI",
            "MD5:12:34",
            "SHA256:short",
            "SHA256:dYoLD4Y1YYpaWinazqfjyo9InOHSek7yJXN6fMwqxo=",
        ] {
            assert_eq!(
                SshFingerprint::parse("fingerprint", bad)
                    .expect_err(bad)
                    .field(),
                Some("fingerprint")
            );
        }
    }

    #[test]
    fn bit_lengths_ignore_leading_zero_bytes() {
        assert_eq!(bit_length(&[0x00, 0x80, 0x00]), 16);
        assert_eq!(bit_length(&[0x01, 0xff]), 9);
        assert_eq!(bit_length(&[]), 0);
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;
        use crate::strategies::{any_text, blank, text};

        const VALID: [&str; 6] = [ED25519, ECDSA_256, ECDSA_384, ECDSA_521, RSA_2048, RSA_4096];

        fn valid_key() -> impl Strategy<Value = SshPublicKey> {
            proptest::sample::select(&VALID[..])
                .prop_map(|line| SshPublicKey::parse(line).expect(line))
        }

        /// Lines that look like a key: an algorithm name, base64-ish data and a comment.
        fn key_like() -> impl Strategy<Value = String> {
            (
                proptest::sample::select(
                    &[
                        "ssh-ed25519",
                        "ecdsa-sha2-nistp256",
                        "ssh-rsa",
                        "ssh-dss",
                        "sk-x",
                        "x-cert-v01@openssh.com",
                        "",
                    ][..],
                ),
                "[A-Za-z0-9+/=]{0,300}",
                text(20),
            )
                .prop_map(|(algorithm, data, comment)| format!("{algorithm} AAAA{data} {comment}"))
        }

        /// What an accepted key must satisfy whatever was pasted: a known algorithm of an
        /// accepted size, a fingerprint in `ssh-keygen -l` form, and a stored form that reads
        /// back as the same key without a comment.
        fn check_accepted(key: &SshPublicKey) -> Result<(), TestCaseError> {
            let expected_bits = match key.algorithm() {
                SshKeyAlgorithm::Ed25519 | SshKeyAlgorithm::EcdsaP256 => 256,
                SshKeyAlgorithm::EcdsaP384 => 384,
                SshKeyAlgorithm::EcdsaP521 => 521,
                SshKeyAlgorithm::Rsa => {
                    prop_assert!(
                        (SshPublicKey::MIN_RSA_BITS..=SshPublicKey::MAX_RSA_BITS)
                            .contains(&key.bits())
                    );
                    key.bits()
                }
            };
            prop_assert_eq!(key.bits(), expected_bits);
            prop_assert_eq!(
                SshFingerprint::parse("fingerprint", key.fingerprint().as_str()),
                Ok(key.fingerprint().clone())
            );
            let prefix = format!("{} ", key.algorithm().code());
            prop_assert!(key.openssh().starts_with(&prefix), "{}", key.openssh());
            let stored = SshPublicKey::parse(key.openssh())
                .map_err(|error| TestCaseError::fail(error.to_string()))?;
            prop_assert_eq!(stored.fingerprint(), key.fingerprint());
            prop_assert_eq!(stored.openssh(), key.openssh());
            prop_assert_eq!(stored.comment(), None);
            Ok(())
        }

        proptest! {
            // Anything pasted is refused naming the field, or is a consistent accepted key.
            #[test]
            fn pasted_text_is_refused_or_a_consistent_key(value in prop_oneof![
                any_text(),
                key_like(),
                text(9000),
            ]) {
                match SshPublicKey::parse(&value) {
                    Ok(key) => check_accepted(&key)?,
                    Err(error) => prop_assert_eq!(error.field(), Some("publicKey")),
                }
            }

            // A valid key with a flipped bit anywhere is refused, or accepted as a key whose
            // fingerprint is the original's exactly when its data is.
            #[test]
            fn a_key_with_a_flipped_bit_is_refused_or_its_own_key(
                line in proptest::sample::select(&VALID[..]),
                position in any::<proptest::sample::Index>(),
                bit in 0..8u32,
            ) {
                let original = SshPublicKey::parse(line)?;
                let mut bytes = line.as_bytes().to_vec();
                let at = position.index(bytes.len());
                bytes[at] ^= 1 << bit;
                let mutated = String::from_utf8_lossy(&bytes);
                match SshPublicKey::parse(&mutated) {
                    Ok(key) => {
                        check_accepted(&key)?;
                        prop_assert_eq!(
                            key.fingerprint() == original.fingerprint(),
                            key.openssh() == original.openssh()
                        );
                    }
                    Err(error) => prop_assert_eq!(error.field(), Some("publicKey")),
                }
            }

            // A valid key cut short is refused, unless only its comment was cut.
            #[test]
            fn a_truncated_key_is_refused_unless_only_the_comment_was_cut(
                line in proptest::sample::select(&VALID[..]),
                position in any::<proptest::sample::Index>(),
            ) {
                let original = SshPublicKey::parse(line)?;
                let cut = &line[..position.index(line.len())];
                match SshPublicKey::parse(cut) {
                    Ok(key) => {
                        prop_assert_eq!(key.openssh(), original.openssh());
                        prop_assert_eq!(key.fingerprint(), original.fingerprint());
                    }
                    Err(error) => prop_assert_eq!(error.field(), Some("publicKey")),
                }
            }

            // White space around and between the fields, and any comment, leave the key and its
            // fingerprint as they are; the comment is kept trimmed.
            #[test]
            fn spacing_and_comments_do_not_change_the_key(
                original in valid_key(),
                before in blank(),
                separators in proptest::collection::vec("[ \t]{1,3}", 2),
                comment in text(40).prop_map(|comment| comment.replace('\n', " ")),
                after in blank(),
            ) {
                let (algorithm, data) = original.openssh().split_once(' ').expect("two fields");
                let line = format!(
                    "{before}{algorithm}{}{data}{}{comment}{after}",
                    separators[0], separators[1]
                );
                let key = SshPublicKey::parse(&line)?;
                prop_assert_eq!(key.fingerprint(), original.fingerprint());
                prop_assert_eq!(key.openssh(), original.openssh());
                let comment = comment.trim();
                prop_assert_eq!(key.comment(), (!comment.is_empty()).then_some(comment));
            }

            // A fingerprint is accepted exactly when, trimmed, it is SHA256: and 43 base64
            // characters, and reads back as itself.
            #[test]
            fn a_fingerprint_is_sha256_and_43_base64_characters(value in prop_oneof![
                any_text(),
                "[ ]?SHA256:[A-Za-z0-9+/=._-]{41,45}[ ]?",
            ]) {
                let trimmed = value.trim();
                let rule = trimmed.strip_prefix("SHA256:").is_some_and(|hash| {
                    hash.chars().count() == 43
                        && hash.chars().all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '/')
                });
                match SshFingerprint::parse("fingerprint", &value) {
                    Ok(fingerprint) => {
                        prop_assert!(rule, "{value:?} was accepted");
                        prop_assert_eq!(fingerprint.as_str(), trimmed);
                        let again = SshFingerprint::parse("fingerprint", trimmed);
                        prop_assert_eq!(again, Ok(fingerprint.clone()));
                    }
                    Err(error) => {
                        prop_assert!(!rule, "{value:?}: {error}");
                        prop_assert_eq!(error.field(), Some("fingerprint"));
                    }
                }
            }

            // The bit length of a big-endian number is that of the same number as a u128.
            #[test]
            fn bit_lengths_are_those_of_the_number(
                bytes in proptest::collection::vec(any::<u8>(), 0..=16),
            ) {
                let mut padded = [0u8; 16];
                padded[16 - bytes.len()..].copy_from_slice(&bytes);
                let number = u128::from_be_bytes(padded);
                prop_assert_eq!(bit_length(&bytes), 128 - number.leading_zeros());
            }
        }
    }
}
