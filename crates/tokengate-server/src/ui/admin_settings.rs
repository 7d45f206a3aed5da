//! `/tokengate/admin/settings`: the system-wide settings. A bad allow-list entry is named
//! beside the field and nothing is saved; a list that would shut out the admin's own address
//! needs a ticked confirmation; after a save the running node applies the settings at once.
//! "Try these settings" shows the dry-run report (SPEC §13) above the form as submitted and
//! saves nothing.
//! Shows how many tokens exceed the maximum, with the clamp action.

use super::context::Visit;
use super::forms::{Choice, maximum_choices, ticked, validity_label};
use super::layout::{ConfirmPage, Nav, UiError, render, see_other};
use super::tokens::current_settings;
use crate::api::admin::dry_run::{self, DryRunAnswer};
use crate::effects;
use crate::state::SharedState;
use askama::Template;
use axum::Form;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use std::net::IpAddr;
use tokengate_core::allowlist::IpAllowList;
use tokengate_core::groups::{GroupList, Permissions};
use tokengate_core::manage;
use tokengate_core::model::{AuthEvents, PasswordAuth, Settings};
use tokengate_core::validity::MaxValidity;

#[derive(Template)]
#[template(path = "admin_settings.html")]
struct SettingsPage {
    nav: Option<Nav>,
    csrf: String,
    notice: Option<String>,
    error: Option<String>,
    allowlist_error: Option<String>,
    needs_confirmation: bool,
    over_maximum: u64,
    maximum_label: &'static str,
    maximum_choices: Vec<Choice>,
    ip_allowlist: String,
    client: String,
    password_auth_enabled: bool,
    admins_only: bool,
    use_tokens: String,
    create_own_tokens: String,
    create_tokens_for_others: String,
    /// Which authentication events are audited.
    auth_events: AuthEvents,
    /// What the submitted settings would have refused ("Try these settings").
    dry_run: Option<DryRunAnswer>,
}

impl SettingsPage {
    fn new(nav: Nav, settings: &Settings, client: IpAddr, over_maximum: u64) -> Self {
        Self {
            csrf: nav.csrf.clone(),
            nav: Some(nav),
            notice: None,
            error: None,
            allowlist_error: None,
            needs_confirmation: false,
            over_maximum,
            maximum_label: validity_label(settings.max_validity),
            maximum_choices: maximum_choices(settings.max_validity),
            ip_allowlist: settings.ip_allowlist.to_strings().join("\n"),
            client: client.to_string(),
            password_auth_enabled: settings.password_auth == PasswordAuth::Enabled,
            admins_only: settings.admins_only,
            use_tokens: settings.permissions.use_tokens.names().join(", "),
            create_own_tokens: settings.permissions.create_own_tokens.names().join(", "),
            create_tokens_for_others: settings
                .permissions
                .create_tokens_for_others
                .names()
                .join(", "),
            auth_events: settings.audit_auth_events,
            dry_run: None,
        }
    }

