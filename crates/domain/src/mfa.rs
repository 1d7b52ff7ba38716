//! Two-factor authentication: TOTP codes (RFC 6238) and single-use recovery codes.
//!
//! Randomness and time are parameters: the server draws the bytes and reads its clock, and
//! these rules only decide.

use time::OffsetDateTime;
use totp_rs::{Algorithm, Builder, Secret, Totp};

use crate::DomainError;

/// Bytes of a TOTP secret: 160 bits, as RFC 4226 recommends.
pub const TOTP_SECRET_BYTES: usize = 20;
/// Seconds one code is valid for.
pub const TOTP_STEP_SECONDS: u64 = 30;
/// Digits of a code.
pub const TOTP_DIGITS: u8 = 6;
/// Codes of the step before and after the current one are accepted too, for clock drift.
pub const TOTP_SKEW_STEPS: u16 = 1;

/// Recovery codes given at once.
pub const RECOVERY_CODE_COUNT: usize = 10;
/// Characters of a recovery code, without the dash: 10 base32 characters, 50 bits.
pub const RECOVERY_CODE_LENGTH: usize = 10;
/// Random bytes needed for a full set of recovery codes: one per character.
pub const RECOVERY_CODE_RANDOM_BYTES: usize = RECOVERY_CODE_COUNT * RECOVERY_CODE_LENGTH;

/// RFC 4648 base32, lower case: no 0/1/8/9, so `o`, `l` and `b` cannot be misread as digits.
const BASE32_LOWER: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// A user's shared TOTP secret.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret([u8; TOTP_SECRET_BYTES]);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(..)")
    }
}

/// What checking a TOTP code found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TotpCheck {
    /// The code is right for `step`, which had not been used: record it as the last used step.
    Accepted { step: i64 },
    /// The code is right, but for a step already used: a replayed code.
    Replayed,
    /// Not a code of the current window.
    Wrong,
}

impl TotpSecret {
    pub fn from_bytes(bytes: [u8; TOTP_SECRET_BYTES]) -> Self {
        Self(bytes)
    }

    /// A secret read back from storage.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; TOTP_SECRET_BYTES]>::try_from(bytes).ok().map(Self)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    fn totp(&self, issuer: Option<&str>, account: &str) -> Totp {
        // The parameters are RFC-compliant constants and the secret has its fixed length, so
        // the checks of `build` cannot fail; the URI's account name is checked in `to_url`.
        Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(TOTP_DIGITS)
            .with_skew(TOTP_SKEW_STEPS)
            .with_step_duration(TOTP_STEP_SECONDS)
            .with_secret(Secret::new_stack(self.0))
            .with_account_name(account.replace(':', ""))
            .with_issuer(issuer.map(|issuer| issuer.replace(':', "")))
            .build_noncompliant()
    }

    /// The secret as authenticator apps take it typed in: base32 without padding.
    pub fn base32(&self) -> String {
        Secret::new_stack(self.0).to_base32()
    }

    /// The `otpauth://totp/...` URI an authenticator app reads from a QR code.
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> Result<String, DomainError> {
        self.totp(Some(issuer), account)
            .to_url()
            .map_err(|error| DomainError::invalid("account", error.to_string()))
    }

    /// The code for the time `at` (what an authenticator app shows).
    pub fn code_at(&self, at: OffsetDateTime) -> String {
        self.totp(None, "").generate(unix_seconds(at)).to_string()
    }

    /// Checks a typed code at `now`. A code is accepted once: a step at or before
    /// `last_used_step` is a replay, even within its 30 seconds.
    pub fn check(
        &self,
        typed: &str,
        now: OffsetDateTime,
        last_used_step: Option<i64>,
    ) -> TotpCheck {
        let Some(code) = normalize_totp_code(typed) else {
            return TotpCheck::Wrong;
        };
        match self.totp(None, "").check(&code, unix_seconds(now)) {
            None => TotpCheck::Wrong,
            Some(step) => {
                let step = i64::try_from(step).unwrap_or(i64::MAX);
                if last_used_step.is_some_and(|last| step <= last) {
                    TotpCheck::Replayed
                } else {
                    TotpCheck::Accepted { step }
                }
            }
        }
    }
}

