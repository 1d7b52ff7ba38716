//! German, addressing the reader formally ("Sie").

use super::Paragraph::{Text, With, Without};
use super::{Layout, Template, Translations};

pub(super) const LAYOUT: Layout = Layout {
    colon: ":",
    link_hint: "Falls die Schaltfläche nicht funktioniert, kopieren Sie diesen Link in Ihren Browser:",
    footer: "Diese Nachricht wurde automatisch von {product} versandt: {public_url}",
};

pub(super) const TEMPLATES: Translations = &[
    (
        "INVITATION",
        Template {
            subject: "Einladung zur Organisation {organization} bei {product}",
            body: &[
                Text(
                    "{inviter} hat Sie eingeladen, der Organisation {organization} bei {product} beizutreten.",
                ),
                Text(
                    "Um die Einladung anzunehmen, öffnen Sie den folgenden Link und wählen Sie ein Passwort für Ihr neues Konto. Die Einladung ist bis {expires} gültig.",
                ),
                Text(
                    "Falls Sie diese Einladung nicht erwartet haben, können Sie diese E-Mail ignorieren.",
                ),
            ],
            action: Some("Einladung annehmen"),
        },
    ),
    (
        "ACCESS_GRANTED",
        Template {
            subject: "Sie haben Zugriff auf {organization} bei {product} erhalten",
            body: &[
                Text(
                    "{granted_by} hat Ihnen Zugriff auf die Organisation {organization} bei {product} gewährt.",
                ),
                Text(
                    "Über den folgenden Link nehmen Sie den Zugriff mit einem Klick an. Der Link ist bis {expires} gültig.",
                ),
                Text("Falls Sie damit nicht gerechnet haben, können Sie diese E-Mail ignorieren."),
            ],
            action: Some("Zugriff annehmen"),
        },
    ),
    (
        "EMAIL_VALIDATION",
        Template {
            subject: "Bestätigen Sie Ihre E-Mail-Adresse für {product}",
            body: &[
                Text(
                    "Bitte bestätigen Sie, dass diese E-Mail-Adresse Ihnen gehört, um die Einrichtung Ihres Kontos bei {product} abzuschließen.",
                ),
                Text("Der Link ist bis {expires} gültig."),
                Text("Falls Sie kein Konto angelegt haben, können Sie diese E-Mail ignorieren."),
            ],
            action: Some("E-Mail-Adresse bestätigen"),
        },
    ),
    (
        "PASSWORD_RESET",
        Template {
            subject: "Passwort für {product} zurücksetzen",
            body: &[
                Text(
                    "Wir haben eine Anfrage erhalten, das Passwort Ihres Kontos bei {product} zurückzusetzen. Über den folgenden Link können Sie ein neues Passwort wählen. Der Link ist bis {expires} gültig.",
                ),
                Text(
                    "Falls Sie dies nicht angefordert haben, können Sie diese E-Mail ignorieren; Ihr Passwort bleibt unverändert.",
                ),
            ],
            action: Some("Neues Passwort wählen"),
        },
    ),
    (
        "PASSWORD_CHANGED",
        Template {
            subject: "Ihr Passwort für {product} wurde geändert",
            body: &[
                Text("Das Passwort Ihres Kontos bei {product} wurde am {changed} geändert."),
                Text(
                    "Wenn Sie diese Änderung selbst vorgenommen haben, ist nichts weiter zu tun. Andernfalls prüfen Sie umgehend Ihre Sicherheitseinstellungen und wenden Sie sich an Ihren Administrator.",
                ),
            ],
            action: Some("Sicherheitseinstellungen prüfen"),
        },
    ),
    (
        "SUSPENDED",
        Template {
            subject: "Ihr Konto bei {product} wurde gesperrt",
            body: &[
                Text(
                    "Ihr Konto bei {product} wurde von einem Administrator gesperrt. Sie können sich nicht mehr anmelden.",
                ),
                With("reason", "Angegebener Grund: {reason}"),
                Text(
                    "Falls Sie dies für einen Irrtum halten, wenden Sie sich bitte an Ihren Administrator.",
                ),
            ],
            action: None,
        },
    ),
    (
        "REACTIVATED",
        Template {
            subject: "Ihr Konto bei {product} wurde wieder aktiviert",
            body: &[Text(
                "Ihr Konto bei {product} wurde wieder aktiviert. Sie können sich wieder anmelden.",
            )],
            action: None,
        },
    ),
    (
        "MEMBERSHIP_DISABLED",
        Template {
            subject: "Ihr Zugang zu {organization} bei {product} wurde deaktiviert",
            body: &[
                Text(
                    "Ein Administrator von {organization} hat Ihren Zugang zu dieser Organisation bei {product} deaktiviert. Ihre anderen Organisationen sind nicht betroffen.",
                ),
                Text(
                    "Falls Sie dies für einen Irrtum halten, wenden Sie sich bitte an einen Administrator von {organization}.",
                ),
            ],
            action: None,
        },
    ),
    (
        "MEMBERSHIP_REMOVED",
        Template {
            subject: "Sie wurden aus {organization} bei {product} entfernt",
            body: &[
                Text(
                    "Ein Administrator von {organization} hat Sie aus dieser Organisation bei {product} entfernt. Ressourcen, die Ihnen dort gehörten, gehören jetzt einem anderen Mitglied. Ihr Konto und Ihre anderen Organisationen sind nicht betroffen.",
                ),
                Text(
                    "Falls Sie dies für einen Irrtum halten, wenden Sie sich bitte an einen Administrator von {organization}.",
                ),
            ],
            action: None,
        },
    ),
    (
        "MEMBERSHIP_ENABLED",
        Template {
            subject: "Ihr Zugang zu {organization} bei {product} wurde wiederhergestellt",
            body: &[Text(
                "Ein Administrator von {organization} hat Ihren Zugang zu dieser Organisation bei {product} wiederhergestellt.",
            )],
            action: Some("{product} öffnen"),
        },
    ),
    (
        "ACCOUNT_DELETED",
        Template {
            subject: "Ihr Konto bei {product} wurde gelöscht",
            body: &[
                Text(
                    "Ihr Konto bei {product} wurde gelöscht. Sie können sich nicht mehr anmelden.",
                ),
                Text(
                    "Falls Sie dies für einen Irrtum halten, wenden Sie sich bitte an Ihren Administrator.",
                ),
            ],
            action: None,
        },
    ),
    (
        "DELETION_COMPLETED",
        Template {
            subject: "Das Konto {username} bei {product} wurde gelöscht",
            body: &[
                Text("Das Konto {username} bei {product} wurde wie von Ihnen veranlasst gelöscht."),
                Text("An neue Eigentümer übertragene Ressourcen: {count}."),
            ],
            action: None,
        },
    ),
    (
        "DELETED_USERS_RESOURCES_RECEIVED",
        Template {
            subject: "Sie haben Ressourcen des gelöschten Kontos {username} bei {product} erhalten",
            body: &[
                Text(
                    "Das Konto {username} bei {product} wurde gelöscht, und ein Teil seiner Ressourcen wurde Ihnen übertragen.",
                ),
                Text("An Sie übertragene Ressourcen: {count}."),
            ],
            action: None,
        },
    ),
    (
        "RESOURCES_TRANSFERRED",
        Template {
            subject: "Ressourcen von {from} wurden Ihnen bei {product} übertragen",
            body: &[
                Text("{by} hat Ihnen bei {product} Ressourcen von {from} übertragen."),
                Text("Übertragene Ressourcen: {count}."),
            ],
            action: None,
        },
    ),
    (
        "BULK_IMPORT_FINISHED",
        Template {
            subject: "Ihr Benutzerimport bei {product} ist abgeschlossen",
            body: &[
                Text("Der von Ihnen gestartete Benutzerimport bei {product} ist abgeschlossen."),
                Text(
                    "Angelegte Benutzer: {created}. Übersprungen: {skipped}. Fehlgeschlagen: {failed}.",
                ),
                Text(
                    "Details zu übersprungenen und fehlgeschlagenen Einträgen finden Sie auf der Seite des Imports.",
                ),
            ],
            action: Some("Import ansehen"),
        },
    ),
    (
        "REPORT_READY",
        Template {
            subject: "Ihr Bericht {report} bei {product} steht bereit",
            body: &[
                Text("Der von Ihnen angeforderte Bericht {report} steht bei {product} bereit."),
                Text("Befunde je Prüfung (gefunden / behoben): {summary}"),
            ],
            action: Some("Bericht ansehen"),
        },
    ),
    (
        "NEW_API_KEY",
        Template {
            subject: "Neuer API-Schlüssel für Ihr Konto bei {product}",
            body: &[
                Text(
                    "Für Ihr Konto bei {product} wurde ein neuer API-Schlüssel mit dem Namen {name} erstellt.",
                ),
                With("expires", "Er läuft am {expires} ab."),
                Without("expires", "Er ist unbefristet gültig."),
                Text(
                    "Falls Sie diesen Schlüssel nicht erstellt haben, widerrufen Sie ihn umgehend in Ihren Sicherheitseinstellungen.",
                ),
            ],
            action: Some("Sicherheitseinstellungen öffnen"),
        },
    ),
    (
        "MFA_DISABLED",
        Template {
            subject: "Zwei-Faktor-Authentifizierung für Ihr Konto bei {product} deaktiviert",
            body: &[
                Text(
                    "{by} hat die Zwei-Faktor-Authentifizierung für Ihr Konto bei {product} deaktiviert.",
                ),
                Text(
                    "Ihr Konto ist jetzt nur noch durch Ihr Passwort geschützt. Falls Sie damit nicht gerechnet haben, aktivieren Sie die Zwei-Faktor-Authentifizierung wieder und wenden Sie sich an Ihren Administrator.",
                ),
            ],
            action: Some("Sicherheitseinstellungen öffnen"),
        },
    ),
    (
        "ORGANIZATION_DELETED",
        Template {
            subject: "Die Organisation {organization} bei {product} wurde gelöscht",
            body: &[
                Text(
                    "Der Eigentümer von {organization} hat die Organisation bei {product} gelöscht. Ihr Zugang zu {organization} ist beendet, und ihre Ressourcen wurden als gelöscht markiert.",
                ),
                Text(
                    "Ihr Konto bei {product} und Ihre anderen Organisationen sind nicht betroffen.",
                ),
            ],
            action: None,
        },
    ),
];
