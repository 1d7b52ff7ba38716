//! The e-mail templates: a catalog per language, filled in and laid out as text and HTML.
//!
//! English is written as an exhaustive `match`, so a new notification kind does not compile
//! until it has English text. The translations are tables keyed by [`Notification::kind`]
//! codes; an entry missing there falls back to English at run time, and the tests fail on it,
//! on a translation whose placeholders differ from English, and on a copied English text.

mod de;
mod en;
mod ru;
mod zh;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use time::OffsetDateTime;
use time::macros::format_description;

use super::{
    ACCEPT_INVITATION_PATH, ACCOUNT_SECURITY_PATH, JOBS_PATH, Notification, RESET_PASSWORD_PATH,
    RenderedMessage, Site, TOKEN_QUERY_PARAMETER, VALIDATE_EMAIL_PATH,
};
use crate::user::Language;

/// One kind of message in one language. The strings are plain text with `{name}`
/// placeholders; the HTML layout escapes them whole, so they may contain `&` or `<` freely.
#[derive(Debug, Clone, Copy)]
struct Template {
    subject: &'static str,
    body: &'static [Paragraph],
    /// The label of the call-to-action button: set exactly for the kinds that have a link.
    action: Option<&'static str>,
}

/// A paragraph of a message body, possibly depending on an optional field.
#[derive(Debug, Clone, Copy)]
enum Paragraph {
    Text(&'static str),
    /// Shown only when the placeholder (first) has a value, e.g. a suspension's reason.
    With(&'static str, &'static str),
    /// Shown only when the placeholder (first) has no value, e.g. a key that never expires.
    Without(&'static str, &'static str),
}

/// The words around every message of a language.
#[derive(Debug)]
struct Layout {
    /// Ends the button label in the plain-text version, before the link on the next line.
    colon: &'static str,
    /// Above the raw link in HTML, for mail clients that do not show the button.
    link_hint: &'static str,
    /// The last line of every message; placeholders `{product}` and `{public_url}`.
    footer: &'static str,
}

/// A translation: templates keyed by [`Notification::kind`] codes.
type Translations = &'static [(&'static str, Template)];

/// Renders `notification` in `language`, or in English if that language lacks the kind.
pub(super) fn render(
    notification: &Notification,
    language: Language,
    site: &Site,
) -> RenderedMessage {
    // A message in English beats no message; the whole message switches, so the layout
    // words and `lang` match the text.
    let (language, template) = match translated(language, notification.kind()) {
        Some(template) => (language, template),
        None => (Language::En, en::template(notification)),
    };
    let layout = layout(language);
    let values = values(notification, site);
    let message = Message {
        subject: one_line(&fill(template.subject, &values)),
        product: site.product_name.clone(),
        paragraphs: template
            .body
            .iter()
            .filter_map(|paragraph| paragraph.shown(&values))
            .map(|text| fill(text, &values))
            .collect(),
        action: template
            .action
            .zip(link(notification, site))
            .map(|(label, url)| Action {
                label: fill(label, &values),
                url,
            }),
        footer: fill(layout.footer, &values),
    };
    RenderedMessage {
        text: message.text(layout),
        html: message.html(layout, language),
        subject: message.subject,
    }
}

fn translated(language: Language, kind: &str) -> Option<Template> {
    let translations: Translations = match language {
        Language::En => return None,
        Language::De => de::TEMPLATES,
        Language::Zh => zh::TEMPLATES,
        Language::Ru => ru::TEMPLATES,
    };
    translations
        .iter()
        .find(|(code, _)| *code == kind)
        .map(|(_, template)| *template)
}

fn layout(language: Language) -> &'static Layout {
    match language {
        Language::En => &en::LAYOUT,
        Language::De => &de::LAYOUT,
        Language::Zh => &zh::LAYOUT,
        Language::Ru => &ru::LAYOUT,
    }
}

impl Paragraph {
    /// The paragraph's template, if it is shown with these values.
    fn shown(self, values: &Values) -> Option<&'static str> {
        match self {
            Paragraph::Text(text) => Some(text),
            Paragraph::With(name, text) => values.get(name).map(|_| text),
            Paragraph::Without(name, text) => values.get(name).is_none().then_some(text),
        }
    }
}

