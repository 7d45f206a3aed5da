//! The restrictions part of the token forms (SPEC §11) as a person fills it in — "Read only",
//! "Only these paths", "Only these routes", "Only from these addresses" — checked into core's
//! `Restrictions` with a message naming the first bad entry, and the short line a token list
//! shows ("read only · /api/ · from 10.0.0.0/8", or "full access"). Pure: no store, no session.

use super::forms::Fields;
use tokengate_core::allowlist::IpAllowList;
use tokengate_core::restrictions::{Access, MAX_ENTRIES, Restrictions};

/// tokengate's own API as a route name (offered beside the configured routes).
const OWN_ROUTE: &str = crate::gateway::OWN_ROUTE;

/// At most this many entries of a list are named in a token list's summary.
const SUMMARY_ENTRIES: usize = 3;

/// The restriction fields of a form, as sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestrictionsForm {
    pub read_only: bool,
    /// One path prefix per line.
    pub paths: String,
    /// The ticked route names.
    pub routes: Vec<String>,
    /// One address, CIDR or dash range per line.
    pub addresses: String,
}

impl RestrictionsForm {
    /// The fields `read_only`, `paths`, `routes` (repeated) and `addresses`.
    pub fn from_fields(fields: &Fields) -> Self {
        Self {
            read_only: !fields.one("read_only").is_empty(),
            paths: fields.one("paths").to_owned(),
            routes: fields.all("routes"),
            addresses: fields.one("addresses").to_owned(),
        }
    }

    /// A token's restrictions as the form shows them for a change.
    pub fn of(restrictions: &Restrictions) -> Self {
        Self {
            read_only: restrictions.access == Access::Read,
            paths: restrictions.paths.join("\n"),
            routes: restrictions.routes.clone(),
            addresses: restrictions.ip_allowlist.to_strings().join("\n"),
        }
    }

    /// The restrictions asked for, every entry checked; the error names the first bad one.
    pub fn parse(&self) -> Result<Restrictions, String> {
        let paths = lines(&self.paths);
        let address_lines = lines(&self.addresses);
        if address_lines.len() > MAX_ENTRIES {
            return Err(format!(
                "Only from these addresses: at most {MAX_ENTRIES} entries."
            ));
        }
        let ip_allowlist = IpAllowList::parse(&address_lines)
            .map_err(|error| format!("Only from these addresses: {error}."))?;
        let mut routes: Vec<String> = Vec::new();
        for route in &self.routes {
            let route = route.trim();
            if !route.is_empty() && !routes.iter().any(|known| known == route) {
                routes.push(route.to_owned());
            }
        }
        let restrictions = Restrictions {
            access: if self.read_only {
                Access::Read
            } else {
                Access::Write
            },
            paths,
            routes,
            ip_allowlist,
        };
        restrictions
            .validate()
            .map_err(|problem| format!("The restrictions are not valid: {problem}."))?;
        Ok(restrictions)
    }
}

/// The non-blank lines of a text field, trimmed.
fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect()
}

/// One route checkbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteChoice {
    pub name: String,
    pub checked: bool,
}

/// What the restrictions part of a form shows.
#[derive(Debug, Clone)]
pub struct RestrictionsView {
    pub read_only: bool,
    pub paths: String,
    pub addresses: String,
    pub routes: Vec<RouteChoice>,
    /// The problem with what was sent, shown beside the fields.
    pub error: Option<String>,
}

impl RestrictionsView {
    /// The form's values; a checkbox for each configured route, for `tokengate`, and for any
    /// other name the form carries (so a change never drops a route silently).
    pub fn new(form: &RestrictionsForm, route_names: &[String]) -> Self {
        let mut names: Vec<String> = route_names.to_vec();
        for extra in std::iter::once(OWN_ROUTE).chain(form.routes.iter().map(String::as_str)) {
            if !names.iter().any(|name| name == extra) {
                names.push(extra.to_owned());
            }
        }
        Self {
            read_only: form.read_only,
            paths: form.paths.clone(),
            addresses: form.addresses.clone(),
            routes: names
                .into_iter()
                .map(|name| RouteChoice {
                    checked: form.routes.contains(&name),
                    name,
                })
                .collect(),
            error: None,
        }
    }
}

