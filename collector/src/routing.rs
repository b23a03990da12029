//! The routing tree: which notifiers an incident goes to, Alertmanager-style.
//!
//! Top-level routes are tried in order. A route matches when every matcher it has
//! accepts the incident (severity, component kind, host labels); a route without
//! matchers matches everything, and config validation requires the last top-level
//! route to be such a default, so no incident falls through unnoticed. Inside a
//! matching route its children are tried the same way and the deepest match decides;
//! the route itself applies when no child matches. A matched route ends the search of
//! its siblings unless it says `continue = true`. Children inherit unset settings
//! (notifiers, `group_by`, timings) from their parent.
//!
//! With no routes configured, every incident goes to every notifier.
//!
//! INVARIANT: pure, like `incident`: no clock, no I/O.

use crate::config::RouteConfig;
use std::collections::BTreeMap;

/// What routing looks at.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub severity: &'a str,
    /// The component kind (`disk` of `disk:sda`), or `host` for host-wide incidents.
    pub component_kind: &'a str,
    pub labels: &'a BTreeMap<String, String>,
}

impl<'a> Subject<'a> {
    /// The kind of a `kind:id` component, `host` when there is none.
    pub fn component_kind_of(component: Option<&'a str>) -> &'a str {
        component
            .and_then(|c| c.split(':').next())
            .filter(|k| !k.is_empty())
            .unwrap_or("host")
    }
}

/// A route that matched, with inherited settings resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched {
    /// `name` or the route's position, e.g. `routes[0].routes[1]`.
    pub route: String,
    pub notifiers: Vec<String>,
    pub group_by: Vec<String>,
    pub repeat_interval_ms: Option<i64>,
    pub escalate_after_ms: Option<i64>,
    pub escalate_group_size: Option<usize>,
    pub escalate_to: Option<String>,
}

/// The routing tree built from the configuration.
#[derive(Debug, Clone)]
pub struct Router {
    routes: Vec<RouteConfig>,
    all: Vec<String>,
}

impl Router {
    /// `all` are the configured notifiers, in configuration order.
    pub fn new(routes: &[RouteConfig], all: Vec<String>) -> Self {
        Self {
            routes: routes.to_vec(),
            all,
        }
    }

    /// Every notifier, no matter what: the tree of a collector without routes.
    pub fn everything(all: Vec<String>) -> Self {
        Self::new(&[], all)
    }

    /// The routes that take the incident, in order.
    pub fn route(&self, subject: &Subject<'_>) -> Vec<Matched> {
        if self.routes.is_empty() {
            return vec![Matched {
                route: "default".into(),
                notifiers: self.all.clone(),
                group_by: vec![],
                repeat_interval_ms: None,
                escalate_after_ms: None,
                escalate_group_size: None,
                escalate_to: None,
            }];
        }
        let root = Matched {
            route: String::new(),
            notifiers: self.all.clone(),
            group_by: vec![],
            repeat_interval_ms: None,
            escalate_after_ms: None,
            escalate_group_size: None,
            escalate_to: None,
        };
        let mut out = Vec::new();
        walk(&self.routes, "routes", &root, subject, &mut out);
        out
    }