    /// The form's fields as submitted (nothing was saved).
    fn fill_from(&mut self, form: SettingsForm) {
        self.admins_only = ticked(&form.admins_only);
        self.auth_events = auth_events_from(&form);
        self.password_auth_enabled = form.password_auth != "disabled";
        if let Ok(wanted) = form.max_validity.parse::<MaxValidity>() {
            self.maximum_choices = maximum_choices(wanted);
        }
        self.ip_allowlist = form.ip_allowlist;
        let typed = [
            (form.use_tokens, &mut self.use_tokens),
            (form.create_own_tokens, &mut self.create_own_tokens),
            (
                form.create_tokens_for_others,
                &mut self.create_tokens_for_others,
            ),
        ];
        for (value, field) in typed {
            if let Some(value) = value {
                *field = value;
            }
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Done {
    done: String,
    count: u64,
}

impl Done {
    fn message(&self) -> Option<String> {
        match self.done.as_str() {
            "saved" => Some("Settings saved. They apply now.".into()),
            "unchanged" => Some("Nothing changed.".into()),
            "clamped" => Some(format!(
                "{} token(s) shortened to the maximum validity.",
                self.count
            )),
            _ => None,
        }
    }
}

/// `GET /tokengate/admin/settings`.
pub async fn page(
    State(state): State<SharedState>,
    visit: Visit,
    done: Result<Query<Done>, QueryRejection>,
) -> Result<Response, UiError> {
    let (_, nav) = visit.admin_page("settings")?;
    let settings = current_settings(&state).await?;
    let over_maximum = over_maximum(&state, &settings, &visit).await?;
    let mut page = SettingsPage::new(nav, &settings, visit.client, over_maximum);
    page.notice = done.ok().and_then(|Query(done)| done.message());
    Ok(render(StatusCode::OK, &page))
}

async fn over_maximum(
    state: &SharedState,
    settings: &Settings,
    visit: &Visit,
) -> Result<u64, UiError> {
    manage::count_tokens_over_maximum(state.store.as_ref(), settings, visit.now)
        .await
        .map_err(UiError::from_manage)
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SettingsForm {
    csrf: String,
    max_validity: String,
    ip_allowlist: String,
    password_auth: String,
    admins_only: Option<String>,
    confirm_lockout: Option<String>,
    use_tokens: Option<String>,
    create_own_tokens: Option<String>,
    create_tokens_for_others: Option<String>,
    audit_success: Option<String>,
    audit_failure: Option<String>,
    audit_denied: Option<String>,
    /// `try`: show what these settings would have refused, save nothing.
    intent: String,
}

/// A permission's groups as typed (comma-separated; `*` = every user); absent = unchanged.
fn group_list(typed: Option<&str>, current: &GroupList, label: &str) -> Result<GroupList, Problem> {
    let Some(typed) = typed else {
        return Ok(current.clone());
    };
    let entries: Vec<&str> = typed
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .collect();
    GroupList::parse(&entries).map_err(|problem| Problem::Field(format!("{label}: {problem}")))
}

fn permissions_from(form: &SettingsForm, current: &Permissions) -> Result<Permissions, Problem> {
    Ok(Permissions {
        use_tokens: group_list(
            form.use_tokens.as_deref(),
            &current.use_tokens,
            "Use tokens",
        )?,
        create_own_tokens: group_list(
            form.create_own_tokens.as_deref(),
            &current.create_own_tokens,
            "Create own tokens",
        )?,
        create_tokens_for_others: group_list(
            form.create_tokens_for_others.as_deref(),
            &current.create_tokens_for_others,
            "Create tokens for others",
        )?,
    })
}

/// The authentication-event boxes as ticked (an unticked box is absent from a form).
fn auth_events_from(form: &SettingsForm) -> AuthEvents {
    AuthEvents {
        success: ticked(&form.audit_success),
        failure: ticked(&form.audit_failure),
        denied: ticked(&form.audit_denied),
    }
}

/// Why a submitted settings form was not saved.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Problem {
    Field(String),
    AllowList(String),
    WouldLockOut,
}

/// The settings a form asks for, all valid, or the first problem (nothing is half-taken).
fn settings_from(
    form: &SettingsForm,
    current: &Settings,
    client: Option<IpAddr>,
) -> Result<Settings, Problem> {
    let max_validity = form
        .max_validity
        .parse::<MaxValidity>()
        .map_err(|error| Problem::Field(error.to_string()))?;
    let password_auth = match form.password_auth.as_str() {
        "enabled" => PasswordAuth::Enabled,
        "disabled" => PasswordAuth::Disabled,
        _ => {
            return Err(Problem::Field(
                "Choose whether passwords are enabled.".into(),
            ));
        }
    };
    let ip_allowlist = IpAllowList::parse_text(&form.ip_allowlist)
        .map_err(|invalid| Problem::AllowList(invalid.to_string()))?;
    let permissions = permissions_from(form, &current.permissions)?;
    let shuts_out = client.is_some_and(|client| !ip_allowlist.allows(client));
    if shuts_out && !ticked(&form.confirm_lockout) {
        return Err(Problem::WouldLockOut);
    }
    Ok(Settings {
        max_validity,
        ip_allowlist,
        password_auth,
        admins_only: ticked(&form.admins_only),
        permissions,
        audit_auth_events: auth_events_from(form),
    })
}

/// `POST /tokengate/admin/settings`.
pub async fn save(
    State(state): State<SharedState>,
    visit: Visit,
    form: Result<Form<SettingsForm>, FormRejection>,
) -> Result<Response, UiError> {
    let Form(form) = form.map_err(|_| UiError::bad_request("The settings form was incomplete."))?;
    let acting = visit.form(&form.csrf)?;
    let admin = acting.admin(&visit.settings)?;
    if form.intent == "try" {
        return try_settings(&state, &visit, form, acting.name()).await;
    }
    match settings_from(&form, &visit.settings, Some(visit.client)) {
        Ok(settings) => {
            let changed = manage::change_settings(
                state.store.as_ref(),
                &acting.admin_change(&admin),
                &settings,
            )
            .await;
            let changed = effects::on_node(&state, changed)
                .await
                .map_err(UiError::from_manage)?;
            let done = if changed { "saved" } else { "unchanged" };
            Ok(see_other(&format!("/tokengate/admin/settings?done={done}")))
        }
        Err(problem) => refuse(&state, &visit, form, problem).await,
    }
}

/// "Try these settings": the dry-run report above the form as submitted; nothing is saved.
/// Your own address needs no confirmation here (the report says who would be refused).
async fn try_settings(
    state: &SharedState,
    visit: &Visit,
    form: SettingsForm,
    caller: &str,
) -> Result<Response, UiError> {
    let proposed = match settings_from(&form, &visit.settings, None) {
        Ok(proposed) => proposed,
        Err(problem) => return refuse(state, visit, form, problem).await,
    };
    let report = dry_run::report(state.store.as_ref(), &proposed, caller, visit.now)
        .await
        .map_err(|_| UiError::unavailable())?;
    let (_, nav) = visit.admin_page("settings")?;
    let stored = current_settings(state).await?;
    let over_maximum = over_maximum(state, &stored, visit).await?;
    let mut page = SettingsPage::new(nav, &stored, visit.client, over_maximum);
    page.fill_from(form);
    page.dry_run = Some(report);
    Ok(render(StatusCode::OK, &page))
}

/// Shows the form again as submitted, with the problem where it belongs.
async fn refuse(
    state: &SharedState,
    visit: &Visit,
    form: SettingsForm,
    problem: Problem,
) -> Result<Response, UiError> {
    let (_, nav) = visit.admin_page("settings")?;
    let stored = current_settings(state).await?;
    let over_maximum = over_maximum(state, &stored, visit).await?;
    let mut page = SettingsPage::new(nav, &stored, visit.client, over_maximum);
    page.fill_from(form);
    let status = match problem {
        Problem::Field(message) => {
            page.error = Some(message);
            StatusCode::UNPROCESSABLE_ENTITY
        }
        Problem::AllowList(message) => {
            page.error = Some("Nothing was saved: the IP allow-list has an invalid entry.".into());
            page.allowlist_error = Some(message);
            StatusCode::UNPROCESSABLE_ENTITY
        }
        Problem::WouldLockOut => {
            page.error = Some(
                "Nothing was saved: confirm that the list may leave out your own address.".into(),
            );
            page.needs_confirmation = true;
            StatusCode::CONFLICT
        }
    };
    Ok(render(status, &page))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ClampForm {
    csrf: String,
    confirmed: String,
}

/// `POST /tokengate/admin/settings/clamp`: shortens the tokens over the maximum.
pub async fn clamp(
    State(state): State<SharedState>,
    visit: Visit,
    form: Result<Form<ClampForm>, FormRejection>,
) -> Result<Response, UiError> {
    let Form(form) = form.map_err(|_| UiError::bad_request("The form was incomplete."))?;
    let acting = visit.form(&form.csrf)?;
    let admin = acting.admin(&visit.settings)?;
    if form.confirmed != "yes" {
        let page = ConfirmPage {
            nav: visit.nav("settings"),
            title: "Shorten tokens",
            message: "Shorten every token that exceeds the maximum validity?".into(),
            action: "/tokengate/admin/settings/clamp".into(),
            fields: vec![("csrf", form.csrf)],
            button: "Shorten tokens",
            cancel: "/tokengate/admin/settings",
        };
        return Ok(render(StatusCode::OK, &page));
    }
    let settings = current_settings(&state).await?;
    let changed = manage::clamp_tokens_to_maximum(
        state.store.as_ref(),
        &acting.admin_change(&admin),
        &settings,
    )
    .await;
    let count = effects::on_node(&state, changed)
        .await
        .map_err(UiError::from_manage)?;
    Ok(see_other(&format!(
        "/tokengate/admin/settings?done=clamped&count={count}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(allowlist: &str) -> SettingsForm {
        SettingsForm {
            max_validity: "1y".into(),
            ip_allowlist: allowlist.into(),
            password_auth: "disabled".into(),
            admins_only: Some("true".into()),
            ..SettingsForm::default()
        }
    }

    fn admin_address() -> IpAddr {
        "192.0.2.10".parse().expect("address")
    }

    #[test]
    fn a_valid_form_becomes_settings() {
        let settings = settings_from(
            &form("192.0.2.0/24\n10.0.0.1"),
            &Settings::default(),
            Some(admin_address()),
        )
        .expect("valid settings");
        assert_eq!(settings.max_validity, MaxValidity::OneYear);
        assert_eq!(settings.password_auth, PasswordAuth::Disabled);
        assert!(settings.admins_only);
        assert_eq!(
            settings.ip_allowlist.to_strings(),
            ["192.0.2.0/24", "10.0.0.1"]
        );
    }

    #[test]
    fn a_bad_allow_list_entry_is_named() {
        let problem = settings_from(
            &form("10.0.0.0/8\n10.0.0.300"),
            &Settings::default(),
            Some(admin_address()),
        );
        assert!(
            matches!(problem, Err(Problem::AllowList(message)) if message.contains("10.0.0.300"))
        );
    }

    #[test]
    fn a_list_without_the_admins_address_needs_confirmation() {
        assert_eq!(
            settings_from(
                &form("10.0.0.0/8"),
                &Settings::default(),
                Some(admin_address())
            ),
            Err(Problem::WouldLockOut)
        );
        let confirmed = SettingsForm {
            confirm_lockout: Some("true".into()),
            ..form("10.0.0.0/8")
        };
        assert!(settings_from(&confirmed, &Settings::default(), Some(admin_address())).is_ok());
        assert!(settings_from(&form(""), &Settings::default(), Some(admin_address())).is_ok());
    }
}