/// The short line a token list shows: "read only · /api/ · routes jira · from 10.0.0.0/8", or
/// "full access".
pub fn summary(restrictions: &Restrictions) -> String {
    let mut parts = Vec::new();
    if restrictions.access == Access::Read {
        parts.push("read only".to_owned());
    }
    if !restrictions.paths.is_empty() {
        parts.push(listed(&restrictions.paths));
    }
    if !restrictions.routes.is_empty() {
        let word = if restrictions.routes.len() == 1 {
            "route"
        } else {
            "routes"
        };
        parts.push(format!("{word} {}", listed(&restrictions.routes)));
    }
    if !restrictions.ip_allowlist.is_empty() {
        let addresses = restrictions.ip_allowlist.to_strings();
        parts.push(format!("from {}", listed(&addresses)));
    }
    if parts.is_empty() {
        "full access".to_owned()
    } else {
        parts.join(" · ")
    }
}

/// The first few entries, comma-separated, and how many more.
fn listed(entries: &[String]) -> String {
    let shown = entries
        .iter()
        .take(SUMMARY_ENTRIES)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    match entries.len().saturating_sub(SUMMARY_ENTRIES) {
        0 => shown,
        more => format!("{shown} +{more} more"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(paths: &str, routes: &[&str], addresses: &str) -> RestrictionsForm {
        RestrictionsForm {
            read_only: false,
            paths: paths.into(),
            routes: routes.iter().map(|route| (*route).to_owned()).collect(),
            addresses: addresses.into(),
        }
    }

    #[test]
    fn an_empty_form_restricts_nothing() {
        let parsed = RestrictionsForm::default().parse().expect("valid");
        assert!(parsed.is_unrestricted());
        assert_eq!(summary(&parsed), "full access");
    }

    #[test]
    fn lines_are_trimmed_blank_ones_skipped_and_routes_deduplicated() {
        let mut typed = form(
            " /api/ \r\n\n/status\n",
            &["jira", "jira", " tokengate "],
            "10.0.0.0/8\r\n\n 192.168.1.10-192.168.1.50 ",
        );
        typed.read_only = true;
        let parsed = typed.parse().expect("valid");
        assert_eq!(parsed.access, Access::Read);
        assert_eq!(parsed.paths, ["/api/", "/status"]);
        assert_eq!(parsed.routes, ["jira", "tokengate"]);
        assert_eq!(
            parsed.ip_allowlist.to_strings(),
            ["10.0.0.0/8", "192.168.1.10-192.168.1.50"]
        );
        assert_eq!(RestrictionsForm::of(&parsed).parse(), Ok(parsed));
    }

    #[test]
    fn each_bad_entry_is_named() {
        for (bad, named) in [
            (form("/ok\napi/v1", &[], ""), "api/v1"),
            (form("/a/../admin", &[], ""), "/a/../admin"),
            (form("/a%2fb", &[], ""), "/a%2fb"),
            (form("", &["Jira!"], ""), "Jira!"),
            (form("", &[], "10.0.0.0/8\n10.0.0.999"), "10.0.0.999"),
            (form("", &[], "10.0.0.0/33"), "10.0.0.0/33"),
            (form("", &[], "<script>"), "<script>"),
        ] {
            let problem = bad.parse().expect_err("refused");
            assert!(problem.contains(named), "{problem}");
        }
        let many = (0..=MAX_ENTRIES)
            .map(|n| format!("10.0.0.{n}"))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(form("", &[], &many).parse().is_err());
    }

    #[test]
    fn the_summary_is_short_and_readable() {
        let mut typed = form("/api/", &[], "10.0.0.0/8");
        typed.read_only = true;
        let parsed = typed.parse().expect("valid");
        assert_eq!(summary(&parsed), "read only · /api/ · from 10.0.0.0/8");
        let routes = form("/a\n/b\n/c\n/d\n/e", &["jira"], "")
            .parse()
            .expect("ok");
        assert_eq!(summary(&routes), "/a, /b, /c +2 more · route jira");
    }

    #[test]
    fn route_choices_keep_names_the_configuration_does_not_know() {
        let view = RestrictionsView::new(&form("", &["old-route"], ""), &["jira".to_owned()]);
        let names: Vec<(&str, bool)> = view
            .routes
            .iter()
            .map(|choice| (choice.name.as_str(), choice.checked))
            .collect();
        assert_eq!(
            names,
            [("jira", false), ("tokengate", false), ("old-route", true)]
        );
    }
}
