//! Kubernetes' `$(VAR)` expansion in env values, command and args: `$(VAR)` becomes VAR's
//! value when VAR is defined and stays as written otherwise; `$$` is an escaped `$`.

/// Expand `$(NAME)` references in `input` with `lookup`.
pub fn expand(input: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            // `$$` → `$`
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('(') {
            match body.find(')') {
                Some(end) => {
                    let name = &body[..end];
                    match lookup(name) {
                        Some(value) => out.push_str(&value),
                        None => {
                            out.push_str("$(");
                            out.push_str(name);
                            out.push(')');
                        }
                    }
                    rest = &body[end + 1..];
                }
                None => {
                    // An unterminated reference is kept as written.
                    out.push_str("$(");
                    rest = body;
                }
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "A" => Some("alpha".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expansion_as_kubernetes_does_it() {
        let cases = [
            ("$(A)", "alpha"),
            ("x-$(A)-y", "x-alpha-y"),
            ("$(A)$(A)", "alphaalpha"),
            ("$(MISSING)", "$(MISSING)"),
            ("$(EMPTY)x", "x"),
            ("$$(A)", "$(A)"),
            ("$$$(A)", "$alpha"),
            ("$$", "$"),
            ("$A", "$A"),
            ("price: 5$", "price: 5$"),
            ("$(A", "$(A"),
            ("$()", "$()"),
            ("no refs", "no refs"),
            ("ünïcødé $(A) ✓", "ünïcødé alpha ✓"),
        ];
        for (input, want) in cases {
            assert_eq!(expand(input, env), want, "{input:?}");
        }
    }
}