fn unix_seconds(at: OffsetDateTime) -> u64 {
    u64::try_from(at.unix_timestamp()).unwrap_or(0)
}

/// A typed TOTP code without the spaces people type into it (`123 456`), if it is six digits.
pub fn normalize_totp_code(typed: &str) -> Option<String> {
    let code: String = typed.chars().filter(|c| !c.is_whitespace()).collect();
    (code.len() == usize::from(TOTP_DIGITS) && code.bytes().all(|b| b.is_ascii_digit()))
        .then_some(code)
}

/// A recovery code in its normal form: 10 lower-case base32 characters, no dash.
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryCode(String);

impl std::fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecoveryCode(..)")
    }
}

impl RecoveryCode {
    /// A full set of codes made from `random` bytes (one byte per character; 256 is a
    /// multiple of 32, so every character is equally likely).
    pub fn generate_set(random: &[u8; RECOVERY_CODE_RANDOM_BYTES]) -> Vec<RecoveryCode> {
        random
            .chunks(RECOVERY_CODE_LENGTH)
            .map(|chunk| {
                RecoveryCode(
                    chunk
                        .iter()
                        .map(|byte| char::from(BASE32_LOWER[usize::from(byte % 32)]))
                        .collect(),
                )
            })
            .collect()
    }

    /// A code as typed: case, dashes and spaces do not matter.
    pub fn parse(field: &'static str, typed: &str) -> Result<Self, DomainError> {
        let code: String = typed
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .map(|c| c.to_ascii_lowercase())
            .collect();
        if code.len() != RECOVERY_CODE_LENGTH || !code.bytes().all(|b| BASE32_LOWER.contains(&b)) {
            return Err(DomainError::invalid(
                field,
                "is not a recovery code: they have 10 letters and digits, like abcde-fgh23",
            ));
        }
        Ok(Self(code))
    }

    /// The normal form, which is what is hashed.
    pub fn normalized(&self) -> &str {
        &self.0
    }

    /// As shown to the user: `xxxxx-xxxxx`.
    pub fn display(&self) -> String {
        let (head, tail) = self.0.split_at(RECOVERY_CODE_LENGTH / 2);
        format!("{head}-{tail}")
    }
}

