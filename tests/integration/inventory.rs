//! Integration tests: inventory.

use patchdeck::inventory::Host;
use patchdeck::inventory::ssh_config::{self, ResolveError, StrictHostKeyChecking};

const MYALIAS_CONFIG: &str = "\
Host myalias
    HostName 127.0.0.5
    User deploy
    Port 2222
    IdentityFile ~/.ssh/patchdeck_test
    ConnectTimeout 4

Host insecure
    HostName 127.0.0.6
    StrictHostKeyChecking no
    UserKnownHostsFile /dev/null
";

fn ssh_config_file() -> tempfile::NamedTempFile {
    use std::io::Write;
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(MYALIAS_CONFIG.as_bytes()).unwrap();
    f
}

#[tokio::test]
async fn ssh_g_resolves_an_alias_like_ssh_would() {
    let cfg = ssh_config_file();
    let r = ssh_config::resolve(&Host::named("myalias"), Some(cfg.path())).await.unwrap();
    assert_eq!(r.hostname, "127.0.0.5");
    assert_eq!(r.user, "deploy");
    assert_eq!(r.port, 2222);
    assert_eq!(r.identity_files, vec!["~/.ssh/patchdeck_test"]);
    assert_eq!(r.connect_timeout, Some(std::time::Duration::from_secs(4)));
    assert_eq!(r.proxy_jump, None);
    assert!(ssh_config::host_key_warnings("myalias", &r).is_empty());
}

#[tokio::test]
async fn inventory_user_and_port_win_over_ssh_config() {
    let cfg = ssh_config_file();
    let mut host = Host::named("myalias");
    host.user = Some("ops".into());
    host.port = Some(2022);
    let r = ssh_config::resolve(&host, Some(cfg.path())).await.unwrap();
    assert_eq!((r.hostname.as_str(), r.user.as_str(), r.port), ("127.0.0.5", "ops", 2022));
}

#[tokio::test]
async fn insecure_ssh_config_is_reported() {
    let cfg = ssh_config_file();
    let r = ssh_config::resolve(&Host::named("insecure"), Some(cfg.path())).await.unwrap();
    assert_eq!(r.hostname, "127.0.0.6");
    assert_eq!(r.strict_host_key_checking, Some(StrictHostKeyChecking::No));
    let warnings = ssh_config::host_key_warnings("insecure", &r);
    assert_eq!(warnings.len(), 2, "{warnings:?}");
}

#[tokio::test]
async fn option_injection_in_address_never_reaches_ssh() {
    let mut host = Host::named("evil");
    host.address = "-oProxyCommand=touch /tmp/pwned".into();
    let err = ssh_config::resolve(&host, None).await.unwrap_err();
    assert!(matches!(err, ResolveError::Unsafe { what: "address", .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "refusing to hand address \"-oProxyCommand=touch /tmp/pwned\" to ssh: it starts with '-', so ssh would read \
         it as an option"
    );
}

#[tokio::test]
async fn missing_ssh_config_file_is_a_clear_failure() {
    let err = ssh_config::resolve(&Host::named("myalias"), Some(std::path::Path::new("/nonexistent/ssh_config")))
        .await
        .unwrap_err();
    let ResolveError::Failed { code, stderr, .. } = &err else { panic!("{err:?}") };
    assert_eq!(code, "255");
    assert!(stderr.contains("/nonexistent/ssh_config"), "{stderr}");
}
