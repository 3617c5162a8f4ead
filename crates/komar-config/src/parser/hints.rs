//! Wording of the messages about option names: hints for unknown options
//! (comment not in column 1, tab separator, wrong case, near misses) and the
//! deprecation notices Mosquitto prints.

use crate::options;

/// Why an option name is unknown, with a hint for the usual mistakes.
pub(super) fn unknown_option_message(name: &str) -> String {
    let shown = name.escape_debug().to_string();
    if name.starts_with('#') {
        return format!(
            "unknown option '{shown}': a comment line must have '#' in the first column"
        );
    }
    if let Some((head, _)) = name.split_once('\t') {
        if options::lookup(head).is_some() {
            return format!(
                "unknown option '{shown}': separate '{head}' from its value with a space \
                 (a tab is not a separator in mosquitto.conf)"
            );
        }
    }
    let lower = name.to_ascii_lowercase();
    if lower != name && options::lookup(&lower).is_some() {
        return format!(
            "unknown option '{shown}' (option names are case-sensitive; did you mean '{lower}'?)"
        );
    }
    let near = similar_options(name);
    if near.is_empty() {
        format!("unknown option '{shown}'")
    } else {
        format!(
            "unknown option '{shown}' (did you mean {}?)",
            near.join(" or ")
        )
    }
}

/// Up to three known option names close to `name`: it is a prefix of them,
/// or at most two edits away.
fn similar_options(name: &str) -> Vec<String> {
    const MAX_LEN: usize = 64;
    if name.len() < 4 || name.len() > MAX_LEN {
        return Vec::new();
    }
    options::OPTIONS
        .iter()
        .map(|s| s.name)
        .filter(|o| {
            o.starts_with(name)
                || (o.len().abs_diff(name.len()) <= 2 && edit_distance(name, o) <= 2)
        })
        .take(3)
        .map(|o| format!("'{o}'"))
        .collect()
}

/// Levenshtein distance between two short strings (bytes).
fn edit_distance(a: &str, b: &str) -> usize {
    let b = b.as_bytes();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, &ca) in a.as_bytes().iter().enumerate() {
        if let Some(first) = cur.first_mut() {
            *first = i + 1;
        }
        for (j, &cb) in b.iter().enumerate() {
            let subst = prev.get(j).copied().unwrap_or(0) + usize::from(ca != cb);
            let del = prev.get(j + 1).copied().unwrap_or(0) + 1;
            let ins = cur.get(j).copied().unwrap_or(0) + 1;
            if let Some(c) = cur.get_mut(j + 1) {
                *c = subst.min(del).min(ins);
            }
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev.last().copied().unwrap_or(0)
}

/// The notice Mosquitto gives for a deprecated option.
pub(super) fn deprecation_message(name: &str, canonical: &str) -> Option<String> {
    Some(match canonical {
        "port" => "'port' is deprecated; use 'listener <port>' instead".to_owned(),
        "bind_address" => {
            "'bind_address' is deprecated; use 'listener <port> <address>' instead".to_owned()
        }
        "plugin" => format!("'{name}' is deprecated; use 'plugin' instead"),
        options::PLUGIN_OPT => format!(
            "'{name}' is deprecated; use 'plugin_opt_{}' instead",
            name.strip_prefix("auth_opt_").unwrap_or(name)
        ),
        "retry_interval" => {
            "'retry_interval' is no longer available; the value is ignored".to_owned()
        }
        _ => format!("'{name}' is deprecated and will be removed in a future version"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_option_hints() {
        assert!(unknown_option_message("#").contains("first column"));
        assert!(unknown_option_message("port\t1883").contains("tab"));
        assert!(unknown_option_message("Port").contains("did you mean 'port'"));
        assert_eq!(unknown_option_message("bogus"), "unknown option 'bogus'");
        assert_eq!(
            unknown_option_message("max_inflight"),
            "unknown option 'max_inflight' (did you mean 'max_inflight_bytes' or \
             'max_inflight_messages'?)"
        );
        assert!(unknown_option_message("alow_anonymous").contains("'allow_anonymous'"));
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