    /// The notifiers of every matching route, each once, in route order.
    pub fn notifiers(&self, subject: &Subject<'_>) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for matched in self.route(subject) {
            for name in matched.notifiers {
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
        names
    }

    /// A route by name or position (`routes[1].routes[0]`), for `notify-test`.
    pub fn find(&self, wanted: &str) -> Option<Matched> {
        if self.routes.is_empty() && wanted == "default" {
            return self
                .route(&Subject {
                    severity: "info",
                    component_kind: "host",
                    labels: &BTreeMap::new(),
                })
                .into_iter()
                .next();
        }
        let root = Matched {
            route: String::new(),
            notifiers: self.all.clone(),
            group_by: vec![],
            repeat_interval_ms: None,
            escalate_after_ms: None,
            escalate_group_size: None,
            escalate_to: None,
        };
        find(&self.routes, "routes", &root, wanted)
    }
}

/// The settings of `route` under `parent`.
fn inherit(route: &RouteConfig, path: &str, parent: &Matched) -> Matched {
    Matched {
        route: route.name.clone().unwrap_or_else(|| path.to_owned()),
        notifiers: if route.notifiers.is_empty() {
            parent.notifiers.clone()
        } else {
            route.notifiers.clone()
        },
        group_by: route
            .group_by
            .clone()
            .unwrap_or_else(|| parent.group_by.clone()),
        repeat_interval_ms: route
            .repeat_interval
            .map(|d| d.as_millis_i64())
            .or(parent.repeat_interval_ms),
        escalate_after_ms: route
            .escalate_after
            .map(|d| d.as_millis_i64())
            .or(parent.escalate_after_ms),
        escalate_group_size: route.escalate_group_size.or(parent.escalate_group_size),
        escalate_to: route
            .escalate_to
            .clone()
            .or_else(|| parent.escalate_to.clone()),
    }
}

fn matches(route: &RouteConfig, subject: &Subject<'_>) -> bool {
    let severity =
        route.severity.is_empty() || route.severity.iter().any(|s| s == subject.severity);
    let kind = route.component_kind.is_empty()
        || route
            .component_kind
            .iter()
            .any(|k| k == subject.component_kind);
    let labels = route.labels.iter().all(|(name, accepted)| {
        subject
            .labels
            .get(name)
            .is_some_and(|value| accepted.iter().any(|a| a == value))
    });
    severity && kind && labels
}

/// Appends the matches among `routes`; returns whether any matched.
fn walk(
    routes: &[RouteConfig],
    prefix: &str,
    parent: &Matched,
    subject: &Subject<'_>,
    out: &mut Vec<Matched>,
) -> bool {
    let mut any = false;
    for (index, route) in routes.iter().enumerate() {
        if !matches(route, subject) {
            continue;
        }
        any = true;
        let path = format!("{prefix}[{index}]");
        let here = inherit(route, &path, parent);
        if !walk(
            &route.routes,
            &format!("{path}.routes"),
            &here,
            subject,
            out,
        ) {
            out.push(here);
        }
        if !route.continue_matching {
            break;
        }
    }
    any
}

fn find(routes: &[RouteConfig], prefix: &str, parent: &Matched, wanted: &str) -> Option<Matched> {
    for (index, route) in routes.iter().enumerate() {
        let path = format!("{prefix}[{index}]");
        let here = inherit(route, &path, parent);
        if route.name.as_deref() == Some(wanted) || path == wanted {
            return Some(here);
        }
        if let Some(found) = find(&route.routes, &format!("{path}.routes"), &here, wanted) {
            return Some(found);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CollectorConfig;

    fn router(toml: &str) -> Router {
        let config = CollectorConfig::from_toml(toml).expect("parses");
        config.validate().expect("validates");
        Router::new(
            &config.routes,
            config.notifiers.iter().map(|n| n.name.clone()).collect(),
        )
    }

    const NOTIFIERS: &str = r#"
        [[notifiers]]
        name = "pager"
        type = "webhook"
        url = "http://127.0.0.1:1/p"
        [[notifiers]]
        name = "desk"
        type = "webhook"
        url = "http://127.0.0.1:1/d"
        [[notifiers]]
        name = "chat"
        type = "webhook"
        url = "http://127.0.0.1:1/c"
    "#;

    fn subject<'a>(
        severity: &'a str,
        kind: &'a str,
        labels: &'a BTreeMap<String, String>,
    ) -> Subject<'a> {
        Subject {
            severity,
            component_kind: kind,
            labels,
        }
    }

    #[test]
    fn first_match_wins_unless_continue_and_the_default_catches_the_rest() {
        let r = router(&format!(
            r#"{NOTIFIERS}
            [[routes]]
            name = "page"
            severity = ["critical"]
            component_kind = ["disk", "memory"]
            notifiers = ["pager"]
            continue = true
            [[routes]]
            name = "prod"
            labels = {{ env = ["prod"] }}
            notifiers = ["desk"]
            [[routes]]
            name = "default"
            notifiers = ["chat"]
            "#
        ));
        let prod = BTreeMap::from([("env".to_owned(), "prod".to_owned())]);
        let lab = BTreeMap::from([("env".to_owned(), "lab".to_owned())]);
        assert_eq!(
            r.notifiers(&subject("critical", "disk", &prod)),
            ["pager", "desk"]
        );
        assert_eq!(
            r.notifiers(&subject("critical", "disk", &lab)),
            ["pager", "chat"]
        );
        assert_eq!(r.notifiers(&subject("warning", "disk", &prod)), ["desk"]);
        assert_eq!(
            r.notifiers(&subject("critical", "filesystem", &lab)),
            ["chat"]
        );
    }

    #[test]
    fn children_refine_and_inherit() {
        let r = router(&format!(
            r#"{NOTIFIERS}
            [[routes]]
            name = "hardware"
            component_kind = ["disk", "fan"]
            notifiers = ["desk"]
            group_by = ["rack"]
            repeat_interval = "4h"
              [[routes.routes]]
              name = "hot"
              severity = ["critical"]
              notifiers = ["pager"]
              escalate_after = "1h"
              escalate_to = "critical"
            [[routes]]
            notifiers = ["chat"]
            "#
        ));
        let none = BTreeMap::new();
        let hot = r.route(&subject("critical", "fan", &none));
        assert_eq!(hot.len(), 1);
        assert_eq!(hot[0].route, "hot");
        assert_eq!(hot[0].notifiers, ["pager"]);
        assert_eq!(hot[0].group_by, ["rack"], "inherited");
        assert_eq!(hot[0].repeat_interval_ms, Some(4 * 3_600_000));
        assert_eq!(hot[0].escalate_after_ms, Some(3_600_000));
        let mild = r.route(&subject("warning", "fan", &none));
        assert_eq!(mild[0].route, "hardware");
        assert_eq!(mild[0].notifiers, ["desk"]);
        assert_eq!(
            r.route(&subject("warning", "host", &none))[0].route,
            "routes[1]"
        );
        assert_eq!(
            r.find("hot").map(|m| m.notifiers),
            Some(vec!["pager".to_owned()])
        );
        assert_eq!(
            r.find("routes[1]").map(|m| m.notifiers),
            Some(vec!["chat".to_owned()])
        );
        assert!(r.find("nope").is_none());
    }

    #[test]
    fn without_routes_everything_goes_everywhere() {
        let r = router(NOTIFIERS);
        let none = BTreeMap::new();
        assert_eq!(
            r.notifiers(&subject("info", "host", &none)),
            ["pager", "desk", "chat"]
        );
        assert_eq!(Subject::component_kind_of(Some("disk:sda")), "disk");
        assert_eq!(Subject::component_kind_of(None), "host");
    }

    #[test]
    fn validation_names_bad_routes() {
        for (extra, key) in [
            (
                "[[routes]]\nseverity = [\"critical\"]\nnotifiers = [\"pager\"]",
                "routes[0]",
            ),
            (
                "[[routes]]\nnotifiers = [\"nobody\"]",
                "routes[0].notifiers",
            ),
            (
                "[[routes]]\nseverity = [\"bad\"]\n[[routes]]",
                "routes[0].severity",
            ),
            (
                "[[routes]]\nescalate_after = \"1h\"",
                "routes[0].escalate_to",
            ),
            (
                "[[routes]]\n[[routes.routes]]\nescalate_to = \"urgent\"",
                "routes[0].routes[0].escalate_to",
            ),
        ] {
            let text = format!("{NOTIFIERS}\n{extra}");
            let config = CollectorConfig::from_toml(&text).expect(&text);
            let err = config.validate().expect_err(&text);
            assert!(
                err.to_string().starts_with(&format!("{key}:")),
                "{text} -> {err}"
            );
        }
    }
}
