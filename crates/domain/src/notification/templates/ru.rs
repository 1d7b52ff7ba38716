//! Russian, addressing the reader formally (capitalised «Вы», as in business letters).
//!
//! Names are never the subject of a past-tense verb, whose ending would reveal a gender the
//! message does not know: "Пользователь {by} отключил…", not "{by} отключил(а)…". Counts
//! follow a colon ("Количество …: {count}") so no noun has to agree with the number.

use super::Paragraph::{Text, With, Without};
use super::{Layout, Template, Translations};

pub(super) const LAYOUT: Layout = Layout {
    colon: ":",
    link_hint: "Если кнопка не работает, скопируйте эту ссылку в адресную строку браузера:",
    footer: "Это письмо отправлено автоматически сервисом {product}: {public_url}",
};

pub(super) const TEMPLATES: Translations = &[
    (
        "INVITATION",
        Template {
            subject: "Приглашение присоединиться к организации {organization} в {product}",
            body: &[
                Text(
                    "{inviter} приглашает Вас присоединиться к организации {organization} в {product}.",
                ),
                Text(
                    "Чтобы принять приглашение, откройте ссылку ниже и задайте пароль для новой учётной записи. Приглашение действительно до {expires}.",
                ),
                Text("Если Вы не ожидали этого приглашения, просто проигнорируйте это письмо."),
            ],
            action: Some("Принять приглашение"),
        },
    ),
    (
        "ACCESS_GRANTED",
        Template {
            subject: "Вам предоставлен доступ к организации {organization} в {product}",
            body: &[
                Text(
                    "Пользователь {granted_by} предоставил Вам доступ к организации {organization} в {product}.",
                ),
                Text(
                    "Принять доступ можно одним нажатием по ссылке ниже. Ссылка действительна до {expires}.",
                ),
                Text("Если Вы этого не ожидали, просто проигнорируйте это письмо."),
            ],
            action: Some("Принять доступ"),
        },
    ),
    (
        "EMAIL_VALIDATION",
        Template {
            subject: "Подтвердите адрес электронной почты для {product}",
            body: &[
                Text(
                    "Пожалуйста, подтвердите, что этот адрес электронной почты принадлежит Вам, чтобы завершить настройку учётной записи в {product}.",
                ),
                Text("Ссылка действительна до {expires}."),
                Text("Если Вы не создавали учётную запись, просто проигнорируйте это письмо."),
            ],
            action: Some("Подтвердить адрес"),
        },
    ),
    (
        "PASSWORD_RESET",
        Template {
            subject: "Сброс пароля в {product}",
            body: &[
                Text(
                    "Мы получили запрос на сброс пароля Вашей учётной записи в {product}. Чтобы задать новый пароль, воспользуйтесь ссылкой ниже. Ссылка действительна до {expires}.",
                ),
                Text(
                    "Если Вы не запрашивали сброс пароля, просто проигнорируйте это письмо — Ваш пароль останется прежним.",
                ),
            ],
            action: Some("Задать новый пароль"),
        },
    ),
    (
        "PASSWORD_CHANGED",
        Template {
            subject: "Пароль Вашей учётной записи в {product} изменён",
            body: &[
                Text("Пароль Вашей учётной записи в {product} был изменён {changed}."),
                Text(
                    "Если это сделали Вы, никаких действий не требуется. Если нет, немедленно проверьте настройки безопасности и обратитесь к администратору.",
                ),
            ],
            action: Some("Проверить настройки безопасности"),
        },
    ),
    (
        "SUSPENDED",
        Template {
            subject: "Ваша учётная запись в {product} заблокирована",
            body: &[
                Text(
                    "Администратор заблокировал Вашу учётную запись в {product}. Вход в систему больше невозможен.",
                ),
                With("reason", "Указанная причина: {reason}"),
                Text("Если Вы считаете, что это ошибка, обратитесь к администратору."),
            ],
            action: None,
        },
    ),
    (
        "REACTIVATED",
        Template {
            subject: "Ваша учётная запись в {product} снова активна",
            body: &[Text(
                "Ваша учётная запись в {product} разблокирована. Вы снова можете войти в систему.",
            )],
            action: None,
        },
    ),
    (
        "MEMBERSHIP_DISABLED",
        Template {
            subject: "Ваш доступ к {organization} в {product} отключён",
            body: &[
                Text(
                    "Администратор {organization} отключил Ваш доступ к этой организации в {product}. Другие Ваши организации это не затрагивает.",
                ),
                Text(
                    "Если Вы считаете, что это ошибка, обратитесь к администратору {organization}.",
                ),
            ],
            action: None,
        },
    ),
    (
        "MEMBERSHIP_REMOVED",
        Template {
            subject: "Вы удалены из {organization} в {product}",
            body: &[
                Text(
                    "Администратор {organization} удалил Вас из этой организации в {product}. Ресурсы, которыми Вы там владели, теперь принадлежат другому участнику. Ваша учётная запись и другие Ваши организации это не затрагивает.",
                ),
                Text(
                    "Если Вы считаете, что это ошибка, обратитесь к администратору {organization}.",
                ),
            ],
            action: None,
        },
    ),
    (
        "MEMBERSHIP_ENABLED",
        Template {
            subject: "Ваш доступ к {organization} в {product} восстановлен",
            body: &[Text(
                "Администратор {organization} восстановил Ваш доступ к этой организации в {product}.",
            )],
            action: Some("Открыть {product}"),
        },
    ),
    (
        "ACCOUNT_DELETED",
        Template {
            subject: "Ваша учётная запись в {product} удалена",
            body: &[
                Text("Ваша учётная запись в {product} удалена. Вход в систему больше невозможен."),
                Text("Если Вы считаете, что это ошибка, обратитесь к администратору."),
            ],
            action: None,
        },
    ),
    (
        "DELETION_COMPLETED",
        Template {
            subject: "Учётная запись {username} в {product} удалена",
            body: &[
                Text("Учётная запись {username} в {product} удалена по Вашему запросу."),
                Text("Количество ресурсов, переданных новым владельцам: {count}."),
            ],
            action: None,
        },
    ),
    (
        "DELETED_USERS_RESOURCES_RECEIVED",
        Template {
            subject: "Вам переданы ресурсы удалённой учётной записи {username} в {product}",
            body: &[
                Text(
                    "Учётная запись {username} в {product} удалена, и часть её ресурсов передана Вам.",
                ),
                Text("Количество переданных Вам ресурсов: {count}."),
            ],
            action: None,
        },
    ),
    (
        "RESOURCES_TRANSFERRED",
        Template {
            subject: "Вам переданы ресурсы пользователя {from} в {product}",
            body: &[
                Text("Пользователь {by} передал Вам ресурсы пользователя {from} в {product}."),
                Text("Количество переданных ресурсов: {count}."),
            ],
            action: None,
        },
    ),
    (
        "BULK_IMPORT_FINISHED",
        Template {
            subject: "Импорт пользователей в {product} завершён",
            body: &[
                Text("Запущенный Вами импорт пользователей в {product} завершён."),
                Text(
                    "Создано пользователей: {created}. Пропущено: {skipped}. С ошибками: {failed}.",
                ),
                Text(
                    "Подробности о пропущенных и ошибочных записях приведены на странице импорта.",
                ),
            ],
            action: Some("Открыть результаты импорта"),
        },
    ),
    (
        "REPORT_READY",
        Template {
            subject: "Отчёт {report} в {product} готов",
            body: &[
                Text("Запрошенный Вами отчёт {report} в {product} готов."),
                Text("Нарушения по проверкам (найдено / исправлено): {summary}"),
            ],
            action: Some("Открыть отчёт"),
        },
    ),
    (
        "NEW_API_KEY",
        Template {
            subject: "Для Вашей учётной записи в {product} создан новый API-ключ",
            body: &[
                Text("Для Вашей учётной записи в {product} создан новый API-ключ с именем {name}."),
                With("expires", "Срок его действия истекает {expires}."),
                Without("expires", "Срок его действия не ограничен."),
                Text(
                    "Если Вы не создавали этот ключ, немедленно отзовите его в настройках безопасности.",
                ),
            ],
            action: Some("Открыть настройки безопасности"),
        },
    ),
    (
        "MFA_DISABLED",
        Template {
            subject: "Двухфакторная аутентификация для Вашей учётной записи в {product} отключена",
            body: &[
                Text(
                    "Пользователь {by} отключил двухфакторную аутентификацию для Вашей учётной записи в {product}.",
                ),
                Text(
                    "Теперь Ваша учётная запись защищена только паролем. Если Вы этого не ожидали, снова включите двухфакторную аутентификацию и обратитесь к администратору.",
                ),
            ],
            action: Some("Открыть настройки безопасности"),
        },
    ),
    (
        "ORGANIZATION_DELETED",
        Template {
            subject: "Организация {organization} в {product} удалена",
            body: &[
                Text(
                    "Владелец {organization} удалил эту организацию в {product}. Ваш доступ к {organization} прекращён, её ресурсы помечены как удалённые.",
                ),
                Text(
                    "Ваша учётная запись в {product} и другие Ваши организации это не затрагивает.",
                ),
            ],
            action: None,
        },
    ),
];
