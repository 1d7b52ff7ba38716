//! Generators of untrusted input for the property tests of the validators.
//!
//! Plain random text rarely hits what a validator treats specially, so the characters are
//! weighted towards ASCII, white space and control characters, and the letters of the
//! languages Steward is used in, with any other Unicode scalar value now and then.

use proptest::prelude::*;

/// Characters that validators trim, refuse or treat specially.
const SPECIAL: &[char] = &[
    '\0', '\t', '\n', '\r', '\u{b}', '\u{c}', '\u{1b}', '\u{7f}', '\u{85}', '\u{a0}', '\u{200b}',
    '\u{2028}', '\u{3000}', '\u{feff}', '\u{fffd}', '@', '.', '-', '_', '+', ':', '/', '"', ',',
    '=', 'ж', 'é', 'İ', 'ß', '中', '😀',
];

/// One character of untrusted input.
pub fn input_char() -> impl Strategy<Value = char> {
    prop_oneof![
        6 => proptest::char::range(' ', '~'),
        2 => proptest::sample::select(SPECIAL),
        1 => any::<char>(),
    ]
}

/// Text of up to `max` characters.
pub fn text(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(input_char(), 0..=max).prop_map(String::from_iter)
}

/// Text of any length a form field might receive: mostly short, sometimes far longer than
/// any field allows.
pub fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![4 => text(40), 1 => text(600)]
}

const BLANKS: &[char] = &[' ', '\t', '\n', '\r', '\u{a0}', '\u{3000}'];

/// White space a user may type or paste around a value.
pub fn blank() -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(BLANKS), 0..3).prop_map(String::from_iter)
}

/// `core` with white space around it.
pub fn padded(core: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
    (blank(), core, blank()).prop_map(|(before, core, after)| format!("{before}{core}{after}"))
}

/// A username as the rule allows it.
pub fn valid_username() -> impl Strategy<Value = String> {
    "[A-Za-z0-9]{3,20}"
}

/// A plain e-mail address: dot-separated atoms, `@`, and a domain with a top-level label.
pub fn valid_email() -> impl Strategy<Value = String> {
    let local = "[A-Za-z0-9_+]{1,10}(\\.[A-Za-z0-9_+]{1,8}){0,2}";
    let domain = "[a-z0-9]{1,10}(-[a-z0-9]{1,5})?(\\.[A-Za-z]{2,6}){1,2}";
    proptest::string::string_regex(&format!("{local}@{domain}")).expect("regex")
}