/// A recovery code is accepted once: one that was used before is refused.
pub fn redeem_recovery_code(used_at: Option<OffsetDateTime>) -> Result<(), DomainError> {
    match used_at {
        None => Ok(()),
        Some(_) => Err(DomainError::invalid(
            "recoveryCode",
            "this recovery code has been used already; use another one",
        )),
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn secret() -> TotpSecret {
        TotpSecret::from_bytes(*b"12345678901234567890")
    }

    #[test]
    fn the_rfc_6238_test_vector_gives_the_published_code() {
        // RFC 6238 appendix B, SHA1, T = 59: 94287082 in 8 digits, so 287082 in 6.
        assert_eq!(
            secret().code_at(datetime!(1970-01-01 00:00:59 UTC)),
            "287082"
        );
    }

    #[test]
    fn a_code_is_accepted_once_per_step() {
        let now = datetime!(2026-11-23 12:00:10 UTC);
        let code = secret().code_at(now);
        let TotpCheck::Accepted { step } = secret().check(&code, now, None) else {
            panic!("the current code must be accepted");
        };
        assert_eq!(step, now.unix_timestamp() / 30);
        assert_eq!(secret().check(&code, now, Some(step)), TotpCheck::Replayed);
        // The next step's code is new.
        let later = now + time::Duration::seconds(30);
        let next = secret().code_at(later);
        assert_eq!(
            secret().check(&next, later, Some(step)),
            TotpCheck::Accepted { step: step + 1 }
        );
        // The previous step's code is in the window but older than the last used step.
        assert_eq!(
            secret().check(&code, later, Some(step + 1)),
            TotpCheck::Replayed
        );
    }

    #[test]
    fn codes_one_step_off_are_accepted_and_two_steps_off_are_not() {
        let now = datetime!(2026-11-23 12:00:10 UTC);
        let before = secret().code_at(now - time::Duration::seconds(30));
        let long_before = secret().code_at(now - time::Duration::seconds(60));
        assert!(matches!(
            secret().check(&before, now, None),
            TotpCheck::Accepted { .. }
        ));
        assert_eq!(secret().check(&long_before, now, None), TotpCheck::Wrong);
    }

    #[test]
    fn typed_codes_may_have_spaces_but_only_digits() {
        let now = datetime!(2026-11-23 12:00:10 UTC);
        let code = secret().code_at(now);
        let spaced = format!("{} {}", &code[..3], &code[3..]);
        assert!(matches!(
            secret().check(&spaced, now, None),
            TotpCheck::Accepted { .. }
        ));
        assert_eq!(normalize_totp_code("12345a"), None);
        assert_eq!(normalize_totp_code("1234567"), None);
        assert_eq!(secret().check("", now, None), TotpCheck::Wrong);
    }

    #[test]
    fn the_uri_names_issuer_account_and_secret() {
        let uri = secret()
            .otpauth_uri("Steward", "ann@example.com")
            .unwrap_or_default();
        assert!(
            uri.starts_with("otpauth://totp/Steward:ann%40example.com?"),
            "{uri}"
        );
        assert!(
            uri.contains(&format!("secret={}", secret().base32())),
            "{uri}"
        );
        assert!(uri.contains("issuer=Steward"), "{uri}");
    }

    #[test]
    fn recovery_codes_are_ten_of_ten_base32_characters() {
        let random: [u8; RECOVERY_CODE_RANDOM_BYTES] =
            std::array::from_fn(|i| u8::try_from(i * 7 % 256).unwrap_or(0));
        let codes = RecoveryCode::generate_set(&random);
        assert_eq!(codes.len(), 10);
        for code in &codes {
            let shown = code.display();
            assert_eq!(shown.len(), 11);
            assert_eq!(&shown[5..6], "-");
            assert_eq!(
                RecoveryCode::parse("recoveryCode", &shown).ok().as_ref(),
                Some(code)
            );
        }
    }

    #[test]
    fn typed_recovery_codes_ignore_case_dashes_and_spaces() {
        let code = RecoveryCode::parse("recoveryCode", "abcde-fgh23").ok();
        assert_eq!(
            RecoveryCode::parse("recoveryCode", " ABCDE FGH23 ").ok(),
            code
        );
        assert_eq!(RecoveryCode::parse("recoveryCode", "abcdefgh23").ok(), code);
        assert!(RecoveryCode::parse("recoveryCode", "abcde-fgh2").is_err());
        // 0, 1, 8 and 9 are not base32 characters.
        assert!(RecoveryCode::parse("recoveryCode", "abcde-fgh01").is_err());
    }

    #[test]
    fn a_used_recovery_code_is_refused() {
        assert!(redeem_recovery_code(None).is_ok());
        let refused = redeem_recovery_code(Some(datetime!(2026-11-23 12:00 UTC)));
        assert!(refused.is_err_and(|error| error.to_string().contains("used already")));
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;
        use crate::strategies::{any_text, text};

        fn instant() -> impl Strategy<Value = OffsetDateTime> {
            (0i64..8_000_000_000)
                .prop_map(|seconds| OffsetDateTime::from_unix_timestamp(seconds).expect("in range"))
        }

        proptest! {
            // A typed TOTP code is kept exactly when, without its white space, it is six ASCII
            // digits.
            #[test]
            fn a_totp_code_is_six_digits_with_any_spacing(
                typed in prop_oneof![any_text(), "[0-9 \t]{0,10}", "[ ]?[0-9]{3}[ ]?[0-9]{3}[ ]?"],
            ) {
                let bare: String = typed.chars().filter(|c| !c.is_whitespace()).collect();
                let rule = bare.len() == 6 && bare.bytes().all(|b| b.is_ascii_digit());
                prop_assert_eq!(normalize_totp_code(&typed), rule.then_some(bare));
            }

            // The code an app shows is six digits and is accepted once, for its own step.
            #[test]
            fn the_current_code_is_accepted_once(
                secret in any::<[u8; TOTP_SECRET_BYTES]>(),
                now in instant(),
            ) {
                let secret = TotpSecret::from_bytes(secret);
                let code = secret.code_at(now);
                prop_assert!(code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()), "{code}");
                let step = now.unix_timestamp() / 30;
                prop_assert_eq!(secret.check(&code, now, None), TotpCheck::Accepted { step });
                prop_assert_eq!(secret.check(&code, now, Some(step)), TotpCheck::Replayed);
            }

            // Anything typed that is not six digits is a wrong code, and never a panic.
            #[test]
            fn typed_text_that_is_not_a_code_is_wrong(typed in any_text(), now in instant()) {
                let secret = TotpSecret::from_bytes(*b"12345678901234567890");
                if normalize_totp_code(&typed).is_none() {
                    prop_assert_eq!(secret.check(&typed, now, None), TotpCheck::Wrong);
                }
            }

            // The otpauth URI is made for any issuer and account, or refused naming the account.
            #[test]
            fn an_otpauth_uri_carries_the_secret(issuer in text(30), account in any_text()) {
                let secret = TotpSecret::from_bytes(*b"12345678901234567890");
                match secret.otpauth_uri(&issuer, &account) {
                    Ok(uri) => {
                        prop_assert!(uri.starts_with("otpauth://totp/"), "{uri}");
                        prop_assert!(uri.contains(&format!("secret={}", secret.base32())), "{uri}");
                    }
                    Err(error) => prop_assert_eq!(error.field(), Some("account")),
                }
            }

            // Every generated recovery code is ten base32 characters and reads back from its
            // shown form, typed in any case with spaces.
            #[test]
            fn generated_recovery_codes_read_back(
                random in proptest::collection::vec(any::<u8>(), RECOVERY_CODE_RANDOM_BYTES),
            ) {
                let random: [u8; RECOVERY_CODE_RANDOM_BYTES] = random.try_into().expect("length");
                let codes = RecoveryCode::generate_set(&random);
                prop_assert_eq!(codes.len(), RECOVERY_CODE_COUNT);
                for code in codes {
                    prop_assert_eq!(code.normalized().len(), RECOVERY_CODE_LENGTH);
                    prop_assert!(code.normalized().bytes().all(|b| BASE32_LOWER.contains(&b)));
                    let shown = code.display();
                    prop_assert_eq!(RecoveryCode::parse("recoveryCode", &shown), Ok(code.clone()));
                    let typed = format!(" {} ", shown.to_ascii_uppercase().replace('-', " "));
                    prop_assert_eq!(RecoveryCode::parse("recoveryCode", &typed), Ok(code));
                }
            }

            // A typed recovery code is accepted exactly when, without case, dashes and white
            // space, it is ten base32 characters; refusals name the field asked for.
            #[test]
            fn a_recovery_code_is_ten_base32_characters(
                typed in prop_oneof![any_text(), "[a-zA-Z0-9 -]{8,14}"],
            ) {
                let bare: String = typed
                    .chars()
                    .filter(|c| !c.is_whitespace() && *c != '-')
                    .map(|c| c.to_ascii_lowercase())
                    .collect();
                let rule = bare.len() == RECOVERY_CODE_LENGTH
                    && bare.bytes().all(|b| BASE32_LOWER.contains(&b));
                match RecoveryCode::parse("code", &typed) {
                    Ok(code) => {
                        prop_assert!(rule, "{typed:?} was accepted");
                        prop_assert_eq!(code.normalized(), bare.as_str());
                    }
                    Err(error) => {
                        prop_assert!(!rule, "{typed:?}: {error}");
                        prop_assert_eq!(error.field(), Some("code"));
                    }
                }
            }
        }
    }
}
