//! Path globs of the `[drift]` section: `*` and `?` stay within one path segment, `**`
//! crosses segments (`/etc/cron.d/*`, `/etc/nginx/**`, `sysctl:net.ipv4.conf.*`).

/// Does `pattern` match all of `text`?
pub fn matches(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    // Positions to retry from after a `*` / `**`: (pattern index after it, text index, crosses `/`).
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize, bool)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            let deep = p.get(pi + 1) == Some(&b'*');
            pi += if deep { 2 } else { 1 };
            star = Some((pi, ti, deep));
            continue;
        }
        if pi < p.len() && (p[pi] == t[ti] || (p[pi] == b'?' && t[ti] != b'/')) {
            pi += 1;
            ti += 1;
            continue;
        }
        match star {
            // The star swallows one more character (a single `*` never a `/`).
            Some((sp, st, deep)) if deep || t[st] != b'/' => {
                star = Some((sp, st + 1, deep));
                pi = sp;
                ti = st + 1;
            }
            _ => return false,
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn stars_stay_in_their_segment_unless_doubled() {
        assert!(matches("/etc/cron.d/*", "/etc/cron.d/backup"));
        assert!(!matches("/etc/cron.d/*", "/etc/cron.d/x/y"));
        assert!(matches("/etc/nginx/**", "/etc/nginx/sites-enabled/default"));
        assert!(matches("/etc/*-", "/etc/shadow-"));
        assert!(!matches("/etc/*-", "/etc/ssh/x-"));
        assert!(matches("sysctl:net.ipv4.conf.*.rp_filter", "sysctl:net.ipv4.conf.eth0.rp_filter"));
        assert!(matches("/etc/ssh/ssh_host_?sa_key", "/etc/ssh/ssh_host_rsa_key"));
        assert!(!matches("/etc/motd", "/etc/motd.d"));
        assert!(matches("**", "/anything/at/all"));
    }
}
