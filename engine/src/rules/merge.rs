//! Merging a user's rule overrides into the default pack, recording every change.

use serde::{Deserialize, Serialize};
use toml::{Table, Value};

/// One change a user's override file made to the pack: which key, from what, to what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Dotted key, with `[id=...]` for a rule in an array, e.g. `counters[id=smart_pending].growth_lr`.
    pub key: String,
    /// The value before, as TOML; `None` when the key was added.
    pub old: Option<String>,
    pub new: String,
}

/// Merges `user` into `base` and returns the audit trail.
pub(super) fn merge_tables(base: &mut Table, user: Table, prefix: &str) -> Vec<AuditEntry> {
    let mut audit = Vec::new();
    for (key, value) in user {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match (base.get_mut(&key), value) {
            (Some(Value::Table(old)), Value::Table(new)) => {
                audit.extend(merge_tables(old, new, &path));
            }
            (Some(Value::Array(old)), Value::Array(new)) if is_rule_array(old, &new) => {
                audit.extend(merge_rules(old, new, &path));
            }
            (Some(old), new) => {
                if *old != new {
                    audit.push(AuditEntry {
                        key: path,
                        old: Some(old.to_string()),
                        new: new.to_string(),
                    });
                    *old = new;
                }
            }
            (None, new) => {
                audit.push(AuditEntry {
                    key: path,
                    old: None,
                    new: new.to_string(),
                });
                base.insert(key, new);
            }
        }
    }
    audit
}

fn rule_id(v: &Value) -> Option<&str> {
    v.as_table()?.get("id")?.as_str()
}

fn is_rule_array(old: &[Value], new: &[Value]) -> bool {
    old.iter().chain(new.iter()).all(|v| rule_id(v).is_some())
}

fn merge_rules(old: &mut Vec<Value>, new: Vec<Value>, path: &str) -> Vec<AuditEntry> {
    let mut audit = Vec::new();
    for rule in new {
        let Some(id) = rule_id(&rule).map(str::to_string) else {
            continue;
        };
        let rule_path = format!("{path}[id={id}]");
        match old.iter_mut().find(|v| rule_id(v) == Some(id.as_str())) {
            // A partial rule overrides only the keys it names.
            Some(Value::Table(existing)) => {
                if let Value::Table(new_table) = rule {
                    audit.extend(merge_tables(existing, new_table, &rule_path));
                }
            }
            _ => {
                audit.push(AuditEntry {
                    key: rule_path,
                    old: None,
                    new: rule.to_string(),
                });
                old.push(rule);
            }
        }
    }
    audit
}