/// The placeholder values of one message.
#[derive(Debug)]
struct Values(Vec<(&'static str, String)>);

impl Values {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// The placeholder values a notification supplies. An optional field that is absent supplies
/// nothing, which is what [`Paragraph::With`] and [`Paragraph::Without`] test.
fn values(notification: &Notification, site: &Site) -> Values {
    let mut values = vec![
        ("product", site.product_name.clone()),
        ("public_url", public_url(site).to_owned()),
    ];
    match notification {
        Notification::Invitation {
            organization,
            inviter,
            expires_at,
            token: _,
        } => values.extend([
            ("organization", organization.clone()),
            ("inviter", inviter.clone()),
            ("expires", timestamp(*expires_at)),
        ]),
        Notification::AccessGranted {
            organization,
            granted_by,
            expires_at,
            token: _,
        } => values.extend([
            ("organization", organization.clone()),
            ("granted_by", granted_by.clone()),
            ("expires", timestamp(*expires_at)),
        ]),
        Notification::EmailValidation { expires_at, .. }
        | Notification::PasswordReset { expires_at, .. } => {
            values.push(("expires", timestamp(*expires_at)));
        }
        Notification::PasswordChanged { changed_at } => {
            values.push(("changed", timestamp(*changed_at)));
        }
        Notification::Suspended { reason } => {
            // A blank reason says nothing; better no paragraph than "Reason given: ".
            let reason = reason.as_deref().map(str::trim).filter(|r| !r.is_empty());
            values.extend(reason.map(|reason| ("reason", reason.to_owned())));
        }
        Notification::Reactivated | Notification::AccountDeleted => {}
        Notification::MembershipDisabled { organization }
        | Notification::MembershipEnabled { organization }
        | Notification::MembershipRemoved { organization }
        | Notification::OrganizationDeleted { organization } => {
            values.push(("organization", organization.clone()));
        }
        Notification::DeletionCompleted {
            username,
            resources_transferred: count,
        }
        | Notification::DeletedUsersResourcesReceived {
            username,
            resources: count,
        } => values.extend([("username", username.clone()), ("count", count.to_string())]),
        Notification::ResourcesTransferred {
            from,
            by,
            resources,
        } => values.extend([
            ("from", from.clone()),
            ("by", by.clone()),
            ("count", resources.to_string()),
        ]),
        Notification::BulkImportFinished {
            created,
            skipped,
            failed,
            job: _,
        } => values.extend([
            ("created", created.to_string()),
            ("skipped", skipped.to_string()),
            ("failed", failed.to_string()),
        ]),
        Notification::ReportReady {
            report,
            job: _,
            summary,
        } => values.extend([("report", report.clone()), ("summary", summary.clone())]),
        Notification::NewApiKey { name, expires_at } => {
            values.push(("name", name.clone()));
            values.extend(expires_at.map(|at| ("expires", timestamp(at))));
        }
        Notification::MfaDisabled { by } => values.push(("by", by.clone())),
    }
    Values(values)
}

/// Where the message's button leads, if it has one.
fn link(notification: &Notification, site: &Site) -> Option<String> {
    let base = public_url(site);
    let with_token = |path: &str, token: &str| {
        format!(
            "{base}{path}?{TOKEN_QUERY_PARAMETER}={}",
            percent_encode(token)
        )
    };
    match notification {
        Notification::Invitation { token, .. } | Notification::AccessGranted { token, .. } => {
            Some(with_token(ACCEPT_INVITATION_PATH, token))
        }
        Notification::EmailValidation { token, .. } => Some(with_token(VALIDATE_EMAIL_PATH, token)),
        Notification::PasswordReset { token, .. } => Some(with_token(RESET_PASSWORD_PATH, token)),
        Notification::BulkImportFinished { job, .. } | Notification::ReportReady { job, .. } => {
            Some(format!("{base}{JOBS_PATH}/{}", percent_encode(job)))
        }
        Notification::PasswordChanged { .. }
        | Notification::NewApiKey { .. }
        | Notification::MfaDisabled { .. } => Some(format!("{base}{ACCOUNT_SECURITY_PATH}")),
        Notification::MembershipEnabled { .. } => Some(base.to_owned()),
        Notification::Suspended { .. }
        | Notification::Reactivated
        | Notification::MembershipDisabled { .. }
        | Notification::MembershipRemoved { .. }
        | Notification::OrganizationDeleted { .. }
        | Notification::AccountDeleted
        | Notification::DeletionCompleted { .. }
        | Notification::DeletedUsersResourcesReceived { .. }
        | Notification::ResourcesTransferred { .. } => None,
    }
}

/// The configured base URL; a trailing slash would double the one every path starts with.
fn public_url(site: &Site) -> &str {
    site.public_url.trim_end_matches('/')
}

/// Everything but RFC 3986's unreserved characters (`A-Z a-z 0-9 - . _ ~`).
const NOT_UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes all but the unreserved characters, so any token or job id is safe as a
/// query value or a path segment, whatever alphabet it uses.
fn percent_encode(value: &str) -> String {
    utf8_percent_encode(value, NOT_UNRESERVED).to_string()
}

/// `2030-01-02 01:04 UTC`: one unambiguous form for every language and recipient.
fn timestamp(moment: OffsetDateTime) -> String {
    let format = format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    // Only a moment at the edge of the supported years has no UTC form, and the format uses
    // nothing a date-time lacks; either way, show the moment as it is rather than fail.
    moment
        .checked_to_utc()
        .and_then(|utc| utc.format(format).ok())
        .unwrap_or_else(|| moment.to_string())
}

/// Replaces each `{name}` with its value in a single pass. Values are inserted as they are and
/// never scanned, so a user-chosen name such as `{link}` stays literal. A placeholder without
/// a value is left in place, where the tests find it.
fn fill(template: &str, values: &Values) -> String {
    let mut filled = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some((before, after)) = rest.split_once('{') {
        filled.push_str(before);
        let placeholder = after
            .split_once('}')
            .and_then(|(name, tail)| Some((values.get(name)?, tail)));
        match placeholder {
            Some((value, tail)) => {
                filled.push_str(value);
                rest = tail;
            }
            None => {
                filled.push('{');
                rest = after;
            }
        }
    }
    filled.push_str(rest);
    filled
}

/// Collapses every run of whitespace or control characters to one space: a subject is a
/// single header line, and a line break in a user's value must not end it.
fn one_line(value: &str) -> String {
    value
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A message filled in, ready to lay out.
#[derive(Debug)]
struct Message {
    subject: String,
    product: String,
    paragraphs: Vec<String>,
    action: Option<Action>,
    footer: String,
}

#[derive(Debug)]
struct Action {
    label: String,
    url: String,
}

const BODY_STYLE: &str = "margin:0;padding:24px 12px;background-color:#f3f4f6;\
    font-family:-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;\
    font-size:15px;line-height:1.5;color:#111827;";
const CARD_STYLE: &str = "max-width:560px;margin:0 auto;padding:32px;background-color:#ffffff;\
    border:1px solid #e5e7eb;border-radius:8px;";
const PRODUCT_STYLE: &str = "margin:0 0 24px;font-size:18px;font-weight:600;";
const PARAGRAPH_STYLE: &str = "margin:0 0 16px;";
const BUTTON_STYLE: &str = "display:inline-block;padding:12px 24px;background-color:#2563eb;\
    color:#ffffff;text-decoration:none;border-radius:6px;font-weight:600;";
const HINT_STYLE: &str = "margin:0;font-size:13px;color:#6b7280;";
const RAW_LINK_STYLE: &str = "color:#2563eb;word-break:break-all;";
const FOOTER_STYLE: &str =
    "max-width:560px;margin:16px auto 0;font-size:12px;color:#6b7280;text-align:center;";

impl Message {
    /// Paragraphs separated by blank lines, the link alone on its line, then the footer after
    /// the conventional signature separator `-- ` (which mail clients recognise and dim).
    fn text(&self, layout: &Layout) -> String {
        let mut blocks = self.paragraphs.clone();
        if let Some(action) = &self.action {
            blocks.push(format!("{}{}\n{}", action.label, layout.colon, action.url));
        }
        blocks.push(format!("-- \n{}", self.footer));
        let mut text = blocks.join("\n\n");
        text.push('\n');
        text
    }

    /// A small self-contained document with inline styles, since mail clients drop `<style>`
    /// blocks and external sheets. Every string is escaped: values are user-controlled.
    fn html(&self, layout: &Layout, language: Language) -> String {
        // Keeps the line breaks an administrator may have typed into a reason.
        let text = |value: &str| html_escape::encode_text(value).replace('\n', "<br>");
        let mut card = format!("<p style=\"{PRODUCT_STYLE}\">{}</p>\n", text(&self.product));
        for paragraph in &self.paragraphs {
            card.push_str(&format!(
                "<p style=\"{PARAGRAPH_STYLE}\">{}</p>\n",
                text(paragraph)
            ));
        }
        if let Some(action) = &self.action {
            let href = html_escape::encode_double_quoted_attribute(&action.url);
            card.push_str(&format!(
                "<p style=\"margin:32px 0;\"><a href=\"{href}\" style=\"{BUTTON_STYLE}\">{}</a></p>\n\
                 <p style=\"{HINT_STYLE}\">{}<br><a href=\"{href}\" style=\"{RAW_LINK_STYLE}\">{}</a></p>\n",
                text(&action.label),
                text(layout.link_hint),
                text(&action.url),
            ));
        }
        format!(
            "<!DOCTYPE html>\n\
             <html lang=\"{lang}\">\n\
             <head>\n\
             <meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>{title}</title>\n\
             </head>\n\
             <body style=\"{BODY_STYLE}\">\n\
             <div style=\"{CARD_STYLE}\">\n\
             {card}\
             </div>\n\
             <p style=\"{FOOTER_STYLE}\">{footer}</p>\n\
             </body>\n\
             </html>\n",
            lang = language.code(),
            title = text(&self.subject),
            footer = text(&self.footer),
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::collections::BTreeSet;

    use time::macros::datetime;

    use super::*;

    fn site() -> Site {
        Site {
            product_name: "Steward".into(),
            public_url: "https://console.example.com".into(),
        }
    }

    /// Every kind code, read from serde's error for an unknown tag, which lists the variants.
    /// The list follows the enum by itself, so a new variant without a sample or a
    /// translation fails the tests below even though nobody updated them.
    fn all_kinds() -> BTreeSet<String> {
        let error = serde_json::from_str::<Notification>(r#"{"kind":"?"}"#)
            .expect_err("`?` is no kind")
            .to_string();
        // "unknown variant `?`, expected one of `INVITATION`, `ACCESS_GRANTED`, … at line 1 …"
        let (_, expected) = error.split_once("expected one of").unwrap_or_default();
        expected
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect()
    }

    /// At least one value of every variant, and both states of each optional field.
    fn samples() -> Vec<Notification> {
        let expires_at = datetime!(2030-01-02 03:04 UTC);
        vec![
            Notification::Invitation {
                organization: "Acme Research".into(),
                inviter: "Ann Example".into(),
                token: "invitation-token".into(),
                expires_at,
            },
            Notification::AccessGranted {
                organization: "Acme Research".into(),
                granted_by: "Ann Example".into(),
                token: "access-token".into(),
                expires_at,
            },
            Notification::EmailValidation {
                token: "validation-token".into(),
                expires_at,
            },
            Notification::PasswordReset {
                token: "reset-token".into(),
                expires_at,
            },
            Notification::PasswordChanged {
                changed_at: expires_at,
            },
            Notification::Suspended { reason: None },
            Notification::Suspended {
                reason: Some("Left the company".into()),
            },
            Notification::Reactivated,
            Notification::MembershipDisabled {
                organization: "Acme".into(),
            },
            Notification::MembershipEnabled {
                organization: "Acme".into(),
            },
            Notification::MembershipRemoved {
                organization: "Acme".into(),
            },
            Notification::AccountDeleted,
            Notification::DeletionCompleted {
                username: "bob42".into(),
                resources_transferred: 7,
            },
            Notification::DeletedUsersResourcesReceived {
                username: "bob42".into(),
                resources: 3,
            },
            Notification::ResourcesTransferred {
                from: "bob42".into(),
                by: "admin".into(),
                resources: 2,
            },
            Notification::BulkImportFinished {
                job: "job-1".into(),
                created: 10,
                skipped: 2,
                failed: 1,
            },
            Notification::ReportReady {
                report: "Orphaned resources".into(),
                job: "job-2".into(),
                summary: "DANGLING_SHARE: 2 / 2".into(),
            },
            Notification::NewApiKey {
                name: "ci-deploy".into(),
                expires_at: Some(expires_at),
            },
            Notification::NewApiKey {
                name: "ci-deploy".into(),
                expires_at: None,
            },
            Notification::MfaDisabled { by: "admin".into() },
            Notification::OrganizationDeleted {
                organization: "Acme Research".into(),
            },
        ]
    }

    /// The `{name}` placeholders in `text`.
    fn placeholders(text: &str) -> BTreeSet<&str> {
        text.split('{')
            .skip(1)
            .filter_map(|after| after.split_once('}'))
            .map(|(name, _)| name)
            .filter(|name| {
                !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c == '_')
            })
            .collect()
    }

    /// Every placeholder of a template, including those that only decide whether a
    /// paragraph is shown.
    fn template_placeholders(template: &Template) -> BTreeSet<&'static str> {
        let mut names = placeholders(template.subject);
        names.extend(template.action.map(placeholders).unwrap_or_default());
        for paragraph in template.body {
            match *paragraph {
                Paragraph::Text(text) => names.extend(placeholders(text)),
                Paragraph::With(name, text) | Paragraph::Without(name, text) => {
                    names.insert(name);
                    names.extend(placeholders(text));
                }
            }
        }
        names
    }

    fn paragraph_text(paragraph: &Paragraph) -> &'static str {
        match *paragraph {
            Paragraph::Text(text) | Paragraph::With(_, text) | Paragraph::Without(_, text) => text,
        }
    }

    fn translations() -> [(Language, Translations); 3] {
        [
            (Language::De, de::TEMPLATES),
            (Language::Zh, zh::TEMPLATES),
            (Language::Ru, ru::TEMPLATES),
        ]
    }

    #[test]
    fn every_kind_has_a_sample() {
        let sampled: BTreeSet<String> = samples().iter().map(|n| n.kind().to_owned()).collect();
        assert_eq!(sampled, all_kinds());
        assert_eq!(sampled.len(), 19);
    }

    #[test]
    fn every_kind_is_translated_exactly_once_into_every_language() {
        for (language, templates) in translations() {
            let codes: Vec<&str> = templates.iter().map(|(code, _)| *code).collect();
            let unique: BTreeSet<String> = codes.iter().map(|code| (*code).to_owned()).collect();
            assert_eq!(codes.len(), unique.len(), "{language:?} has duplicates");
            assert_eq!(unique, all_kinds(), "{language:?} misses or invents kinds");
        }
    }

    #[test]
    fn translations_use_the_same_placeholders_and_button_as_english() {
        for notification in samples() {
            let english = en::template(&notification);
            for (language, _) in translations() {
                let kind = notification.kind();
                let translated = translated(language, kind).expect("translated");
                assert_eq!(
                    template_placeholders(&translated),
                    template_placeholders(&english),
                    "{language:?} {kind}"
                );
                assert_eq!(
                    translated.action.is_some(),
                    english.action.is_some(),
                    "{language:?} {kind}"
                );
            }
        }
    }

    #[test]
    fn translations_are_not_copies_of_english() {
        for notification in samples() {
            let english = en::template(&notification);
            let english_texts: BTreeSet<&str> = english
                .body
                .iter()
                .map(paragraph_text)
                .chain([english.subject])
                .chain(english.action)
                .collect();
            for (language, _) in translations() {
                let translated = translated(language, notification.kind()).expect("translated");
                for text in translated.body.iter().map(paragraph_text) {
                    assert!(!english_texts.contains(text), "{language:?}: {text}");
                }
                assert!(!english_texts.contains(translated.subject));
                if let Some(label) = translated.action {
                    assert!(!english_texts.contains(label), "{language:?}: {label}");
                }
            }
        }
    }

    #[test]
    fn every_kind_renders_completely_in_every_language() {
        let site = site();
        for notification in samples() {
            let link = link(&notification, &site);
            for language in Language::ALL {
                let context = format!("{language:?} {notification:?}");
                let message = render(&notification, language, &site);
                assert!(!message.subject.trim().is_empty(), "{context}");
                assert!(!message.subject.contains('\n'), "{context}");
                for output in [&message.subject, &message.text, &message.html] {
                    assert!(output.contains("Steward"), "{context}: {output}");
                    assert_eq!(placeholders(output), BTreeSet::new(), "{context}");
                }
                assert!(message.text.contains("\n\n-- \n"), "{context}");
                assert!(message.html.starts_with("<!DOCTYPE html>"), "{context}");
                let lang = format!("<html lang=\"{}\">", language.code());
                assert!(message.html.contains(&lang), "{context}");
                if let Some(link) = &link {
                    assert!(message.text.contains(&format!("\n{link}\n")), "{context}");
                    let href = html_escape::encode_double_quoted_attribute(link);
                    assert!(
                        message.html.contains(&format!("href=\"{href}\"")),
                        "{context}"
                    );
                }
            }
        }
    }

    #[test]
    fn invitation_and_password_reset_subjects_use_each_languages_own_words() {
        let site = site();
        let invitation = &samples()[0];
        let reset = &samples()[3];
        let expected = [
            (Language::En, "invitation", "password"),
            (Language::De, "einladung", "passwort"),
            (Language::Zh, "邀请", "密码"),
            (Language::Ru, "приглаш", "парол"),
        ];
        for (language, invitation_word, reset_word) in expected {
            let subject = render(invitation, language, &site).subject.to_lowercase();
            assert!(subject.contains(invitation_word), "{subject}");
            let subject = render(reset, language, &site).subject.to_lowercase();
            assert!(subject.contains(reset_word), "{subject}");
        }
    }

    #[test]
    fn links_point_to_the_documented_paths() {
        let site = Site {
            public_url: "https://console.example.com/".into(),
            ..site()
        };
        let links: Vec<(&str, Option<String>)> = samples()
            .iter()
            .map(|notification| (notification.kind(), link(notification, &site)))
            .collect();
        let base = "https://console.example.com";
        let security = Some(format!("{base}/account/security"));
        for (kind, link) in links {
            let expected = match kind {
                "INVITATION" => Some(format!("{base}/invitations/accept?token=invitation-token")),
                "ACCESS_GRANTED" => Some(format!("{base}/invitations/accept?token=access-token")),
                "EMAIL_VALIDATION" => Some(format!("{base}/validate-email?token=validation-token")),
                "PASSWORD_RESET" => Some(format!("{base}/reset-password?token=reset-token")),
                "BULK_IMPORT_FINISHED" => Some(format!("{base}/jobs/job-1")),
                "REPORT_READY" => Some(format!("{base}/jobs/job-2")),
                "PASSWORD_CHANGED" | "NEW_API_KEY" | "MFA_DISABLED" => security.clone(),
                "MEMBERSHIP_ENABLED" => Some(base.to_owned()),
                _ => None,
            };
            assert_eq!(link, expected, "{kind}");
        }
    }

    #[test]
    fn tokens_and_job_ids_are_percent_encoded_in_links() {
        let reset = Notification::PasswordReset {
            token: "a+b/c=d&e f~g_h-i.j".into(),
            expires_at: datetime!(2030-01-02 03:04 UTC),
        };
        let message = render(&reset, Language::En, &site());
        let link = "https://console.example.com/reset-password?token=a%2Bb%2Fc%3Dd%26e%20f~g_h-i.j";
        assert!(message.text.contains(link), "{}", message.text);
        assert!(message.html.contains(&format!("href=\"{link}\"")));

        let report = Notification::ReportReady {
            report: "r".into(),
            job: "x/../é?".into(),
            summary: String::new(),
        };
        assert_eq!(
            super::link(&report, &site()).as_deref(),
            Some("https://console.example.com/jobs/x%2F..%2F%C3%A9%3F")
        );
    }

    #[test]
    fn user_values_are_escaped_in_html_and_left_raw_in_text() {
        let invitation = Notification::Invitation {
            organization: "<script>alert(1)</script>".into(),
            inviter: "Tom & \"Jerry\"".into(),
            token: "t".into(),
            expires_at: datetime!(2030-01-02 03:04 UTC),
        };
        for language in Language::ALL {
            let message = render(&invitation, language, &site());
            assert!(message.text.contains("<script>alert(1)</script>"));
            assert!(message.subject.contains("<script>alert(1)</script>"));
            assert!(!message.html.contains("<script>"), "{}", message.html);
            assert!(
                message
                    .html
                    .contains("&lt;script&gt;alert(1)&lt;/script&gt;")
            );
            assert!(message.html.contains("Tom &amp; \"Jerry\""));
        }
    }

    #[test]
    fn a_value_that_looks_like_a_placeholder_stays_literal() {
        let invitation = Notification::Invitation {
            organization: "{product}".into(),
            inviter: "{inviter}".into(),
            token: "t".into(),
            expires_at: datetime!(2030-01-02 03:04 UTC),
        };
        let message = render(&invitation, Language::En, &site());
        assert!(message.text.contains("{inviter} has invited you"));
        assert!(message.text.contains("organization {product} on Steward"));
    }

    #[test]
    fn a_line_break_in_a_value_cannot_break_the_subject_line() {
        let invitation = Notification::Invitation {
            organization: "Acme\r\nBcc: victim@example.com".into(),
            inviter: "Ann".into(),
            token: "t".into(),
            expires_at: datetime!(2030-01-02 03:04 UTC),
        };
        let subject = render(&invitation, Language::En, &site()).subject;
        assert!(
            subject.contains("Acme Bcc: victim@example.com"),
            "{subject}"
        );
        assert!(!subject.contains(['\r', '\n']));
    }

    #[test]
    fn times_are_shown_in_utc_to_the_minute() {
        assert_eq!(
            timestamp(datetime!(2030-01-02 03:04:59 +02:00)),
            "2030-01-02 01:04 UTC"
        );
        let changed = Notification::PasswordChanged {
            changed_at: datetime!(2030-01-02 03:04:59 +02:00),
        };
        for language in Language::ALL {
            let message = render(&changed, language, &site());
            assert!(
                message.text.contains("2030-01-02 01:04 UTC"),
                "{language:?}"
            );
        }
    }

    #[test]
    fn a_suspension_reason_is_shown_only_when_one_was_given() {
        let suspended = |reason: Option<&str>| Notification::Suspended {
            reason: reason.map(str::to_owned),
        };
        for language in Language::ALL {
            let without = render(&suspended(None), language, &site()).text;
            let blank = render(&suspended(Some("  ")), language, &site()).text;
            let with = render(&suspended(Some("Left the company")), language, &site()).text;
            assert_eq!(blank, without, "{language:?}");
            assert!(with.contains("Left the company"), "{language:?}");
            assert_eq!(
                with.matches("\n\n").count(),
                without.matches("\n\n").count() + 1,
                "{language:?}: one more paragraph"
            );
        }
    }

    #[test]
    fn an_api_key_says_when_it_expires_or_that_it_does_not() {
        let key = |expires_at| Notification::NewApiKey {
            name: "ci".into(),
            expires_at,
        };
        let expiring = render(
            &key(Some(datetime!(2030-01-02 03:04 UTC))),
            Language::En,
            &site(),
        );
        assert!(
            expiring
                .text
                .contains("It expires on 2030-01-02 03:04 UTC.")
        );
        assert!(!expiring.text.contains("does not expire"));
        let lasting = render(&key(None), Language::En, &site());
        assert!(lasting.text.contains("It does not expire."));
        assert!(!lasting.text.contains("expires on"));
        for language in Language::ALL {
            let expiring = render(
                &key(Some(datetime!(2030-01-02 03:04 UTC))),
                language,
                &site(),
            );
            let lasting = render(&key(None), language, &site());
            assert!(
                expiring.text.contains("2030-01-02 03:04 UTC"),
                "{language:?}"
            );
            assert_ne!(expiring.text, lasting.text, "{language:?}");
        }
    }
}
